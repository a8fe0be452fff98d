"""The retry policy: capped exponential backoff with jitter, Retry-After, and when to give up."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from services.notify.core.retry import GIVE_UP_REASONS, RetryPolicy

T0 = dt.datetime(2026, 5, 4, 12, 0, tzinfo=dt.UTC)


def test_defaults() -> None:
    policy = RetryPolicy()
    assert (policy.attempts, policy.base_seconds, policy.cap_seconds) == (8, 2.0, 600.0)
    assert (policy.max_age_seconds, policy.max_retry_after_seconds) == (86400.0, 3600.0)
    with pytest.raises(AttributeError):
        policy.attempts = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [(0, 2), (1, 2), (2, 4), (3, 8), (4, 16), (8, 256), (9, 512), (10, 600), (11, 600), (10_000, 600)],
)
def test_backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half(attempt: int, ceiling: float) -> None:
    policy = RetryPolicy()
    assert policy.ceiling(attempt) == ceiling
    delays = [policy.delay(attempt, random.Random(seed)) for seed in range(200)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert max(delays) - min(delays) > ceiling / 4  # really jittered


def test_same_rng_same_delays() -> None:
    policy = RetryPolicy()
    assert [policy.delay(a, random.Random(7)) for a in range(1, 9)] == [
        policy.delay(a, random.Random(7)) for a in range(1, 9)
    ]


@pytest.mark.parametrize(
    ("retry_after", "low", "high"),
    [
        (None, 1, 2),  # backoff of attempt 1: 1..2 s
        (0, 1, 2),  # "now" never means sooner than the backoff
        (-5, 1, 2),
        (float("nan"), 1, 2),
        (1.5, 1.5, 2),  # honoured, but the backoff wins when longer
        (7, 7, 7),
        (3600, 3600, 3600),
        (10**9, 3600, 3600),  # capped
        (float("inf"), 3600, 3600),
    ],
)
def test_retry_after_is_honoured_and_capped(retry_after: float | None, low: float, high: float) -> None:
    policy = RetryPolicy()
    for seed in range(20):
        assert low <= policy.delay(1, random.Random(seed), retry_after=retry_after) <= high


def test_backoff_wins_over_a_short_retry_after_late_in_the_retries() -> None:
    assert RetryPolicy().delay(8, random.Random(1), retry_after=5) >= 128


@pytest.mark.parametrize(
    ("attempt", "retryable", "age_seconds", "expected"),
    [
        (1, True, 0, None),
        (7, True, 3600, None),
        (1, False, 0, "permanent"),
        (8, False, 10**6, "permanent"),  # permanent first: the most useful reason
        (8, True, 0, "attempts_exhausted"),
        (9, True, 0, "attempts_exhausted"),
        (8, True, 10**6, "attempts_exhausted"),
        (2, True, 86399, None),
        (2, True, 86400, "too_old"),
        (2, True, 10**6, "too_old"),
    ],
)
def test_give_up(attempt: int, retryable: bool, age_seconds: float, expected: str | None) -> None:
    now = T0 + dt.timedelta(seconds=age_seconds)
    reason = RetryPolicy().give_up(attempt, retryable, T0, now)
    assert reason == expected
    assert reason is None or reason in GIVE_UP_REASONS


def test_give_up_follows_the_policy() -> None:
    policy = RetryPolicy(attempts=1, max_age_seconds=60)
    assert policy.give_up(1, True, T0, T0) == "attempts_exhausted"
    policy = RetryPolicy(attempts=3, max_age_seconds=60)
    assert policy.give_up(2, True, T0, T0 + dt.timedelta(seconds=59)) is None
    assert policy.give_up(2, True, T0, T0 + dt.timedelta(seconds=60)) == "too_old"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"attempts": 0},
        {"base_seconds": -1},
        {"base_seconds": 10, "cap_seconds": 5},
        {"max_age_seconds": -1},
        {"max_retry_after_seconds": -1},
    ],
)
def test_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
