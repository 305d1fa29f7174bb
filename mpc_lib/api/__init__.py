"""MPC-API: the service in front of the gateway (FastAPI on uvicorn).

`create_app(settings)` builds the app after checking its keys, registry, gateway
config and aliases; `serve_api(settings)` serves it (`mpc api serve`);
`service_openapi()` is its OpenAPI document, which `mpc spec merge-api` folds into the
hub spec under `MOUNT_PREFIX`.
"""

from __future__ import annotations

from ..aliases import AliasCatalog, ResolvedAlias, ResolvedAliases, load_aliases
from .app import LIVELINESS_PATH, MOUNT_PREFIX, create_app, service_openapi
from .server import is_loopback, serve_api

__all__ = [
    "LIVELINESS_PATH",
    "MOUNT_PREFIX",
    "AliasCatalog",
    "ResolvedAlias",
    "ResolvedAliases",
    "create_app",
    "is_loopback",
    "load_aliases",
    "serve_api",
    "service_openapi",
]
