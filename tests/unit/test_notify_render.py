"""Notification rendering: plain text, e-mail HTML and subjects, with hostile article text."""

from __future__ import annotations

import datetime as dt
import html
import re
from functools import partial
from html.parser import HTMLParser
from typing import Literal

import pytest

from schemas import Alert, EvidenceKind, Notification, Severity
from services.notify.core.render import (
    NO_DESTINATION,
    SUBJECT_MAX,
    country_name,
    group_digest,
    one_line,
    render_notification_text,
    render_text,
    safe_link,
    subject,
    technology_name,
)
from services.notify.core.render_html import highlight_html, render_notification_html
from tests.alerts import make_alert

T0 = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.UTC)

# Evidence in the title, where these tests look for it (tests/alerts.py builds it).
rendered_alert = partial(
    make_alert,
    evidence_in=("title",),
    url="https://www.example.org/news/dutch-firm-facial-recognition",
    score=0.87,
    rule="news.technology_destination",
    summary="A surveillance technology and a high-risk destination are named together.",
    watchlist_version="wl-2026.11",
    created_at=T0,
)


def make_notification(
    alerts: list[Alert],
    kind: Literal["alerts", "digest", "test"] = "alerts",
    *,
    period: tuple[dt.datetime, dt.datetime] | None = None,
    name: str = "China watch",
) -> Notification:
    return Notification(
        id="ntf-3b9c0e6d2a4f4e11a0c2",
        kind=kind,
        subscription_id="sub-china",
        subscription_name=name,
        story=alerts[0].event_id if kind == "alerts" and alerts else None,
        period_start=period[0] if period else None,
        period_end=period[1] if period else None,
        alerts=alerts,
        created_at=T0,
    )


class _Tags(HTMLParser):
    """Collects tags, attributes and text of an HTML document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.marked: list[str] = []
        self._in_mark = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "mark":
            self._in_mark += 1
            self.marked.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "mark":
            self._in_mark -= 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_mark:
            self.marked[-1] += data


def parse_html(document: str) -> _Tags:
    parser = _Tags()
    parser.feed(document)
    parser.close()
    return parser


def digest_alerts() -> list[Alert]:
    specs = [
        ("Dutch firm sold facial recognition cameras to Chinese police", ("facial-recognition",), ("CN",)),
        (
            "Spyware and facial recognition kit shipped to Xinjiang",
            ("spyware", "facial-recognition"),
            ("CN",),
        ),
        ("Licence granted: IMSI catchers for Beijing", ("telecom-interception",), ("CN",)),
        ("Emirati agency bought spyware from Israeli vendor", ("spyware",), ("AE",)),
        ("Abu Dhabi police trial facial recognition", ("facial-recognition",), ("AE",)),
        ("Russian metro expands facial recognition", ("facial-recognition",), ("RU",)),
        ("IMSI catchers sold to Russia and the UAE", ("telecom-interception",), ("RU", "AE")),
        ("Spyware vendor opens new office", ("spyware",), ()),
        ("Report on facial recognition exports", ("facial-recognition",), ()),
        ("Deep packet inspection gear for Moscow", ("network-surveillance",), ("RU",)),
    ]
    severities = [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.HIGH, Severity.LOW]
    return [
        rendered_alert(
            title=title,
            alert_id=f"alert-{i}",
            event_id=f"news-{i}",
            technologies=techs,
            destinations=dests,
            severity=severities[i % len(severities)],
            url=f"https://news.example.org/{i}",
            created_at=T0 + dt.timedelta(minutes=i),
        )
        for i, (title, techs, dests) in enumerate(specs)
    ]


DAY = (dt.datetime(2026, 11, 22, 7, 0, tzinfo=dt.UTC), dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.UTC))


# ------------------------------------------------------------------------------------------ helpers


def test_country_and_technology_names() -> None:
    assert country_name("CN") == "China"
    assert country_name("AE") == "United Arab Emirates"
    assert country_name("RU") == "Russia"
    assert country_name("XX") == "XX"
    assert technology_name("facial-recognition") == "facial recognition"
    assert technology_name("telecom-interception") == "telecom interception"
    assert technology_name("imsi-catcher") == "IMSI catcher"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Subject\r\nBcc: victim@example.org", "Subject Bcc: victim@example.org"),
        ("a\u2028b\u2029c\td\x0be\x1bf\x85g", "a b c d e f g"),
        ("left\u202eright", "left right"),
        ("Überwachungs\u00adsoftware", "Überwachungssoftware"),
        ("  many   spaces\n\n", "many spaces"),
    ],
)
def test_one_line_removes_control_characters(raw: str, expected: str) -> None:
    assert one_line(raw) == expected


@pytest.mark.parametrize(
    ("url", "linked"),
    [
        ("https://www.example.org/a?b=1&c=2", True),
        ("http://example.org", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        (" javascript:alert(1)", False),
        ("java\tscript:alert(1)", False),
        ("data:text/html;base64,PHNjcmlwdD4=", False),
        ("//example.org/a", False),
        ("https://example.org/a b", False),
        ("mailto:x@example.org", False),
    ],
)
def test_safe_link(url: str, linked: bool) -> None:
    assert (safe_link(url) is not None) is linked


def test_highlight_escapes_before_marking() -> None:
    text = "<b>facial recognition</b> & co"
    start = text.index("facial")
    out = highlight_html(text, [(start, start + len("facial recognition")), (start, start + 6), (99, 120)])
    assert out.count("<mark") == 1
    assert "&lt;b&gt;" in out and "&amp; co" in out
    assert parse_html(out).marked == ["facial recognition"]


# --------------------------------------------------------------------------------------- alerts kind


def test_single_alert_text_html_subject() -> None:
    alert = rendered_alert()
    n = make_notification([alert])

    text = render_notification_text(n)
    assert render_text(alert) in text
    assert "sources report this story" not in text
    assert "China watch" in text

    assert subject(n) == "[HIGH] Dutch firm sold facial recognition cameras to Chinese police (CN)"

    page = render_notification_html(n)
    parsed = parse_html(page)
    assert page.startswith("<!DOCTYPE html>")
    assert parsed.marked == ["facial recognition", "facial recognition"]  # title and evidence snippet
    links = [attrs["href"] for tag, attrs in parsed.tags if tag == "a"]
    assert links == ["https://www.example.org/news/dutch-firm-facial-recognition"]
    assert "China (CN)" in "".join(parsed.text)


def test_html_is_email_client_safe() -> None:
    page = render_notification_html(make_notification(digest_alerts(), "digest", period=DAY))
    tags = {tag for tag, _ in parse_html(page).tags}
    assert tags.isdisjoint({"script", "img", "style", "link", "iframe", "object", "form"})
    assert "src=" not in page
    assert all(
        "on" not in name[:2] for _, attrs in parse_html(page).tags for name in attrs if name != "content"
    )


def test_grouped_story_of_three_alerts() -> None:
    alerts = [
        rendered_alert(alert_id="a-1", event_id="news-1", severity=Severity.MEDIUM),
        rendered_alert(
            title="Nederlands bedrijf leverde gezichtsherkenning aan Chinese politie",
            alert_id="a-2",
            event_id="news-2",
            terms=(("gezichtsherkenning", EvidenceKind.TECHNOLOGY, "facial-recognition"),),
            severity=Severity.HIGH,
        ),
        rendered_alert(
            title="Une entreprise néerlandaise a vendu de la reconnaissance faciale à la police chinoise",
            alert_id="a-3",
            event_id="news-3",
            terms=(("reconnaissance faciale", EvidenceKind.TECHNOLOGY, "facial-recognition"),),
            destinations=("CN", "HK"),
        ),
    ]
    n = make_notification(alerts)

    text = render_notification_text(n)
    assert text.startswith("3 sources report this story\n")
    for alert in alerts:
        assert render_text(alert) in text
    assert "néerlandaise" in text and "gezichtsherkenning" in text

    # The story's title (the first copy), the highest severity, every destination.
    assert subject(n) == (
        "[HIGH] Dutch firm sold facial recognition cameras to Chinese police (CN, HK) · 3 sources"
    )

    parsed = parse_html(render_notification_html(n))
    assert "3 sources report this story" in "".join(parsed.text)
    assert "reconnaissance faciale" in parsed.marked and "gezichtsherkenning" in parsed.marked


def test_non_latin_text_is_kept() -> None:
    title = "شركة هولندية باعت تقنية التعرف على الوجه للشرطة الصينية"
    alert = rendered_alert(
        title=title,
        terms=(("التعرف على الوجه", EvidenceKind.TECHNOLOGY, "facial-recognition"),),
    )
    n = make_notification([alert], name="Überwachung & Golf")
    assert title in render_notification_text(n)
    assert title in subject(n)
    parsed = parse_html(render_notification_html(n))
    assert parsed.marked[0] == "التعرف على الوجه"
    assert "Überwachung & Golf" in "".join(parsed.text)
    assert 'dir="auto"' in render_notification_html(n)


# ------------------------------------------------------------------------------------ hostile input


HOSTILE_TITLE = 'Vendor <script>alert("x")</script> sold "><img src=x onerror=alert(1)> facial recognition'


def test_hostile_title_snippet_and_url_are_escaped() -> None:
    snippet = 'Body says "><img src=x onerror=alert(2)> and <script>steal()</script> facial recognition.'
    alert = rendered_alert(title=HOSTILE_TITLE, snippet=snippet, url="javascript:alert(document.cookie)")
    alert = alert.model_copy(
        update={
            "summary": "<b onmouseover=alert(3)>summary</b>",
            "entities": ['<svg onload="alert(4)">'],
        }
    )
    n = make_notification([alert], name="<i>name</i>")
    page = render_notification_html(n)
    parsed = parse_html(page)

    tags = {tag for tag, _ in parsed.tags}
    assert tags.isdisjoint({"script", "img", "svg", "b", "i"})
    assert not any(name.startswith("on") for _, attrs in parsed.tags for name in attrs)
    assert "javascript:" not in " ".join(str(v) for _, attrs in parsed.tags for v in attrs.values())
    assert not [attrs for tag, attrs in parsed.tags if tag == "a"]
    text = "".join(parsed.text)
    # The words are all there, as text.
    assert HOSTILE_TITLE in text
    assert "<b onmouseover=alert(3)>summary</b>" in text
    assert '<svg onload="alert(4)">' in text
    assert "<i>name</i>" in text
    assert parsed.marked == ["facial recognition", "facial recognition"]
    assert html.escape(HOSTILE_TITLE.split(" facial", maxsplit=1)[0], quote=True) in page


def test_link_attribute_is_escaped() -> None:
    url = 'https://example.org/a?x="><script>alert(1)</script>&y=1'
    page = render_notification_html(make_notification([rendered_alert(url=url)]))
    links = [attrs["href"] for tag, attrs in parse_html(page).tags if tag == "a"]
    assert links == [url]
    assert "<script>" not in page


def test_wrong_evidence_offsets_are_not_marked() -> None:
    alert = rendered_alert()
    bad = alert.evidence[0].model_copy(update={"start": 0, "end": 5})  # text does not match the offsets
    alert = alert.model_copy(update={"evidence": [bad]})
    parsed = parse_html(render_notification_html(make_notification([alert])))
    assert parsed.marked == ["facial recognition"]  # only in the snippet, where the text is searched


@pytest.mark.parametrize(
    "title",
    [
        "Subject\r\nBcc: victim@example.org",
        "Subject\nBcc: victim@example.org",
        "Subject\rBcc: victim@example.org",
        "Subject\u2028Bcc: victim@example.org",
        "Subject\u2029\x85\x0c\x1b\x7fBcc: victim@example.org",
    ],
)
def test_subject_is_one_line(title: str) -> None:
    line = subject(make_notification([rendered_alert(title=title)]))
    assert line == "[HIGH] Subject Bcc: victim@example.org (CN)"
    assert all(ch.isprintable() for ch in line)


def test_subject_is_at_most_200_characters() -> None:
    title = "Gezichtsherkenning " * 40
    alerts = [
        rendered_alert(title=title, destinations=("CN", "AE", "RU", "IR", "SA"), alert_id=f"a{i}")
        for i in range(3)
    ]
    line = subject(make_notification(alerts))
    assert len(line) <= SUBJECT_MAX
    assert line.startswith("[HIGH] Gezichtsherkenning")
    assert line.endswith("… (CN, AE, RU +2) · 3 sources")
    digest = subject(make_notification([rendered_alert()], "digest", period=DAY, name="x" * 500))
    assert len(digest) <= SUBJECT_MAX


# ------------------------------------------------------------------------------------------- digest


def test_digest_groups_by_destination_then_technology() -> None:
    alerts = digest_alerts()
    groups = dict(group_digest(alerts))
    assert list(groups) == [
        "China (CN)",
        "Russia (RU)",
        "United Arab Emirates (AE)",
        NO_DESTINATION,
    ]
    china = {tech: [a.id for a in items] for tech, items in groups["China (CN)"]}
    assert china == {
        "facial recognition": ["alert-0", "alert-1"],
        "spyware": ["alert-1"],
        "telecom interception": ["alert-2"],
    }
    # An alert with two destinations is listed under both, once each.
    uae = {tech: [a.id for a in items] for tech, items in groups["United Arab Emirates (AE)"]}
    russia = {tech: [a.id for a in items] for tech, items in groups["Russia (RU)"]}
    assert uae["telecom interception"] == ["alert-6"] and russia["telecom interception"] == ["alert-6"]
    assert {tech for tech, _ in groups[NO_DESTINATION]} == {"facial recognition", "spyware"}


def test_digest_lists_each_alert_once_per_group() -> None:
    alert = rendered_alert(technologies=("spyware", "spyware"), destinations=("CN", "CN"))
    groups = group_digest([alert, alert])
    assert groups == [("China (CN)", [("spyware", [alert])])]


def test_digest_text() -> None:
    alerts = digest_alerts()
    n = make_notification(alerts, "digest", period=DAY)
    text = render_notification_text(n)
    lines = text.splitlines()
    assert lines[0] == "ExportWatch daily digest for “China watch”"
    assert lines[1] == "Period: 2026-11-22 07:00 UTC to 2026-11-23 07:00 UTC"
    assert lines[2] == "10 alerts (2 critical, 4 high, 2 medium, 2 low) · 3 destinations · 4 technologies"

    def section(title: str) -> str:
        start = text.index(f"== {title} ==")
        following = text.find("\n== ", start + 1)
        return text[start : following if following > 0 else None]

    china = section("China (CN)")
    assert "  facial recognition\n    [CRITICAL] Dutch firm sold facial recognition" in china
    assert "      https://news.example.org/0" in china
    assert "IMSI catchers for Beijing" in china and "Russian metro" not in china
    nowhere = section(NO_DESTINATION)
    assert "Spyware vendor opens new office" in nowhere and "Report on facial recognition" in nowhere
    # Order of sections: bigger groups first, no destination last.
    order = [text.index(f"== {t} ==") for t in ("China (CN)", "Russia (RU)", "United Arab Emirates (AE)")]
    assert order == sorted(order) and order[-1] < text.index(f"== {NO_DESTINATION} ==")
    assert subject(n) == "ExportWatch daily digest: 10 alerts, 2026-11-23 (China watch)"


def test_digest_period_as_given_and_in_utc() -> None:
    amsterdam = dt.timezone(dt.timedelta(hours=1))
    start = dt.datetime(2026, 11, 22, 8, 0, tzinfo=amsterdam)
    n = make_notification(digest_alerts()[:2], "digest", period=(start, start + dt.timedelta(days=1)))
    text = render_notification_text(n)
    assert (
        "Period: 2026-11-22 07:00 UTC to 2026-11-23 07:00 UTC "
        "(as scheduled: 2026-11-22 08:00 UTC+01:00 to 2026-11-23 08:00 UTC+01:00)" in text
    )
    hourly = make_notification(digest_alerts()[:1], "digest", period=(start, start + dt.timedelta(hours=1)))
    assert subject(hourly) == "ExportWatch hourly digest: 1 alert, 2026-11-22 09:00 (China watch)"


def test_digest_html_groups() -> None:
    n = make_notification(digest_alerts(), "digest", period=DAY)
    parsed = parse_html(render_notification_html(n))
    headings = [tag for tag, _ in parsed.tags if tag in ("h2", "h3")]
    assert headings.count("h2") == 4
    page = render_notification_html(n)
    h2 = re.findall(r"<h2[^>]*>(.*?)</h2>", page)
    assert h2 == ["China (CN)", "Russia (RU)", "United Arab Emirates (AE)", NO_DESTINATION]
    assert len([tag for tag, _ in parsed.tags if tag == "a"]) == 12  # 10 alerts, two listed twice


def test_empty_digest() -> None:
    n = make_notification([], "digest", period=DAY)
    assert "No alerts in this period." in render_notification_text(n)
    assert subject(n) == "ExportWatch daily digest: no alerts, 2026-11-23 (China watch)"
    assert "No alerts in this period." in render_notification_html(n)


# --------------------------------------------------------------------------------------------- test


def test_test_notification() -> None:
    n = make_notification([], "test", name="Gulf\r\nspyware")
    text = render_notification_text(n)
    assert "subscription “Gulf spyware”" in text and "works" in text
    assert subject(n) == "ExportWatch test message: your subscription works"  # never the owner's name
    assert "Gulf" in render_notification_html(n)
