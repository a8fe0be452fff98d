"""Poll scheduling, content identity and the sources file: pure functions, no I/O."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from schemas import Decision, LicenceItem, LicenceRecord, NewsArticle
from services.ingest.core.identity import Status, classify, content_hash
from services.ingest.core.schedule import next_delay, parse_retry_after
from services.ingest.core.sources_file import SourcesError, load_sources

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("failures", "expected"),
    [(0, 900.0), (1, 30.0), (2, 60.0), (3, 120.0), (7, 1920.0), (8, 3600.0), (50, 3600.0)],
)
def test_backoff_doubles_up_to_the_ceiling(failures: int, expected: float) -> None:
    assert next_delay(900, failures, base=30, ceiling=3600) == expected


def test_jitter_spreads_by_at_most_ten_percent() -> None:
    assert next_delay(100, 1, base=100, jitter=1.0) == pytest.approx(110)
    assert next_delay(100, 1, base=100, jitter=-1.0) == pytest.approx(90)
    assert next_delay(100, 1, base=100, jitter=5.0) == pytest.approx(110)


def test_retry_after_wins_when_longer_and_is_capped_at_a_day() -> None:
    assert next_delay(900, 1, base=30, retry_after=120) == 120
    assert next_delay(900, 1, base=30, retry_after=5) == 30
    assert next_delay(900, 1, retry_after=10**9) == 86400


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        ("Mon, 23 Nov 2026 12:02:00 GMT", 120.0),
        ("Mon, 23 Nov 2026 11:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, NOW) == expected


def _article(**kw: object) -> NewsArticle:
    base: dict[str, object] = {
        "id": "news-1",
        "source": "outlet",
        "url": "https://example.org/a",
        "title": "EU firm sold spyware",
        "body": "The company sold intrusion software to Egypt.",
        "published_at": NOW,
    }
    return NewsArticle.model_validate(base | kw)


def test_content_hash_ignores_markup_case_dates_and_what_ingest_sets() -> None:
    a = _article()
    assert content_hash(a) == content_hash(
        _article(title="EU FIRM  sold spyware!", published_at=NOW + dt.timedelta(hours=3))
    )
    assert content_hash(a) == content_hash(_article(revision=3, duplicate_of="news-0", ingested_at=NOW))
    assert content_hash(a) != content_hash(_article(body="The company sold intrusion software to Bahrain."))


def _record(value: float) -> LicenceRecord:
    return LicenceRecord(
        id="uk-1",
        authority="UK",
        licensing_country="GB",
        destination_country="EG",
        items=[LicenceItem(control_code="5A001j")],
        value=value,
        decision=Decision.GRANTED,
    )


def test_a_corrected_licence_is_an_update_and_an_old_release_read_again_is_not() -> None:
    first, corrected = content_hash(_record(1000)), content_hash(_record(1500))
    assert first != corrected
    assert classify(None, first) is Status.NEW
    assert classify(frozenset({first}), first) is Status.DUPLICATE
    assert classify(frozenset({first}), corrected) is Status.UPDATE
    assert classify(frozenset({first, corrected}), first) is Status.DUPLICATE
    assert content_hash(_record(1000).model_copy(update={"revision": 2})) == first


def test_sources_file_resolves_relative_paths_and_reads_durations(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(
        "sources:\n"
        "  - {name: amnesty, url: 'https://www.amnesty.org/en/feed/', interval: 15m, language: en}\n"
        "  - {name: caat, path: data/caat, format: caat, ratings: data/ratings.csv}\n"
        "  - name: nl\n"
        "    url: https://example.org/nl.csv\n"
        "    format: csv\n"
        "    interval: 1d\n"
        "    mapping: {authority: NL CDIU, licensing_country: NL,\n"
        "              columns: {destination: Land, control_code: Rubriek}}\n",
        encoding="utf-8",
    )
    amnesty, caat, nl = load_sources(path)
    assert amnesty.interval == 900 and amnesty.language == "en"
    assert caat.path == tmp_path / "data/caat" and caat.ratings == tmp_path / "data/ratings.csv"
    assert nl.interval == 86400 and nl.mapping is not None and nl.mapping.licensing_country == "NL"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("sources:\n  - {name: a, url: 'https://x.org/f', path: /tmp}\n", "exactly one of url and path"),
        ("sources:\n  - {name: a, url: 'https://x.org/f', intervall: 5}\n", "intervall"),
        ("sources:\n  - {name: a, url: 'https://x.org/f', interval: soon}\n", "not a duration"),
        ("sources:\n  - {name: a, url: 'ftp://x.org/f'}\n", "url"),
        ("sources:\n  - {name: a, path: x, format: csv}\n", "needs a mapping"),
        ("sources:\n  - {name: a, path: x}\n  - {name: a, path: y}\n", "used twice"),
        ("sources: [\n", "sources.yaml"),
    ],
)
def test_sources_file_errors_say_what_to_fix(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SourcesError, match=problem):
        load_sources(path)
