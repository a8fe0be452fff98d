"""Pacing: of sends per target (a Slack webhook, a mail server, a receiver's host), and of test sends
per owner. Pure: the caller passes the time in and sleeps for, or refuses over, the returned delay.

A generic cell rate algorithm (GCRA): each reservation takes the next free slot, ``1/rate`` seconds after
the previous one, and up to ``burst`` reservations may go at once after a quiet spell. The whole state of
a key is one number, its theoretical arrival time (TAT), so it can live in a dict (``RateLimiter``, per
process) or in a database row shared by replicas (``SendPacingStore.reserve``); both step it with
``gcra`` below, the only place the arithmetic is written."""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass


def gcra(tat: float, now: float, interval: float, tolerance: float) -> tuple[float, float]:
    """One reservation at ``now`` of a key whose theoretical arrival time is ``tat``: (the seconds to wait
    before its slot, 0 or more; the key's new theoretical arrival time).

    ``tat`` is when the reservations made so far drain; a key never seen, or one whose ``tat`` is in
    the past, is passed ``now`` (both behave alike). ``interval`` is ``1/rate``; ``tolerance`` how far
    ahead of its slot a reservation may go, ``(burst - 1) * interval``. A caller that refuses rather than
    queues keeps the old ``tat`` when the wait is not 0."""
    start = max(tat, now)
    return max(0.0, start - tolerance - now), start + interval


@dataclass(frozen=True)
class Pace:
    """At most ``rate`` reservations per second per key on average, ``burst`` of them back to back."""

    rate: float
    burst: int = 1

    def __post_init__(self) -> None:
        if not (self.rate > 0 and math.isfinite(self.rate)):
            raise ValueError("rate must be a positive number of sends per second")
        if self.burst < 1:
            raise ValueError("burst must be at least 1")

    @property
    def interval(self) -> float:
        return 1.0 / self.rate

    @property
    def tolerance(self) -> float:
        return (self.burst - 1) * self.interval

    def step(self, tat: float, now: float) -> tuple[float, float]:
        """``gcra`` at this pace: (seconds to wait, new theoretical arrival time)."""
        return gcra(tat, now, self.interval, self.tolerance)


class RateLimiter:
    """At most ``rate`` sends per second per key on average, ``burst`` of them back to back, in this
    process. Nothing is ever refused: a reservation made while the target is busy just waits longer."""

    def __init__(self, rate: float, burst: int = 1) -> None:
        self.pace = Pace(rate, burst)
        # Per key, the theoretical arrival time: when the queue of reservations made so far drains.
        # A key whose value is in the past behaves exactly like a key never seen.
        self._tat: dict[Hashable, float] = {}

    @property
    def rate(self) -> float:
        return self.pace.rate

    @property
    def burst(self) -> int:
        return self.pace.burst

    def reserve(self, key: Hashable, now: float) -> float:
        """Take the next free slot for ``key``; the seconds to wait (0 or more) before sending."""
        wait, self._tat[key] = self.pace.step(self._tat.get(key, now), now)
        return wait

    def pause(self, key: Hashable, until: float) -> None:
        """The target said "not before ``until``" (a 429's Retry-After): the next reservation waits until
        then, and the ones after it are paced at ``rate`` from there (no burst right after a 429)."""
        self._tat[key] = max(self._tat.get(key, until), until + self.pace.tolerance)

    def next_free(self, key: Hashable, now: float) -> float:
        """The seconds a reservation made now would wait, without making one."""
        return self.pace.step(self._tat.get(key, now), now)[0]

    def forget_idle(self, now: float) -> int:
        """Drop the state of keys with nothing queued at ``now`` (they behave as new keys anyway), so
        memory stays bounded by the busy targets; the number dropped."""
        idle = [key for key, tat in self._tat.items() if tat <= now]
        for key in idle:
            del self._tat[key]
        return len(idle)

    def __len__(self) -> int:
        return len(self._tat)
