"""Plumbing both emulators share: request ids, latency, faults, the request log, control routes."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..http import SANDBOX_MARK
from .faults import Fault
from .modes import SandboxModes
from .state import RequestRecord, SandboxState

__all__ = [
    "CONTROL_PREFIX",
    "ErrorBody",
    "SandboxMiddleware",
    "control_routes",
    "emulator_app",
    "install_drop_filter",
    "request_id",
    "scope_faults",
]

CONTROL_PREFIX = "/_sandbox"
# (request path, status, message, request id) -> the provider's error envelope
ErrorBody = Callable[[str, int, str, str], dict[str, Any]]

_TERMINAL = ("rate_limit", "server_error", "drop", "malformed", "redirect", "wrong_shape")
# Faults the route itself applies (it knows its pages and its streams).
_ROUTE_APPLIED = ("repeat_cursor", "cut_stream", "failed_job")
# Where a redirect fault without a `location` points: the same path on a host that is not ours.
_MOVED_HOST = "https://moved.example.invalid"
_FALLBACK_BODY = b'{"data":[{"id":"sbx-empty-answer"}]}'
_DROP_MESSAGE = "ASGI callable returned without completing response."


class _QuietDrops(logging.Filter):
    """Hide uvicorn's complaints about answers we cut short on purpose, and about the
    requests still sleeping on an injected latency when the emulator shuts down."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message == _DROP_MESSAGE or "timeout graceful shutdown exceeded" in message:
            return False
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, asyncio.CancelledError)


_QUIET_DROPS = _QuietDrops()


def install_drop_filter() -> None:
    """Attach the drop filter to uvicorn's error logger once."""
    logger = logging.getLogger("uvicorn.error")
    if _QUIET_DROPS not in logger.filters:
        logger.addFilter(_QUIET_DROPS)


def request_id(request: Request) -> str:
    """The id the middleware gave this request."""
    return str(request.scope.get("sbx.request_id", "sbx-unknown"))


def scope_faults(request: Request) -> tuple[Fault, ...]:
    """The faults firing for this request that the route itself must apply."""
    return tuple(request.scope.get("sbx.faults", ()))


def _json_bytes(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


class SandboxMiddleware:
    """Tags every response with x-request-id and the sandbox's mark, then adds latency and
    faults and logs the request."""

    def __init__(
        self, app: ASGIApp, *, state: SandboxState, provider: str, error_body: ErrorBody
    ) -> None:
        self.app = app
        self.state = state
        self.provider = provider
        self.error_body = error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = self.state.next_request_id(self.provider)
        scope["sbx.request_id"] = rid
        # Where the data came from (generated, snapshot, synthetic): relayed by a gateway,
        # the answer still says it is the sandbox's.
        mark = self.state.data.price_origin.get(self.provider) or "sandbox"
        path: str = scope["path"]
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            await self.app(scope, receive, _tagging_send(send, rid, mark, None))
            return
        recorder = _Recorder(self.state, self.provider, scope)
        query = scope.get("query_string", b"").decode("latin-1")
        model = None
        if self.state.faults.watches_models(self.provider, path, query):
            model, receive = await _read_model(receive)
        faults = self.state.faults.take(self.provider, path, query, model)
        delay_ms = self.state.latency_ms + sum(f.latency_ms for f in faults if f.kind == "latency")
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        scope["sbx.faults"] = tuple(f for f in faults if f.kind in _ROUTE_APPLIED)
        terminal = next((f for f in faults if f.kind in _TERMINAL), None)
        send = _tagging_send(send, rid, mark, recorder)
        try:
            if terminal is None:
                await self.app(scope, receive, send)
            elif terminal.kind == "rate_limit":
                await self._error(path, 429, "Rate limit exceeded", rid, send, terminal)
            elif terminal.kind == "server_error":
                message = "An unexpected error occurred (sandbox fault)"
                await self._error(path, terminal.answer_status(), message, rid, send, terminal)
            elif terminal.kind == "wrong_shape":
                message = "An unexpected error occurred (sandbox fault, answered as 200)"
                body = self.error_body(path, terminal.answer_status(), message, rid)
                await _send_bytes(send, 200, _json_bytes(body), {})
            elif terminal.kind == "redirect":
                moved = _MOVED_HOST + path + (f"?{query}" if query else "")
                headers = {"Location": terminal.location or moved}
                await _send_bytes(send, terminal.answer_status(), b"", headers)
            else:
                await self._mangle(terminal.kind, scope, receive, send, recorder)
        finally:
            recorder.record()

    async def _error(
        self, path: str, status: int, message: str, rid: str, send: Send, fault: Fault
    ) -> None:
        headers: dict[str, str] = {}
        retry_after = fault.retry_after_header()
        if fault.kind == "rate_limit" and retry_after is not None:
            headers["Retry-After"] = retry_after
        body = self.error_body(path, status, message, rid)
        await _send_bytes(send, status, _json_bytes(body), headers)

    async def _mangle(
        self, kind: str, scope: Scope, receive: Receive, send: Send, recorder: _Recorder
    ) -> None:
        """Run the real route, then cut its body short: as invalid JSON, or mid-stream."""
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        if len(body) < 4:
            body = _FALLBACK_BODY
        half = body[: len(body) // 2]
        if kind == "malformed":
            await _send_bytes(send, 200, half, {})
            return
        # drop: promise the whole body, deliver half, then return so the server closes the socket
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        recorder.status = 0
        recorder.record()
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": half, "more_body": True})


async def _read_model(receive: Receive) -> tuple[str | None, Receive]:
    """The `model` a JSON request body names (None for any other body), and a `receive`
    that hands the route the same messages again."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    try:
        named = json.loads(body).get("model")
    except (ValueError, AttributeError):
        named = None
    return (named if isinstance(named, str) else None), replay


class _Recorder:
    """Logs one request exactly once, before its last byte leaves, so a client never outruns it."""

    def __init__(self, state: SandboxState, provider: str, scope: Scope) -> None:
        self.state = state
        self.provider = provider
        self.scope = scope
        self.status: int | None = None
        self.done = False
        self.arrived = time.monotonic()
        self.generation = state.log.generation

    def record(self) -> None:
        if self.done:
            return
        self.done = True
        scope = self.scope
        query = scope.get("query_string", b"").decode("latin-1")
        status = self.status or 0
        record = RequestRecord(
            self.provider, scope["method"], scope["path"], query, status, self.arrived
        )
        self.state.log.append(record, self.generation)


def _tagging_send(send: Send, rid: str, mark: str, recorder: _Recorder | None) -> Send:
    tags = [(b"x-request-id", rid.encode()), (SANDBOX_MARK.encode(), mark.encode())]
    names = {name for name, _ in tags}

    async def tagged(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [h for h in message.get("headers", []) if h[0].lower() not in names]
            message = {**message, "headers": [*headers, *tags]}
            if recorder is not None and recorder.status is None:
                recorder.status = int(message["status"])
                # With no body to follow, the client is done once the headers arrive.
                if (b"content-length", b"0") in headers:
                    recorder.record()
        elif recorder is not None and not message.get("more_body", False):
            recorder.record()
        await send(message)

    return tagged


async def _send_bytes(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def control_routes(state: SandboxState, provider: str) -> list[Route]:
    """Unauthenticated `/_sandbox/*` routes: health, faults and modes (GET/POST/DELETE), log."""

    async def health(request: Request) -> Response:
        data = state.data
        return JSONResponse(
            {
                "status": "ok",
                "provider": provider,
                "fal_models": len(data.fal_models),
                "comet_models": len(data.comet_models),
                "faults": len(state.faults),
                "latency_ms": state.latency_ms,
                "modes": asdict(state.modes),
            }
        )

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            return JSONResponse({"cleared": state.faults.clear()})
        if request.method == "POST":
            try:
                raw = json.loads(await request.body())
                if not isinstance(raw, dict):
                    raise ValueError("expected a JSON object")
                fault = state.faults.add(Fault.from_dict(raw))
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": f"bad fault: {exc}"}, status_code=400)
            return JSONResponse({"fault": asdict(fault)}, status_code=201)
        return JSONResponse({"faults": state.faults.describe()})

    async def modes(request: Request) -> Response:
        if request.method == "DELETE":
            state.modes = SandboxModes()
        elif request.method == "POST":
            try:
                raw = json.loads(await request.body())
                if not isinstance(raw, dict):
                    raise ValueError("expected a JSON object")
                state.modes = SandboxModes.from_dict(raw, state.modes)
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": f"bad modes: {exc}"}, status_code=400)
        return JSONResponse({"modes": asdict(state.modes)})

    async def requests(request: Request) -> Response:
        wanted = request.query_params.get("provider") or None
        return JSONResponse({"requests": [r._asdict() for r in state.log.records(wanted)]})

    if not state.control:  # a workbook command on the sandbox: nobody may steer it
        return [Route(f"{CONTROL_PREFIX}/health", health, methods=["GET"])]
    return [
        Route(f"{CONTROL_PREFIX}/health", health, methods=["GET"]),
        Route(f"{CONTROL_PREFIX}/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route(f"{CONTROL_PREFIX}/modes", modes, methods=["GET", "POST", "DELETE"]),
        Route(f"{CONTROL_PREFIX}/requests", requests, methods=["GET"]),
    ]


# (request, the HTTPException or error) -> an answer in the provider's error envelope
NotFoundHandler = Callable[[Request, Exception], Any]


def emulator_app(
    state: SandboxState,
    provider: str,
    routes: list[Route],
    *,
    error_body: ErrorBody,
    not_found: NotFoundHandler,
) -> Starlette:
    """An emulator: control routes plus the provider's, behind the shared middleware.

    Unknown routes and wrong methods answer through `not_found`, in the provider's envelope.
    """
    return Starlette(
        routes=[*control_routes(state, provider), *routes],
        middleware=[
            Middleware(SandboxMiddleware, state=state, provider=provider, error_body=error_body)
        ],
        exception_handlers={404: not_found, 405: not_found},
    )
