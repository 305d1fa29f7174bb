"""The retry policy: which answers are retried and how long we wait."""

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from mpc_lib.http import RetryPolicy, parse_retry_after


def test_retries_429_and_5xx_only() -> None:
    policy = RetryPolicy()
    assert policy.should_retry_status(429)
    assert all(policy.should_retry_status(code) for code in (500, 502, 503, 504, 599))
    assert not any(policy.should_retry_status(code) for code in (400, 401, 403, 404, 422))


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    policy = RetryPolicy(backoff_base_s=0.5, backoff_max_s=4.0, jitter=0.5)
    rng = random.Random(1)
    for attempt, base in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (9, 4.0)]:
        delays = [policy.delay(attempt, None, rng) for _ in range(200)]
        assert min(delays) >= base
        assert max(delays) <= base * 1.5
        assert max(delays) > base * 1.2  # the jitter really spreads the waits


def test_retry_after_wins_over_backoff_and_is_capped() -> None:
    policy = RetryPolicy(backoff_base_s=0.1, max_retry_after_s=10)
    assert policy.delay(1, {"Retry-After": "3"}) == 3.0
    assert policy.delay(5, {"retry-after": "0"}) == 0.0
    assert policy.delay(1, {"Retry-After": "3600"}) == 10.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"x-ratelimit-reset": "7"}, 7.0),
        ({"Retry-After": "-4"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_parse_retry_after_http_date() -> None:
    now = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"Retry-After": later}, now=now.timestamp()) == pytest.approx(30.0)
