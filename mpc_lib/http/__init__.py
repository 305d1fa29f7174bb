"""The one HTTP boundary: every outbound call of mpc_lib goes through this package.

Two cores over httpx, one job each:

- `HttpCore` (sync) calls a provider: timeouts and pooling through one `httpx.Client`
  (`build_client`), bounded retries with exponential backoff and jitter that honour
  `Retry-After`, one overall deadline per call, the provider auth schemes, and the
  answers mapped to typed errors.  `RetryPolicy` says how often and how long to retry;
  the `Clock` it reads and sleeps on is injectable, so tests never really wait.
  `ProviderClient` is the base of the provider clients, one `HttpCore` built from settings.
- `AsyncHttpCore` (async) is MPC-API's relay to the gateway, on httpx's own
  `AsyncHTTPTransport` pool: no retries, answers passed on as they arrive (`AsyncUpstream`).

Both map httpx's exceptions to `mpc_lib.errors` through one context manager
(`_errors.map_httpx_errors`): this is the only package that catches `httpx.*`.

Redirects are never followed: a 3xx is a `Redirected` error naming the Location,
because following an authenticated call could carry the key to another host.

Logging, on the `mpc_lib.http` logger: exactly one INFO line per request attempt
that got an answer (method, URL, status, request id, ms, attempt number), plus at
most one WARNING per retry decision (what failed, and the wait before the next
try).  A call that gives up logs nothing more: the error it raises says why.
httpx's own "HTTP Request: ..." lines are the CLI's to silence.
"""

from __future__ import annotations

from ._config import SANDBOX_MARK, build_client, origin
from ._core import HttpCore, QueryLists, QueryValue
from ._provider import ProviderClient
from ._relay import AsyncHttpCore, AsyncUpstream
from ._retry import DEFAULT_RETRY_POLICY, SYSTEM_CLOCK, Clock, RetryPolicy, parse_retry_after

__all__ = [
    "DEFAULT_RETRY_POLICY",
    "SANDBOX_MARK",
    "SYSTEM_CLOCK",
    "AsyncHttpCore",
    "AsyncUpstream",
    "Clock",
    "HttpCore",
    "ProviderClient",
    "QueryLists",
    "QueryValue",
    "RetryPolicy",
    "build_client",
    "origin",
    "parse_retry_after",
]

# Named where callers import them from (as httpx does), not by their private modules.
for _value in (AsyncHttpCore, AsyncUpstream, Clock, HttpCore, ProviderClient, RetryPolicy,
               build_client, origin, parse_retry_after):  # fmt: skip
    _value.__module__ = __name__
del _value
