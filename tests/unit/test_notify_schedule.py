"""Digest periods: daily at HH:MM and hourly at :MM local time, across the 2026 clock changes."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notify.core.model import DigestSchedule
from services.notify.core.schedule import digest_period, local_instant

ZONES = ["Europe/Amsterdam", "America/New_York", "Asia/Kolkata", "Pacific/Chatham", "UTC"]


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def schedule(every: str, at: str, zone: str) -> DigestSchedule:
    return DigestSchedule.model_validate({"every": every, "at": at, "timezone": zone})


# 2026 changes: Amsterdam 03-29 01:00Z (+1 -> +2) and 10-25 01:00Z (+2 -> +1); New York 03-08 07:00Z
# (-5 -> -4) and 11-01 06:00Z (-4 -> -5); Chatham 04-04 14:00Z (+13:45 -> +12:45) and 09-26 14:00Z
# (+12:45 -> +13:45); Kolkata is +05:30 all year.
@pytest.mark.parametrize(
    ("every", "at", "zone", "now", "start", "end"),
    [
        # an ordinary day, before and after the digest time
        ("daily", "08:00", "Europe/Amsterdam", "2026-06-10T05:59", "2026-06-09T06:00", "2026-06-10T06:00"),
        ("daily", "08:00", "Europe/Amsterdam", "2026-06-10T06:00", "2026-06-10T06:00", "2026-06-11T06:00"),
        # spring forward: the day is 23 hours long
        ("daily", "08:00", "Europe/Amsterdam", "2026-03-29T05:59", "2026-03-28T07:00", "2026-03-29T06:00"),
        ("daily", "08:00", "Europe/Amsterdam", "2026-03-29T10:00", "2026-03-29T06:00", "2026-03-30T06:00"),
        # 02:30 does not exist on 03-29: it fires when the clocks jump (03:00 CEST = 01:00Z)
        ("daily", "02:30", "Europe/Amsterdam", "2026-03-29T00:59", "2026-03-28T01:30", "2026-03-29T01:00"),
        ("daily", "02:30", "Europe/Amsterdam", "2026-03-29T01:00", "2026-03-29T01:00", "2026-03-30T00:30"),
        # 02:30 happens twice on 10-25: it fires once, at the first (CEST)
        ("daily", "02:30", "Europe/Amsterdam", "2026-10-25T00:00", "2026-10-24T00:30", "2026-10-25T00:30"),
        ("daily", "02:30", "Europe/Amsterdam", "2026-10-25T01:30", "2026-10-25T00:30", "2026-10-26T01:30"),
        # fall back: the day is 25 hours long
        ("daily", "08:00", "Europe/Amsterdam", "2026-10-25T12:00", "2026-10-25T07:00", "2026-10-26T07:00"),
        ("daily", "02:30", "America/New_York", "2026-03-08T12:00", "2026-03-08T07:00", "2026-03-09T06:30"),
        ("daily", "01:30", "America/New_York", "2026-11-01T06:00", "2026-11-01T05:30", "2026-11-02T06:30"),
        ("daily", "09:00", "America/New_York", "2026-11-01T12:00", "2026-10-31T13:00", "2026-11-01T14:00"),
        ("daily", "08:00", "Asia/Kolkata", "2026-06-01T00:00", "2026-05-31T02:30", "2026-06-01T02:30"),
        ("daily", "00:00", "Pacific/Chatham", "2026-01-10T00:00", "2026-01-09T10:15", "2026-01-10T10:15"),
        ("daily", "03:00", "Pacific/Chatham", "2026-09-26T20:00", "2026-09-26T14:00", "2026-09-27T13:15"),
        ("daily", "03:00", "Pacific/Chatham", "2026-04-04T14:30", "2026-04-04T13:15", "2026-04-05T14:15"),
        ("daily", "23:59", "UTC", "2026-12-31T23:59", "2026-12-31T23:59", "2027-01-01T23:59"),
        # hourly: every 60 minutes of real time across the changes
        ("hourly", ":15", "Europe/Amsterdam", "2026-03-29T00:50", "2026-03-29T00:15", "2026-03-29T01:15"),
        ("hourly", ":15", "Europe/Amsterdam", "2026-10-25T01:00", "2026-10-25T00:15", "2026-10-25T01:15"),
        ("hourly", ":30", "America/New_York", "2026-03-08T06:45", "2026-03-08T06:30", "2026-03-08T07:30"),
        ("hourly", ":00", "Asia/Kolkata", "2026-06-01T00:00", "2026-05-31T23:30", "2026-06-01T00:30"),
        ("hourly", ":00", "Pacific/Chatham", "2026-04-04T14:05", "2026-04-04T13:15", "2026-04-04T14:15"),
        ("hourly", ":45", "Pacific/Chatham", "2026-09-26T14:00", "2026-09-26T14:00", "2026-09-26T15:00"),
        # a half-hour change: the period around it is 90 minutes
        ("hourly", ":00", "Australia/Lord_Howe", "2026-04-04T15:10", "2026-04-04T14:00", "2026-04-04T15:30"),
        ("hourly", ":00", "Australia/Lord_Howe", "2026-10-03T15:10", "2026-10-03T14:30", "2026-10-03T16:00"),
    ],
)
def test_digest_period(every: str, at: str, zone: str, now: str, start: str, end: str) -> None:
    assert digest_period(schedule(every, at, zone), utc(now)) == (utc(start), utc(end))


def test_defaults_and_aware_now() -> None:
    daily = DigestSchedule()  # 08:00 UTC
    hourly = DigestSchedule(every="hourly")  # :00
    now = dt.datetime(2026, 6, 10, 12, 30, tzinfo=ZoneInfo("Europe/Amsterdam"))  # 10:30Z
    assert digest_period(daily, now) == (utc("2026-06-10T08:00"), utc("2026-06-11T08:00"))
    assert digest_period(hourly, now) == (utc("2026-06-10T10:00"), utc("2026-06-10T11:00"))
    with pytest.raises(ValueError, match="aware"):
        digest_period(daily, dt.datetime(2026, 6, 10, 12, 30))


@pytest.mark.parametrize(
    ("day", "hm", "zone", "expected"),
    [
        ("2026-03-29", (2, 0), "Europe/Amsterdam", "2026-03-29T01:00"),  # the first missing minute
        ("2026-03-29", (2, 59), "Europe/Amsterdam", "2026-03-29T01:00"),
        ("2026-03-29", (3, 0), "Europe/Amsterdam", "2026-03-29T01:00"),
        ("2026-03-29", (1, 59), "Europe/Amsterdam", "2026-03-29T00:59"),
        ("2026-10-25", (2, 0), "Europe/Amsterdam", "2026-10-25T00:00"),  # first of two
        ("2026-10-25", (3, 0), "Europe/Amsterdam", "2026-10-25T02:00"),
        ("2026-03-08", (2, 15), "America/New_York", "2026-03-08T07:00"),
        ("2026-11-01", (1, 0), "America/New_York", "2026-11-01T05:00"),
        ("2026-09-27", (3, 0), "Pacific/Chatham", "2026-09-26T14:00"),
        ("2026-04-05", (3, 0), "Pacific/Chatham", "2026-04-04T13:15"),
        ("2026-04-05", (2, 44), "Pacific/Chatham", "2026-04-04T12:59"),
    ],
)
def test_local_instant(day: str, hm: tuple[int, int], zone: str, expected: str) -> None:
    instant = local_instant(dt.date.fromisoformat(day), *hm, ZoneInfo(zone))
    assert instant == utc(expected)


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("at", ["00:00", "02:30", "03:00", "08:00", "23:45"])
def test_daily_fires_once_per_local_date_through_2026(zone: str, at: str) -> None:
    daily = schedule("daily", at, zone)
    tz = ZoneInfo(zone)
    start, end = digest_period(daily, utc("2026-01-01T12:00"))
    dates = [start.astimezone(tz).date()]
    while end < utc("2027-01-02T00:00"):
        start, end = digest_period(daily, end)
        dates.append(start.astimezone(tz).date())
        assert dt.timedelta(hours=23) <= end - start <= dt.timedelta(hours=25)
    assert all(b - a == dt.timedelta(days=1) for a, b in itertools.pairwise(dates))


# The 2026 clock changes of the zones above, and instants near them, so that the properties are tried
# where they are most likely to break.
CHANGES = [
    utc(t)
    for t in (
        "2026-03-29T01:00",
        "2026-10-25T01:00",
        "2026-03-08T07:00",
        "2026-11-01T06:00",
        "2026-04-04T14:00",
        "2026-09-26T14:00",
    )
]
INSTANTS = st.one_of(
    st.datetimes(
        min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2027, 12, 31), timezones=st.just(dt.UTC)
    ),
    st.builds(
        lambda change, seconds: change + dt.timedelta(seconds=seconds),
        st.sampled_from(CHANGES),
        st.integers(-2 * 86400, 2 * 86400),
    ),
)
DAILY = st.builds(
    lambda zone, h, m: schedule("daily", f"{h:02d}:{m:02d}", zone),
    st.sampled_from(ZONES),
    st.one_of(st.integers(0, 23), st.sampled_from([1, 2, 3])),  # 1-3: where the clocks change
    st.sampled_from([0, 1, 15, 29, 30, 44, 45, 59]),
)
HOURLY = st.builds(
    lambda zone, m: schedule("hourly", f":{m:02d}", zone), st.sampled_from(ZONES), st.integers(0, 59)
)


@settings(max_examples=300, deadline=None, database=None)
@given(sched=st.one_of(DAILY, HOURLY), now=INSTANTS)
def test_periods_contain_now_and_tile_time(sched: DigestSchedule, now: dt.datetime) -> None:
    start, end = digest_period(sched, now)
    assert start <= now < end
    assert start.tzinfo is dt.UTC and end.tzinfo is dt.UTC
    # the boundaries belong to the same tiling: the period at start is this one, the one at end follows
    assert digest_period(sched, start) == (start, end)
    assert digest_period(sched, end - dt.timedelta(microseconds=1)) == (start, end)
    after_start, after_end = digest_period(sched, end)
    assert after_start == end and after_end > end
    before_start, before_end = digest_period(sched, start - dt.timedelta(microseconds=1))
    assert before_end == start and before_start < start


def showing(wall: dt.datetime, zone: ZoneInfo) -> list[dt.datetime]:
    """Every instant at which the clock in ``zone`` shows ``wall`` (none, one, or two), in order."""
    found = set()
    for fold in (0, 1):
        instant = wall.replace(tzinfo=zone, fold=fold).astimezone(dt.UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == wall:
            found.add(instant)
    return sorted(found)


@settings(max_examples=300, deadline=None, database=None)
@given(sched=DAILY, now=INSTANTS)
def test_daily_boundaries_are_the_local_time_or_the_jump_over_it(
    sched: DigestSchedule, now: dt.datetime
) -> None:
    start, end = digest_period(sched, now)
    zone = sched.zone
    hour, minute = sched.hour_minute
    assert dt.timedelta(hours=23) <= end - start <= dt.timedelta(hours=25)
    assert (end.astimezone(zone).date() - start.astimezone(zone).date()).days == 1
    for boundary in (start, end):
        local = boundary.astimezone(zone)
        wall = dt.datetime.combine(local.date(), dt.time(hour, minute))
        shows = showing(wall, zone)
        if shows:
            assert boundary == shows[0]  # the first occurrence
        else:
            # it does not exist: the boundary is when the clocks jump over it
            assert (
                boundary.astimezone(zone).utcoffset()
                != (boundary - dt.timedelta(seconds=1)).astimezone(zone).utcoffset()
            )
            assert local.time() > dt.time(hour, minute)


@settings(max_examples=300, deadline=None, database=None)
@given(sched=HOURLY, now=INSTANTS)
def test_hourly_periods_are_an_hour_at_minute_mm(sched: DigestSchedule, now: dt.datetime) -> None:
    start, end = digest_period(sched, now)
    _, minute = sched.hour_minute
    assert end - start == dt.timedelta(hours=1)  # these zones change their clocks by whole hours
    for boundary in (start, end):
        local = boundary.astimezone(sched.zone)
        assert (local.minute, local.second, local.microsecond) == (minute, 0, 0)
