"""The one retry policy of notify: exponential backoff with jitter, capped, honouring Retry-After, and
when to give up. Pure: the caller passes the random generator and the time in."""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass
from typing import Literal

GiveUpReason = Literal["permanent", "attempts_exhausted", "too_old"]
GIVE_UP_REASONS: tuple[GiveUpReason, ...] = ("permanent", "attempts_exhausted", "too_old")


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` sends at most (the first included); ``base_seconds`` doubling per failure up to
    ``cap_seconds`` between them; nothing sent more than ``max_age_seconds`` after the first attempt; a
    server's Retry-After honoured up to ``max_retry_after_seconds``."""

    attempts: int = 8
    base_seconds: float = 2.0
    cap_seconds: float = 600.0
    max_age_seconds: float = 86400.0
    max_retry_after_seconds: float = 3600.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if not (0 <= self.base_seconds <= self.cap_seconds):
            raise ValueError("need 0 <= base_seconds <= cap_seconds")
        if self.max_age_seconds < 0 or self.max_retry_after_seconds < 0:
            raise ValueError("max_age_seconds and max_retry_after_seconds must not be negative")

    def ceiling(self, attempt: int) -> float:
        """The longest backoff after failed attempt number ``attempt`` (1-based): base * 2**(attempt-1),
        capped."""
        exponent = min(max(attempt, 1) - 1, 64)  # 2**64 * base is past any cap; no float overflow
        return min(self.cap_seconds, self.base_seconds * 2.0**exponent)

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        The backoff is drawn uniformly between half the ceiling and the ceiling, so failures that
        happened together do not retry together. A Retry-After (seconds) from the server is honoured:
        never retry sooner than it asks, but never wait longer than ``max_retry_after_seconds`` for it."""
        ceiling = self.ceiling(attempt)
        backoff = rng.uniform(ceiling / 2, ceiling)
        if retry_after is not None and not math.isnan(retry_after) and retry_after > 0:
            return max(backoff, min(retry_after, self.max_retry_after_seconds))
        return backoff

    def give_up(
        self, attempt: int, retryable: bool, first_attempt_at: dt.datetime, now: dt.datetime
    ) -> GiveUpReason | None:
        """Why to stop after failed attempt number ``attempt`` (1-based), or None to retry:
        ``permanent`` when the failure is not worth retrying (a 4xx, a rejected address),
        ``attempts_exhausted`` when ``attempts`` were made, ``too_old`` when the first attempt was
        ``max_age_seconds`` or more ago (pass the time of the next attempt as ``now`` to stop before
        waiting for nothing)."""
        if not retryable:
            return "permanent"
        if attempt >= self.attempts:
            return "attempts_exhausted"
        if (now - first_attempt_at).total_seconds() >= self.max_age_seconds:
            return "too_old"
        return None
