"""Match on the in-memory broker: events on the news and licence topics in, alerts and dead letters
out, through the subscriber and handler create_service wires."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from schemas import Alert, DeadLetter, topics
from schemas.events import NewsArticle
from services.common.settings import CommonSettings
from services.match.app import create_service
from services.match.core.engine import Matcher
from services.match.settings import MatchSettings
from tests.component.harness import Recorder, on_test_broker

NOW = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)


def article(event_id: str, body: str) -> bytes:
    event = NewsArticle(
        id=event_id,
        source="test",
        url=f"https://news.example.org/{event_id}",
        title="Exports",
        body=body,
        language="en",
        published_at=NOW,
    )
    return event.model_dump_json().encode()


ALERTING = article("n-1", "A European firm sold spyware to the police in Iran.")
QUIET = article("n-2", "The minister visited a trade fair.")


async def test_an_event_that_matches_gives_one_alert_keyed_by_its_id(matcher: Matcher) -> None:
    settings = MatchSettings(common=CommonSettings(kafka_embedded=False))
    service = create_service(settings, matcher, sighup=False)
    out = Recorder(service.broker, topics.ALERTS, topics.DEADLETTER)
    async with on_test_broker(service) as broker:
        await broker.publish(ALERTING, topic=topics.NEWS, key=b"n-1")
        await broker.publish(QUIET, topic=topics.NEWS, key=b"n-2")
    (record,) = out.on(topics.ALERTS)
    alert = Alert.model_validate_json(record.value)
    assert record.key == alert.id.encode()
    assert (alert.event_id, alert.destinations, alert.watchlist_version) == ("n-1", ["IR"], matcher.version)
    assert "spyware" in alert.technologies
    assert out.on(topics.DEADLETTER) == []


async def test_a_licence_record_is_matched_from_its_own_topic(matcher: Matcher) -> None:
    from tests.unit.test_match_licences import licence

    settings = MatchSettings(common=CommonSettings(kafka_embedded=False))
    service = create_service(settings, matcher, sighup=False)
    out = Recorder(service.broker, topics.ALERTS)
    record = licence("5A001.j", "EG", name="Egypt")
    async with on_test_broker(service) as broker:
        await broker.publish(record.model_dump_json().encode(), topic=topics.LICENCES, key=record.id.encode())
    alerts = [Alert.model_validate_json(r.value) for r in out.on(topics.ALERTS)]
    assert [(a.event_type, a.event_id) for a in alerts] == [("licence_record", record.id)]


async def test_what_is_not_an_event_is_dead_lettered_with_where_it_came_from(matcher: Matcher) -> None:
    settings = MatchSettings(common=CommonSettings(kafka_embedded=False))
    service = create_service(settings, matcher, sighup=False)
    out = Recorder(service.broker, topics.ALERTS, topics.DEADLETTER)
    async with on_test_broker(service) as broker:
        await broker.publish(b"{oops", topic=topics.NEWS, key=b"bad-1")
        await broker.publish(json.dumps({"type": "tweet"}).encode(), topic=topics.NEWS, key=b"bad-2")
    letters = [DeadLetter.model_validate_json(r.value) for r in out.on(topics.DEADLETTER)]
    assert [(d.service, d.source_topic, d.key, d.reason) for d in letters] == [
        ("match", topics.NEWS, "bad-1", "invalid_json"),
        ("match", topics.NEWS, "bad-2", "unknown_event_type"),
    ]
    assert out.on(topics.ALERTS) == []


async def test_outcomes_are_counted_on_the_service_registry(matcher: Matcher) -> None:
    settings = MatchSettings(common=CommonSettings(kafka_embedded=False))
    service = create_service(settings, matcher, sighup=False)
    async with on_test_broker(service) as broker:
        await broker.publish(ALERTING, topic=topics.NEWS, key=b"n-1")
        await broker.publish(QUIET, topic=topics.NEWS, key=b"n-2")
    value = service.registry.get_sample_value
    events = "exportwatch_match_events_total"
    assert value(events, {"event_type": "news_article", "outcome": "alerted"}) == 1
    assert value(events, {"event_type": "news_article", "outcome": "no_match"}) == 1
    assert value("exportwatch_match_messages_produced_total", {"topic": topics.ALERTS, "outcome": "ok"}) == 1


async def test_faststream_does_not_decode_the_bodies_match_decodes_itself(
    matcher: Matcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The consumer hands the raw records to match's Decoder; FastStream's JSON decoding of every body
    # (issue 20 item 4) must not run at all.
    from faststream.message import decode_message as original

    decoded: list[str] = []

    def counted(msg: Any) -> Any:
        decoded.append(msg.raw_message.topic)
        return original(msg)

    monkeypatch.setattr("faststream.kafka.parser.decode_message", counted)
    settings = MatchSettings(common=CommonSettings(kafka_embedded=False))
    service = create_service(settings, matcher, sighup=False)
    out = Recorder(service.broker, topics.ALERTS, topics.DEADLETTER)
    async with on_test_broker(service) as broker:
        await broker.publish(ALERTING, topic=topics.NEWS, key=b"n-1")
    (record,) = out.on(topics.ALERTS)
    assert Alert.model_validate_json(record.value).event_id == "n-1"
    assert topics.NEWS not in decoded  # only the test's recorder of the alerts topic decodes
