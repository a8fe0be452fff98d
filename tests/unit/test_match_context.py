"""Alerts carry their context: the news source and language, or the licence's authority and facts."""

from __future__ import annotations

import datetime as dt

from schemas.events import Decision, LicenceFacts, LicenceItem, LicenceRecord
from services.match.core.alerts import licence_facts
from services.match.core.engine import Matcher
from tests.unit.test_match_rules import news, only_alert


def test_news_alert_carries_its_source_and_language(matcher: Matcher) -> None:
    alert = only_alert(matcher, news("The firm sold facial recognition to China.", language="en"))
    assert alert is not None
    assert (alert.source, alert.language, alert.licence) == ("test", "en", None)


def test_news_alert_of_an_unknown_language_says_none(matcher: Matcher) -> None:
    alert = only_alert(matcher, news("The firm sold facial recognition to China."))
    assert alert is not None
    assert alert.source == "test"
    assert alert.language is None


def record(**extra: object) -> LicenceRecord:
    fields: dict[str, object] = {
        "id": "lic-ctx-1",
        "authority": "UK ECJU (via CAAT)",
        "licensing_country": "GB",
        "destination_country": "EG",
        "destination_name": "Egypt",
        "exporter": "Acme Intercept Ltd",
        "end_user": "Ministry of Interior",
        "items": [LicenceItem(control_code="5A001.j", description="IP network surveillance")],
        "value": 120000.0,
        "currency": "GBP",
        "decision": Decision.GRANTED,
        "decided_on": dt.date(2025, 11, 3),
        "source_url": "https://example.org/licences",
    }
    fields.update(extra)
    return LicenceRecord.model_validate(fields)


def test_licence_alert_carries_the_authority_and_every_fact(matcher: Matcher) -> None:
    alert = only_alert(matcher, record())
    assert alert is not None
    assert alert.source == "UK ECJU (via CAAT)"
    assert alert.language is None
    assert alert.licence == LicenceFacts(
        authority="UK ECJU (via CAAT)",
        licensing_country="GB",
        destination_name="Egypt",
        exporter="Acme Intercept Ltd",
        end_user="Ministry of Interior",
        items=[LicenceItem(control_code="5A001.j", description="IP network surveillance")],
        value=120000.0,
        currency="GBP",
        decision=Decision.GRANTED,
        decided_on=dt.date(2025, 11, 3),
    )


def test_licence_facts_keep_what_was_not_published_as_none() -> None:
    facts = licence_facts(
        record(
            exporter=None, end_user=None, value=None, currency=None, decided_on=None, destination_name=None
        )
    )
    assert (facts.exporter, facts.end_user, facts.value, facts.currency, facts.decided_on) == (None,) * 5
    assert facts.destination_name is None
    assert facts.decision is Decision.GRANTED


def test_licence_facts_items_are_a_copy_not_the_record_list() -> None:
    event = record()
    facts = licence_facts(event)
    assert facts.items == event.items
    assert facts.items is not event.items
