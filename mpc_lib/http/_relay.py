"""`AsyncHttpCore`: MPC-API's relay to the gateway, on httpx's own async connection pool.

No retries: the gateway retries its upstreams itself, and a caller waiting on a gateway
that is down should hear so at once.  One INFO line per call, as in the sync core.

Every relayed chat passes here, so a call goes straight to httpx's transport
(`httpx.AsyncHTTPTransport`: its pool, keep-alive, timeouts, TLS) without the client
layer's per-call work a relay does not need: URL and header merging, cookies, auth and
redirect flows (redirects are never followed anyway).  URLs and timeouts are built once.
"""

from __future__ import annotations

import logging
import time
import urllib.request
from collections.abc import AsyncIterator, Mapping
from urllib.parse import urlsplit

import httpx

from ..config import Secret
from ..providers import AuthScheme
from ._config import USER_AGENT, tls_context
from ._errors import map_httpx_errors, request_id

__all__ = ["AsyncHttpCore", "AsyncUpstream"]

log = logging.getLogger("mpc_lib.http")


def _env_proxy(url: str) -> str | None:
    """The HTTP(S)_PROXY / NO_PROXY choice for `url`, as an httpx client would make it
    (the transport alone does not read the environment)."""
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy is None or urllib.request.proxy_bypass(parts.netloc):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


class AsyncHttpCore:
    """The relay to one upstream (the gateway): one connection pool, answers as they arrive."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        key: Secret | None = None,
        scheme: AuthScheme = "Bearer",
        timeout_s: float = 600.0,
        connect_timeout_s: float = 5.0,
        connections: int = 100,
        pool_timeout_s: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`transport` replaces httpx's pool (`connections`, proxies from the environment).

        `pool_timeout_s` is how long a call waits for one of the `connections` to free up
        (None: `timeout_s`); 0 fails at once with a TransportError whose detail starts
        `PoolTimeout` when all are busy, so a full relay is said at once instead of queued.
        """
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self._secret = (key.reveal() or None) if key is not None else None
        self._headers = {"user-agent": USER_AGENT}
        if self._secret is not None:
            self._headers["authorization"] = f"{scheme} {self._secret}"
        pool = timeout_s if pool_timeout_s is None else pool_timeout_s
        self._timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s, pool=pool).as_dict()
        self.connections = connections
        self._urls: dict[str, httpx.URL] = {}
        if transport is None:
            limits = httpx.Limits(
                max_connections=connections, max_keepalive_connections=connections
            )
            transport = httpx.AsyncHTTPTransport(
                verify=tls_context(), limits=limits, proxy=_env_proxy(self.base_url)
            )
        self._transport = transport

    def _url(self, path: str) -> httpx.URL:
        url = self._urls.get(path)
        if url is None:
            url = httpx.URL(self.base_url + path)
            if len(self._urls) < 64:  # the relay's few fixed paths; never grows without bound
                self._urls[path] = url
        return url

    async def open(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> AsyncUpstream:
        """Send a request and return as soon as the answer's headers arrive.

        `timeout_s` replaces the timeouts for this call (a health probe).
        """
        timeout = self._timeout if timeout_s is None else httpx.Timeout(timeout_s).as_dict()
        started = time.monotonic()
        with map_httpx_errors(self.provider, method, path, self._secret):
            request = httpx.Request(
                method, self._url(path), content=content,
                headers={**self._headers, **headers} if headers else self._headers,
                extensions={"timeout": timeout},
            )  # fmt: skip
            response = await self._transport.handle_async_request(request)
        response.request = request
        if log.isEnabledFor(logging.INFO):  # the arguments cost more than the check
            log.info(
                "%s %s -> %d (request_id=%s, %.0f ms to headers)",
                method, request.url, response.status_code, request_id(response) or "-",
                (time.monotonic() - started) * 1000,
            )  # fmt: skip
        return AsyncUpstream(self, response, method, path)

    async def aclose(self) -> None:
        """Close the pool and its connections."""
        await self._transport.aclose()


class AsyncUpstream:
    """An answer being relayed: status and headers now, the body chunk by chunk as it comes."""

    def __init__(self, core: AsyncHttpCore, response: httpx.Response, method: str, path: str):
        self._core = core
        self._response = response
        self._method = method
        self._path = path
        self.status = response.status_code
        self.headers: Mapping[str, str] = response.headers

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """The answer's headers as received, names lower-cased, for relaying them as they are."""
        return [(name.lower(), value) for name, value in self._response.headers.raw]

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's bytes as they arrive (never buffered whole); a cut is a TransportError."""
        stream = self._response.stream
        assert isinstance(stream, httpx.AsyncByteStream)  # an async transport's answer
        core = self._core
        with map_httpx_errors(core.provider, self._method, self._path, core._secret):
            # The transport's own stream: Response.aiter_raw would only add bookkeeping.
            async for chunk in stream:
                yield chunk

    async def read(self) -> bytes:
        """The whole body (for answers small enough to hold)."""
        core = self._core
        with map_httpx_errors(core.provider, self._method, self._path, core._secret):
            return await self._response.aread()

    async def aclose(self) -> None:
        """Close the upstream connection: a relay cut short cancels the upstream call."""
        await self._response.aclose()
