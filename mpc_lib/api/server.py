"""`serve_api`: MPC-API on uvicorn, refusing to listen beyond loopback without MPC_API_KEY.

Everything is checked, and the port taken, before uvicorn starts: a busy port is one
OSError line (exit 1), never uvicorn's own log line and exit code.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from collections.abc import Callable
from importlib.util import find_spec
from typing import Literal
from urllib.parse import urlsplit

import uvicorn

from ..config import Settings
from ..errors import ConfigError
from .app import create_app

__all__ = ["api_address", "is_loopback", "serve_api"]

log = logging.getLogger("mpc_lib.api")


def is_loopback(host: str) -> bool:
    """Whether `host` only listens on this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def api_address(settings: Settings, host: str | None, port: int | None) -> tuple[str, int]:
    """The host and port to bind: the given ones, else MPC_API_URL's."""
    parts = urlsplit(settings.api_url)
    return host or parts.hostname or "127.0.0.1", port if port is not None else parts.port or 3000


def _server_engines() -> tuple[Literal["httptools", "h11"], Literal["uvloop", "asyncio"]]:
    """uvicorn's HTTP parser and event loop: the C ones when installed (the `api` extra),
    else the pure-Python ones, which serve the same at more CPU per request."""
    http: Literal["httptools", "h11"] = "httptools" if find_spec("httptools") else "h11"
    loop: Literal["uvloop", "asyncio"] = "uvloop" if find_spec("uvloop") else "asyncio"
    return http, loop


def _listen(host: str, port: int) -> socket.socket:
    """A socket listening on `host:port`, for uvicorn; a port in use is an OSError naming it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if os.name == "posix":  # as uvicorn does: a restart need not wait out TIME_WAIT
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen()  # callers who read the banner and connect at once wait in the backlog
    except OSError as exc:
        sock.close()
        why = exc.strerror or str(exc)
        raise OSError(f"MPC-API cannot listen on {host}:{port}: {why.lower()}") from None
    return sock


def serve_api(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    on_listening: Callable[[str, int], None] | None = None,
) -> None:
    """Check everything (keys, registry, gateway config, aliases), take the port, then serve
    until stopped; `on_listening(host, port)` runs once all that passed (the CLI's banner)."""
    host, port = api_address(settings, host, port)
    if settings.api_key is None and not is_loopback(host):
        raise ConfigError(
            f"MPC_API_KEY is not set: refusing to serve MPC-API on {host} (only loopback "
            "without a key); set MPC_API_KEY or bind 127.0.0.1"
        )
    app = create_app(settings)
    http, loop = _server_engines()
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False,
        timeout_graceful_shutdown=5, server_header=False, http=http, loop=loop,
    )  # fmt: skip
    server = uvicorn.Server(config)
    sock = _listen(host, port)
    port = sock.getsockname()[1]  # the one the OS chose, for port 0
    log.info("api: serving on http://%s:%d (gateway %s; %s, %s)", host, port,
             settings.gateway_url, http, loop)  # fmt: skip
    if on_listening is not None:
        on_listening(host, port)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    if not server.started:
        raise OSError(f"MPC-API could not listen on {host}:{port} (in use, or not allowed)")
