"""What every client of ours shares: the user agent, the TLS context, the pooled sync client."""

from __future__ import annotations

import functools
import ssl

import httpx

from .._version import __version__
from ..config import Settings

__all__ = ["SANDBOX_MARK", "USER_AGENT", "build_client", "origin", "tls_context"]

USER_AGENT = f"mpc-workbench/{__version__}"
# The header our sandbox puts on every answer (its value: where its data came from, e.g.
# `generated`), so an answer relayed by a gateway still says it is the sandbox's.
SANDBOX_MARK = "x-mpc-sandbox"


@functools.cache
def tls_context() -> ssl.SSLContext:
    """Loading the CA bundle costs ~50 ms of CPU, so a process does it once."""
    return httpx.create_ssl_context()


def build_client(settings: Settings, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """One pooled httpx client with our timeouts, limits and user agent.

    The pool fits a FAL sync: a window of pages plus a pool of price batches,
    each `settings.concurrency` wide, plus Comet's two calls.
    """
    connections = settings.concurrency * 2 + 4
    return httpx.Client(
        timeout=httpx.Timeout(settings.timeout_s, connect=min(settings.timeout_s, 10.0)),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        verify=tls_context(),
        headers={"User-Agent": USER_AGENT},
        transport=transport,
        follow_redirects=False,
    )


def origin(host: str, port: int) -> str:
    """`http://host:port` for a server we run, an IPv6 host in brackets."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
