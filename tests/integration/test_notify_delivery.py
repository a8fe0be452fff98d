"""Notify on the real broker and its real database (SQLite and PostgreSQL), against real local HTTP
servers: a receiver that fails with 500, 429 + Retry-After and a timeout before recovering gets the
alert exactly once, signed; a receiver that answers 404 ends dead and is re-driven from the CLI; one
story becomes one notification; invalid alerts are dead-lettered; secrets never leak."""

from __future__ import annotations

import asyncio
import base64
import logging
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from schemas import DeadLetter, Notification, topics
from services.common.settings import CommonSettings
from services.notify.app import create_service
from services.notify.settings import NotifySettings
from services.notify.store.repository import NotifyStore
from tests.alerts import make_alert
from tests.conftest import ROOT, eventually, read_topic
from tools.embedded import EmbeddedBroker, free_port
from tools.webhook_sink import Reply, WebhookSink

pytestmark = pytest.mark.broker
SECRET = "integration-signing-secret"


@pytest.fixture
def flaky_sink() -> Iterator[WebhookSink]:
    script = [
        Reply(500),
        Reply(429, {"Retry-After": "1"}),
        Reply(200, delay=2.5),  # past the sender's 1 s timeout: counts as a timeout
    ]
    sink = WebhookSink(script=script, secret=SECRET).start()
    yield sink
    sink.stop()


@pytest.fixture
def refusing_sink() -> Iterator[WebhookSink]:
    sink = WebhookSink(script=[Reply(404)] * 2, secret=SECRET).start()
    yield sink
    sink.stop()


def _settings(kafka: EmbeddedBroker, db_url: str, subscriptions: Path, run: str) -> NotifySettings:
    return NotifySettings(
        common=CommonSettings(kafka_bootstrap=kafka.bootstrap, kafka_embedded=True),
        http_port=free_port(),
        group_id=f"notify-test-{uuid.uuid4().hex[:8]}",
        database_url=db_url,  # type: ignore[arg-type]
        subscriptions_file=subscriptions,
        # The run's vendor, as an operator's addition to the watchlists: only this run's alerts name it.
        extra_vendors=[f"vendor-{run}"],
        allow_private_networks=["127.0.0.1/32"],
        group_wait_seconds=1.0,
        send_timeout_seconds=1.0,
        retry_base_seconds=0.2,
        retry_cap_seconds=1.0,
        retry_attempts=6,
        poll_seconds=0.1,
    )


async def _produce(kafka: EmbeddedBroker, items: list[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
    await producer.start()
    try:
        for key, value in items:
            await producer.send_and_wait(topics.ALERTS, value, key=key.encode())
    finally:
        await producer.stop()


async def test_retries_exactly_once_grouping_dead_and_redrive(
    kafka: EmbeddedBroker,
    db_url: str,
    flaky_sink: WebhookSink,
    refusing_sink: WebhookSink,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    run = uuid.uuid4().hex[:8]
    secret_url = refusing_sink.url + "?token=very-secret-value"
    monkeypatch.setenv("FLAKY_URL", flaky_sink.url)
    monkeypatch.setenv("REFUSING_URL", secret_url)
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    subscriptions = tmp_path / "subscriptions.yaml"
    subscriptions.write_text(
        f"""
subscriptions:
  - id: flaky-{run}
    owner: amnesty
    name: China facial recognition
    filters: {{destinations: [CN], entities: [vendor-{run}]}}
    channel: {{type: webhook, url: "${{FLAKY_URL}}", secret: "${{HOOK_SECRET}}"}}
  - id: refusing-{run}
    owner: pi
    name: Everything, to a broken receiver
    filters: {{event_types: [news_article], entities: [vendor-{run}]}}
    channel: {{type: webhook, url: "${{REFUSING_URL}}", secret: "${{HOOK_SECRET}}"}}
""",
        encoding="utf-8",
    )
    vendor = [f"vendor-{run}"]  # the broker is shared by the session: only this run's alerts match
    first = make_alert(alert_id=f"alert-{run}-1", event_id=f"news-{run}-1", entities=vendor)
    copy = make_alert(
        alert_id=f"alert-{run}-2", event_id=f"news-{run}-2", duplicate_of=f"news-{run}-1", entities=vendor
    )
    elsewhere = make_alert(
        alert_id=f"alert-{run}-3", event_id=f"news-{run}-3", destinations=["RU"], entities=vendor
    )
    await _produce(
        kafka,
        [
            (f"bad-{run}", b'{"type": "alert", "id": 42}'),
            # One partition for the story, so that catching up on the shared topic's backlog (other
            # tests' alerts) cannot put the two copies further apart than the grouping window.
            (first.event_id, first.model_dump_json().encode()),
            (first.event_id, copy.model_dump_json().encode()),
            (first.event_id, first.model_dump_json().encode()),  # redelivered by an upstream retry
            (elsewhere.id, elsewhere.model_dump_json().encode()),
        ],
    )
    settings = _settings(kafka, db_url, subscriptions, run)
    service = create_service(settings)
    store: NotifyStore = service.state["store"]
    async with service.running():
        await eventually(lambda: len(flaky_sink.received) >= 1, timeout=60)
        letters = await read_topic(
            kafka.bootstrap, topics.DEADLETTER, lambda rs: f"bad-{run}".encode() in {r.key for r in rs}
        )

        async def dead_listed() -> bool:
            return len(await store.deliveries.dead_notifications(subscription_id=f"refusing-{run}")) == 2

        await eventually(dead_listed, timeout=30)
        await asyncio.sleep(0.5)  # nothing more may arrive
        assert flaky_sink.requests == 4, "500, 429, timeout, then delivered"
        [received] = flaky_sink.received
        assert received["signature_valid"] is True
        notification = Notification.model_validate(received["body"]["data"])
        assert [a.id for a in notification.alerts] == [first.id, copy.id], "one story, one notification"
        assert notification.story == first.event_id
        assert received["notification_id"] == notification.id == received["body"]["id"]

        dead = await store.deliveries.dead_notifications(subscription_id=f"refusing-{run}")
        assert {d.reason for d in dead} == {"client_error"}
        assert sorted(a for d in dead for a in d.alert_ids) == sorted([first.id, copy.id, elsewhere.id])

        # The receiver is fixed (its script of 404s is used up): the operator re-drives from the CLI.
        url = settings.database_url.get_secret_value()
        listing = await _cli("notify", "--database-url", url, "dead")
        assert f"refusing-{run}" in listing and "client_error: HTTP 404" in listing
        assert "1 notification(s) queued again" not in listing
        done = await _cli("notify", "--database-url", url, "redrive", "--subscription", f"refusing-{run}")
        assert "2 notification(s) queued again" in done
        service.state["dispatcher"].wake()
        await eventually(lambda: len(refusing_sink.received) == 2, timeout=30)
        assert sorted(refusing_sink.alert_ids()) == sorted([first.id, copy.id, elsewhere.id])
        assert await store.deliveries.dead_notifications(subscription_id=f"refusing-{run}") == []

    invalid = DeadLetter.model_validate_json(next(r.value for r in letters if r.key == f"bad-{run}".encode()))
    assert invalid.reason == "invalid_event" and invalid.source_topic == topics.ALERTS
    assert base64.b64decode(invalid.original_base64) == b'{"type": "alert", "id": 42}'

    everything = caplog.text + "".join(r.value.decode() for r in letters)
    assert "very-secret-value" not in everything
    assert refusing_sink.url not in everything and flaky_sink.url not in everything
    assert SECRET not in everything


async def _cli(*args: str) -> str:
    """Run ``exportwatch …`` as an operator would; its output (stdout and stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tools.cli",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    return out.decode()
