"""The archive's query string: every filter parsed, every problem named at once, cursors round-trip."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs

import pytest

from schemas import Severity
from services.notify.core.archive import (
    MAX_LIMIT,
    QueryProblems,
    decode_cursor,
    encode_cursor,
    parse_query,
    query_string,
)
from services.notify.core.vocabulary import Vocabulary

VOCABULARY = Vocabulary.shared()


def parse(qs: str, vocabulary: Vocabulary | None = VOCABULARY):  # type: ignore[no-untyped-def]
    return parse_query(parse_qs(qs, keep_blank_values=True), vocabulary)


def test_every_filter_is_read_with_repeats_and_commas() -> None:
    q = parse(
        "destination=eg,cn&destination=AE&technology=Spyware&vendor=huawei&control_code=5a001.j"
        "&severity=HIGH&severity=critical&rule=news.tech_destination&event_type=news_article"
        "&source=reuters&language=EN&since=2026-01-01&until=2026-02-01T12:00:00%2B01:00&q=pegasus&limit=20"
    )
    assert q.destinations == ("EG", "CN", "AE")
    assert q.technologies == ("spyware",)
    assert q.vendors == ("huawei",)
    assert q.control_codes == ("5A001.J",)
    assert q.severities == (Severity.HIGH, Severity.CRITICAL)
    assert q.rules == ("news.tech_destination",)
    assert q.event_types == ("news_article",)
    assert q.sources == ("reuters",)
    assert q.languages == ("en",)
    assert q.since == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert q.until == dt.datetime(2026, 2, 1, 11, 0, tzinfo=dt.UTC)
    assert q.text == "pegasus"
    assert q.limit == 20


def test_every_problem_is_named_in_one_answer() -> None:
    with pytest.raises(QueryProblems) as caught:
        parse("destination=XX&technology=spywar&severity=urgent&since=yesterday&limit=0&colour=red")
    locations = {d["location"]: d["message"] for d in caught.value.details}
    assert set(locations) == {"destination", "technology", "severity", "since", "limit", "colour"}
    assert "spyware" in locations["technology"]
    assert str(MAX_LIMIT) in locations["limit"]


def test_until_must_follow_since_and_a_foreign_cursor_is_refused() -> None:
    with pytest.raises(QueryProblems) as caught:
        parse("since=2026-02-01&until=2026-01-01&cursor=not-ours")
    assert {d["location"] for d in caught.value.details} == {"until", "cursor"}


def test_without_vocabulary_ids_are_only_normalised() -> None:
    assert parse("destination=xx", vocabulary=None).destinations == ("XX",)


def test_cursor_round_trips_and_query_string_asks_again() -> None:
    when = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
    cursor = encode_cursor(when, "alert-1")
    assert decode_cursor(cursor) == (when, "alert-1")
    q = parse("destination=EG&q=face&limit=10")
    again = parse_query(
        {
            k: [v for kk, v in query_string(q, cursor=cursor) if kk == k]
            for k, _ in query_string(q, cursor=cursor)
        }
    )
    assert again.destinations == q.destinations and again.text == "face" and again.cursor == cursor
