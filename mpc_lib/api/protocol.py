"""Limits in front of everything, before a request reaches the app (or its key is checked).

uvicorn's HTTP protocols read a request head for as long as a caller sends it, of any
size and any number of headers, and keep a silent connection open for good; its own
`limit_concurrency` answers a plain-text 503.  `limited_protocol(base, limits)` is a
subclass of uvicorn's protocol (httptools or h11) that, per connection:

- refuses a connection past `max_connections` open ones with a 503 in the envelope;
- counts the bytes and lines of each request head before the parser sees them, and
  answers 431 and closes past `max_header_bytes` or `max_headers` (the parser never holds
  more than the limit, so half-sent huge heads cost no memory);
- closes a connection whose request head has not arrived whole within `header_timeout_s`
  of the connection opening or of the previous answer ending (a silent or trickling
  caller before authentication; uvicorn's keep-alive timeout still closes idle ones).

Answers made here are raw bytes (there is no request yet), in the same JSON envelope as
the app's, with an `x-request-id` of their own.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Any

from .deps import envelope

__all__ = ["ConnectionLimits", "limited_protocol"]

_END_OF_HEAD = b"\r\n\r\n"
_REASONS = {431: b"Request Header Fields Too Large", 503: b"Service Unavailable",
            408: b"Request Timeout"}  # fmt: skip


@dataclass(frozen=True)
class ConnectionLimits:
    """What one MPC-API process accepts before a request reaches the app."""

    max_header_bytes: int
    max_headers: int
    header_timeout_s: float
    max_connections: int


def _raw_answer(status: int, message: str) -> bytes:
    rid = f"mpc-{secrets.token_hex(8)}"
    body = envelope(status, message, request_id=rid)
    head = (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
        b"x-request-id: %s\r\nconnection: close\r\n" % (status, _REASONS[status], len(body),
                                                         rid.encode())
    )  # fmt: skip
    if status == 503:
        head += b"retry-after: 1\r\n"
    return head + b"\r\n" + body


def limited_protocol(base: type[asyncio.Protocol], limits: ConnectionLimits) -> type:
    """`base` (uvicorn's H11Protocol or HttpToolsProtocol) with `limits` enforced."""

    class Limited(base):  # type: ignore[valid-type,misc]
        """uvicorn's protocol, bounded before the parser (see the module)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._in_head = True  # reading a request head (not yet whole)
            self._head_bytes = 0
            self._head_lines = 0
            self._tail = b""  # the previous chunk's last bytes: a head end split across two
            self._head_timer: asyncio.TimerHandle | None = None
            self._refused = False

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:  # ours is counted already
                self._refuse(503, f"MPC-API is at its limit of {limits.max_connections} "
                             "connections (MPC_API_LIMIT_CONCURRENCY); retry shortly")  # fmt: skip
                return
            self._arm_head_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_head_timer()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            if self._in_head and not self._count_head(data):
                return
            super().data_received(data)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and not getattr(self, "pipeline", None):
                self._in_head, self._head_bytes, self._head_lines = True, 0, 0
                self._tail = b""
                self._arm_head_timer()

        def _count_head(self, data: bytes) -> bool:
            """Count a chunk of the head; False when the connection was refused."""
            seen = self._tail + data
            end = seen.find(_END_OF_HEAD)
            part = data if end < 0 else data[: max(0, end + len(_END_OF_HEAD) - len(self._tail))]
            self._head_bytes += len(part)
            self._head_lines += part.count(b"\n")
            if end >= 0:
                self._in_head = False
                self._disarm_head_timer()
            else:
                self._tail = seen[-3:]
            if self._head_bytes > limits.max_header_bytes:
                self._refuse(431, f"request head over {limits.max_header_bytes} bytes "
                             "(MPC_API_MAX_HEADER_BYTES)")  # fmt: skip
            elif self._head_lines > limits.max_headers + 2:  # the request line and the blank one
                self._refuse(431, f"over {limits.max_headers} request headers "
                             "(MPC_API_MAX_HEADERS)")  # fmt: skip
            return not self._refused

        def _refuse(self, status: int, message: str) -> None:
            self._refused = True
            self._disarm_head_timer()
            if not self.transport.is_closing():
                self.transport.write(_raw_answer(status, message))
                self.transport.close()

        def _arm_head_timer(self) -> None:
            self._disarm_head_timer()
            self._head_timer = self.loop.call_later(limits.header_timeout_s, self._head_late)

        def _disarm_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_late(self) -> None:
            self._head_timer = None
            if not self._in_head or self.transport.is_closing():
                return
            if self._head_bytes:  # a head begun and never finished: say why it ends
                late = f"within {limits.header_timeout_s:g} s (MPC_API_HEADER_TIMEOUT_S)"
                self._refuse(408, f"the request head did not arrive {late}")
            else:  # a silent connection, or an idle kept-alive one: just closed
                self._refused = True
                self.transport.close()

    Limited.__name__ = Limited.__qualname__ = f"Limited{base.__name__}"
    return Limited
