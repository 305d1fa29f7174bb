"""Chat through the gateway: `POST /v1/chat/completions` (`/api/...` for old callers).

The body's `model` may be an alias (or a legacy name), a gateway model name, or a
registry key `provider:model_id`; it is rewritten to the gateway model and the rest
of the body goes on untouched.  The answer is relayed as it arrives: a stream chunk
by chunk, never buffered, and a caller who hangs up closes the gateway connection,
which cancels the call upstream.  Errors come back in MPC-API's envelope: an unknown
model 400, the gateway unreachable 503 (timed out 504), the gateway refusing our own
key 502 (that is our misconfiguration, not the caller's).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ...errors import TransportError
from ...http import AsyncUpstream
from ...providers import PROVIDERS
from ..deps import ApiState, State, api_error, dumps, problem, request_id_of
from ..schemas import ChatCompletion, ErrorEnvelope
from . import COMMON_ERRORS

__all__ = ["CHAT_PATHS", "router"]

log = logging.getLogger("mpc_lib.api")

router = APIRouter(tags=["chat"])
CHAT_PATHS = ("/v1/chat/completions", "/api/chat/completions")
_GATEWAY_PATH = "/v1/chat/completions"
_RELAYED_HEADERS = ("content-type", "content-length", "cache-control")

_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["model", "messages"],
                "properties": {
                    "model": {
                        "type": "string",
                        "description": "an alias, a gateway model or provider:model_id",
                    },
                    "messages": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["role"],
                            "properties": {"role": {"type": "string"}, "content": {}},
                        },
                    },
                    "stream": {"type": "boolean"},
                },
                "additionalProperties": True,
            }
        }
    },
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    **COMMON_ERRORS,
    200: {
        "description": "The completion (JSON), or its chunks as server-sent events",
        "content": {
            "application/json": {"schema": ChatCompletion.model_json_schema()},
            "text/event-stream": {"schema": {"type": "string"}},
        },
    },
    404: {"model": ErrorEnvelope, "description": "The gateway has no such model"},
    429: {"model": ErrorEnvelope, "description": "The upstream is rate limiting"},
    500: {"model": ErrorEnvelope, "description": "The gateway failed"},
    502: {"model": ErrorEnvelope, "description": "The gateway or its upstream failed"},
    503: {"model": ErrorEnvelope, "description": "The gateway is unreachable"},
    504: {"model": ErrorEnvelope, "description": "The gateway timed out"},
}


def _resolve(state: ApiState, name: str) -> tuple[str, str | None]:
    """(gateway model, its mode) for an alias, gateway model name or provider:model_id."""
    resolved = state.aliases.lookup(name)
    if resolved is not None:
        return resolved.gateway_model, resolved.mode
    info = state.deployments.get(name)
    if info is not None:
        return name, info.get("mode")
    head, _, rest = name.partition(":")
    if head in PROVIDERS and rest:
        gateway_model = state.gateway_name(head, rest)
        if gateway_model is not None:
            return gateway_model, state.deployments[gateway_model].get("mode")
    raise problem(400, f"Unknown model alias: {name}", code="unknown_model")


def _parse(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:
        raise problem(400, "the request body is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise problem(400, "the request body must be a JSON object", code="invalid_body")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise problem(400, "Missing model alias", code="missing_model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise problem(400, "messages must be a non-empty array", code="invalid_messages")
    return body


async def chat_completions(request: Request, state: State) -> Response:
    """A chat completion through the gateway, the model resolved; streams relayed as they come."""
    body = _parse(await request.body())
    asked = body["model"]
    gateway_model, mode = _resolve(state, asked)
    if mode not in (None, "chat"):
        raise problem(400, f"{asked!r} is {gateway_model!r}, a {mode} model; chat needs a chat "
                      "model", code="not_a_chat_model")  # fmt: skip
    body["model"] = gateway_model
    rid = request_id_of(request)
    headers = {
        "content-type": "application/json",
        "accept-encoding": "identity",  # relayed byte for byte, so never compressed
        "x-request-id": rid,
        "x-litellm-call-id": rid,  # LiteLLM logs the call under our id and echoes it
    }
    try:
        content = dumps(body)
        upstream = await state.relay.open("POST", _GATEWAY_PATH, content=content, headers=headers)
    except TransportError as exc:
        return _unreachable(state, exc, rid)
    if upstream.status >= 400:
        return await _gateway_error(upstream, rid)
    return _Relay(upstream, rid)


for _path in CHAT_PATHS:
    router.add_api_route(
        _path, chat_completions, methods=["POST"], responses=_RESPONSES,
        openapi_extra={"requestBody": _REQUEST_BODY}, response_model=None,
        summary="Chat completion through the gateway",
    )  # fmt: skip


def _unreachable(state: ApiState, exc: TransportError, rid: str) -> Response:
    timed_out = exc.detail.split(":", 1)[0].endswith("Timeout")
    status = 504 if timed_out else 503
    what = "did not answer in time" if timed_out else "is not reachable"
    log.warning("api: gateway %s: %s", what, exc)
    return api_error(
        status, f"the gateway at {state.settings.gateway_url} {what} ({exc.detail}); "
        "is `mpc gateway serve` running?", request_id=rid,
    )  # fmt: skip


async def _gateway_error(upstream: AsyncUpstream, rid: str) -> Response:
    """The gateway's error answer in our envelope (its status kept, its message quoted)."""
    try:
        raw = await upstream.read()
    except TransportError as exc:
        raw = str(exc).encode()
    finally:
        await upstream.aclose()
    message, kind, code = raw.decode("utf-8", "replace")[:2000], None, None
    try:
        error = json.loads(raw).get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict):
        message = str(error.get("message") or message)
        kind = str(error["type"]) if error.get("type") else None
        code = error.get("code")
    status = upstream.status
    if status in (401, 403):
        # The caller passed our check; the gateway refused *our* key.
        return api_error(502, f"the gateway refused MPC-API's key ({status}: {message}); "
                         "LITELLM_MASTER_KEY must be the gateway's", kind="gateway_auth",
                         request_id=rid)  # fmt: skip
    code = code if isinstance(code, (int, str)) else None
    return api_error(status, message, kind=kind, code=code, request_id=rid)


class _Relay(Response):
    """The gateway's answer relayed as it arrives; a caller who leaves closes the gateway call."""

    def __init__(self, upstream: AsyncUpstream, rid: str) -> None:
        self.upstream = upstream
        self.rid = rid
        self.status_code = upstream.status
        self.background = None
        self.raw_headers = [
            (name.encode(), value.encode())
            for name, value in upstream.headers.items()
            if name in _RELAYED_HEADERS or name.startswith("x-litellm-")
        ]
        self.streaming = "text/event-stream" in upstream.headers.get("content-type", "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        outcome = "completed"
        finished = False
        try:
            async with anyio.create_task_group() as group:

                async def relay() -> None:
                    nonlocal outcome, finished
                    await send({"type": "http.response.start", "status": self.status_code,
                                "headers": self.raw_headers})  # fmt: skip
                    try:
                        async for chunk in self.upstream.chunks():
                            await send({"type": "http.response.body", "body": chunk,
                                        "more_body": True})  # fmt: skip
                    except TransportError as exc:
                        outcome = "cut"
                        log.warning("api: the gateway cut %s short: %s", self.rid, exc)
                        if not self.streaming:
                            group.cancel_scope.cancel()
                            return  # a half JSON body cannot be mended: the caller sees a cut
                        event = {"error": {"message": f"the gateway connection broke mid-stream "
                                           f"({exc.detail})", "type": "gateway_error",
                                           "code": 502, "request_id": self.rid}}  # fmt: skip
                        await send({"type": "http.response.body",
                                    "body": b"data: " + dumps(event) + b"\n\n", "more_body": True})
                    finished = True
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    group.cancel_scope.cancel()

                async def listen() -> None:
                    nonlocal outcome
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    if not finished:  # the server also says "disconnect" once the answer is sent
                        outcome = "cancelled"
                        group.cancel_scope.cancel()

                group.start_soon(relay)
                group.start_soon(listen)
        finally:
            with anyio.CancelScope(shield=True):
                await self.upstream.aclose()  # closing the connection cancels the gateway call
            if outcome == "cancelled":
                log.info("api: caller left %s; the gateway call was closed", self.rid)
