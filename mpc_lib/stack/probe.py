"""Health probes for the stack: one GET or POST to a full URL through the HTTP core.

The supervisor's wait, `status`, the smoke test and the `stack.services` health row
all ask "does this URL answer 2xx?"; `HttpProbe` asks once (no retries, a short
deadline) through `mpc_lib.http`, and turns the typed errors into a `ProbeResult`
with the status and a one-line reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..config import Secret, Settings
from ..errors import MpcError, ProviderError
from ..http import HttpCore, RetryPolicy, build_client

__all__ = ["HttpProbe", "ProbeResult"]


@dataclass(frozen=True)
class ProbeResult:
    """One probe: 2xx or not, the status (None: no answer), why, how long, the JSON body."""

    ok: bool
    status: int | None
    detail: str
    latency_ms: float
    body: Any = None


class HttpProbe:
    """Probes URLs through one pooled client; use as a context manager."""

    def __init__(self, settings: Settings, *, timeout_s: float = 2.0) -> None:
        self._settings = settings.with_(timeout_s=min(settings.timeout_s, timeout_s))
        self._client = build_client(self._settings)
        self._policy = RetryPolicy(max_retries=0, deadline_s=timeout_s)

    def get(self, url: str, *, key: Secret | None = None, name: str = "stack") -> ProbeResult:
        """GET `url` once; ok on 2xx."""
        return self._call("GET", url, None, key, name)

    def post_json(
        self,
        url: str,
        body: Any,
        *,
        key: Secret | None = None,
        name: str = "stack",
        timeout_s: float | None = None,
    ) -> ProbeResult:
        """POST a JSON body once (a longer deadline may be given); ok on 2xx."""
        return self._call("POST", url, body, key, name, timeout_s)

    def _call(
        self,
        method: str,
        url: str,
        body: Any,
        key: Secret | None,
        name: str,
        timeout_s: float | None = None,
    ) -> ProbeResult:
        parts = urlsplit(url)
        base = f"{parts.scheme}://{parts.netloc}"
        path = parts.path or "/"
        if parts.query:
            path += f"?{parts.query}"
        policy = self._policy
        if timeout_s is not None:
            policy = RetryPolicy(max_retries=0, deadline_s=timeout_s)
        core = HttpCore(name, base, key=key, scheme="Bearer", client=self._client, retry=policy)
        started = time.monotonic()
        try:
            response = core.request(method, path, json_body=body, auth=key is not None)
        except ProviderError as exc:
            took = (time.monotonic() - started) * 1000
            return ProbeResult(False, exc.status, f"{exc.status} {exc.detail or ''}".strip(), took)
        except MpcError as exc:
            took = (time.monotonic() - started) * 1000
            detail = getattr(exc, "detail", None) or str(exc)
            return ProbeResult(False, None, f"no answer: {detail}", took)
        took = (time.monotonic() - started) * 1000
        try:
            parsed = response.json() if response.content else None
        except ValueError:
            parsed = None
        return ProbeResult(True, response.status_code, f"{response.status_code}", took, parsed)

    def close(self) -> None:
        """Close the pooled client."""
        self._client.close()

    def __enter__(self) -> HttpProbe:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
