"""Notify on the in-memory broker: alerts on the alerts topic in, recorded in the delivery log (SQLite
in a temporary folder) for the subscriptions that want them, and sent by the dispatcher; what is not an
alert is dead-lettered."""

from __future__ import annotations

import json
from pathlib import Path

from schemas import DeadLetter, topics
from services.common.runtime import Service
from services.common.settings import CommonSettings
from services.notify.app import create_service
from services.notify.settings import NotifySettings
from tests.alerts import make_alert
from tests.component.harness import Recorder, on_test_broker
from tests.conftest import eventually


def notify_service(tmp_path: Path) -> Service:
    """Notify with one subscription, the built-in file channel (every alert to alerts.jsonl)."""
    return create_service(
        NotifySettings(
            common=CommonSettings(kafka_embedded=False),
            database_url=f"sqlite:///{tmp_path / 'notify.db'}",
            console=False,
            file_path=tmp_path / "alerts.jsonl",
            builtin_min_severity="low",
            group_wait_seconds=0,
        )
    )


async def test_an_alert_is_recorded_once_however_often_it_arrives(tmp_path: Path) -> None:
    service = notify_service(tmp_path)
    alert = make_alert("alert-c1")
    async with on_test_broker(service) as broker:
        for _ in range(2):  # redelivered after a rebalance: one notification still
            await broker.publish(alert.model_dump_json().encode(), topic=topics.ALERTS, key=b"alert-c1")
        counts, _ = await service.state["store"].deliveries.queue_stats()
    assert sum(counts.values()) == 1, counts


async def test_the_dispatcher_delivers_what_the_handler_recorded(tmp_path: Path) -> None:
    service = notify_service(tmp_path)
    alert = make_alert("alert-c2", event_id="news-c2")
    async with on_test_broker(service) as broker:
        await broker.publish(alert.model_dump_json().encode(), topic=topics.ALERTS, key=b"alert-c2")
        store = service.state["store"]
        assert await service.state["dispatcher"].dispatch_once() == 1  # the send runs in a task of its own

        async def delivered() -> bool:
            counts, _ = await store.deliveries.queue_stats()
            return bool(counts == {"delivered": 1})

        await eventually(delivered, timeout=10, interval=0.01)
    lines = (tmp_path / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    (notification,) = [json.loads(line) for line in lines]
    assert (notification["subscription_id"], notification["story"]) == ("builtin-file", "news-c2")
    assert [a["id"] for a in notification["alerts"]] == ["alert-c2"]


async def test_what_is_not_an_alert_is_dead_lettered_and_nothing_is_recorded(tmp_path: Path) -> None:
    service = notify_service(tmp_path)
    out = Recorder(service.broker, topics.DEADLETTER)
    async with on_test_broker(service) as broker:
        await broker.publish(b'{"type": "alert", "id": 7}', topic=topics.ALERTS, key=b"bad-1")
        counts, _ = await service.state["store"].deliveries.queue_stats()
    assert counts == {}
    (letter,) = [DeadLetter.model_validate_json(r.value) for r in out.on(topics.DEADLETTER)]
    assert (letter.service, letter.source_topic, letter.key, letter.reason) == (
        "notify",
        topics.ALERTS,
        "bad-1",
        "invalid_event",
    )
