"""Chat through the gateway: `POST /v1/chat/completions` (`/api/...` for old callers).

The body's `model` may be an alias (or a legacy name), a gateway model name, or a
registry key `provider:model_id`; it is rewritten to the gateway model.  The body may
hold only OpenAI's chat parameters (`allowlist.CHAT_FIELDS`: anything else, such as
`extra_headers`, `api_key` or `num_retries`, is a 400 naming the field), checked for type
and bounds.  The answer is relayed as it arrives: a stream chunk by chunk, never
buffered, with no `x-litellm-*` header (the call's cost comes as `x-mpc-cost-usd`);
a caller who hangs up (while the gateway works on a plain answer, or mid-stream) closes
the gateway connection.  Errors come back in MPC-API's envelope: an unknown model 400,
the relay full (`MPC_API_MAX_UPSTREAM`) or the gateway unreachable 503, timed out 504,
a 429 with its `Retry-After`, a gateway or upstream failure 502/503/504, and a 401/403
told apart as the gateway refusing our own key (502: our misconfiguration, not the
caller's), the provider refusing its key (502) or the gateway refusing the request (403).

One function, `chat_completions`, answers every chat: it reads and checks the body, then
answers with `_Relay`, a response that passes the gateway's answer on as it comes.  The
app serves it as a plain Starlette route at each of `CHAT_PATHS` (no dependency solving
or response model per call, on the path every chat takes) behind the same middleware as
every other route, and FastAPI documents the same function (`documented`, for the
OpenAPI only).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import anyio
from fastapi import APIRouter
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ...errors import TransportError
from ...http import AsyncUpstream
from ...providers import PROVIDERS
from ..allowlist import CHAT_FIELDS, check, parse_object, relay_bytes
from ..deps import (
    COST_HEADER,
    ApiState,
    api_error,
    envelope,
    gateway_unreachable,
    problem,
    problem_answer,
    request_id_of,
    state_of,
)
from ..schemas import ChatCompletion, ErrorEnvelope
from . import COMMON_ERRORS

__all__ = ["CHAT_PATHS", "chat_completions", "documented"]

log = logging.getLogger("mpc_lib.api")

CHAT_PATHS = ("/v1/chat/completions", "/api/chat/completions")
_GATEWAY_PATH = "/v1/chat/completions"
_RELAYED_HEADERS = frozenset((b"content-type", b"content-length", b"cache-control"))
_LITELLM_COST = b"x-litellm-response-cost"  # relayed as COST_HEADER: the call's own cost
_COST = COST_HEADER.encode()
# What MPC-API answers for a gateway error status it does not pass on as it is: the
# gateway's own failure (500: LiteLLM's answer to an upstream that sent garbage, say) is a
# bad gateway to our caller.
_GATEWAY_STATUS = {500: 502, 501: 502, 505: 502}

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
                    # the rest of OpenAI's chat parameters, checked by `allowlist.CHAT_FIELDS`
                    **{
                        name: {}
                        for name in CHAT_FIELDS
                        if name not in ("model", "messages", "stream")
                    },
                },
                "additionalProperties": False,
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
    403: {"model": ErrorEnvelope, "description": "The gateway refused the request"},
    500: {"model": ErrorEnvelope, "description": "MPC-API itself failed"},
    502: {"model": ErrorEnvelope, "description": "The gateway or its upstream failed"},
    503: {"model": ErrorEnvelope, "description": "The gateway is unreachable or the relay full"},
    504: {"model": ErrorEnvelope, "description": "The gateway timed out"},
}


def _resolve(state: ApiState, name: str) -> tuple[str, str | None]:
    """(gateway model, its mode) for a name a caller sent, resolved once per name."""
    known = state.chat_models.get(name)
    if known is None:  # only names that resolve are kept, so the table stays bounded
        known = state.chat_models[name] = _lookup(state, name)
    return known


def _lookup(state: ApiState, name: str) -> tuple[str, str | None]:
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
    """The caller's body, checked against the chat allowlist (a 400 `problem` names the field)."""
    body = parse_object(raw)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise problem(400, "Missing model alias", code="missing_model")
    check(body, CHAT_FIELDS, required=("messages",))
    return body


def _gateway_body(state: ApiState, raw: bytes) -> bytes:
    """The caller's body for the gateway, its model resolved; a bad one raises `problem`."""
    body = _parse(raw)
    asked = body["model"]
    relay_bytes(asked, "model")  # a lone surrogate in the name: a 400 before it is looked up
    gateway_model, mode = _resolve(state, asked)
    if mode not in (None, "chat"):
        raise problem(400, f"{asked!r} is {gateway_model!r}, a {mode} model; chat needs a chat "
                      "model", code="not_a_chat_model")  # fmt: skip
    body["model"] = gateway_model
    return relay_bytes(body)


async def chat_completions(request: Request) -> Response:
    """A chat completion through the gateway, the model resolved; streams relayed as they come."""
    state, rid = state_of(request), request_id_of(request)
    try:
        raw = await request.body()
    except ClientDisconnect:  # the caller left before sending it all: nobody hears this
        return api_error(400, "the request body did not arrive whole", request_id=rid)
    return _Relay(state, rid, _gateway_body(state, raw))


# How FastAPI documents `chat_completions` (which the app serves as a plain route at each
# of CHAT_PATHS): never routed, only read for the OpenAPI.
documented = APIRouter(tags=["chat"])
for _path in CHAT_PATHS:
    documented.add_api_route(
        _path, chat_completions, methods=["POST"], responses=_RESPONSES,
        openapi_extra={"requestBody": _REQUEST_BODY}, response_model=None,
        summary="Chat completion through the gateway",
    )  # fmt: skip


def _unreachable(state: ApiState, exc: TransportError, rid: str) -> Response:
    return problem_answer(gateway_unreachable(state, exc), rid)


async def _gateway_error(upstream: AsyncUpstream, rid: str) -> Response:
    """The gateway's error answer in our envelope: a caller's error (4xx) and an upstream's
    429/502/503/504 keep their status (and `Retry-After`), the gateway's own failure is a 502,
    and a 401/403 says whose key or what was refused."""
    try:
        raw = await upstream.read()
    except TransportError as exc:
        raw = str(exc).encode()
    message, kind, code = raw.decode("utf-8", "replace")[:2000], None, None
    try:
        error = json.loads(raw).get("error")
    except (ValueError, AttributeError, RecursionError):
        error = None
    if isinstance(error, dict):
        message = str(error.get("message") or message)[:2000]
        kind = str(error["type"]) if error.get("type") else None
        code = error.get("code")
    status = upstream.status
    if status in (401, 403):
        answer = _refused(status, message, kind, rid)
    else:
        shown = _GATEWAY_STATUS.get(status, status if status < 600 else 502)
        if shown != status:
            message, kind = f"the gateway failed ({status}): {message}", "gateway_error"
        answer = api_error(shown, message, kind=kind, request_id=rid,
                           code=str(code) if isinstance(code, (int, str)) else None)  # fmt: skip
    retry_after = upstream.headers.get("retry-after")
    if retry_after is not None and answer.status_code in (429, 503):
        answer.headers["retry-after"] = retry_after[:64]
    return answer


def _refused(status: int, message: str, kind: str | None, rid: str) -> Response:
    """A gateway 401/403, told apart: the gateway refused MPC-API's key (our configuration:
    502), the gateway refused the request itself (403), or the provider refused its key (502)."""
    if (kind or "").endswith("access_denied") or "Rejected Request" in message:
        return api_error(403, f"the gateway refused the request ({status}: {message})",
                         kind="request_refused", code="request_refused",
                         request_id=rid)  # fmt: skip
    if kind == "auth_error":  # LiteLLM's own check of the key we present
        return api_error(502, f"the gateway refused MPC-API's key ({status}: {message}); "
                         "LITELLM_MASTER_KEY must be the gateway's", kind="gateway_auth",
                         code="gateway_auth", request_id=rid)  # fmt: skip
    return api_error(502, f"the provider refused the gateway's key for it ({status}: "
                     f"{message}); check the provider key the gateway holds",
                     kind="upstream_auth", code="upstream_auth", request_id=rid)  # fmt: skip


class _Relay(Response):
    """The answer to a chat: the gateway's, passed on as it arrives, while a watcher task
    listens for the caller hanging up and then cancels the call (closing the gateway
    connection, which cancels the call upstream)."""

    def __init__(self, state: ApiState, rid: str, content: bytes) -> None:
        # Not Response.__init__: there is no body or header of ours to prepare.
        self.background = None
        self.state = state
        self.rid = rid
        self.content = content
        self.started = False  # the answer's status line went out
        self.finished = False  # the answer's last message is sent (or the relay gave up)
        self.left = False  # the caller hung up first
        self.cancel = anyio.CancelScope()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # uvicorn only serves asyncio, so a bare task is the cheapest listener (a task group
        # costs a scope and a task more per call).
        watcher = asyncio.get_running_loop().create_task(self._watch(receive))
        try:  # an exception is the guard's to answer (a 500, or a final event in a stream)
            with self.cancel:
                await self._relay(scope, receive, send)
        finally:
            self.finished = True
            if not watcher.done():
                watcher.cancel()
        if self.left:
            log.info("api: caller left %s; the gateway call was closed", self.rid)

    async def _answer(self, response: Response, scope: Scope, receive: Receive, send: Send) -> None:
        """Send a whole answer of our own (an error in the envelope)."""
        self.finished = True
        await response(scope, receive, send)

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        if not self.finished:  # the server also says "disconnect" once the answer is sent
            self.left = True
            self.cancel.cancel()

    async def _relay(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {
            "content-type": "application/json",
            "accept-encoding": "identity",  # relayed byte for byte, so never compressed
            "x-request-id": self.rid,
            "x-litellm-call-id": self.rid,  # LiteLLM logs the call under our id and echoes it
        }
        try:
            upstream = await self.state.relay.open(
                "POST", _GATEWAY_PATH, content=self.content, headers=headers
            )
        except TransportError as exc:
            await self._answer(_unreachable(self.state, exc, self.rid), scope, receive, send)
            return
        try:
            if upstream.status >= 400:
                error = await _gateway_error(upstream, self.rid)
                await self._answer(error, scope, receive, send)
            else:
                await self._pass_on(upstream, send)
        finally:
            with anyio.CancelScope(shield=True):
                await upstream.aclose()  # closing the connection cancels the gateway call

    async def _pass_on(self, upstream: AsyncUpstream, send: Send) -> None:
        """The answer's status, headers and body chunks, each sent on as it arrives."""
        headers: list[tuple[bytes, bytes]] = []
        streaming = False
        remaining = None  # with a known length the last chunk says so: one send fewer
        for name, value in upstream.raw_headers():  # one pass over the headers as received
            if name == b"content-type":
                streaming = b"text/event-stream" in value
            elif name == b"content-length" and value.isdigit():
                remaining = int(value)
            if name in _RELAYED_HEADERS:
                headers.append((name, value))
            elif name == _LITELLM_COST:
                headers.append((_COST, value))
        await send({"type": "http.response.start", "status": upstream.status, "headers": headers})
        self.started = True
        try:
            async for chunk in upstream.chunks():
                more = True
                if remaining is not None:
                    remaining -= len(chunk)
                    more = remaining > 0
                    self.finished = not more
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
        except TransportError as exc:
            log.warning("api: the gateway cut %s short: %s", self.rid, exc)
            if not streaming:
                self.finished = True
                return  # a half JSON body cannot be mended: the caller sees a cut
            event = envelope(502, f"the gateway connection broke mid-stream ({exc.detail})",
                             kind="gateway_error", request_id=self.rid)  # fmt: skip
            await send({"type": "http.response.body",
                        "body": b"data: " + event + b"\n\n", "more_body": True})  # fmt: skip
        if not self.finished:
            self.finished = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
