"""What MPC-API's routes share: the app state, the error envelope, the request id."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..aliases import ResolvedAliases
from ..config import Settings
from ..errors import TransportError
from ..http import AsyncHttpCore
from ..registry import RegistryStore
from .drain import Drain
from .fal_jobs import FalJobs

__all__ = [
    "COST_HEADER",
    "PROBE_TIMEOUT_S",
    "ApiState",
    "State",
    "api_error",
    "dumps",
    "envelope",
    "gateway_unreachable",
    "problem",
    "problem_answer",
    "request_id_of",
    "state_of",
]

log = logging.getLogger("mpc_lib.api")

# A call's cost in USD at the registry's price, on every answer that knows it (chat: LiteLLM's
# reckoning from the deployment's cost keys; FAL calls: MPC-API's own, `pricing.usage`).
COST_HEADER = "x-mpc-cost-usd"

PROBE_TIMEOUT_S = 3.0  # the health probe's timeouts (connect, read, waiting for a connection)
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "request_too_large",
    431: "request_header_fields_too_large",
    429: "rate_limit_error",
    502: "gateway_error",
    503: "gateway_unavailable",
    504: "gateway_timeout",
}


@dataclass
class ApiState:
    """What every route reads: settings, the registry (re-read when it changes), aliases."""

    settings: Settings
    store: RegistryStore
    aliases: ResolvedAliases
    deployments: dict[str, dict[str, Any]]
    config_path: Path
    relay: AsyncHttpCore
    probe: AsyncHttpCore  # the health probe's own connection to the gateway
    drain: Drain = field(default_factory=Drain)  # requests in flight, for the shutdown
    _registry: dict[str, Any] = field(default_factory=dict, repr=False)
    _stamp: Any = field(default=None, repr=False)
    _by_key: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    # The gateway model and mode per name a chat asked for: aliases and the gateway config
    # are fixed for the life of the process, so each name is resolved once.
    chat_models: dict[str, tuple[str, str | None]] = field(default_factory=dict, repr=False)
    # The FAL queue jobs this process submitted (`routes/fal.py`).
    fal_jobs: FalJobs = field(default_factory=FalJobs, repr=False)

    def registry(self) -> dict[str, Any]:
        """The registry, re-read only when `models.json` changed since the last read."""
        stamp = self.store.stamp()
        if stamp != self._stamp:
            loaded = self.store.load()
            if loaded is not None:
                self._registry = loaded
                self._by_key = {f"{m['provider']}:{m['model_id']}": m for m in loaded["models"]}
            self._stamp = stamp
        return self._registry

    def record(self, key: str) -> dict[str, Any] | None:
        """A registry record by `provider:model_id`."""
        self.registry()
        return self._by_key.get(key)

    def gateway_name(self, provider: str, model_id: str) -> str | None:
        """The gateway model that serves a registry model, if the config has one."""
        for name, info in self.deployments.items():
            if info.get("mpc_provider") == provider and info.get("mpc_model_id") == model_id:
                return name
        return None


def request_id_of(request: Request) -> str:
    """The id `_Guard` gave this request."""
    return str(request.scope.get("mpc.request_id", ""))


def envelope(status: int, message: str, *, code: str | None = None, kind: str | None = None,
             request_id: str | None = None) -> bytes:  # fmt: skip
    """The error envelope's bytes: ASCII JSON, so no caller's text (a lone surrogate) can
    break it; `code` defaults to the error's type (always a string)."""
    kind = kind or _ERROR_TYPES.get(status, "server_error" if status >= 500 else "error")
    body = {"error": {"message": message, "type": kind, "code": code or kind,
                      "request_id": request_id}}  # fmt: skip
    return json.dumps(body, separators=(",", ":")).encode()


def api_error(status: int, message: str, *, code: str | None = None, kind: str | None = None,
              request_id: str | None = None) -> Response:  # fmt: skip
    """An answer in the one error envelope."""
    content = envelope(status, message, code=code, kind=kind, request_id=request_id)
    return Response(content, status_code=status, media_type="application/json")


def state_of(request: Request) -> ApiState:
    """The app's ApiState, for a route that takes no dependencies."""
    state: ApiState = request.app.state.mpc
    return state


async def _state(request: Request) -> ApiState:
    # async: FastAPI would run a plain function in a worker thread, a thread hop per request
    return state_of(request)


# A route parameter `state: State` receives the app's ApiState.
State = Annotated[ApiState, Depends(_state)]


def problem(
    status: int, message: str, *, code: str | None = None, kind: str | None = None
) -> HTTPException:
    """An HTTPException the app renders as the error envelope (raise it from a route)."""
    detail: Any = {"message": message, "code": code, "type": kind}  # rendered by the app
    return HTTPException(status, detail=detail)


def problem_answer(exc: HTTPException, request_id: str | None) -> Response:
    """The envelope for an HTTPException (ours from `problem`, or one Starlette raised), with
    its headers (a 405's Allow)."""
    detail = exc.detail
    if isinstance(detail, dict):  # raised by our routes with a message and a code
        code = detail.get("code")
        answer = api_error(exc.status_code, str(detail.get("message")),
                           code=str(code) if code is not None else None,
                           kind=detail.get("type"), request_id=request_id)  # fmt: skip
    else:
        answer = api_error(exc.status_code, str(detail), request_id=request_id)
    answer.headers.update(exc.headers or {})
    return answer


def dumps(body: Any) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(body, separators=(",", ":")).encode()


def gateway_unreachable(state: ApiState, exc: TransportError) -> HTTPException:
    """The gateway did not answer: 504 when it timed out, else 503, naming its URL; or the
    relay had no free connection (`MPC_API_MAX_UPSTREAM`): 503 with `Retry-After` at once."""
    if exc.detail.startswith("PoolTimeout"):
        size = state.relay.connections
        log.warning("api: the relay is full (%d connections)", size)
        full = problem(503, f"MPC-API's relay to the gateway is full ({size} calls in flight, "
                       "MPC_API_MAX_UPSTREAM); retry shortly", code="relay_full")  # fmt: skip
        full.headers = {"retry-after": "1"}
        return full
    timed_out = exc.detail.split(":", 1)[0].endswith("Timeout")
    what = "did not answer in time" if timed_out else "is not reachable"
    log.warning("api: gateway %s: %s", what, exc)
    return problem(504 if timed_out else 503, f"the gateway at {state.settings.gateway_url} "
                   f"{what} ({exc.detail}); is `mpc gateway serve` running?")  # fmt: skip
