"""Researchers' feedback (services/notify/core/feedback.py): the checks of a judgement, metric labels,
precision per (rule, language), and judged alerts as draft eval cases."""

from __future__ import annotations

import datetime as dt

import pytest

from schemas import Alert, Severity
from schemas.events import Evidence, EvidenceKind, LicenceFacts, LicenceItem
from services.notify.core.feedback import (
    DRAFT_MARK,
    NOT_RELEVANT,
    REASONS,
    RELEVANT,
    Judgement,
    check,
    eval_case,
    eval_cases,
    label_language,
    label_rule,
    precision,
)

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def news_alert(**changes: object) -> Alert:
    body = "The ministry in Cairo bought facial recognition cameras from a French firm."
    fields: dict[str, object] = {
        "id": "news.tech_destination:news-1",
        "event_type": "news_article",
        "event_id": "news-1",
        "title": "Cairo buys cameras",
        "url": "https://example.org/news/1",
        "severity": Severity.HIGH,
        "score": 0.9,
        "destinations": ["EG"],
        "technologies": ["facial-recognition"],
        "evidence": [
            Evidence(
                field="body",
                start=36,
                end=54,
                text="facial recognition",
                snippet=body,
                kind=EvidenceKind.TECHNOLOGY,
                ref="facial-recognition",
            ),
            Evidence(
                field="body",
                start=16,
                end=21,
                text="Cairo",
                snippet=body,
                kind=EvidenceKind.DESTINATION,
                ref="EG",
            ),
            Evidence(
                field="title",
                start=0,
                end=5,
                text="Cairo",
                snippet="Cairo buys cameras",
                kind=EvidenceKind.DESTINATION,
                ref="EG",
            ),
        ],
        "rule": "news.tech_destination",
        "summary": "Facial recognition and Egypt as its destination.",
        "watchlist_version": "test",
        "created_at": NOW,
        "language": "en",
    }
    fields.update(changes)
    return Alert.model_validate(fields)


def licence_alert() -> Alert:
    facts = LicenceFacts(
        authority="Export Control Joint Unit",
        licensing_country="GB",
        destination_name="United Arab Emirates",
        items=[LicenceItem(control_code="5A001j", description="IP network surveillance")],
        value=125000.0,
        currency="GBP",
        decision="granted",
    )
    return news_alert(
        id="licence.code:gb-1",
        event_type="licence_record",
        title="Licence: 5A001j to the UAE",
        url=None,
        destinations=["AE"],
        technologies=["network-surveillance"],
        evidence=[],
        rule="licence.code",
        language=None,
        licence=facts,
    )


def test_the_reasons_have_plain_labels() -> None:
    assert NOT_RELEVANT["wrong_destination"] == "Wrong destination country"
    assert NOT_RELEVANT["not_surveillance"] == "Not surveillance technology"
    assert NOT_RELEVANT["domestic_use"] == "Domestic use, no export"
    assert NOT_RELEVANT["duplicate"] == "Duplicate of another alert"
    assert NOT_RELEVANT["old_news"] == "Old news, not a new deal"
    assert {"wrong_vendor", "other"} <= set(NOT_RELEVANT)
    assert set(REASONS) == set(NOT_RELEVANT) | set(RELEVANT)
    assert all(label and label[0].isupper() for label in REASONS.values())


@pytest.mark.parametrize(
    ("relevant", "reason", "note", "fields"),
    [
        (True, None, None, []),
        (False, "duplicate", "same story as yesterday", []),
        (True, "new_deal", None, []),
        (False, "new_deal", None, ["reason"]),  # a reason for relevant alerts
        (True, "wrong_destination", None, ["reason"]),
        ("yes", "nonsense", 5, ["relevant", "reason", "note"]),
        (None, None, "x" * 2001, ["relevant", "note"]),
    ],
)
def test_check_names_every_problem(relevant: object, reason: object, note: object, fields: list[str]) -> None:
    assert [location for location, _ in check(relevant, reason, note)] == fields


def test_an_unknown_reason_lists_the_known_ones() -> None:
    [(_, message)] = check(False, "boring", None)
    assert "'boring'" in message
    assert all(reason in message for reason in NOT_RELEVANT)


@pytest.mark.parametrize(
    ("language", "label"), [("en", "en"), ("FR", "fr"), (None, "unknown"), ("", "unknown"), ("e1", "unknown")]
)
def test_language_labels(language: str | None, label: str) -> None:
    assert label_language(language) == label


def test_rule_labels_never_carry_free_text() -> None:
    assert label_rule("news.tech_destination") == "news.tech_destination"
    assert label_rule("Robert'); DROP") == "other"
    assert label_rule("x" * 100) == "other"


def test_precision_per_rule_and_language() -> None:
    counts = {
        ("news.tech_destination", "en", True): 3,
        ("news.tech_destination", "en", False): 1,
        ("news.tech_destination", "fr", False): 2,
        ("licence.code", "unknown", True): 5,
        ("news.vendor", "de", True): 0,
    }
    assert precision(counts) == {
        ("news.tech_destination", "en"): 0.75,
        ("news.tech_destination", "fr"): 0.0,
        ("licence.code", "unknown"): 1.0,
    }


def test_a_relevant_news_alert_becomes_a_case_expecting_it() -> None:
    case = eval_case(news_alert(), Judgement(True, "new_deal", None))
    assert case["id"] == "feedback-news.tech_destination-news-1"
    assert case["language"] == "en"
    assert case["source"] == "https://example.org/news/1"
    assert case["why"].startswith(DRAFT_MARK)
    assert "A new deal or licence" in case["why"]
    # The snippets of the body, once each (the title's own evidence is the title).
    assert case["news"] == {
        "title": "Cairo buys cameras",
        "body": "The ministry in Cairo bought facial recognition cameras from a French firm.\n",
    }
    assert case["expect"] == {"alert": True, "technologies": ["facial-recognition"], "destinations": ["EG"]}


def test_a_not_relevant_alert_becomes_a_case_expecting_none() -> None:
    case = eval_case(news_alert(), Judgement(False, "domestic_use", "Police at home, nothing exported"))
    assert case["expect"] == {"alert": False}
    assert "Domestic use, no export" in case["why"]
    assert "Police at home, nothing exported" in case["why"]


def test_without_evidence_the_body_is_the_summary() -> None:
    case = eval_case(news_alert(evidence=[], language="pt"), Judgement(False, None, None))
    assert case["news"]["body"] == "Facial recognition and Egypt as its destination.\n"
    assert case["language"] == "en"  # a language the eval set has
    assert "Another reason" in case["why"]


def test_a_licence_alert_becomes_a_licence_case() -> None:
    case = eval_case(licence_alert(), Judgement(True, None, None))
    assert case["pattern"] == "licence"
    assert "news" not in case and "source" not in case
    assert case["licence"] == {
        "authority": "Export Control Joint Unit",
        "licensing_country": "GB",
        "destination_name": "United Arab Emirates",
        "items": [{"control_code": "5A001j", "description": "IP network surveillance"}],
        "value": 125000.0,
        "currency": "GBP",
        "decision": "granted",
    }
    assert case["expect"] == {"alert": True, "technologies": ["network-surveillance"], "destinations": ["AE"]}


def test_two_researchers_on_one_alert_give_two_ids() -> None:
    alert = news_alert()
    cases = eval_cases([(alert, Judgement(True, None, None)), (alert, Judgement(False, "duplicate", None))])
    assert [c["id"] for c in cases] == [
        "feedback-news.tech_destination-news-1",
        "feedback-news.tech_destination-news-1-1",
    ]


def test_a_licence_alert_without_its_facts_keeps_codes_and_destination() -> None:
    alert = licence_alert().model_copy(update={"licence": None, "control_codes": ["5A001.j"]})
    case = eval_case(alert, Judgement(False, "old_news", None))
    assert case["pattern"] == "licence"
    assert case["licence"] == {"items": [{"control_code": "5A001.j"}], "destination_country": "AE"}
    assert case["expect"] == {"alert": False}
