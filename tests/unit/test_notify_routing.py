"""Routing: which subscriptions want an alert, keyword matching, story keys and silences."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

import pytest

from schemas import Alert
from services.notify.core.model import Filters, Silence, Subscription
from services.notify.core.routing import fold, routes, silencing, story_key, wants
from tests.alerts import make_alert

NOW = dt.datetime(2026, 5, 4, 12, 0, tzinfo=dt.UTC)


routed_alert = partial(
    make_alert,
    event_id="n1",
    title="EU firms sold surveillance",
    body="EU firms sold facial recognition to police in China.",
    url="https://example.org/stingray",
    entities=["acme"],
    rule="news.technology_destination",
    summary="Facial recognition and China in the same sentence.",
    created_at=NOW,
)


def with_snippet(snippet: str, **kw: Any) -> Alert:
    return routed_alert(snippet=snippet, **kw)


@pytest.mark.parametrize(
    ("filters", "alert", "expected"),
    [
        ({}, routed_alert(), True),
        # severity: at least min_severity
        ({"min_severity": "high"}, routed_alert(), True),
        ({"min_severity": "critical"}, routed_alert(), False),
        ({"min_severity": "medium"}, routed_alert(severity="low"), False),
        ({"min_severity": "low"}, routed_alert(severity="low"), True),
        # event types
        ({"event_types": ["news_article"]}, routed_alert(), True),
        ({"event_types": ["licence_record"]}, routed_alert(), False),
        ({"event_types": ["licence_record", "news_article"]}, routed_alert(), True),
        # technologies: OR within the kind, ids compared case-insensitively
        ({"technologies": ["spyware", "Facial-Recognition"]}, routed_alert(), True),
        ({"technologies": ["spyware"]}, routed_alert(), False),
        ({"technologies": ["spyware"]}, routed_alert(technologies=[]), False),
        # destinations
        ({"destinations": ["cn"]}, routed_alert(), True),
        ({"destinations": ["AE", "RU"]}, routed_alert(), False),
        ({"destinations": ["AE", "CN"]}, routed_alert(destinations=["RU", "CN"]), True),
        # entities
        ({"entities": ["ACME"]}, routed_alert(), True),
        ({"entities": ["globex"]}, routed_alert(), False),
        # AND across kinds
        ({"technologies": ["facial-recognition"], "destinations": ["CN"]}, routed_alert(), True),
        ({"technologies": ["facial-recognition"], "destinations": ["AE"]}, routed_alert(), False),
        ({"technologies": ["facial-recognition"], "min_severity": "critical"}, routed_alert(), False),
        ({"destinations": ["CN"], "keyword": "nothing like it"}, routed_alert(), False),
    ],
)
def test_filters(filters: dict[str, Any], alert: Alert, expected: bool) -> None:
    assert wants(Filters.model_validate(filters), alert) is expected


@pytest.mark.parametrize(
    ("keyword", "alert", "expected"),
    [
        # whole words, case ignored
        ("stingray", routed_alert(title="Police bought a Stingray's successor"), True),
        ("STINGRAY", routed_alert(title="stingray"), True),
        ("stingray", routed_alert(title="Stingrays everywhere"), False),
        ("ai", routed_alert(title="The minister said nothing"), False),
        ("ai", routed_alert(title="AI cameras for the border"), True),
        ("ai", routed_alert(title="Cameras (AI) sold"), True),
        ("ray", routed_alert(title="x-ray scanners"), True),
        # accents ignored both ways, and compatibility forms
        ("defense", routed_alert(title="Ministère de la Défense"), True),
        ("défense", routed_alert(title="DEFENSE ministry"), True),
        ("strasse", routed_alert(title="Sold from the Hauptstraße office"), False),
        ("hauptstrasse", routed_alert(title="Sold from the Hauptstraße office"), True),
        ("ﬁnfisher", routed_alert(title="FinFisher again"), True),
        ("nso's", routed_alert(title="NSO’s Pegasus"), True),
        # phrases: any whitespace between the words, but all the words, in order
        ("facial recognition", with_snippet("sold facial\n  recognition systems"), True),
        ("facial   recognition", routed_alert(), True),
        ("recognition facial", routed_alert(), False),
        ("facial recognitions", routed_alert(), False),
        # where: title, summary, every evidence snippet; not the URL or ids
        ("police", routed_alert(), True),  # only in the snippet
        ("same sentence", routed_alert(), True),  # only in the summary
        ("example", routed_alert(), False),  # only in the URL
        ("acme", routed_alert(), False),  # only an entity id
        ("c++", routed_alert(title="Written in C++ by the vendor"), True),
        ("police", routed_alert(evidence=[]), False),
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
    assert story_key(routed_alert(duplicate_of=duplicate_of)) == expected


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
    assert [s.id for s in routes(subscriptions, routed_alert())] == ["z-any", "cn", "kw", "a-any"]
    assert routes([], routed_alert()) == []


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
    result = silencing([silence], subscription, routed_alert(), NOW)
    assert (result is silence) if mutes else (result is None)


def test_silencing_returns_the_first_silence_that_mutes() -> None:
    silences = [
        make_silence("expired", ends_at=NOW - dt.timedelta(minutes=1)),
        make_silence("other-owner", owner="pi"),
        make_silence("first"),
        make_silence("second", owner="*"),
    ]
    found = silencing(silences, make_subscription("sub-1"), routed_alert(), NOW)
    assert found is not None and found.id == "first"
    assert silencing([], make_subscription("sub-1"), routed_alert(), NOW) is None
