"""`HttpCore`: one provider's calls, retried within a deadline, answered or raised as our errors."""

from __future__ import annotations

import contextlib
import logging
import random
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import httpx

from ..config import Secret, Settings
from ..errors import ProviderError, ResponseFormatError, TransportError
from ..providers import AuthScheme
from ..storage import atomic_write_bytes
from ._config import SANDBOX_MARK, build_client
from ._errors import map_httpx_errors, provider_error, redirected, request_id
from ._retry import DEFAULT_RETRY_POLICY, SYSTEM_CLOCK, Clock, RetryPolicy, parse_retry_after

__all__ = ["HttpCore", "QueryLists", "QueryValue"]

log = logging.getLogger("mpc_lib.http")

QueryValue = str | int | float | bool | Sequence[str] | None
# How a list goes into a query: `a=1&a=2` (repeat) or `a=1,2` (comma), for a route such as
# the gateway's pass-through that keeps only the last of repeated keys.
QueryLists = Literal["repeat", "comma"]
_Scalar = str | int | float | bool | None

# Connection-level failures that are worth another try; the rest are our own misuse.
_RETRYABLE_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_SAVED_PAYLOAD_LIMIT = 1_000_000


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


def _seconds(value: float) -> str:
    """A wait for a message: 3600 -> '3600', 2.345 -> '2.3'."""
    return f"{round(value, 1):g}"


class HttpCore:
    """Calls one provider: base URL, auth scheme, retries, typed errors, one log line per call.

    `clock` is what the retry loop reads and sleeps on (deadlines, backoff, Retry-After):
    the system's by default, one that only pretends to wait in tests.
    """

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        key: Secret | None = None,
        scheme: AuthScheme = "Bearer",
        client: httpx.Client | None = None,
        retry: RetryPolicy = DEFAULT_RETRY_POLICY,
        clock: Clock = SYSTEM_CLOCK,
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
        self.clock = clock
        self.payload_dir = payload_dir
        self._key = (key.reveal() or None) if key is not None else None
        self._scheme = scheme
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0))
        self._rng = random.Random()
        self._rng_lock = threading.Lock()
        # The sandbox marks seen on answers (see SANDBOX_MARK): empty when none carried one.
        self.sandbox_marks: set[str] = set()

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
        clock: Clock = SYSTEM_CLOCK,
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
            clock=clock,
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
        with map_httpx_errors(self.provider, method, path, self._key):
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
        clock = self.clock
        url = self.base_url + path
        headers = {"Accept": "text/event-stream" if stream else "application/json"}
        headers.update(self._headers)
        headers.update(extra_headers or {})
        if (auth or self.key_on_public) and self._key is not None:
            headers["Authorization"] = f"{self._scheme} {self._key}"
        query = _clean_params(params, self.query_lists)
        deadline = clock.monotonic() + policy.deadline_s
        attempt = 0
        while True:
            attempt += 1
            started = clock.monotonic()
            try:
                with map_httpx_errors(self.provider, method, path, self._key):
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
                    request_id(response) or "-", (clock.monotonic() - started) * 1000, attempt,
                )  # fmt: skip
                if response.is_success:
                    if mark := response.headers.get(SANDBOX_MARK):
                        self.sandbox_marks.add(mark)
                    return response
                if 300 <= response.status_code < 400:
                    raise redirected(self.provider, method, path, response, self._key)
                if not policy.should_retry_status(response.status_code):
                    raise provider_error(self.provider, method, path, response, secret=self._key)
                failure = response
                what = f"{method} {url} -> {response.status_code}"
                hint = parse_retry_after(response.headers, now=clock.time())
            wait, note = self._next_wait(policy, attempt, hint, deadline)
            if wait is None:
                raise self._give_up(method, path, failure, note, hint)
            log.warning("%s; retry %d/%d in %.2fs", what, attempt, policy.max_retries, wait)
            clock.sleep(wait)

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
        left = deadline - self.clock.monotonic()
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
            return provider_error(self.provider, method, path, failure, secret=self._key,
                                  note=note, retry_after_s=hint)  # fmt: skip
        if note is None:
            return failure
        error = TransportError(self.provider, method, path, f"{failure.detail}; {note}")
        error.__cause__ = failure.__cause__
        return error

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
