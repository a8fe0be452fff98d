"""When to poll a source next: its interval after a success, exponential backoff with a ceiling after
failures, and the server's Retry-After when it sends one."""

from __future__ import annotations

import datetime as dt
import email.utils

MAX_RETRY_AFTER = 24 * 3600.0  # a server asking for more than a day is treated as asking for a day


def next_delay(
    interval: float,
    failures: int,
    *,
    base: float = 30.0,
    ceiling: float = 3600.0,
    retry_after: float | None = None,
    jitter: float = 0.0,
) -> float:
    """Seconds until the next poll.

    ``failures`` counts consecutive failures (0 after a success). After a failure the delay is
    ``base * 2**(failures-1)``, capped at ``ceiling`` (so a failing daily source is retried within the
    ceiling, and a failing frequent one is not hammered). ``jitter`` in [-1, 1] spreads the delay by up
    to ±10% so that sources failing together do not retry together. A longer Retry-After wins.
    """
    backoff = min(base * 2.0 ** min(failures - 1, 30), max(ceiling, 0.0))
    delay = interval if failures <= 0 else backoff
    delay *= 1.0 + 0.1 * max(-1.0, min(1.0, jitter))
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return max(delay, 0.0)


def parse_retry_after(value: str | None, now: dt.datetime) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())
