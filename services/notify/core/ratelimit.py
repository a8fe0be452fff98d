"""Pacing of sends per target (a Slack webhook, a mail server, a receiver's host). Pure: the caller
passes the time in and sleeps for the returned delay.

A generic cell rate algorithm with a queue: each reservation takes the next free slot, ``1/rate``
seconds after the previous one, and up to ``burst`` reservations may go at once after a quiet spell.
Nothing is ever refused: a reservation made while the target is busy just waits longer."""

from __future__ import annotations

import math
from collections.abc import Hashable


class RateLimiter:
    """At most ``rate`` sends per second per key on average, ``burst`` of them back to back."""

    def __init__(self, rate: float, burst: int = 1) -> None:
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError("rate must be a positive number of sends per second")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = rate
        self.burst = burst
        self._interval = 1.0 / rate
        self._tolerance = (burst - 1) * self._interval
        # Per key, the theoretical arrival time: when the queue of reservations made so far drains.
        # A key whose value is in the past behaves exactly like a key never seen.
        self._tat: dict[Hashable, float] = {}

    def reserve(self, key: Hashable, now: float) -> float:
        """Take the next free slot for ``key``; the seconds to wait (0 or more) before sending."""
        tat = max(self._tat.get(key, now), now)
        wait = max(0.0, tat - self._tolerance - now)
        self._tat[key] = tat + self._interval
        return wait

    def pause(self, key: Hashable, until: float) -> None:
        """The target said "not before ``until``" (a 429's Retry-After): the next reservation waits until
        then, and the ones after it are paced at ``rate`` from there (no burst right after a 429)."""
        self._tat[key] = max(self._tat.get(key, until), until + self._tolerance)

    def next_free(self, key: Hashable, now: float) -> float:
        """The seconds a reservation made now would wait, without making one."""
        tat = max(self._tat.get(key, now), now)
        return max(0.0, tat - self._tolerance - now)

    def forget_idle(self, now: float) -> int:
        """Drop the state of keys with nothing queued at ``now`` (they behave as new keys anyway), so
        memory stays bounded by the busy targets; the number dropped."""
        idle = [key for key, tat in self._tat.items() if tat <= now]
        for key in idle:
            del self._tat[key]
        return len(idle)

    def __len__(self) -> int:
        return len(self._tat)
