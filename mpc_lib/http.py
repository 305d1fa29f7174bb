"""The one HTTP core: every outbound call of mpc_lib goes through `HttpCore.request`.

It owns timeouts and pooling (through one `httpx.Client`), bounded retries with
exponential backoff and jitter that honour `Retry-After`, the provider auth
schemes, and the mapping of httpx exceptions and error answers to the typed
errors in `mpc_lib.errors`.  This is the only module that catches `httpx.*`.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import logging
import random
import re
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import httpx

from . import __version__
from .config import Secret, Settings
from .errors import (
    AuthError,
    NotFound,
    ProviderError,
    RateLimited,
    ResponseFormatError,
    ServerError,
    TransportError,
)

__all__ = [
    "DEFAULT_RETRY_POLICY",
    "HttpCore",
    "ProviderClient",
    "QueryValue",
    "RetryPolicy",
    "build_client",
    "parse_retry_after",
]

log = logging.getLogger("mpc_lib.http")

AuthScheme = Literal["Key", "Bearer"]
QueryValue = str | int | float | bool | Sequence[str] | None
_Scalar = str | int | float | bool | None

# Connection-level failures that are worth another try; the rest are our own misuse.
_RETRYABLE_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_SAVED_PAYLOAD_LIMIT = 1_000_000


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before trying a request again."""

    max_retries: int = 4
    backoff_base_s: float = 0.25
    backoff_max_s: float = 8.0
    max_retry_after_s: float = 60.0
    jitter: float = 0.5

    def should_retry_status(self, status: int) -> bool:
        """429 and every 5xx are retried; other answers are final."""
        return status == 429 or status >= 500

    def delay(
        self,
        attempt: int,
        headers: Mapping[str, str] | None = None,
        rng: random.Random | None = None,
    ) -> float:
        """Seconds to wait after failed try number `attempt` (1-based).

        A server's Retry-After (or x-ratelimit-reset) wins, capped at
        `max_retry_after_s`; otherwise exponential backoff with up to `jitter`
        of itself added at random.
        """
        if headers is not None:
            hinted = parse_retry_after(headers)
            if hinted is not None:
                return min(hinted, self.max_retry_after_s)
        backoff = min(self.backoff_base_s * (2 ** (attempt - 1)), self.backoff_max_s)
        spread = (rng or random).random() * self.jitter * backoff
        return backoff + spread


DEFAULT_RETRY_POLICY = RetryPolicy()


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds a server asked us to wait: Retry-After (seconds or HTTP date),
    retry-after-ms, or x-ratelimit-reset (seconds); None when it did not say."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if "retry-after-ms" in lowered:
        with contextlib.suppress(ValueError):
            return max(float(lowered["retry-after-ms"]) / 1000.0, 0.0)
    for name in ("retry-after", "x-ratelimit-reset"):
        value = lowered.get(name)
        if value is None:
            continue
        value = value.strip()
        with contextlib.suppress(ValueError):
            return max(float(value), 0.0)
        if name == "retry-after":
            try:
                parsed = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                continue
            return max(parsed.timestamp() - (time.time() if now is None else now), 0.0)
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


def _clean_params(params: Mapping[str, QueryValue] | None) -> list[tuple[str, _Scalar]]:
    """Query pairs without None values; sequences become repeated keys."""
    pairs: list[tuple[str, _Scalar]] = []
    for name, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
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
    """(error type, message, request id) from FAL, OpenAI-style or Comet error bodies."""
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
        if body.get("success") is False or "message" in body:
            return None, str(body.get("message") or "success=false"), None
    return None, response.reason_phrase or None, None


def _request_id(response: httpx.Response) -> str | None:
    for name in ("x-request-id", "x-fal-request-id", "request-id", "x-litellm-call-id"):
        if name in response.headers:
            return response.headers[name]
    return None


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
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.retry = retry
        self._key = key
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
    ) -> HttpCore:
        """A core whose client, timeouts and retry budget come from `settings`."""
        core = cls(
            provider,
            base_url,
            key=key,
            scheme=scheme,
            client=client or build_client(settings),
            retry=RetryPolicy(
                max_retries=settings.max_retries, backoff_base_s=settings.retry_backoff_s
            ),
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

    def post_json(self, path: str, body: Any, *, auth: bool = True) -> Any:
        """POST a JSON body to `path` and return the parsed JSON answer."""
        return self._parse_json(self.request("POST", path, json_body=body, auth=auth), path)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, QueryValue] | None = None,
        json_body: Any = None,
        auth: bool = True,
        retry: RetryPolicy | None = None,
    ) -> httpx.Response:
        """Send one request with retries; return a 2xx/3xx answer or raise a typed error."""
        policy = retry or self.retry
        url = self.base_url + path
        headers = {"Accept": "application/json"}
        if auth and self._key is not None:
            headers["Authorization"] = f"{self._scheme} {self._key.reveal()}"
        query = _clean_params(params)
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                with self._map_transport_errors(method, path):
                    response = self._client.request(
                        method, url, params=query, json=json_body, headers=headers
                    )
                    response.read()
            except TransportError as exc:
                if isinstance(exc.__cause__, _RETRYABLE_TRANSPORT) and self._retry_later(
                    policy, attempt, None, f"{method} {self.base_url}{path} failed: {exc.detail}"
                ):
                    continue
                raise
            elapsed_ms = (time.perf_counter() - started) * 1000
            log.info(
                "%s %s -> %d (request_id=%s, %.0f ms, attempt %d)",
                method, response.request.url, response.status_code,
                _request_id(response) or "-", elapsed_ms, attempt,
            )  # fmt: skip
            if response.status_code < 400:
                return response
            if policy.should_retry_status(response.status_code) and self._retry_later(
                policy,
                attempt,
                response.headers,
                f"{method} {self.base_url}{path} -> {response.status_code}",
            ):
                continue
            raise self._provider_error(method, path, response)

    def _retry_later(
        self, policy: RetryPolicy, attempt: int, headers: Mapping[str, str] | None, what: str
    ) -> bool:
        """Sleep before the next try and say so; False once the retry budget is spent."""
        if attempt > policy.max_retries:
            return False
        with self._rng_lock:
            delay = policy.delay(attempt, headers, self._rng)
        log.warning("%s; retry %d/%d in %.2fs", what, attempt, policy.max_retries, delay)
        self._sleep(delay)
        return True

    def _redact(self, text: str | None) -> str | None:
        if text is None or self._key is None:
            return text
        return text.replace(self._key.reveal(), "***")

    def _provider_error(self, method: str, path: str, response: httpx.Response) -> ProviderError:
        error_type, message, body_request_id = _error_fields(response)
        cls = _error_class(response.status_code)
        return cls(
            self.provider,
            response.status_code,
            method,
            path,
            error_type=error_type,
            detail=self._redact(message),
            request_id=_request_id(response) or body_request_id,
        )

    def _parse_json(self, response: httpx.Response, path: str) -> Any:
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError) as exc:
            saved = _save_payload(self.provider, response.content)
            raise ResponseFormatError(
                self.provider, path, f"body is not valid JSON ({exc})", saved_to=saved
            ) from exc

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

    def __init__(
        self,
        base_url: str,
        key: Secret | None,
        *,
        settings: Settings | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.http = HttpCore.for_settings(
            self.provider,
            self.settings,
            base_url=base_url,
            key=key,
            scheme=self.scheme,
            client=client,
        )

    def close(self) -> None:
        """Close the HTTP core (and its httpx client, if it made one)."""
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _save_payload(provider: str, content: bytes) -> Path:
    """Keep a malformed answer on disk (outside outputs/) so an operator can look at it."""
    folder = Path(tempfile.gettempdir()) / "mpc-payloads"
    folder.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^a-z0-9_-]", "_", provider.lower())
    fd, name = tempfile.mkstemp(prefix=f"{safe}-", suffix=".txt", dir=folder)
    with open(fd, "wb") as handle:
        handle.write(content[:_SAVED_PAYLOAD_LIMIT])
    return Path(name)
