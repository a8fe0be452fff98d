"""Slack rendering: untrusted article text can never mention, link or format; Slack's limits hold."""

from __future__ import annotations

import datetime as dt
import json
import re
from functools import partial
from typing import Any

import pytest

from schemas import Alert, Evidence, EvidenceKind, Notification, Severity
from services.notify.core.slack import (
    MAX_BLOCKS,
    MAX_CONTEXT_ELEMENTS,
    MAX_HEADER,
    MAX_SECTION,
    WORD_JOINER,
    ZERO_WIDTH_SPACE,
    bold_terms,
    country,
    escape,
    render,
    safe_url,
)
from tests.alerts import make_alert

NOW = dt.datetime(2024, 5, 2, 8, 0, tzinfo=dt.UTC)
TITLE = "Dutch firm sold facial recognition cameras to Chinese police"
BODY = (
    "A Dutch company supplied facial recognition cameras to the police in Xinjiang, China, "
    "according to export records seen by reporters. The company did not answer questions."
)
HOSTILE = (
    "Urgent <!channel> and <!here|here>: ping <@U024BE7LH> in <#C1234|general>, "
    "then <https://evil.example|click here> or visit https://evil.example/login and www.evil-host.com "
    "@everyone @channel @here. Literal &lt;b&gt; stays text. Hikvision sold facial recognition to China."
)
MENTION_OR_LINK = re.compile(r"<[!@#]|<https?:|<mailto:|(?<!\u2060)@(channel|here|everyone)\b", re.IGNORECASE)


def evidence(field: str, source: str, term: str, kind: EvidenceKind, ref: str) -> Evidence:
    start = source.index(term)
    return Evidence(
        field=field, start=start, end=start + len(term), text=term, snippet=source, kind=kind, ref=ref
    )


# Title evidence quotes "Chinese", body evidence "China": as match writes them (tests/alerts.py builds it).
slack_alert = partial(
    make_alert,
    event_id="news-alert-1",
    title=TITLE,
    body=BODY,
    url="https://www.nrc.nl/nieuws/2024/05/01/camera-export",
    evidence_in=("title", "body"),
    terms=[
        ("facial recognition", EvidenceKind.TECHNOLOGY, "facial-recognition"),
        ("Chinese", EvidenceKind.DESTINATION, "CN"),
        ("China", EvidenceKind.DESTINATION, "CN"),
    ],
    score=0.92,
    entities=["hikvision"],
    control_codes=["5A001.j"],
    rule="news.tech_destination",
    summary="Facial recognition exported to China (police end user).",
    watchlist_version="2024.05.1",
    created_at=NOW,
)


def notification(alerts: list[Alert], kind: str = "alerts", **extra: Any) -> Notification:
    return Notification(
        id="ntf-3b9c0e6d2a4f4e11a0c2",
        kind=kind,
        subscription_id="sub-1",
        subscription_name="Amnesty tech team",
        story=alerts[0].event_id if alerts and kind == "alerts" else None,
        alerts=alerts,
        created_at=NOW,
        **extra,
    )


def texts(payload: dict[str, Any]) -> list[str]:
    """Every piece of text Slack will read in a payload."""
    out = [payload["text"]]
    for block in payload["blocks"]:
        if "text" in block:
            out.append(block["text"]["text"])
        out.extend(e["text"] for e in block.get("elements", []))
    return out


def check_limits(payload: dict[str, Any]) -> None:
    json.dumps(payload)
    assert len(payload["blocks"]) <= MAX_BLOCKS
    for block in payload["blocks"]:
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text"
            assert 0 < len(block["text"]["text"]) <= MAX_HEADER
        elif block["type"] == "section":
            assert 0 < len(block["text"]["text"]) <= MAX_SECTION
        elif block["type"] == "context":
            assert 0 < len(block["elements"]) <= MAX_CONTEXT_ELEMENTS
            assert all(0 < len(e["text"]) <= MAX_SECTION for e in block["elements"])
        else:
            assert block["type"] == "divider"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("<!here|here>", "&lt;!here|here&gt;"),
        ("<@U024BE7LH>", "&lt;@U024BE7LH&gt;"),
        ("<#C1>", "&lt;#C1&gt;"),
        ("<http://x|y>", "&lt;http://\u200bx|y&gt;"),
        ("Tom & Jerry", "Tom &amp; Jerry"),
        ("&lt;already escaped&gt;", "&amp;lt;already escaped&amp;gt;"),
        ("hi @channel", f"hi @{WORD_JOINER}channel"),
        ("@Here now", f"@{WORD_JOINER}Here now"),
        ("@everyone!", f"@{WORD_JOINER}everyone!"),
        ("mail me@example.org", f"mail me@example{ZERO_WIDTH_SPACE}.org"),
        ("@channels and @hereby", "@channels and @hereby"),
        ("see https://evil.example/x", f"see https://{ZERO_WIDTH_SPACE}evil{ZERO_WIDTH_SPACE}.example/x"),
        ("www.evil.com", f"www{ZERO_WIDTH_SPACE}.evil{ZERO_WIDTH_SPACE}.com"),
        ("control code 5A001.j, e.g. ML11", "control code 5A001.j, e.g. ML11"),
        ("São Paulo: câmeras de reconhecimento", "São Paulo: câmeras de reconhecimento"),
        ("", ""),
    ],
)
def test_escape_table(raw: str, expected: str) -> None:
    assert escape(raw) == expected


def test_hostile_article_body_cannot_mention_or_link() -> None:
    out = escape(HOSTILE)
    assert "<" not in out and ">" not in out
    assert not MENTION_OR_LINK.search(out)
    assert "&amp;lt;b&amp;gt;" in out  # pre-escaped text stays literally visible
    assert "https://evil.example" not in out and "www.evil-host.com" not in out


def test_hostile_alert_renders_inert() -> None:
    alert = slack_alert(
        title="<!channel> <https://evil.example|Official statement> @here",
        body=HOSTILE,
        summary="Summary <@U024BE7LH> @everyone",
    )
    payload = render(notification([alert]))
    check_limits(payload)
    ours = "<https://www.nrc.nl/nieuws/2024/05/01/camera-export|"
    for text in texts(payload):
        assert not MENTION_OR_LINK.search(text.replace(ours, "")), text
        assert "<https://evil.example" not in text
    # the only link is ours, to the source
    links = re.findall(r"<([^<>|]+)\|", json.dumps(payload, ensure_ascii=False))
    assert links and set(links) == {"https://www.nrc.nl/nieuws/2024/05/01/camera-export"}


def test_bold_terms_escapes_first_then_bolds() -> None:
    text = "A <b> firm sold Facial  Recognition to China & friends"
    out = bold_terms(text, ["facial recognition", "China", ""])
    assert out == "A &lt;b&gt; firm sold *Facial  Recognition* to *China* &amp; friends"
    assert bold_terms("x <!here> y", ["<!here>"]) == "x *&lt;!here&gt;* y"
    assert bold_terms("camera cameras", ["camera", "cameras"]) == "*camera* *cameras*"


def test_evidence_snippet_bolds_matched_terms() -> None:
    payload = render(notification([slack_alert()]))
    joined = "\n".join(texts(payload))
    assert "*facial recognition* cameras to the police in Xinjiang, *China*" in joined
    assert "_title_: Dutch firm sold *facial recognition* cameras to *Chinese* police" in joined


def test_single_alert_layout() -> None:
    payload = render(notification([slack_alert()]))
    check_limits(payload)
    header, section = payload["blocks"][0], payload["blocks"][1]
    assert header["type"] == "header" and header["text"]["text"].startswith("🟠 High: Dutch firm sold")
    text = section["text"]["text"]
    assert text.startswith("🟠 *HIGH* · Facial recognition exported to China")
    assert f"*<https://www.nrc.nl/nieuws/2024/05/01/camera-export|{TITLE}>*" in text
    assert "🇨🇳 China (CN)" in text
    assert "*Technologies:* facial recognition" in text
    assert "*Vendors:* hikvision" in text and "*Control codes:* 5A001.j" in text
    assert payload["text"].startswith("🟠 HIGH: Facial recognition exported")
    assert payload["unfurl_links"] is False


def test_several_sources_about_one_story() -> None:
    alerts = [
        slack_alert("a1", event_id="news-a1", url="https://www.nrc.nl/a"),
        slack_alert("a2", event_id="news-a2", url="https://www.lemonde.fr/b", severity=Severity.CRITICAL),
        slack_alert("a3", event_id="news-a3", url="https://www.volkskrant.nl/c"),
    ]
    payload = render(notification(alerts))
    check_limits(payload)
    assert payload["blocks"][0]["text"]["text"].startswith("🔴 3 sources report: Dutch firm")
    joined = "\n".join(texts(payload))
    assert "3 sources report" in payload["text"]
    for url in ("https://www.nrc.nl/a", "https://www.lemonde.fr/b", "https://www.volkskrant.nl/c"):
        assert f"<{url}|" in joined


def test_accented_titles_are_unharmed() -> None:
    titles = [
        "Empresa portuguesa vendeu câmeras de reconhecimento facial à polícia chinesa",
        "Nederlands bedrijf verkocht gezichtsherkenning aan Chinese politie: ‘geen vergunning nodig’",
        "Une société française a vendu des logiciels d’écoute à l’Égypte",
    ]
    for title in titles:
        payload = render(notification([slack_alert(title=title)]))
        joined = "\n".join(texts(payload))
        assert title in joined
        assert title in json.loads(json.dumps(payload, ensure_ascii=False))["blocks"][0]["text"]["text"]


def test_country_names_and_flags() -> None:
    assert country("CN") == "🇨🇳 China (CN)"
    assert country("AE") == "🇦🇪 United Arab Emirates (AE)"
    assert country("EG") == "🇪🇬 Egypt (EG)"


def test_urls_are_linked_only_when_safe() -> None:
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("ftp://example.org/x") is None
    assert safe_url("https://x.example/a|b<c>d?q=1&r=2") == "https://x.example/a%7Cb%3Cc%3Ed?q=1&amp;r=2"
    payload = render(notification([slack_alert(url="javascript:alert(1)")]))
    assert "javascript" not in json.dumps(payload)
    assert TITLE in payload["blocks"][1]["text"]["text"]


def test_huge_snippet_and_title_stay_within_limits() -> None:
    body = ("Surveillance exports continue. " * 330) + "facial recognition sold to China. " + "x" * 10_000
    assert len(body) > 20_000
    alert = slack_alert(title="T" * 2000 + " facial recognition", body=body, summary="S&<" * 2000)
    payload = render(notification([alert]))
    check_limits(payload)
    joined = "\n".join(texts(payload))
    assert "*facial recognition* sold to *China*" in joined
    assert len(json.dumps(payload)) < 40_000


def test_sixty_alert_digest_respects_limits() -> None:
    destinations = ["CN", "AE", "EG", "SA", "RU", "IR", "MM", "BY", "ET", "VN", "PK", "BH"]
    alerts = [
        slack_alert(
            f"a{i}",
            event_id=f"news-a{i}",
            title=f"Story {i}: " + TITLE,
            body=BODY + " " + ("Lorem ipsum & <x> " * 200),
            severity=list(Severity)[i % 4],
            destinations=(destinations[i % len(destinations)], destinations[(i + 5) % len(destinations)]),
            technologies=("facial-recognition", "spyware" if i % 2 else "imsi-catcher"),
        )
        for i in range(60)
    ]
    payload = render(
        notification(alerts, kind="digest", period_start=NOW - dt.timedelta(days=1), period_end=NOW)
    )
    check_limits(payload)
    joined = "\n".join(texts(payload))
    assert payload["blocks"][0]["text"]["text"] == "📬 ExportWatch digest: 60 alerts"
    assert "*By destination:* " in joined and "🇨🇳 China (CN) 10" in joined
    assert "facial recognition 60" in joined and "spyware 30" in joined
    assert "🔴 15 critical" in joined
    more = re.search(r"and (\d+) more alerts", joined)
    assert more is not None
    shown = sum(1 for b in payload["blocks"] if b["type"] == "section" and "*<https://" in b["text"]["text"])
    assert shown + int(more.group(1)) == 60
    # the most severe alerts come first
    first = next(b for b in payload["blocks"] if b["type"] == "section" and "*<https://" in b["text"]["text"])
    assert first["text"]["text"].startswith("🔴 *CRITICAL*")


def test_empty_digest_and_test_message() -> None:
    digest = render(notification([], kind="digest"))
    check_limits(digest)
    assert "No alerts in this period." in "\n".join(texts(digest))
    test = render(notification([], kind="test"))
    check_limits(test)
    assert test["blocks"][0]["text"]["text"] == "✅ ExportWatch test message"
    assert "*Amnesty tech team*" in test["blocks"][1]["text"]["text"]
    assert len(test["blocks"]) <= 3


def test_many_alerts_about_one_story_are_truncated() -> None:
    alerts = [
        slack_alert(f"a{i}", event_id=f"news-a{i}", url=f"https://news{i}.example/story") for i in range(40)
    ]
    payload = render(notification(alerts))
    check_limits(payload)
    joined = "\n".join(texts(payload))
    assert "and 25 more sources" in joined
    assert re.search(r"and \d+ more alerts", joined)


def test_payload_is_json_serialisable() -> None:
    for kind in ("alerts", "digest", "test"):
        payload = render(notification([slack_alert()], kind=kind))
        assert json.loads(json.dumps(payload)) == payload
