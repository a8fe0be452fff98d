"""The console's pure parts: matched words found in their snippets, the weekly chart's bars, API
problems placed next to form fields, forms turned into API bodies, the TLS decision for the cookie,
the sign-in throttle, where a sign-in may lead, and control codes in plain words."""

from __future__ import annotations

import datetime as dt

import pytest
from starlette.requests import Request

from schemas import Evidence, EvidenceKind
from schemas.vocabulary import describe_control_code
from services.notify.console.pages import _local
from services.notify.console.security import Throttle, over_tls
from services.notify.console.views import (
    bars,
    field_label,
    field_of,
    highlight,
    passages,
    placed,
    subscription_body,
)
from services.notify.core.render import safe_link as web_link


def evidence(text: str, snippet: str) -> Evidence:
    return Evidence(
        field="body",
        start=0,
        end=len(text),
        text=text,
        snippet=snippet,
        kind=EvidenceKind.TECHNOLOGY,
        ref="x",
    )


@pytest.mark.parametrize(
    ("text", "snippet", "parts"),
    [
        (
            "spyware",
            "Sold spyware to <b>them</b>",
            [("Sold ", False), ("spyware", True), (" to <b>them</b>", False)],
        ),
        ("Pegasus", "pegasus was found", [("pegasus", True), (" was found", False)]),
        ("IMSI", "no match here", [("no match here", False), ("IMSI", True)]),
        ("whole", "whole", [("whole", True)]),
    ],
)
def test_highlight_marks_the_matched_text_in_its_snippet(
    text: str, snippet: str, parts: list[tuple[str, bool]]
) -> None:
    assert highlight(evidence(text, snippet)) == parts


def test_bars_scale_to_the_busiest_week() -> None:
    weeks = [(dt.date(2026, 1, 5), 2), (dt.date(2026, 1, 12), 4), (dt.date(2026, 1, 19), 0)]
    drawn = bars(weeks)
    assert [b.count for b in drawn] == [2, 4, 0]
    assert drawn[1].height > drawn[0].height > drawn[2].height == 0
    assert drawn[1].y + drawn[1].height == drawn[0].y + drawn[0].height  # one baseline
    assert bars([]) == []


def test_api_problems_land_next_to_their_fields() -> None:
    assert field_of("channel.webhook.url") == "channel_url"
    assert field_of("filters.technologies[0]") == "technologies"
    assert field_of("filters.entities.1") == "vendors"
    assert field_of("something.else") == "form"
    assert placed([{"location": "name", "message": "too short"}]) == {"name": ["too short"]}


def test_a_subscription_form_becomes_the_api_body_and_blank_secrets_are_left_out() -> None:
    form = {
        "name": [" Gulf "],
        "channel_type": ["webhook"],
        "channel_url": [""],
        "channel_secret": [""],
        "technologies": ["spyware", ""],
        "destinations": ["AE", "SA"],
        "min_severity": ["high"],
        "keyword": [""],
    }
    body = subscription_body(form, editing=True)
    assert body["channel"] == {"type": "webhook"}
    assert body["name"] == "Gulf" and body["mode"] == "immediate"
    assert body["filters"]["technologies"] == ["spyware"] and body["filters"]["keyword"] is None
    email = subscription_body({"channel_type": ["email"], "channel_to": ["a@x.org,\nb@x.org"]}, editing=False)
    assert email["channel"]["to"] == ["a@x.org", "b@x.org"]


def request(scheme: str, headers: dict[str, str]) -> Request:
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "scheme": scheme, "headers": raw, "path": "/", "server": ("x", 80)})


def test_the_cookie_is_secure_over_tls_or_behind_a_trusted_proxy_only() -> None:
    assert over_tls(request("https", {}), False)
    assert not over_tls(request("http", {}), True)
    assert over_tls(request("http", {"x-forwarded-proto": "https"}), True)
    # uvicorn rewrites the scheme from the header itself: not trusted unless the setting says so.
    assert not over_tls(request("https", {"x-forwarded-proto": "https"}), False)


def test_sign_in_guesses_are_throttled_per_address() -> None:
    now = [0.0]
    throttle = Throttle(3, clock=lambda: now[0])
    for _ in range(3):
        assert not throttle.blocked("10.0.0.1")
        throttle.failed("10.0.0.1")
    assert throttle.blocked("10.0.0.1") and not throttle.blocked("10.0.0.2")
    now[0] = 61.0
    assert not throttle.blocked("10.0.0.1")


@pytest.mark.parametrize(
    ("given", "safe"),
    [("/alerts/x", "/alerts/x"), ("//evil.example/", "/"), ("https://evil.example/", "/"), ("/\\evil", "/")],
)
def test_a_sign_in_leads_only_to_a_page_of_this_site(given: str, safe: str) -> None:
    assert _local(given) == safe


def test_control_codes_are_described_by_their_longest_listed_prefix() -> None:
    assert "IMSI" in (describe_control_code("5A001.f.4") or "")
    assert "internet traffic" in (describe_control_code("5a001.j") or "")
    assert describe_control_code("5A001.x") == describe_control_code("5A001")
    assert describe_control_code("ML11") is None
    assert describe_control_code("5A0011") is None


def test_words_found_in_one_sentence_are_read_once_with_every_word_marked() -> None:
    sentence = "Forscher fanden in Minsk eine Spionagesoftware, die einem Staatstrojaner gleicht."
    found = passages(
        [
            evidence("Minsk", sentence),
            evidence("Spionagesoftware", sentence),
            evidence("staatstrojaner", sentence),  # case differs from the snippet
            evidence("Überwachung", "Überwachung in Belarus"),
        ]
    )
    assert len(found) == 2
    first = found[0]
    assert [e.text for e in first.words] == ["Minsk", "Spionagesoftware", "staatstrojaner"]
    assert [p for p, marked in first.parts if marked] == ["Minsk", "Spionagesoftware", "Staatstrojaner"]
    assert "".join(p for p, _ in first.parts) == sentence
    assert found[1].parts == [("Überwachung", True), (" in Belarus", False)]


def test_overlapping_and_repeated_words_are_marked_once_each() -> None:
    snippet = "spyware and more spyware, facial recognition"
    found = passages(
        [
            evidence("spyware", snippet),
            evidence("spyware", snippet),
            evidence("facial recognition", snippet),
            evidence("recognition", snippet),
        ]
    )
    assert [p for p, marked in found[0].parts if marked] == ["spyware", "spyware", "facial recognition"]


def test_a_snippet_without_its_word_still_shows_the_word() -> None:
    [alone] = passages([evidence("Pegasus", "cut elsewhere…")])
    assert alone.parts == [("cut elsewhere…", False), ("Pegasus", True)]


@pytest.mark.parametrize(
    ("url", "link"),
    [
        ("https://example.org/a", "https://example.org/a"),
        ("javascript:alert(1)", None),
        (" JavaScript:alert(1)", None),
        ("data:text/html,x", None),
        ("//example.org", None),
        (None, None),
    ],
)
def test_only_web_addresses_become_links(url: str | None, link: str | None) -> None:
    assert web_link(url) == link


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("body", "the article"),
        ("items.0.control_code", "the goods, line 1: control code"),
        ("items.11.description", "the goods, line 12: description"),
        ("destination_country", "the destination country"),
        ("some_new_field", "some new field"),
    ],
)
def test_event_fields_are_named_in_words(path: str, words: str) -> None:
    assert field_label(path) == words


def test_overlapping_windows_of_one_long_sentence_become_one_passage() -> None:
    sentence = (
        "Die erste Ausbaustufe der Sicheren Stadt hatte Tadschikistan bereits 2013 beschlossen: damals "
        "installierte Huawei gut 800 Kameras in Duschanbe, bezahlt mit einem Kredit der Exportbank"
    )
    first = sentence[:120] + "…"
    second = "…" + sentence[40:]
    found = passages(
        [evidence("Sicheren Stadt", first), evidence("Huawei", second), evidence("Kredit", second)]
    )
    assert len(found) == 1
    [one_passage] = found
    assert "".join(p for p, _ in one_passage.parts) == sentence
    assert [p for p, marked in one_passage.parts if marked] == ["Sicheren Stadt", "Huawei", "Kredit"]
    apart = passages([evidence("Minsk", "…in Minsk gefunden…"), evidence("Huawei", second)])
    assert len(apart) == 2  # too little in common: two passages
