"""When to try a call again, and how long to wait first: the policy, Retry-After, the clock."""

from __future__ import annotations

import contextlib
import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

__all__ = ["DEFAULT_RETRY_POLICY", "SYSTEM_CLOCK", "Clock", "RetryPolicy", "parse_retry_after"]

# No server asks for a wait of 31 years: an x-ratelimit-reset past these is a moment, not a wait.
_EPOCH_S = 1e9  # Unix seconds (2001-09-09)
_EPOCH_MS = 1e12  # Unix milliseconds


class Clock(Protocol):
    """The time a retry loop reads and waits on; tests pass one that only pretends to wait."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (deadlines, durations)."""
        ...

    def time(self) -> float:
        """Unix time now (a Retry-After date or an epoch x-ratelimit-reset is a moment)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait before the next try."""
        ...


class SystemClock:
    """The `time` module's clocks and sleep: the default everywhere but in tests."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK: Clock = SystemClock()


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry one call.

    `max_retry_after_s` caps a server-requested wait: asked for longer, the call
    fails fast instead.  `deadline_s` bounds the whole call, every attempt and
    backoff sleep included.
    """

    max_retries: int = 4
    backoff_base_s: float = 0.25
    backoff_max_s: float = 8.0
    max_retry_after_s: float = 60.0
    jitter: float = 0.5
    deadline_s: float = 120.0

    def should_retry_status(self, status: int) -> bool:
        """429 and every 5xx are retried; other answers are final."""
        return status == 429 or status >= 500

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Exponential backoff after failed try number `attempt` (1-based), plus jitter."""
        backoff = min(self.backoff_base_s * (2 ** (attempt - 1)), self.backoff_max_s)
        spread = (rng or random).random() * self.jitter * backoff
        return backoff + spread

    def delay(
        self,
        attempt: int,
        headers: Mapping[str, str] | None = None,
        rng: random.Random | None = None,
        now: float | None = None,
    ) -> float:
        """Seconds to wait after failed try number `attempt` (1-based).

        A server's Retry-After (or x-ratelimit-reset) wins as given, uncapped:
        `HttpCore` refuses a wait beyond `max_retry_after_s` rather than shortening it.
        `now` is the Unix time for a hint that names a moment (default: the system's).
        """
        hinted = parse_retry_after(headers, now) if headers is not None else None
        return hinted if hinted is not None else self.backoff(attempt, rng)

    def exceeds_cap(self, wait_s: float) -> bool:
        """Whether a server-requested wait is longer than we are willing to sleep."""
        return wait_s > self.max_retry_after_s


DEFAULT_RETRY_POLICY = RetryPolicy()


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds a server asked us to wait; None when it did not say.

    Reads retry-after-ms, Retry-After (seconds or an HTTP date) and
    x-ratelimit-reset, which is seconds until the reset or, when it looks like a
    Unix time (> 1e9 s, or > 1e12 ms), the moment of the reset.  A moment in the
    past means no wait.  `now` is the Unix time to measure a moment from.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    clock = time.time() if now is None else now
    if "retry-after-ms" in lowered:
        with contextlib.suppress(ValueError):
            return max(float(lowered["retry-after-ms"]) / 1000.0, 0.0)
    for name in ("retry-after", "x-ratelimit-reset"):
        value = lowered.get(name)
        if value is None:
            continue
        value = value.strip()
        with contextlib.suppress(ValueError):
            seconds = float(value)
            if name == "x-ratelimit-reset" and seconds > _EPOCH_MS:
                seconds = seconds / 1000.0 - clock
            elif name == "x-ratelimit-reset" and seconds > _EPOCH_S:
                seconds -= clock
            return max(seconds, 0.0)
        if name == "retry-after":
            try:
                parsed = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                continue
            return max(parsed.timestamp() - clock, 0.0)
    return None
