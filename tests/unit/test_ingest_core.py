"""Ingest parsers on real and hostile input: JSON Lines, RSS/Atom, CAAT licence CSV, URLs, HTML."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from schemas import Decision, LicenceRecord, NewsArticle
from services.ingest.core.caat import load_ratings, parse_caat_values
from services.ingest.core.countries import resolve_country
from services.ingest.core.feeds import parse_feed
from services.ingest.core.html import html_to_text
from services.ingest.core.jsonl import parse_jsonl
from services.ingest.core.push import Invalid, PushLimits, TooManyItems, read_push, split_body
from services.ingest.core.results import Rejected
from services.ingest.core.sources import parse_source
from services.ingest.core.urls import canonical_url, news_id
from tests.conftest import BUNDLED_SAMPLES

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTPS://WWW.Example.ORG/a/b?utm_source=x&id=3&fbclid=y#top", "https://www.example.org/a/b?id=3"),
        ("http://example.org:80/x?b=2&a=1", "http://example.org/x?a=1&b=2"),
        ("https://example.org", "https://example.org/"),
        ("https://example.org:8443/x", "https://example.org:8443/x"),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


def test_news_id_ignores_tracking_and_case() -> None:
    assert news_id("https://Example.org/a?utm_medium=rss") == news_id("https://example.org/a")
    assert news_id("https://example.org/a") != news_id("https://example.org/b")


def test_html_to_text_keeps_paragraphs_and_drops_scripts() -> None:
    html = "<p>One &amp; two</p><script>var x=1;</script><p>Three<br>four</p><style>p{}</style>"
    assert html_to_text(html) == "One & two\n\nThree\nfour"


def test_jsonl_reports_each_bad_line_and_keeps_the_rest(samples_dir: Path) -> None:
    good = (samples_dir / "news.jsonl").read_bytes().splitlines()
    data = b"\n".join([good[0], b"{broken", b"", good[1], b'{"type": "tweet"}', good[2]])
    results = list(parse_jsonl(data, "upload.jsonl"))
    events = [r for r in results if isinstance(r, NewsArticle)]
    rejected = [r for r in results if isinstance(r, Rejected)]
    assert [e.id for e in events] == ["sample-000", "sample-001", "sample-002"]
    assert [(r.line, r.reason) for r in rejected] == [(2, "invalid_json"), (5, "unknown_event_type")]
    assert rejected[0].raw == b"{broken"


def test_jsonl_rejects_oversized_lines() -> None:
    results = list(parse_jsonl(b'{"x": "' + b"a" * 5000 + b'"}', "big.jsonl", max_event_bytes=1024))
    assert isinstance(results[0], Rejected) and results[0].reason == "too_large"


def test_bundled_rss_feed() -> None:
    data = (BUNDLED_SAMPLES / "watchdog-feed.rss").read_bytes()
    articles = [r for r in parse_feed(data, "demo", NOW) if isinstance(r, NewsArticle)]
    assert len(articles) == 4
    first = articles[0]
    assert first.url == "https://example.org/fr/dpi-egypte"  # utm_* dropped
    assert "inspection approfondie des paquets" in first.body
    assert "trackPageview" not in first.body and "<p>" not in first.body
    assert first.published_at == dt.datetime(2026, 11, 2, 7, 0, tzinfo=dt.UTC)
    assert articles[1].url == "https://example.org/de/staatstrojaner-belarus"  # fragment dropped


def test_atom_feed_with_language_and_missing_date() -> None:
    atom = b"""<?xml version="1.0" encoding="utf-8"?>
    <feed xmlns="http://www.w3.org/2005/Atom" xml:lang="nl-BE"><title>t</title>
      <entry><title>Gezichtsherkenning</title><link href="https://nieuws.example/a"/>
        <content type="html">&lt;p&gt;Tekst&lt;/p&gt;</content></entry>
    </feed>"""
    (article,) = list(parse_feed(atom, "nl-feed", NOW))
    assert isinstance(article, NewsArticle)
    assert article.language == "nl"
    assert article.published_at == NOW
    assert article.model_extra == {"published_at_inferred": True}


def test_malformed_feed_is_one_rejection() -> None:
    results = list(parse_feed(b"<rss><channel><item><title>x</broken", "bad", NOW))
    assert all(isinstance(r, Rejected) for r in results)
    assert next(r.reason for r in results if isinstance(r, Rejected)) == "invalid_feed"


def test_salvaged_entries_of_a_broken_feed_are_kept_and_the_breakage_reported() -> None:
    data = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<item><title>A</title><link>https://x.example/a</link></item>"
        b"<item><title>B & C</title><link>https://x.example/b</link></item></channel></rss>"
    )
    results = list(parse_feed(data, "bad-entities", NOW))
    assert [r.reason for r in results if isinstance(r, Rejected)] == ["invalid_feed"]
    assert {r.url for r in results if isinstance(r, NewsArticle)} == {
        "https://x.example/a",
        "https://x.example/b",
    }


def test_caat_sample_parses_completely(samples_dir: Path) -> None:
    ratings = load_ratings((samples_dir / "uk-caat-ratings.csv").read_bytes())
    results = list(
        parse_caat_values(
            (samples_dir / "uk-caat-values-2014-sample.csv").read_bytes(), "values.csv", ratings
        )
    )
    records = [r for r in results if isinstance(r, LicenceRecord)]
    assert len(records) == len(results) == 2133
    assert len({r.id for r in records}) == len(records), "ids must be unique per row"
    unknown = {r.destination_name for r in records if r.destination_country is None}
    assert unknown <= {
        "Channel Islands",
        "Continental Shelf: United Kingdom sector",
        "French Overseas Territory",
    }
    refused = [r for r in records if r.decision is Decision.REFUSED]
    assert refused, "the sample has refusals"
    first = records[0]
    assert (first.licensing_country, first.currency, first.decided_on) == ("GB", "GBP", dt.date(2014, 1, 2))
    assert first.items[0].control_code == "ML10" and first.items[0].description


def test_caat_ids_are_stable_across_reads(samples_dir: Path) -> None:
    data = (samples_dir / "uk-caat-values-2014-sample.csv").read_bytes()
    ids = [getattr(r, "id", None) for r in parse_caat_values(data, "a.csv")]
    assert ids == [getattr(r, "id", None) for r in parse_caat_values(data, "b.csv")]


def test_caat_bad_rows_are_rejected_with_line_numbers() -> None:
    data = (
        b"licence_group,date,rating,count,value,country,refused\n"
        b"1,2014-01-02,5A001,1,100,China,0\n"
        b"2,02/01/2014,5A001,1,100,China,0\n"
        b"3,2014-01-02,5A001,1,lots,China,0\n"
        b"4,2014-01-02,5A001,1,100,Atlantis,0\n"
    )
    results = list(parse_caat_values(data, "v.csv"))
    assert isinstance(results[0], LicenceRecord) and results[0].destination_country == "CN"
    assert [(r.reason, r.line) for r in results[1:3] if isinstance(r, Rejected)] == [
        ("invalid_date", 3),
        ("invalid_value", 4),
    ]
    last = results[3]
    assert isinstance(last, LicenceRecord)
    assert (last.destination_country, last.destination_name) == (None, "Atlantis")


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Korea, South", "KR"),
        ("Korea, North", "KP"),
        ("Hong Kong Special Administrative Region", "HK"),
        ("United Arab Emirates", "AE"),
        ("Turkey", "TR"),
        ("Bosnia and Herzegovina", "BA"),
        ("Saoedi-Arabië", "SA"),
        ("Émirats arabes unis", "AE"),
        ("Weißrussland", "BY"),
        ("Belarus", "BY"),
        ("Ägypten", "EG"),
        ("Arabia Saudí", "SA"),
        ("the Netherlands", "NL"),
        ("Atlantis", None),
        ("", None),
    ],
)
def test_country_names(name: str, code: str | None) -> None:
    assert resolve_country(name) == code


def test_unknown_file_type_is_rejected() -> None:
    (result,) = list(parse_source("notes.docx", b"PK\x03\x04", NOW))
    assert isinstance(result, Rejected) and result.reason == "unsupported_source"


@pytest.mark.parametrize(
    ("body", "over"),
    [
        (b"[" + b"1," * 2 + b"1]", False),  # 3 items
        (b"[" + b"1," * 3 + b"1]", True),  # 4 items
        (b'["a,b,c,d,e", "[,,,]", {"k": [1, 2, 3, 4]}]', False),  # commas in strings and nested
        (b'["\\",\\",", 1, 2]', False),  # escaped quotes do not end a string
        (b"[{}, [], {}, [], {}]", True),
        (b"1\n2\n3", False),
        (b"1\n2\n3\n4", True),
        (b"1\n\n \n\t\r\n2\r3\r\n", False),  # blank lines do not count
        (b'{\n"a": [\n1,\n2,\n3,\n4\n]\n}', False),  # one pretty-printed object
    ],
)
def test_push_body_item_limit_is_counted_like_the_items_are_split(body: bytes, over: bool) -> None:
    limited = split_body(body, max_items=3)
    assert isinstance(limited, TooManyItems) is over
    whole = split_body(body)
    assert isinstance(whole, list) and (len(whole) > 3) is over


def test_push_body_names_the_first_problems_and_counts_them_all() -> None:
    outcome = read_push(b"{}\n" * 7, PushLimits(max_items=10, max_event_bytes=1024, max_problems=5))
    assert isinstance(outcome, Invalid)
    assert outcome.count == 7 and [p.line for p in outcome.problems] == [1, 2, 3, 4, 5]
