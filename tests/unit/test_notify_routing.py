"""Routing: which subscriptions want an alert, keyword matching, story keys and silences."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from schemas import Alert, Evidence, EvidenceKind, Severity
from services.notify.core.model import Filters, Silence, Subscription
from services.notify.core.routing import fold, routes, silencing, story_key, wants

NOW = dt.datetime(2026, 5, 4, 12, 0, tzinfo=dt.UTC)


def make_alert(**kw: Any) -> Alert:
    snippet = "EU firms sold facial recognition to police in China."
    base: dict[str, Any] = {
        "id": "alert-1",
        "event_type": "news_article",
        "event_id": "n1",
        "title": "EU firms sold surveillance",
        "url": "https://example.org/stingray",
        "severity": Severity.HIGH,
        "score": 0.9,
        "technologies": ["facial-recognition"],
        "destinations": ["CN"],
        "entities": ["acme"],
        "evidence": [
            Evidence(
                field="body",
                start=20,
                end=38,
                text="facial recognition",
                snippet=snippet,
                kind=EvidenceKind.TECHNOLOGY,
                ref="facial-recognition",
            )
        ],
        "rule": "news.technology_destination",
        "summary": "Facial recognition and China in the same sentence.",
        "watchlist_version": "wl-test",
        "created_at": NOW,
    }
    return Alert.model_validate(base | kw)


def with_snippet(snippet: str, **kw: Any) -> Alert:
    alert = make_alert(**kw)
    return alert.model_copy(update={"evidence": [alert.evidence[0].model_copy(update={"snippet": snippet})]})


@pytest.mark.parametrize(
    ("filters", "alert", "expected"),
    [
        ({}, make_alert(), True),
        # severity: at least min_severity
        ({"min_severity": "high"}, make_alert(), True),
        ({"min_severity": "critical"}, make_alert(), False),
        ({"min_severity": "medium"}, make_alert(severity="low"), False),
        ({"min_severity": "low"}, make_alert(severity="low"), True),
        # event types
        ({"event_types": ["news_article"]}, make_alert(), True),
        ({"event_types": ["licence_record"]}, make_alert(), False),
        ({"event_types": ["licence_record", "news_article"]}, make_alert(), True),
        # technologies: OR within the kind, ids compared case-insensitively
        ({"technologies": ["spyware", "Facial-Recognition"]}, make_alert(), True),
        ({"technologies": ["spyware"]}, make_alert(), False),
        ({"technologies": ["spyware"]}, make_alert(technologies=[]), False),
        # destinations
        ({"destinations": ["cn"]}, make_alert(), True),
        ({"destinations": ["AE", "RU"]}, make_alert(), False),
        ({"destinations": ["AE", "CN"]}, make_alert(destinations=["RU", "CN"]), True),
        # entities
        ({"entities": ["ACME"]}, make_alert(), True),
        ({"entities": ["globex"]}, make_alert(), False),
        # AND across kinds
        ({"technologies": ["facial-recognition"], "destinations": ["CN"]}, make_alert(), True),
        ({"technologies": ["facial-recognition"], "destinations": ["AE"]}, make_alert(), False),
        ({"technologies": ["facial-recognition"], "min_severity": "critical"}, make_alert(), False),
        ({"destinations": ["CN"], "keyword": "nothing like it"}, make_alert(), False),
    ],
)
def test_filters(filters: dict[str, Any], alert: Alert, expected: bool) -> None:
    assert wants(Filters.model_validate(filters), alert) is expected


@pytest.mark.parametrize(
    ("keyword", "alert", "expected"),
    [
        # whole words, case ignored
        ("stingray", make_alert(title="Police bought a Stingray's successor"), True),
        ("STINGRAY", make_alert(title="stingray"), True),
        ("stingray", make_alert(title="Stingrays everywhere"), False),
        ("ai", make_alert(title="The minister said nothing"), False),
        ("ai", make_alert(title="AI cameras for the border"), True),
        ("ai", make_alert(title="Cameras (AI) sold"), True),
        ("ray", make_alert(title="x-ray scanners"), True),
        # accents ignored both ways, and compatibility forms
        ("defense", make_alert(title="Ministère de la Défense"), True),
        ("défense", make_alert(title="DEFENSE ministry"), True),
        ("strasse", make_alert(title="Sold from the Hauptstraße office"), False),
        ("hauptstrasse", make_alert(title="Sold from the Hauptstraße office"), True),
        ("ﬁnfisher", make_alert(title="FinFisher again"), True),
        ("nso's", make_alert(title="NSO’s Pegasus"), True),
        # phrases: any whitespace between the words, but all the words, in order
        ("facial recognition", with_snippet("sold facial\n  recognition systems"), True),
        ("facial   recognition", make_alert(), True),
        ("recognition facial", make_alert(), False),
        ("facial recognitions", make_alert(), False),
        # where: title, summary, every evidence snippet; not the URL or ids
        ("police", make_alert(), True),  # only in the snippet
        ("same sentence", make_alert(), True),  # only in the summary
        ("example", make_alert(), False),  # only in the URL
        ("acme", make_alert(), False),  # only an entity id
        ("c++", make_alert(title="Written in C++ by the vendor"), True),
        ("police", make_alert(evidence=[]), False),
    ],
)
def test_keyword(keyword: str, alert: Alert, expected: bool) -> None:
    assert wants(Filters(keyword=keyword), alert) is expected


@pytest.mark.parametrize(
    ("text", "folded"),
    [("Défense", "defense"), ("STRASSE", "strasse"), ("Straße", "strasse"), ("Ǆ", "dz"), ("NSO’s", "nso's")],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


@pytest.mark.parametrize(
    ("duplicate_of", "expected"), [(None, "n1"), ("n0", "n0")], ids=["original", "near-duplicate"]
)
def test_story_key(duplicate_of: str | None, expected: str) -> None:
    assert story_key(make_alert(duplicate_of=duplicate_of)) == expected


def make_subscription(ident: str, owner: str = "amnesty", **kw: Any) -> Subscription:
    base: dict[str, Any] = {
        "id": ident,
        "owner": owner,
        "name": f"subscription {ident}",
        "channel": {"type": "console"},
        "created_at": NOW,
        "updated_at": NOW,
    }
    return Subscription.model_validate(base | kw)


def test_routes_keeps_enabled_subscriptions_that_want_the_alert_in_order() -> None:
    subscriptions = [
        make_subscription("z-any"),
        make_subscription("cn", filters={"destinations": ["CN"]}),
        make_subscription("ae", filters={"destinations": ["AE"]}),
        make_subscription("off", enabled=False),
        make_subscription("kw", filters={"keyword": "police"}),
        make_subscription("critical", filters={"min_severity": "critical"}),
        make_subscription("a-any", owner="pi"),
    ]
    assert [s.id for s in routes(subscriptions, make_alert())] == ["z-any", "cn", "kw", "a-any"]
    assert routes([], make_alert()) == []


def make_silence(ident: str, owner: str = "amnesty", **kw: Any) -> Silence:
    base: dict[str, Any] = {
        "id": ident,
        "owner": owner,
        "filters": {},
        "starts_at": NOW - dt.timedelta(hours=1),
        "ends_at": NOW + dt.timedelta(hours=1),
        "comment": "known story",
        "created_by": owner,
        "created_at": NOW - dt.timedelta(hours=1),
    }
    return Silence.model_validate(base | kw)


@pytest.mark.parametrize(
    ("silence", "mutes"),
    [
        (make_silence("s"), True),
        (make_silence("s", filters={"destinations": ["CN"]}), True),
        (make_silence("s", filters={"destinations": ["AE"]}), False),
        (make_silence("s", filters={"keyword": "police"}), True),
        (make_silence("s", filters={"min_severity": "critical"}), False),
        # whose: the subscription's owner, or an admin's global silence
        (make_silence("s", owner="pi"), False),
        (make_silence("s", owner="*"), True),
        (make_silence("s", owner="*", subscription_id="other"), False),
        # which subscription: all of the owner's, or this one
        (make_silence("s", subscription_id="sub-1"), True),
        (make_silence("s", subscription_id="sub-2"), False),
        # when: starts_at <= now < ends_at
        (make_silence("s", starts_at=NOW), True),
        (make_silence("s", starts_at=NOW + dt.timedelta(seconds=1)), False),
        (make_silence("s", ends_at=NOW), False),
        (make_silence("s", ends_at=NOW + dt.timedelta(seconds=1)), True),
    ],
)
def test_silencing(silence: Silence, mutes: bool) -> None:
    subscription = make_subscription("sub-1")
    result = silencing([silence], subscription, make_alert(), NOW)
    assert (result is silence) if mutes else (result is None)


def test_silencing_returns_the_first_silence_that_mutes() -> None:
    silences = [
        make_silence("expired", ends_at=NOW - dt.timedelta(minutes=1)),
        make_silence("other-owner", owner="pi"),
        make_silence("first"),
        make_silence("second", owner="*"),
    ]
    found = silencing(silences, make_subscription("sub-1"), make_alert(), NOW)
    assert found is not None and found.id == "first"
    assert silencing([], make_subscription("sub-1"), make_alert(), NOW) is None
