"""The archive's renderers: Atom feeds (valid RFC 4287, every text escaped, ids stable) and CSV rows
(formula cells made inert); and the feed secrets redacted from access logs."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging

import pytest
from lxml import etree

from schemas import Severity
from services.common.httpserver import RedactSecretPaths, redact_paths
from services.notify.core import atom, csv_export
from tests.alerts import make_alert
from tests.atom import check_feed

NOW = dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC)
BASE = "https://watch.example.org"


def info(**changes: object) -> atom.FeedInfo:
    values: dict[str, object] = {
        "id": f"{BASE}/v1/alerts.atom",
        "title": "ExportWatch alerts",
        "self_url": f"{BASE}/v1/alerts.atom?destination=CN",
        "base": BASE,
        "now": NOW,
    }
    values.update(changes)
    return atom.FeedInfo(**values)  # type: ignore[arg-type]


def test_a_feed_reads_back_entries_links_and_categories() -> None:
    alerts = [
        make_alert("a-2", created_at=NOW, source="reuters-world", language="en"),
        make_alert("a-1", created_at=NOW - dt.timedelta(days=1), url=None, severity=Severity.LOW),
    ]
    parsed = check_feed(atom.render_feed(info(), alerts))
    assert parsed.feed.title == "ExportWatch alerts"
    assert parsed.feed.updated == "2026-03-31T12:00:00Z"
    assert [link.rel for link in parsed.feed.links] == ["self", "alternate"]
    first, second = parsed.entries
    assert first.id == atom.entry_id("a-2") and first.id.startswith("urn:uuid:")
    assert {(link.rel, link.href) for link in first.links} == {
        ("alternate", f"{BASE}/alerts/a-2"),
        ("related", "https://news.example.org/news-1"),
    }
    assert [link.rel for link in second.links] == ["alternate"]  # no article URL: no related link
    terms = {t.term for t in first.tags}
    assert terms == {"severity:high", "technology:facial-recognition", "destination:CN"}
    assert first.summary == "Facial recognition and China in the same article."
    assert "facial recognition" in first.content[0].value
    assert first.author == "reuters-world"


def test_entry_ids_are_stable_and_distinct() -> None:
    assert atom.entry_id("a-1") == atom.entry_id("a-1") != atom.entry_id("a-2")


def test_an_alert_id_is_quoted_in_its_link() -> None:
    parsed = check_feed(atom.render_feed(info(), [make_alert("odd id/../?x=1", created_at=NOW)]))
    assert parsed.entries[0].link == f"{BASE}/alerts/odd%20id%2F..%2F%3Fx%3D1"


def test_an_empty_feed_is_valid_and_dated_now() -> None:
    parsed = check_feed(atom.render_feed(info(), []))
    assert parsed.entries == [] and parsed.feed.updated == "2026-03-31T12:00:00Z"


def test_html_in_a_title_stays_text() -> None:
    title = '<script>alert("x")</script> & <b>bold</b>'
    body = atom.render_feed(info(title="<i>mine</i>"), [make_alert(title=title, created_at=NOW)])
    assert b"<script>" not in body and b"<b>" not in body
    document = etree.fromstring(body)
    ns = {"a": atom.ATOM_NS}
    assert document.find("a:entry/a:title", ns).text == title
    assert document.find("a:entry/a:title", ns).get("type") == "text"
    assert document.find("a:title", ns).text == "<i>mine</i>"
    parsed = check_feed(body)
    # A reader gets the title back as plain text, tags and all: nothing in it was read as markup.
    assert parsed.entries[0].title == title
    assert parsed.entries[0].title_detail.type == "text/plain"


def test_characters_xml_cannot_carry_are_removed() -> None:
    title = "bad\x00 bytes\x1b here\ufffe and \ud800 a surrogate"
    alert = make_alert(title=title, created_at=NOW, summary="sum\x07mary")
    parsed = check_feed(atom.render_feed(info(), [alert]))
    assert parsed.entries[0].title == "bad bytes here and  a surrogate"
    assert parsed.entries[0].summary == "summary"
    assert atom.clean("tab\tnew\nline\rkept") == "tab\tnew\nline\rkept"


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_csv_has_one_row_per_alert_with_every_column() -> None:
    alert = make_alert(
        "a-1",
        created_at=NOW,
        destinations=["CN", "AE"],
        entities=["hikvision"],
        control_codes=["5A001.j"],
        source="reuters-world",
        language="en",
    )
    text = csv_export.header() + "".join(csv_export.lines([alert]))
    header, row = rows(text)
    assert header == list(csv_export.COLUMNS)
    cells = dict(zip(header, row, strict=True))
    assert cells["created_at"] == "2026-03-31T12:00:00+00:00"
    assert cells["destinations"] == "CN AE"
    assert cells["vendors"] == "hikvision"
    assert cells["control_codes"] == "5A001.j"
    assert cells["source"] == "reuters-world" and cells["language"] == "en"
    assert cells["id"] == "a-1" and cells["rule"] == "news.tech_destination"


@pytest.mark.parametrize(
    ("title", "cell"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tindent", "'\tindent"),
        ("\rreturn", "'\rreturn"),
        ('plain, with "quotes"\nand a line', 'plain, with "quotes"\nand a line'),
        ("1 = 1", "1 = 1"),
    ],
)
def test_csv_cells_a_spreadsheet_would_run_are_inert(title: str, cell: str) -> None:
    (row,) = rows("".join(csv_export.lines([make_alert(title=title, created_at=NOW)])))
    assert row[csv_export.COLUMNS.index("title")] == cell


def test_csv_truncation_note_says_so() -> None:
    (row,) = rows(csv_export.truncated_note(100_000))
    assert "100000" in row[0] and "stopped" in row[0]


def test_feed_secrets_never_reach_the_access_log() -> None:
    secret = "s3cretFeedToken_abc-def"
    assert redact_paths(f"GET /feeds/{secret}.atom?x=1") == "GET /feeds/(secret).atom?x=1"
    assert redact_paths("GET /v1/alerts.atom") == "GET /v1/alerts.atom"
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", f"/feeds/{secret}.atom", "1.1", 200),
        None,
    )
    assert RedactSecretPaths().filter(record)
    assert secret not in record.getMessage() and "/feeds/(secret).atom" in record.getMessage()


def test_an_article_address_that_is_not_http_is_no_link_in_the_feed() -> None:
    hostile = make_alert("a-js", url="javascript:alert(1)")
    xml = atom.render_feed(
        atom.FeedInfo(
            id="urn:x", title="t", self_url="https://w.example/a.atom", base="https://w.example", now=NOW
        ),
        [hostile],
    )
    assert b"javascript:" not in xml
