"""Notify on the real broker against real local HTTP servers: retries, dead letters, no secret leaks."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaProducer

from schemas import DeadLetter, topics
from services.common.embedded import EmbeddedBroker, free_port
from services.common.settings import CommonSettings
from services.common.webhook_sink import WebhookSink
from services.notify.app import create_service
from services.notify.settings import NotifySettings
from tests.conftest import eventually, read_topic
from tests.unit.test_notify_core import make_alert

pytestmark = pytest.mark.broker


@pytest.fixture
def flaky_sink() -> Iterator[WebhookSink]:
    sink = WebhookSink(fail_first=2, fail_status=503).start()
    yield sink
    sink.stop()


@pytest.fixture
def refusing_sink() -> Iterator[WebhookSink]:
    sink = WebhookSink(fail_first=10**6, fail_status=400).start()
    yield sink
    sink.stop()


async def test_alerts_are_delivered_after_retries_and_failures_dead_lettered(
    kafka: EmbeddedBroker,
    flaky_sink: WebhookSink,
    refusing_sink: WebhookSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    secret_url = refusing_sink.url + "?token=very-secret-value"
    settings = NotifySettings(
        common=CommonSettings(kafka_bootstrap=kafka.bootstrap),
        http_port=free_port(),
        group_id=f"notify-test-{uuid.uuid4().hex[:8]}",
        console=False,
        webhook_urls=[flaky_sink.url, secret_url],
        webhook_allow_private=True,
        webhook_attempts=4,
    )
    run = uuid.uuid4().hex[:8]
    alert = make_alert(alert_id=f"alert-{run}")
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topics.ALERTS, b'{"type": "alert", "id": 42}', key=f"bad-{run}".encode())
        await producer.send_and_wait(topics.ALERTS, alert.model_dump_json().encode(), key=alert.id.encode())
    finally:
        await producer.stop()

    service = create_service(settings)
    async with service.running():
        await eventually(lambda: any(r["alert_id"] == alert.id for r in flaky_sink.received), timeout=40)
        letters = await read_topic(
            kafka.bootstrap,
            topics.DEADLETTER,
            lambda rs: {f"bad-{run}".encode(), alert.id.encode()} <= {r.key for r in rs},
            timeout=40,
        )

    delivered = [r for r in flaky_sink.received if r["alert_id"] == alert.id]
    assert len(delivered) == 1, "exactly one delivery despite two 503s"
    assert delivered[0]["body"]["summary"] == alert.summary
    assert flaky_sink.requests >= 3

    by_key = {r.key: DeadLetter.model_validate_json(r.value) for r in letters}
    invalid = by_key[f"bad-{run}".encode()]
    assert invalid.reason == "invalid_event" and invalid.source_topic == topics.ALERTS
    assert base64.b64decode(invalid.original_base64) == b'{"type": "alert", "id": 42}'
    failed = by_key[alert.id.encode()]
    assert failed.reason == "delivery_failed"
    assert "channel=webhook-2 reason=client_error" in failed.detail
    assert json.loads(base64.b64decode(failed.original_base64))["id"] == alert.id

    everything = caplog.text + "".join(r.value.decode() for r in letters)
    assert "very-secret-value" not in everything
    assert refusing_sink.url not in everything
