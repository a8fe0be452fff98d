"""The outcome of one send: delivered, retried at a time, or dead, and the pause a rate-limited answer
puts on its target. Pure: no database, no clock."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from services.notify.core.outcome import (
    Dead,
    Delivered,
    Failure,
    RetryAt,
    outcome,
    rate_limit_pause,
)
from services.notify.core.retry import RetryPolicy

T0 = dt.datetime(2026, 5, 4, 12, 0, tzinfo=dt.UTC)
POLICY = RetryPolicy(attempts=3, base_seconds=2.0, cap_seconds=60.0, max_age_seconds=3600.0)
SERVER_ERROR = Failure("server_error", "HTTP 503", retryable=True)


def test_no_failure_is_delivered_whatever_the_attempt() -> None:
    assert outcome(None, 99, T0 - dt.timedelta(days=9), POLICY, T0, random.Random(1)) == Delivered()


def test_a_retryable_failure_is_retried_after_the_policys_delay() -> None:
    result = outcome(SERVER_ERROR, 1, T0, POLICY, T0, random.Random(7))
    assert isinstance(result, RetryAt)
    assert result.delay == POLICY.delay(1, random.Random(7))
    assert 1.0 <= result.delay <= 2.0
    assert result.at == T0 + dt.timedelta(seconds=result.delay)
    assert (result.reason, result.detail) == ("server_error", "HTTP 503")


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    asked = Failure("rate_limited", "HTTP 429", retryable=True, retry_after=30.0)
    result = outcome(asked, 1, T0, POLICY, T0, random.Random(1))
    assert isinstance(result, RetryAt) and result.delay == 30.0
    greedy = Failure("rate_limited", "HTTP 429", retryable=True, retry_after=1e9)
    result = outcome(greedy, 1, T0, POLICY, T0, random.Random(1))
    assert isinstance(result, RetryAt) and result.delay == POLICY.max_retry_after_seconds


@pytest.mark.parametrize(
    ("failure", "attempt", "age_seconds", "gave_up", "why"),
    [
        (Failure("client_error", "HTTP 400", retryable=False), 1, 0, "permanent", "permanent"),
        (SERVER_ERROR, 3, 0, "attempts_exhausted", "attempts exhausted"),
        (SERVER_ERROR, 1, 3600, "too_old", "too old"),
    ],
)
def test_dead_says_why_and_after_how_many_attempts(
    failure: Failure, attempt: int, age_seconds: float, gave_up: str, why: str
) -> None:
    first = T0 - dt.timedelta(seconds=age_seconds)
    result = outcome(failure, attempt, first, POLICY, T0, random.Random(1))
    assert result == Dead(
        failure.reason, f"{failure.detail} (gave up: {why} after {attempt} attempt(s))", gave_up
    )


def test_an_internal_error_is_retried_like_any_retryable_failure() -> None:
    result = outcome(
        Failure("internal_error", "KeyError", retryable=True), 2, T0, POLICY, T0, random.Random(3)
    )
    assert isinstance(result, RetryAt) and result.reason == "internal_error"


def test_the_same_random_generator_gives_the_same_outcome() -> None:
    first = outcome(SERVER_ERROR, 2, T0, POLICY, T0, random.Random(5))
    assert first == outcome(SERVER_ERROR, 2, T0, POLICY, T0, random.Random(5))


def test_only_a_rate_limited_answer_with_retry_after_pauses_its_target() -> None:
    assert rate_limit_pause(None, POLICY) is None
    assert rate_limit_pause(SERVER_ERROR, POLICY) is None
    assert rate_limit_pause(Failure("rate_limited", "HTTP 429", True), POLICY) is None
    assert rate_limit_pause(Failure("rate_limited", "HTTP 429", True, 12.5), POLICY) == 12.5
    assert rate_limit_pause(Failure("rate_limited", "HTTP 429", True, 1e9), POLICY) == 3600.0
