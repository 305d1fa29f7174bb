"""MPC-API: the service in front of the gateway (FastAPI on uvicorn).

`create_app(settings)` builds the app after checking its keys, registry, gateway
config and aliases; `serve_api(settings)` serves it (`mpc api serve`).
"""

from __future__ import annotations

from .aliases import AliasCatalog, ResolvedAlias, ResolvedAliases, load_aliases
from .app import LIVELINESS_PATH, create_app
from .server import is_loopback, serve_api

__all__ = [
    "LIVELINESS_PATH",
    "AliasCatalog",
    "ResolvedAlias",
    "ResolvedAliases",
    "create_app",
    "is_loopback",
    "load_aliases",
    "serve_api",
]
