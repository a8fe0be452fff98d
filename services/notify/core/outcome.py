"""What becomes of a notification after one attempt to send it: delivered, tried again at a given time,
or dead. Pure: the failure (or none), the attempt number, the retry policy, the time and the random
generator are passed in; the dispatcher records the outcome, counts it and logs it."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from services.notify.core.retry import GiveUpReason, RetryPolicy

RATE_LIMITED = "rate_limited"  # the reason a channel reports for "too many requests"
INTERNAL_ERROR = "internal_error"  # the reason of a failure that is a bug in a channel, not a refusal


@dataclass(frozen=True)
class Failure:
    """A failed attempt: ``reason`` a channel's Reason value (or ``internal_error``), ``detail`` readable
    and never a secret, ``retry_after`` the seconds the receiver asked to wait, if it did."""

    reason: str
    detail: str
    retryable: bool
    retry_after: float | None = None


@dataclass(frozen=True)
class Delivered:
    """The receiver took it."""


@dataclass(frozen=True)
class RetryAt:
    """Try again at ``at`` (``delay`` seconds after the attempt ended)."""

    at: dt.datetime
    delay: float
    reason: str
    detail: str


@dataclass(frozen=True)
class Dead:
    """Given up: ``detail`` is the last failure followed by why and after how many attempts."""

    reason: str
    detail: str
    gave_up: GiveUpReason


Outcome = Delivered | RetryAt | Dead


def outcome(
    failure: Failure | None,
    attempt: int,
    first_attempt_at: dt.datetime,
    policy: RetryPolicy,
    now: dt.datetime,
    rng: random.Random,
) -> Outcome:
    """The outcome of attempt number ``attempt`` (1-based) that ended at ``now`` with ``failure``."""
    if failure is None:
        return Delivered()
    give_up = policy.give_up(attempt, failure.retryable, first_attempt_at, now)
    if give_up is not None:
        why = give_up.replace("_", " ")
        return Dead(failure.reason, f"{failure.detail} (gave up: {why} after {attempt} attempt(s))", give_up)
    delay = policy.delay(attempt, rng, failure.retry_after)
    return RetryAt(now + dt.timedelta(seconds=delay), delay, failure.reason, failure.detail)


def rate_limit_pause(failure: Failure | None, policy: RetryPolicy) -> float | None:
    """Seconds the target's rate limit should hold every send back after ``failure``: a rate-limited
    answer's Retry-After, honoured up to the policy's cap like the retry delay; None for no pause."""
    if failure is None or failure.reason != RATE_LIMITED or failure.retry_after is None:
        return None
    return min(failure.retry_after, policy.max_retry_after_seconds)
