"""The retry policy: which answers are retried and how long we wait."""

import random
import time
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


def test_retry_after_wins_over_backoff_uncapped_and_the_cap_is_a_separate_question() -> None:
    policy = RetryPolicy(backoff_base_s=0.1, max_retry_after_s=10)
    assert policy.delay(1, {"Retry-After": "3"}) == 3.0
    assert policy.delay(5, {"retry-after": "0"}) == 0.0
    # a long wait is not shortened to the cap (the core refuses it instead of retrying early)
    assert policy.delay(1, {"Retry-After": "3600"}) == 3600.0
    assert policy.exceeds_cap(3600.0)
    assert not policy.exceeds_cap(10.0)


def test_delay_without_a_hint_is_the_backoff() -> None:
    policy = RetryPolicy(backoff_base_s=0.5, jitter=0.0)
    assert policy.delay(3, {"X-Other": "1"}) == policy.backoff(3) == 2.0


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


NOW = 1_800_000_000.0  # 2027-01-15, a fixed "now" for the epoch readings


@pytest.mark.parametrize(
    ("reset", "expected"),
    [
        ("30", 30.0),  # seconds until the window resets (fal's documented reading)
        ("0", 0.0),
        (str(NOW + 42), 42.0),  # a Unix time: reset at that moment
        (f"{NOW + 2.5:.1f}", 2.5),
        (str(NOW - 600), 0.0),  # a moment already past: no wait
        (str(int((NOW + 7) * 1000)), 7.0),  # a Unix time in milliseconds
        (str(int((NOW - 7) * 1000)), 0.0),
    ],
)
def test_x_ratelimit_reset_as_seconds_or_as_a_moment(reset: str, expected: float) -> None:
    assert parse_retry_after({"X-RateLimit-Reset": reset}, now=NOW) == pytest.approx(expected)


def test_epoch_reset_without_now_uses_the_clock() -> None:
    wait = parse_retry_after({"x-ratelimit-reset": str(int(time.time()) + 100)})
    assert wait is not None and 95 <= wait <= 100


def test_retry_after_wins_over_x_ratelimit_reset() -> None:
    headers = {"Retry-After": "4", "x-ratelimit-reset": str(NOW + 50)}
    assert parse_retry_after(headers, now=NOW) == 4.0


def test_delay_measures_a_moment_from_the_given_now() -> None:
    policy = RetryPolicy(backoff_base_s=5)
    assert policy.delay(1, {"x-ratelimit-reset": str(NOW + 9)}, now=NOW) == 9.0
    assert policy.delay(1, {"x-ratelimit-reset": str(NOW - 9)}, now=NOW) == 0.0
