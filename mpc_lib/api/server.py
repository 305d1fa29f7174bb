"""`serve_api`: MPC-API on uvicorn, refusing to listen beyond loopback without MPC_API_KEY.

`api_server(app, settings, ...)` is the uvicorn server `mpc api serve` runs (tests run the
same one): uvicorn's protocol bounded by `protocol.limited_protocol` (head size, header
count, head timeout, connections), and a shutdown that drains: on SIGTERM or SIGINT it
stops accepting, lets calls in flight finish for `MPC_API_DRAIN_S`, then ends the rest
(`drain.Drain`) and exits 0 (uvicorn itself would re-raise SIGTERM: exit 143).
Everything is checked, and the port taken, before uvicorn starts: a busy port is one
OSError line (exit 1), never uvicorn's own log line and exit code.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import socket
from collections.abc import Callable
from importlib.util import find_spec
from types import FrameType
from typing import Any, Literal
from urllib.parse import urlsplit

import uvicorn
from fastapi import FastAPI
from uvicorn.config import HTTP_PROTOCOLS
from uvicorn.importer import import_from_string

from ..config import Settings
from ..errors import ConfigError
from .app import create_app
from .deps import ApiState
from .protocol import ConnectionLimits, limited_protocol

__all__ = ["api_address", "api_server", "is_loopback", "serve_api"]

# How long uvicorn waits past the drain before cancelling on its own: the drain ends every
# call first, so this only bounds a call that ignores its cancellation.
_SHUTDOWN_MARGIN_S = 5.0

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


class _DrainingServer(uvicorn.Server):
    """uvicorn's server, with the drain started at shutdown and SIGTERM a clean exit."""

    def __init__(self, config: uvicorn.Config, state: ApiState | None) -> None:
        super().__init__(config)
        self.mpc_state = state

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if sig == signal.SIGTERM and sig in self._captured_signals:
            # a requested stop, done once drained: exit 0 (uvicorn re-raises what it captured)
            self._captured_signals.remove(sig)

    async def shutdown(self, sockets: Any = None) -> None:
        if self.mpc_state is not None:
            self.mpc_state.drain.begin(self.mpc_state.settings.api_drain_s)
        await super().shutdown(sockets)


def api_server(app: FastAPI, settings: Settings, *, host: str = "127.0.0.1", port: int = 0,
               **options: Any) -> uvicorn.Server:  # fmt: skip
    """The uvicorn server for MPC-API's `app`, with MPC-API's limits and drain (`options`
    go to `uvicorn.Config`)."""
    http, loop = _server_engines()
    limits = ConnectionLimits(
        max_header_bytes=settings.api_max_header_bytes,
        max_headers=settings.api_max_headers,
        header_timeout_s=settings.api_header_timeout_s,
        max_connections=settings.api_limit_concurrency,
    )
    protocol = limited_protocol(import_from_string(HTTP_PROTOCOLS[http]), limits)
    config = uvicorn.Config(app, host=host, port=port, http=protocol, loop=loop, **{
        "log_level": "warning", "access_log": False, "server_header": False,
        "timeout_graceful_shutdown": settings.api_drain_s + _SHUTDOWN_MARGIN_S,
        # h11 refuses a head past its own bound (default 16 KiB) with a plain 400: ours first
        "h11_max_incomplete_event_size": settings.api_max_header_bytes + 1024,
        **options,
    })  # fmt: skip
    state = getattr(app.state, "mpc", None)
    return _DrainingServer(config, state if isinstance(state, ApiState) else None)


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
    server = api_server(app, settings, host=host, port=port)
    sock = _listen(host, port)
    port = sock.getsockname()[1]  # the one the OS chose, for port 0
    log.info("api: serving on http://%s:%d (gateway %s; %s)", host, port, settings.gateway_url,
             server.config.http.__name__)  # type: ignore[union-attr]  # fmt: skip
    if on_listening is not None:
        on_listening(host, port)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    if not server.started:
        raise OSError(f"MPC-API could not listen on {host}:{port} (in use, or not allowed)")
