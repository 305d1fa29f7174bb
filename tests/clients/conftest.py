"""A clock for the retry loop that only pretends to wait, so retry tests never really sleep."""

from __future__ import annotations

import pytest

NOW = 1_800_000_000.0  # 2027-01-15: the fake clock's Unix time at the start of each test


class FakeClock:
    """The `Clock` of `mpc_lib.http`: each sleep is noted and moves time on at once."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
