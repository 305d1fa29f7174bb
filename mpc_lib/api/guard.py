"""`Guard`: the ASGI middleware every MPC-API request passes, and `Drain`, its shutdown.

In one pass over each request (no per-request task or body copy), the guard:

- gives it an id (the caller's `x-request-id` when sane, else a new one), echoed on every
  answer and passed on to the gateway;
- checks `Authorization: Bearer <MPC_API_KEY>` in constant time (not on liveliness);
- refuses a body over `max_body_bytes` with 413, declared or counted as it arrives, even
  when a route's body parser would have called the cut a malformed body;
- answers every exception a route let escape in the envelope, with the id: a body nested
  too deeply is the caller's 400, anything else a 500 (never uvicorn's text/plain);
- ends, when the drain runs out, every request still in flight: a stream with a final SSE
  error event, a call with no answer yet with a 503.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import re
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .deps import api_error, envelope
from .drain import Call, Drain

__all__ = ["LIVELINESS_PATH", "Guard"]

log = logging.getLogger("mpc_lib.api")

LIVELINESS_PATH = "/health/liveliness"
_SHUTDOWN_KIND = "service_unavailable"  # MPC-API itself, not the gateway, is going away
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class _TooLarge(Exception):
    """The body grew past the limit while it was being read."""


class Guard:
    """Request id, bearer auth, the body limit, the envelope for every failure, the drain."""

    def __init__(self, app: ASGIApp, *, api_key: str | None, max_body_bytes: int,
                 drain: Drain | None = None) -> None:  # fmt: skip
        self.app = app
        self.api_key = api_key.encode() if api_key else None
        self.max_body_bytes = max_body_bytes
        self.drain = drain or Drain()
        # Request ids of our own: random per process, then counted (no entropy per request).
        self._id_prefix = f"mpc-{secrets.token_hex(6)}"
        self._ids = itertools.count()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        rid = given if given and _REQUEST_ID.match(given) else self._new_id()
        scope["mpc.request_id"] = rid
        header = (b"x-request-id", rid.encode())
        call = Call(asyncio.current_task())
        over = False  # the body passed the limit: whatever the app answers becomes a 413

        async def tagged(message: Message) -> None:
            if over:
                return
            if message["type"] == "http.response.start":
                call.started = True
                message["headers"] = headers = [*message.get("headers", []), header]
                call.streaming = any(
                    name == b"content-type" and value.startswith(b"text/event-stream")
                    for name, value in headers
                )
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                call.ended = True
            await send(message)

        if self.api_key is not None and scope["path"] != LIVELINESS_PATH:
            scheme, _, token = (_header(scope, b"authorization") or "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                token.strip().encode(), self.api_key
            ):
                answer = api_error(
                    401, "missing or wrong bearer key (Authorization: Bearer <MPC_API_KEY>)",
                    code="invalid_api_key", request_id=rid,
                )  # fmt: skip
                answer.headers["www-authenticate"] = "Bearer"
                await answer(scope, receive, tagged)
                return
        if self.drain.draining:
            await self._unavailable(scope, receive, tagged, rid)
            return
        length = _header(scope, b"content-length")
        inner = receive
        if length is not None and length.isdigit():
            if int(length) > self.max_body_bytes:
                await self._too_large(scope, receive, tagged, rid)
                return
            # The server delivers exactly the declared length: nothing left to count.
        else:
            seen = 0

            async def counted() -> Message:
                nonlocal seen, over
                message = await receive()
                if message["type"] == "http.request":
                    seen += len(message.get("body", b""))
                    if seen > self.max_body_bytes:
                        over = not call.started
                        raise _TooLarge
                return message

            inner = counted
        self.drain.calls.add(call)
        try:
            await self.app(scope, inner, tagged)
        except _TooLarge:
            if call.started:
                raise
        except asyncio.CancelledError:
            if not call.drained:
                raise
            _uncancel(call.task)
        except RecursionError:
            over = False
            await self._failed(scope, receive, tagged, call, rid, 400,
                               "the request body is nested too deeply", "invalid_json")  # fmt: skip
        except Exception as exc:
            over = False
            log.error("api: %s %s failed", scope.get("method"), scope.get("path"), exc_info=exc)
            await self._failed(scope, receive, tagged, call, rid, 500,
                               f"internal error ({type(exc).__name__})", None)  # fmt: skip
        finally:
            self.drain.calls.discard(call)
        if over:
            over = False
            await self._too_large(scope, receive, tagged, rid)
        elif call.drained:
            await self._drained(scope, receive, tagged, call, rid)

    def _new_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids):012x}"

    async def _failed(self, scope: Scope, receive: Receive, send: Send, call: Call, rid: str,
                      status: int, message: str, code: str | None) -> None:  # fmt: skip
        if not call.started:
            await api_error(status, message, code=code, request_id=rid)(scope, receive, send)
        elif call.streaming and not call.ended:
            await _final_event(send, status, message, rid, code=code)
        # else: a plain answer half sent cannot be mended; the server cuts the connection

    async def _drained(self, scope: Scope, receive: Receive, send: Send, call: Call,
                       rid: str) -> None:  # fmt: skip
        log.warning("api: %s cut by the shutdown drain (MPC_API_DRAIN_S)", rid)
        if not call.started:
            await self._unavailable(scope, receive, send, rid)
        elif call.streaming and not call.ended:
            await _final_event(send, 503, "MPC-API is shutting down; the stream was cut "
                               "after the drain period (MPC_API_DRAIN_S)", rid,
                               code="shutting_down")  # fmt: skip

    async def _unavailable(self, scope: Scope, receive: Receive, send: Send, rid: str) -> None:
        answer = api_error(503, "MPC-API is shutting down; retry on another instance or later",
                           code="shutting_down", kind=_SHUTDOWN_KIND, request_id=rid)  # fmt: skip
        answer.headers["connection"] = "close"
        answer.headers["retry-after"] = "1"
        await answer(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, rid: str) -> None:
        answer = api_error(
            413, f"request body over {self.max_body_bytes} bytes", request_id=rid,
        )  # fmt: skip
        answer.headers["connection"] = "close"  # the rest of the body is never read
        await answer(scope, receive, send)


async def _final_event(send: Send, status: int, message: str, rid: str, *,
                       code: str | None) -> None:  # fmt: skip
    """End a stream with one SSE event holding the error envelope."""
    kind = _SHUTDOWN_KIND if code == "shutting_down" else None
    event = b"data: " + envelope(status, message, code=code, kind=kind, request_id=rid) + b"\n\n"
    try:
        await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except OSError:  # the caller is gone already
        pass


def _uncancel(task: asyncio.Task[object] | None) -> None:
    if task is not None:
        task.uncancel()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None
