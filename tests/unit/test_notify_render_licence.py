"""A licence alert's facts (exporter, end user, value, decision) in the text, e-mail and Slack
renderings: one short line, only when the alert carries them, hostile names harmless."""

from __future__ import annotations

import datetime as dt
import json

from schemas import Alert
from schemas.events import Decision, LicenceFacts
from services.notify.core import slack
from services.notify.core.render import licence_facts, render_text
from services.notify.core.render_html import render_notification_html
from tests.alerts import make_alert
from tests.unit.test_notify_render import make_notification

FACTS = LicenceFacts(
    authority="UK ECJU (via CAAT)",
    licensing_country="GB",
    destination_name="Egypt",
    exporter="Acme Intercept Ltd",
    end_user="Ministry of Interior",
    value=120000.0,
    currency="GBP",
    decision=Decision.GRANTED,
    decided_on=dt.date(2025, 11, 3),
)
LINE = (
    "exporter Acme Intercept Ltd",
    "end user Ministry of Interior",
    "value 120,000 GBP",
    "decision granted on 2025-11-03",
)


def licence_alert(facts: LicenceFacts | None = FACTS) -> Alert:
    return make_alert(event_type="licence_record", licence=facts, source="UK ECJU (via CAAT)")


def test_the_facts_of_a_licence_in_reading_order() -> None:
    assert licence_facts(licence_alert()) == list(LINE)


def test_only_what_was_published_is_said() -> None:
    bare = FACTS.model_copy(update={"exporter": None, "end_user": None, "value": None, "decided_on": None})
    assert licence_facts(licence_alert(bare)) == ["decision granted"]
    cents = FACTS.model_copy(update={"value": 1234.5, "currency": None})
    assert "value 1,234.50" in licence_facts(licence_alert(cents))


def test_news_alerts_and_alerts_without_facts_are_rendered_as_before() -> None:
    assert licence_facts(make_alert()) == []
    assert licence_facts(licence_alert(None)) == []
    assert "licence:" not in render_text(make_alert())


def test_text_has_one_licence_line() -> None:
    lines = [x for x in render_text(licence_alert()).splitlines() if x.startswith("  licence: ")]
    assert lines == ["  licence: " + " | ".join(LINE)]


def test_html_shows_the_facts_escaped() -> None:
    hostile = FACTS.model_copy(update={"exporter": "<script>alert(1)</script> Ltd\nX"})
    page = render_notification_html(make_notification([licence_alert(hostile)]))
    assert "<script>" not in page
    assert "Licence: exporter &lt;script&gt;alert(1)&lt;/script&gt; Ltd X, end user Ministry" in page


def test_slack_shows_the_facts_escaped() -> None:
    hostile = FACTS.model_copy(update={"end_user": "<!channel> @here"})
    text = json.dumps(slack.render(make_notification([licence_alert(hostile)])), ensure_ascii=False)
    assert "*Licence:* exporter Acme Intercept Ltd, end user &lt;!channel&gt;" in text
    assert "<!channel>" not in text


def test_a_long_name_is_cut() -> None:
    long = FACTS.model_copy(update={"exporter": "Acme " * 100})
    exporter = licence_facts(licence_alert(long))[0]
    assert len(exporter) <= len("exporter ") + 120 and exporter.endswith("…")
