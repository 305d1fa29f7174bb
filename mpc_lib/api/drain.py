"""`Drain`: the requests in flight, and ending them when a shutdown's grace period is over.

`mpc_lib.api.server` begins the drain when uvicorn starts shutting down (SIGTERM, SIGINT);
`MPC_API_DRAIN_S` later, every request still in flight is cancelled, and
`mpc_lib.api.guard.Guard` ends each: a stream with a final SSE error event, a call that
has no answer yet with a 503 in the envelope.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

__all__ = ["Call", "Drain"]


class Call:
    """One request in flight, as the guard and the drain see it."""

    __slots__ = ("drained", "ended", "started", "streaming", "task")

    def __init__(self, task: asyncio.Task[object] | None) -> None:
        self.task = task
        self.started = False  # the answer's status line went out
        self.streaming = False  # ... as server-sent events
        self.ended = False  # the answer's last byte went out
        self.drained = False  # cut by the drain


@dataclass
class Drain:
    """Requests in flight, and ending them once a shutdown's grace period is over."""

    calls: set[Call] = field(default_factory=set)
    draining: bool = False

    def begin(self, grace_s: float) -> None:
        """A shutdown began (from the loop's thread): end what is still in flight after
        `grace_s` seconds."""
        self.draining = True
        asyncio.get_running_loop().call_later(grace_s, self.expire)

    def expire(self) -> None:
        """The grace period is over: cancel every request still in flight."""
        for call in list(self.calls):
            if not call.ended and call.task is not None:
                call.drained = True
                call.task.cancel()
