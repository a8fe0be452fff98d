"""The archive's pure helpers: the ISO week an alert is counted in, and a researcher's free text made
safe for SQLite's FTS5 (every word required, nothing read as query syntax)."""

from __future__ import annotations

import datetime as dt

import pytest

from services.notify.store.archive import fts5_query, week_of


@pytest.mark.parametrize(
    ("when", "monday"),
    [
        (dt.datetime(2026, 11, 16, 0, 0, tzinfo=dt.UTC), "2026-11-16"),  # a Monday
        (dt.datetime(2026, 11, 22, 23, 59, tzinfo=dt.UTC), "2026-11-16"),  # the Sunday after
        (dt.datetime(2026, 11, 23, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))), "2026-11-16"),  # UTC
        (dt.datetime(2027, 1, 1, tzinfo=dt.UTC), "2026-12-28"),  # across a year
    ],
)
def test_week_of_is_the_monday_of_the_utc_iso_week(when: dt.datetime, monday: str) -> None:
    assert week_of(when) == monday


@pytest.mark.parametrize(
    ("text", "expression"),
    [
        ("überwachung", '"überwachung"'),
        ("Reconocimiento  facial", '"Reconocimiento" "facial"'),
        ('spyware" OR (NEAR* -x', '"spyware" "OR" "NEAR" "x"'),
        ("5.A.1.j", '"5" "A" "1" "j"'),
        (' " () * ', None),
    ],
)
def test_fts5_query_quotes_every_word(text: str, expression: str | None) -> None:
    assert fts5_query(text) == expression
