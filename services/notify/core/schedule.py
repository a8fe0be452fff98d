"""When digests go out: the digest period that contains an instant, in the owner's time zone. Pure.

Daily digests go out at HH:MM local time, once per local date, whatever the clocks do:

* a local time that does not exist (spring forward: 02:30 in Amsterdam on the last Sunday of March)
  fires at the first instant that exists after it (03:00 CEST, when the clocks jump);
* a local time that happens twice (fall back: 02:30 on the last Sunday of October) fires once, at its
  first occurrence;

so no day is skipped or doubled, and the periods are 23 to 25 hours long around a change.

Hourly digests go out whenever the local clock shows minute MM. Where the offset changes by whole hours
(nearly everywhere) that is every 60 minutes of real time: no hour is skipped in spring and the repeated
hour in autumn gets its own digest. Where it changes by half an hour (Australia/Lord_Howe) the period
around the change is 30 or 90 minutes.

Periods are half-open, ``start <= now < end``, and consecutive periods tile time: the period that
contains ``end`` starts at ``end``.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from services.notify.core.model import DigestSchedule

_SECOND = dt.timedelta(seconds=1)
_GRID = dt.timedelta(minutes=15)
_HOUR = dt.timedelta(hours=1)


def _offset(instant: dt.datetime, zone: ZoneInfo) -> dt.timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return offset


def _transition(before: dt.datetime, after: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The first instant in (before, after] whose offset differs from ``before``'s: the moment the
    clocks change. Transitions fall on whole seconds."""
    first = _offset(before, zone)
    lo, hi = before, after
    while hi - lo > _SECOND:
        mid = lo + dt.timedelta(seconds=(hi - lo) // _SECOND // 2)
        if _offset(mid, zone) == first:
            lo = mid
        else:
            hi = mid
    return hi


def local_instant(day: dt.date, hour: int, minute: int, zone: ZoneInfo) -> dt.datetime:
    """The UTC instant the local clock in ``zone`` shows ``hour:minute`` on ``day``: the first occurrence
    when it shows it twice, the moment the clocks jump when it never shows it."""
    wall = dt.datetime.combine(day, dt.time(hour, minute))
    earlier = wall.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)
    later = wall.replace(tzinfo=zone, fold=1).astimezone(dt.UTC)
    if earlier <= later:
        return earlier  # exists once (equal) or twice (fold=0 is the first occurrence)
    # In a gap fold=0 reads the wall time with the old offset, which lands after the jump, and fold=1
    # with the new one, which lands before it: the jump is between the two.
    return _transition(later, earlier, zone)


def _daily(schedule: DigestSchedule, now: dt.datetime, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    hour, minute = schedule.hour_minute
    today = now.astimezone(zone).date()
    reach = 2
    while True:
        days = [today + dt.timedelta(days=n) for n in range(-reach, reach + 1)]
        bounds = sorted({local_instant(day, hour, minute, zone) for day in days})
        starts = [b for b in bounds if b <= now]
        ends = [b for b in bounds if b > now]
        if starts and ends:
            return starts[-1], ends[0]
        reach *= 2  # only for zones that skipped or repeated whole days


def _hourly(schedule: DigestSchedule, now: dt.datetime, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    _, minute = schedule.hour_minute
    # Sample the offset on a fixed UTC grid around now; for each sample, the instants in the neighbouring
    # local hours that show minute MM with that offset are boundaries if that offset is really in force
    # there. The grid is fixed (not relative to now) so every instant sees the same boundaries.
    epoch = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    reach = 3
    while True:
        first = epoch + ((now - epoch) // _GRID - reach * 4) * _GRID
        bounds: set[dt.datetime] = set()
        for step in range(reach * 8 + 1):
            sample = first + step * _GRID
            offset = _offset(sample, zone)
            wall = (sample + offset).replace(minute=minute, second=0, microsecond=0)
            for shift in (-_HOUR, dt.timedelta(0), _HOUR):
                candidate = wall + shift - offset
                if _offset(candidate, zone) == offset:
                    bounds.add(candidate)
        starts = [b for b in bounds if b <= now]
        ends = [b for b in bounds if b > now]
        if starts and ends:
            return max(starts), min(ends)
        reach *= 2


def digest_period(schedule: DigestSchedule, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """(start, end), in UTC, of the digest period that contains ``now``: ``end`` is the first digest
    time strictly after ``now`` and ``start`` the one before it, so ``start <= now < end``."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(dt.UTC)
    zone = schedule.zone
    if schedule.every == "hourly":
        return _hourly(schedule, now, zone)
    return _daily(schedule, now, zone)
