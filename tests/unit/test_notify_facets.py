"""Which facet queries the summary kept ahead answers exactly, and the summary rows one alert adds."""

from __future__ import annotations

import datetime as dt

import pytest

from schemas import Severity
from services.notify.core.archive import AlertQuery
from services.notify.core.facets import SummaryQuery, summary_keys, summary_query, tally

MONDAY = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (AlertQuery(), SummaryQuery("", ("",))),
        (AlertQuery(destinations=("EG",)), SummaryQuery("destination", ("EG",))),
        (AlertQuery(severities=(Severity.HIGH, Severity.LOW)), SummaryQuery("severity", ("0", "2"))),
        (AlertQuery(rules=("a", "b")), SummaryQuery("rule", ("a", "b"))),
        (
            AlertQuery(sources=("afp",), since=MONDAY, until=MONDAY + dt.timedelta(days=14)),
            SummaryQuery("source", ("afp",), "2026-11-23", "2026-12-07"),
        ),
        # Two values of a kind an alert can hold several of: an alert with both would count twice.
        (AlertQuery(destinations=("EG", "CN")), None),
        (AlertQuery(destinations=("EG",), technologies=("spyware",)), None),
        (AlertQuery(text="spyware"), None),
        (AlertQuery(since=MONDAY + dt.timedelta(hours=1)), None),
        (AlertQuery(until=MONDAY + dt.timedelta(days=1)), None),
    ],
)
def test_summary_answers_only_what_it_can_count_exactly(
    query: AlertQuery, expected: SummaryQuery | None
) -> None:
    assert summary_query(query) == expected


def test_a_midnight_in_another_offset_is_read_in_utc() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    assert summary_query(AlertQuery(since=dt.datetime(2026, 11, 23, 1, 0, tzinfo=paris))) is not None
    assert summary_query(AlertQuery(since=dt.datetime(2026, 11, 23, 0, 0, tzinfo=paris))) is None


def test_one_alert_adds_every_filter_and_counted_pair_in_its_week() -> None:
    keys = summary_keys(
        "2026-11-23",
        [("destination", "EG"), ("rule", "r")],
        [("destination", "EG"), ("vendor", "v")],
    )
    assert len(keys) == 3 * 2  # (none, EG, rule) x (total, EG); a vendor is not counted
    assert ("", "", "2026-11-23", "", "") in keys
    assert ("rule", "r", "2026-11-23", "destination", "EG") in keys


def test_tally_sums_alerts_and_sorts_keys() -> None:
    a = summary_keys("2026-11-30", [], [])
    b = summary_keys("2026-11-23", [], [])
    assert tally([a, b, a]) == [(b[0], 1), (a[0], 2)]
