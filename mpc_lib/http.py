"""The one HTTP core: every outbound call of mpc_lib goes through `HttpCore.request`.

It owns timeouts and pooling (through one `httpx.Client`), bounded retries with
exponential backoff and jitter that honour `Retry-After`, one overall deadline per
call, the provider auth schemes, and the mapping of httpx exceptions and error
answers to the typed errors in `mpc_lib.errors`.  This is the only module that
catches `httpx.*`.

Redirects are never followed: a 3xx is a `Redirected` error naming the Location,
because following an authenticated call could carry the key to another host.

Logging, on the `mpc_lib.http` logger: exactly one INFO line per request attempt
that got an answer (method, URL, status, request id, ms, attempt number), plus at
most one WARNING per retry decision (what failed, and the wait before the next
try).  A call that gives up logs nothing more: the error it raises says why.
httpx's own "HTTP Request: ..." lines are the CLI's to silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import logging
import random
import re
import select
import ssl
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal, Self, cast
from urllib.parse import quote, urlsplit

import httpcore
import httpx

from ._version import __version__
from .config import Secret, Settings
from .errors import (
    AuthError,
    NotFound,
    ProviderError,
    RateLimited,
    Redirected,
    ResponseFormatError,
    ServerError,
    TransportError,
)
from .providers import AuthScheme
from .storage import atomic_write_bytes

__all__ = [
    "DEFAULT_RETRY_POLICY",
    "AsyncHttpCore",
    "AsyncUpstream",
    "HttpCore",
    "ProviderClient",
    "QueryLists",
    "QueryValue",
    "RetryPolicy",
    "build_client",
    "origin",
    "parse_retry_after",
]

log = logging.getLogger("mpc_lib.http")

QueryValue = str | int | float | bool | Sequence[str] | None
# How a list goes into a query: `a=1&a=2` (repeat) or `a=1,2` (comma), for a route such as
# the gateway's pass-through that keeps only the last of repeated keys.
QueryLists = Literal["repeat", "comma"]
_Scalar = str | int | float | bool | None

# Connection-level failures that are worth another try; the rest are our own misuse.
_RETRYABLE_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_SAVED_PAYLOAD_LIMIT = 1_000_000
# No server asks for a wait of 31 years: an x-ratelimit-reset past these is a moment, not a wait.
_EPOCH_S = 1e9  # Unix seconds (2001-09-09)
_EPOCH_MS = 1e12  # Unix milliseconds


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry one call.

    `max_retry_after_s` caps a server-requested wait: asked for longer, the call
    fails fast instead.  `deadline_s` bounds the whole call, every attempt and
    backoff sleep included.
    """

    max_retries: int = 4
    backoff_base_s: float = 0.25
    backoff_max_s: float = 8.0
    max_retry_after_s: float = 60.0
    jitter: float = 0.5
    deadline_s: float = 120.0

    def should_retry_status(self, status: int) -> bool:
        """429 and every 5xx are retried; other answers are final."""
        return status == 429 or status >= 500

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Exponential backoff after failed try number `attempt` (1-based), plus jitter."""
        backoff = min(self.backoff_base_s * (2 ** (attempt - 1)), self.backoff_max_s)
        spread = (rng or random).random() * self.jitter * backoff
        return backoff + spread

    def delay(
        self,
        attempt: int,
        headers: Mapping[str, str] | None = None,
        rng: random.Random | None = None,
    ) -> float:
        """Seconds to wait after failed try number `attempt` (1-based).

        A server's Retry-After (or x-ratelimit-reset) wins as given, uncapped:
        `HttpCore` refuses a wait beyond `max_retry_after_s` rather than shortening it.
        """
        hinted = parse_retry_after(headers) if headers is not None else None
        return hinted if hinted is not None else self.backoff(attempt, rng)

    def exceeds_cap(self, wait_s: float) -> bool:
        """Whether a server-requested wait is longer than we are willing to sleep."""
        return wait_s > self.max_retry_after_s


DEFAULT_RETRY_POLICY = RetryPolicy()


def origin(host: str, port: int) -> str:
    """`http://host:port` for a server we run, an IPv6 host in brackets."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds a server asked us to wait; None when it did not say.

    Reads retry-after-ms, Retry-After (seconds or an HTTP date) and
    x-ratelimit-reset, which is seconds until the reset or, when it looks like a
    Unix time (> 1e9 s, or > 1e12 ms), the moment of the reset.  A moment in the
    past means no wait.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    clock = time.time() if now is None else now
    if "retry-after-ms" in lowered:
        with contextlib.suppress(ValueError):
            return max(float(lowered["retry-after-ms"]) / 1000.0, 0.0)
    for name in ("retry-after", "x-ratelimit-reset"):
        value = lowered.get(name)
        if value is None:
            continue
        value = value.strip()
        with contextlib.suppress(ValueError):
            seconds = float(value)
            if name == "x-ratelimit-reset" and seconds > _EPOCH_MS:
                seconds = seconds / 1000.0 - clock
            elif name == "x-ratelimit-reset" and seconds > _EPOCH_S:
                seconds -= clock
            return max(seconds, 0.0)
        if name == "retry-after":
            try:
                parsed = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                continue
            return max(parsed.timestamp() - clock, 0.0)
    return None


@functools.cache
def _tls_context() -> ssl.SSLContext:
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
        verify=_tls_context(),
        headers={"User-Agent": f"mpc-workbench/{__version__}"},
        transport=transport,
        follow_redirects=False,
    )


def _clean_params(
    params: Mapping[str, QueryValue] | None, lists: QueryLists = "repeat"
) -> list[tuple[str, _Scalar]]:
    """Query pairs without None values; sequences become repeated keys (or one comma list)."""
    pairs: list[tuple[str, _Scalar]] = []
    for name, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)) and lists == "comma":
            pairs.append((name, ",".join(str(item) for item in value)))
        elif isinstance(value, (list, tuple)):
            pairs.extend((name, str(item)) for item in value)
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        else:
            pairs.append((name, str(value)))
    return pairs


_STATUS_ERRORS: dict[int, type[ProviderError]] = {
    401: AuthError,
    403: AuthError,
    404: NotFound,
    429: RateLimited,
}


def _error_class(status: int) -> type[ProviderError]:
    if status >= 500:
        return ServerError
    return _STATUS_ERRORS.get(status, ProviderError)


def _error_fields(response: httpx.Response) -> tuple[str | None, str | None, str | None]:
    """(error type, message, request id) from FAL, OpenAI-style, Comet or Apidog error bodies."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        text = response.text.strip()
        return None, (text[:200] or response.reason_phrase or None), None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            code = error.get("type") or error.get("code")
            return (
                str(code) if code is not None else None,
                str(error.get("message")) if error.get("message") is not None else None,
                str(error["request_id"]) if error.get("request_id") else None,
            )
        if isinstance(error, str):
            return None, error, None
        if "errorCode" in body or "errorMessage" in body:  # Apidog's envelope
            code, message = body.get("errorCode"), body.get("errorMessage")
            return (
                str(code) if code is not None else None,
                str(message) if message is not None else None,
                None,
            )
        if body.get("success") is False or "message" in body:
            return None, str(body.get("message") or "success=false"), None
    return None, response.reason_phrase or None, None


def _request_id(response: httpx.Response) -> str | None:
    for name in ("x-request-id", "x-fal-request-id", "request-id", "x-litellm-call-id"):
        if name in response.headers:
            return response.headers[name]
    return None


def _seconds(value: float) -> str:
    """A wait for a message: 3600 -> '3600', 2.345 -> '2.3'."""
    return f"{round(value, 1):g}"


class HttpCore:
    """Calls one provider: base URL, auth scheme, retries, typed errors, one log line per call."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        key: Secret | None = None,
        scheme: AuthScheme = "Bearer",
        client: httpx.Client | None = None,
        retry: RetryPolicy = DEFAULT_RETRY_POLICY,
        sleep: Callable[[float], None] = time.sleep,
        payload_dir: Path | None = None,
        query_lists: QueryLists = "repeat",
        key_on_public: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.provider = provider
        self.query_lists = query_lists
        # Through an intermediary (the gateway), calls to public endpoints still need its key.
        self.key_on_public = key_on_public
        self._headers = dict(headers or {})  # sent on every call (e.g. an API version header)
        self.base_url = base_url.rstrip("/")
        self.retry = retry
        self.payload_dir = payload_dir
        self._key = (key.reveal() or None) if key is not None else None
        self._scheme = scheme
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0))
        self._sleep = sleep
        self._rng = random.Random()
        self._rng_lock = threading.Lock()

    @classmethod
    def for_settings(
        cls,
        provider: str,
        settings: Settings,
        *,
        base_url: str,
        key: Secret | None,
        scheme: AuthScheme,
        client: httpx.Client | None = None,
        query_lists: QueryLists = "repeat",
        key_on_public: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> HttpCore:
        """A core built from `settings`: client, timeouts, retries, deadline, payload folder."""
        core = cls(
            provider,
            base_url,
            key=key,
            scheme=scheme,
            query_lists=query_lists,
            key_on_public=key_on_public,
            client=client or build_client(settings),
            retry=RetryPolicy(
                max_retries=settings.max_retries,
                backoff_base_s=settings.retry_backoff_s,
                deadline_s=settings.deadline_s,
            ),
            payload_dir=Path(settings.outputs_dir) / "payloads",
            headers=headers,
        )
        core._owns_client = client is None
        return core

    def close(self) -> None:
        """Close the underlying client if this core created it."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> HttpCore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get_json(
        self,
        path: str,
        params: Mapping[str, QueryValue] | None = None,
        *,
        auth: bool = True,
        retry: RetryPolicy | None = None,
    ) -> Any:
        """GET `path` and return its parsed JSON body; `retry` overrides the policy once."""
        response = self.request("GET", path, params=params, auth=auth, retry=retry)
        return self._parse_json(response, path)

    def post_json(
        self,
        path: str,
        body: Any,
        *,
        auth: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """POST a JSON body to `path` and return the parsed JSON answer."""
        response = self.request("POST", path, json_body=body, auth=auth, headers=headers)
        return self._parse_json(response, path)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, QueryValue] | None = None,
        json_body: Any = None,
        auth: bool = True,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request, retried within the deadline; return a 2xx answer or raise.

        `retry` replaces the core's policy for this call (e.g. no retries for a guess);
        `headers` are added to ours (e.g. a request id to propagate).
        """
        return self._send(method, path, params, json_body, auth, retry, headers, stream=False)

    @contextlib.contextmanager
    def stream_lines(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        auth: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> Iterator[Iterator[str]]:
        """Open a streamed answer and yield an iterator over its lines as they arrive.

        Retries and errors are those of `request` until the answer starts; after that,
        a broken connection is a TransportError raised from the iteration.
        """
        response = self._send(method, path, None, json_body, auth, None, headers, stream=True)
        try:
            yield self._lines(response, method, path)
        finally:
            response.close()

    def _lines(self, response: httpx.Response, method: str, path: str) -> Iterator[str]:
        with self._map_transport_errors(method, path):
            yield from response.iter_lines()

    def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, QueryValue] | None,
        json_body: Any,
        auth: bool,
        retry: RetryPolicy | None,
        extra_headers: Mapping[str, str] | None,
        *,
        stream: bool,
    ) -> httpx.Response:
        """The retry loop of `request` and `stream_lines`: a 2xx answer (unread if streamed)."""
        policy = retry or self.retry
        url = self.base_url + path
        headers = {"Accept": "text/event-stream" if stream else "application/json"}
        headers.update(self._headers)
        headers.update(extra_headers or {})
        if (auth or self.key_on_public) and self._key is not None:
            headers["Authorization"] = f"{self._scheme} {self._key}"
        query = _clean_params(params, self.query_lists)
        deadline = time.monotonic() + policy.deadline_s
        attempt = 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                with self._map_transport_errors(method, path):
                    outgoing = self._client.build_request(
                        method,
                        url,
                        params=query,
                        json=json_body,
                        headers=headers,
                        timeout=self._timeout_within(deadline - started),
                    )
                    response = self._client.send(outgoing, stream=True, follow_redirects=False)
                    if not stream or not response.is_success:
                        try:
                            response.read()
                        finally:
                            response.close()
            except TransportError as exc:
                if not isinstance(exc.__cause__, _RETRYABLE_TRANSPORT):
                    raise
                failure: TransportError | httpx.Response = exc
                what = f"{method} {url} failed: {exc.detail}"
                hint = None
            else:
                log.info(
                    "%s %s -> %d (request_id=%s, %.0f ms, attempt %d)",
                    method, response.request.url, response.status_code,
                    _request_id(response) or "-", (time.monotonic() - started) * 1000, attempt,
                )  # fmt: skip
                if response.is_success:
                    return response
                if 300 <= response.status_code < 400:
                    raise self._redirected(method, path, response)
                if not policy.should_retry_status(response.status_code):
                    raise self._provider_error(method, path, response)
                failure = response
                what = f"{method} {url} -> {response.status_code}"
                hint = parse_retry_after(response.headers)
            wait, note = self._next_wait(policy, attempt, hint, deadline)
            if wait is None:
                raise self._give_up(method, path, failure, note, hint)
            log.warning("%s; retry %d/%d in %.2fs", what, attempt, policy.max_retries, wait)
            self._sleep(wait)

    def _next_wait(
        self, policy: RetryPolicy, attempt: int, hint: float | None, deadline: float
    ) -> tuple[float | None, str | None]:
        """(seconds to sleep, None) before another try, or (None, why not) to give up."""
        if hint is not None and policy.exceeds_cap(hint):
            cap = _seconds(policy.max_retry_after_s)
            return None, f"asked to retry after {_seconds(hint)} s, more than the {cap} s cap"
        if attempt > policy.max_retries:
            return None, None  # the budget is spent; the last error speaks for itself
        if hint is not None:
            wait = hint
        else:
            with self._rng_lock:
                wait = policy.backoff(attempt, self._rng)
        left = deadline - time.monotonic()
        if wait >= left:
            return None, (
                f"gave up after {attempt} attempt(s): the {_seconds(policy.deadline_s)} s deadline"
                f" for this call was reached ({_seconds(max(left, 0.0))} s left,"
                f" next try due in {_seconds(wait)} s)"
            )
        return wait, None

    def _timeout_within(self, left: float) -> httpx.Timeout:
        """The client's timeouts, each clipped to the time left before the deadline."""
        left = max(left, 0.001)
        base = self._client.timeout

        def clip(value: float | None) -> float:
            return left if value is None else min(value, left)

        return httpx.Timeout(
            connect=clip(base.connect), read=clip(base.read), write=clip(base.write),
            pool=clip(base.pool),
        )  # fmt: skip

    def _give_up(
        self,
        method: str,
        path: str,
        failure: TransportError | httpx.Response,
        note: str | None,
        hint: float | None,
    ) -> TransportError | ProviderError:
        """The error that ends a call: the last failure, with why we stopped retrying."""
        if isinstance(failure, httpx.Response):
            return self._provider_error(method, path, failure, note=note, retry_after_s=hint)
        if note is None:
            return failure
        error = TransportError(self.provider, method, path, f"{failure.detail}; {note}")
        error.__cause__ = failure.__cause__
        return error

    def _redact(self, text: str | None) -> str | None:
        if text is None or self._key is None:
            return text
        return text.replace(self._key, "***")

    def _provider_error(
        self,
        method: str,
        path: str,
        response: httpx.Response,
        *,
        note: str | None = None,
        retry_after_s: float | None = None,
    ) -> ProviderError:
        error_type, message, body_request_id = _error_fields(response)
        detail = "; ".join(part for part in (self._redact(message), note) if part) or None
        request_id = _request_id(response) or body_request_id
        cls = _error_class(response.status_code)
        extra: dict[str, Any] = {"retry_after_s": retry_after_s} if cls is RateLimited else {}
        return cls(
            self.provider,
            response.status_code,
            method,
            path,
            error_type=error_type,
            detail=detail,
            request_id=request_id,
            **extra,
        )

    def _redirected(self, method: str, path: str, response: httpx.Response) -> Redirected:
        location = response.headers.get("location")
        if location is not None:
            # A relative Location is named in full, so the operator sees which host it means.
            with contextlib.suppress(httpx.InvalidURL):
                location = str(response.request.url.join(location))
        return Redirected(
            self.provider,
            response.status_code,
            method,
            path,
            location=self._redact(location),
            request_id=_request_id(response),
        )

    def _parse_json(self, response: httpx.Response, path: str) -> Any:
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError) as exc:
            detail = f"body is not valid JSON ({exc})"
            saved: Path | None = None
            if self.payload_dir is None:
                detail += "; payload not saved (no payload folder set)"
            else:
                try:
                    saved = self._save_payload(self.payload_dir, response.content)
                except OSError as os_exc:
                    detail += f"; payload not saved ({os_exc})"
            raise ResponseFormatError(self.provider, path, detail, saved_to=saved) from exc

    def _save_payload(self, folder: Path, content: bytes) -> Path:
        """Keep a malformed answer, key redacted, as `<folder>/<provider>-<UTC stamp>.txt`."""
        if self._key is not None:
            for form in (self._key, quote(self._key, safe="")):
                content = content.replace(form.encode(), b"***")
        folder.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^a-z0-9_-]", "_", self.provider.lower())
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        for number in range(1, 1000):
            suffix = "" if number == 1 else f"-{number}"
            path = folder / f"{safe}-{stamp}{suffix}.txt"
            try:
                path.open("xb").close()  # claim the name, so two failures never share a file
            except FileExistsError:
                continue
            return atomic_write_bytes(path, content[:_SAVED_PAYLOAD_LIMIT])
        raise FileExistsError(f"no free payload file name in {folder} for {stamp}")

    @contextlib.contextmanager
    def _map_transport_errors(self, method: str, path: str) -> Iterator[None]:
        """Turn httpx's request errors into our TransportError, keeping the cause."""
        try:
            yield
        except httpx.DecodingError as exc:
            raise ResponseFormatError(self.provider, path, f"undecodable body ({exc})") from exc
        except httpx.RequestError as exc:
            detail = self._redact(f"{type(exc).__name__}: {exc}") or type(exc).__name__
            raise TransportError(self.provider, method, path, detail) from exc


class ProviderClient:
    """Base of the provider clients: one HttpCore from settings, usable as a context manager."""

    provider: ClassVar[str]
    scheme: ClassVar[AuthScheme]
    headers: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self,
        base_url: str,
        key: Secret | None,
        *,
        settings: Settings | None = None,
        client: httpx.Client | None = None,
        scheme: AuthScheme | None = None,
        query_lists: QueryLists = "repeat",
        key_on_public: bool = False,
    ) -> None:
        """Per instance, for a gateway in between: `scheme` overrides the provider's auth
        scheme (the gateway takes `Bearer <its key>`), `query_lists` says how lists go into
        a query, `key_on_public` sends the key on public endpoints too."""
        self.settings = settings or Settings()
        # Odd answers that did not stop a call (an entry dropped, has_more...), in arrival order.
        self.warnings: list[str] = []
        self.http = HttpCore.for_settings(
            self.provider,
            self.settings,
            base_url=base_url,
            key=key,
            scheme=scheme or self.scheme,
            client=client,
            query_lists=query_lists,
            key_on_public=key_on_public,
            headers=self.headers,
        )

    def _warn(self, message: str) -> None:
        """Record an odd answer that did not stop the call (list.append is thread-safe)."""
        self.warnings.append(message)
        log.warning("%s: %s", self.provider, message)

    def close(self) -> None:
        """Close the HTTP core (and its httpx client, if it made one)."""
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


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
        try:
            # The transport's own stream: httpx's Response.aiter_raw would only add bookkeeping.
            async for chunk in self._response.stream:  # type: ignore[union-attr]
                yield chunk
        except httpx.HTTPError as exc:
            raise self._core.transport_error(self._method, self._path, exc) from exc

    async def read(self) -> bytes:
        """The whole body (for answers small enough to hold)."""
        try:
            return await self._response.aread()
        except httpx.HTTPError as exc:
            raise self._core.transport_error(self._method, self._path, exc) from exc

    async def aclose(self) -> None:
        """Close the upstream connection: a relay cut short cancels the upstream call."""
        await self._response.aclose()


# --- The relay's socket layer ------------------------------------------------------------
# httpx's pool (httpcore) over plain asyncio protocols instead of anyio streams, for the
# one caller that relays every chat (MPC-API, which uvicorn runs on asyncio).  Per relayed
# call this saves anyio's event-loop checkpoint on every write and a cancel scope with a
# timer on every read and write, and it writes a request's head and body in one send (the
# gateway then wakes once per request, not twice).  Plain http:// only: TLS and proxies
# keep httpx's own transport.

_HIGH_WATER = 64 * 1024  # read ahead at most this much; send at once past this much
_HTTPCORE_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.ProxyError,
    httpcore.UnsupportedProtocol,
)


class _Wire(asyncio.Protocol):
    """The event loop's side of a relay connection: bytes in, end of stream, flow control."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False  # the peer ended the stream or the connection is gone
        self.error: Exception | None = None
        self.reading = True
        self.writable = True
        self.drained: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()  # back-pressure: nobody is reading this fast
            self.reading = False
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.error = exc
        self.writable = True
        self._wake()
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def pause_writing(self) -> None:
        self.writable = False

    def resume_writing(self) -> None:
        self.writable = True
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


def _expire(waiter: asyncio.Future[None], error: Exception) -> None:
    if not waiter.done():
        waiter.set_exception(error)


def _socket_readable(sock: Any) -> bool:
    """Whether the socket has bytes (or its end) the loop has not taken yet."""
    try:
        fd = sock.fileno()
    except (AttributeError, OSError):
        return True
    if fd < 0:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class _AsyncioStream(httpcore.AsyncNetworkStream):
    """One relay connection for httpcore; writes go out together at the next read."""

    def __init__(self, transport: asyncio.Transport, wire: _Wire) -> None:
        self._transport = transport
        self._wire = wire
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._flush_scheduled = False

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._flush()
        wire = self._wire
        if not wire.buffer and not wire.closed:
            await self._wait(timeout)
        buffer = wire.buffer
        if buffer:
            if len(buffer) <= max_bytes:
                data = bytes(buffer)
                buffer.clear()
            else:
                data = bytes(buffer[:max_bytes])
                del buffer[:max_bytes]
            if not wire.reading and len(buffer) <= _HIGH_WATER // 2:
                wire.reading = True
                self._transport.resume_reading()
            return data
        if wire.error is not None:
            raise httpcore.ReadError(str(wire.error) or type(wire.error).__name__)
        return b""  # the end of the stream: httpcore decides what it means

    async def _wait(self, timeout: float | None) -> None:
        loop = asyncio.get_running_loop()
        waiter = self._wire.waiter = loop.create_future()
        timer = None
        if timeout is not None:  # one timer per wait, only when there is nothing to read yet
            timer = loop.call_later(timeout, _expire, waiter, httpcore.ReadTimeout("timed out"))
        try:
            await waiter
        finally:
            self._wire.waiter = None
            if timer is not None:
                timer.cancel()

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        if self._wire.closed or self._transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        self._pending.append(buffer)
        self._pending_size += len(buffer)
        if self._pending_size >= _HIGH_WATER:
            self._flush()
            if not self._wire.writable:
                await self._drain(timeout)
        elif not self._flush_scheduled:
            # Sent at the next read (a request's head and body go out together), or at the
            # end of this turn of the loop at the latest: nothing waits on anything.
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    async def _drain(self, timeout: float | None) -> None:
        loop = asyncio.get_running_loop()
        drained = self._wire.drained = loop.create_future()
        timer = None
        if timeout is not None:
            timer = loop.call_later(timeout, _expire, drained, httpcore.WriteTimeout("timed out"))
        try:
            await drained
        finally:
            self._wire.drained = None
            if timer is not None:
                timer.cancel()
        if self._wire.error is not None:
            raise httpcore.WriteError(str(self._wire.error))

    async def aclose(self) -> None:
        self._pending.clear()
        self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.UnsupportedProtocol("the relay's asyncio streams carry plain http only")

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # httpcore asks before reusing an idle connection
            wire = self._wire
            sock = self._transport.get_extra_info("socket")
            return wire.closed or bool(wire.buffer) or _socket_readable(sock)
        if info == "socket":
            return self._transport.get_extra_info("socket")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        return None


class _AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Opens `_AsyncioStream`s (TCP_NODELAY is asyncio's default for TCP)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = (local_address, 0) if local_address else None
        try:
            async with asyncio.timeout(timeout):
                transport, wire = await loop.create_connection(
                    _Wire, host, port, local_addr=local
                )
        except TimeoutError as exc:  # before OSError, whose subclass it is
            raise httpcore.ConnectTimeout(str(exc) or "timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        sock = transport.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return _AsyncioStream(cast(asyncio.Transport, transport), wire)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.UnsupportedProtocol("the relay connects over TCP only")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _httpx_error(exc: Exception) -> httpx.TransportError:
    """httpx's exception of the same name as httpcore's (httpx's transport maps them alike)."""
    cls = getattr(httpx, type(exc).__name__, None)
    if not (isinstance(cls, type) and issubclass(cls, httpx.TransportError)):
        cls = httpx.TransportError
    return cls(str(exc))


class _AsyncioBody(httpx.AsyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except _HTTPCORE_ERRORS as exc:
            raise _httpx_error(exc) from exc

    async def aclose(self) -> None:
        await self._stream.aclose()


class _AsyncioTransport(httpx.AsyncBaseTransport):
    """httpx's default transport, its connection pool on `_AsyncioBackend`."""

    def __init__(self, limits: httpx.Limits) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_AsyncioBackend(),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            answer = await self._pool.handle_async_request(core)
        except _HTTPCORE_ERRORS as exc:
            raise _httpx_error(exc) from exc
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=_AsyncioBody(answer.stream),
            extensions=answer.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


def _env_proxy(url: str) -> str | None:
    """The proxy HTTP(S)_PROXY / NO_PROXY name for `url`, as httpx's clients would pick it."""
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy is None or urllib.request.proxy_bypass(parts.netloc):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


class AsyncHttpCore:
    """The async side of the core, for MPC-API's relay to the gateway: one connection pool.

    No retries: the gateway retries its upstreams itself, and a caller waiting on a
    gateway that is down should hear so at once.  One log line per call, as above.

    It is on every relayed call's path, so it sends through httpx's transport itself
    (the pool, keep-alive, timeouts and error mapping are httpx's) without the client
    layer's per-call work a relay does not need: URL and header merging, cookie
    extraction, auth and redirect flows (redirects are never followed anyway).  The URL
    of each path and the timeouts are built once.
    """

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
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self._auth = f"{scheme} {key.reveal()}" if key is not None and key.reveal() else None
        self._headers = {"user-agent": f"mpc-workbench/{__version__}"}
        if self._auth is not None:
            self._headers["authorization"] = self._auth
        self._timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s).as_dict()
        self._urls: dict[str, httpx.URL] = {}
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        proxy = _env_proxy(self.base_url)
        self._transport: httpx.AsyncBaseTransport
        if self.base_url.startswith("http://") and proxy is None:
            self._transport = _AsyncioTransport(limits)
        else:
            self._transport = httpx.AsyncHTTPTransport(
                verify=_tls_context(), limits=limits, proxy=proxy
            )

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
        try:
            request = httpx.Request(
                method, self._url(path), content=content,
                headers={**self._headers, **headers} if headers else self._headers,
                extensions={"timeout": timeout},
            )  # fmt: skip
            response = await self._transport.handle_async_request(request)
        except httpx.HTTPError as exc:
            raise self.transport_error(method, path, exc) from exc
        response.request = request
        if log.isEnabledFor(logging.INFO):  # the arguments cost more than the check
            log.info(
                "%s %s -> %d (request_id=%s, %.0f ms to headers)",
                method, request.url, response.status_code, _request_id(response) or "-",
                (time.monotonic() - started) * 1000,
            )  # fmt: skip
        return AsyncUpstream(self, response, method, path)

    def transport_error(self, method: str, path: str, exc: Exception) -> TransportError:
        """Our TransportError for an httpx failure, its text redacted."""
        detail = f"{type(exc).__name__}: {exc}"
        if self._auth is not None:
            detail = detail.replace(self._auth.split(" ", 1)[-1], "***")
        return TransportError(self.provider, method, path, detail)

    async def aclose(self) -> None:
        """Close the pool and its connections."""
        await self._transport.aclose()
