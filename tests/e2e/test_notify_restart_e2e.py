"""Notify as a process, stopped in the middle of a burst of alerts and started again, on SQLite and on
PostgreSQL: every alert reaches every subscription that wants it exactly once.

- After SIGTERM the process finishes what it is sending and gives back what it has not sent: every
  receiver gets each alert exactly once, byte for byte.
- After kill -9 a notification whose answer arrived but was not yet recorded is sent again once its
  lease runs out, with the same notification id (the receivers' idempotency key): counted by that id,
  every receiver gets each alert exactly once; the raw repeats are at most the sends in flight, and
  each is counted in exportwatch_notify_in_doubt_total.
"""

from __future__ import annotations

import asyncio
import collections
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from schemas import Severity, topics
from tests.alerts import make_alert
from tests.conftest import start_service
from tools.embedded import EmbeddedBroker, free_port
from tools.stack import service_env
from tools.webhook_sink import Reply, WebhookSink

pytestmark = [pytest.mark.broker, pytest.mark.slow]
ALERTS = 240
CONCURRENCY = 4
SECRET = "restart-test-signing-secret"


@pytest.fixture
def sinks() -> Iterator[tuple[WebhookSink, WebhookSink]]:
    # A slow receiver (40 ms a request) makes the burst last several seconds, so the stop lands in it.
    a = WebhookSink(secret=SECRET, default=Reply(delay=0.04)).start()
    b = WebhookSink(secret=SECRET, default=Reply(delay=0.04)).start()
    yield a, b
    a.stop()
    b.stop()


def _wait_for(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


async def _burst(kafka: EmbeddedBroker, run: str) -> dict[str, Severity]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, linger_ms=5)
    await producer.start()
    severities = {}
    try:
        futures = []
        for i in range(ALERTS):
            severity = Severity.HIGH if i % 3 else Severity.MEDIUM
            alert = make_alert(
                f"alert-{run}-{i}", event_id=f"news-{run}-{i}", severity=severity, entities=[f"vendor-{run}"]
            )
            severities[alert.id] = severity
            futures.append(
                await producer.send(topics.ALERTS, alert.model_dump_json().encode(), key=alert.id.encode())
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return severities


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_notify_stopped_mid_burst_delivers_every_alert_once(
    kafka: EmbeddedBroker,
    db_url: str,
    sinks: tuple[WebhookSink, WebhookSink],
    tmp_path: Path,
    stop: signal.Signals,
) -> None:
    everything, high_only = sinks
    run = uuid.uuid4().hex[:8]
    subscriptions = tmp_path / "burst-subscriptions.yaml"
    subscriptions.write_text(
        f"""
subscriptions:
  - id: all-{run}
    owner: amnesty
    name: every alert of this run
    filters: {{entities: [vendor-{run}]}}
    channel: {{type: webhook, url: "{everything.url}", secret: "${{HOOK_SECRET}}"}}
  - id: high-{run}
    owner: pi
    name: high severity only
    filters: {{entities: [vendor-{run}], min_severity: high}}
    channel: {{type: webhook, url: "{high_only.url}", secret: "${{HOOK_SECRET}}"}}
""",
        encoding="utf-8",
    )
    port = free_port()
    env = service_env("notify", kafka.bootstrap, port, tmp_path, "http://127.0.0.1:9/", [])
    env.update(
        {
            "HOOK_SECRET": SECRET,
            "EXPORTWATCH_NOTIFY_CONSOLE": "false",
            "EXPORTWATCH_NOTIFY_DATABASE_URL": db_url,
            "EXPORTWATCH_NOTIFY_SUBSCRIPTIONS_FILE": str(subscriptions),
            # the run's vendor, as an operator's addition to the watchlists: only this run's alerts
            "EXPORTWATCH_NOTIFY_EXTRA_VENDORS": f"vendor-{run}",
            "EXPORTWATCH_NOTIFY_GROUP_ID": f"notify-restart-{run}",
            "EXPORTWATCH_NOTIFY_GROUP_WAIT_SECONDS": "0",
            "EXPORTWATCH_NOTIFY_CONCURRENCY": str(CONCURRENCY),
            "EXPORTWATCH_NOTIFY_LEASE_SECONDS": "4",
            "EXPORTWATCH_NOTIFY_POLL_SECONDS": "0.1",
            "EXPORTWATCH_NOTIFY_WEBHOOK_PER_SECOND": "1000",
        }
    )
    env.pop("EXPORTWATCH_NOTIFY_FILE_PATH", None)
    severities = asyncio.run(_burst(kafka, run))
    wanted_high = {a for a, s in severities.items() if s is Severity.HIGH}
    log = tmp_path / "notify.log"

    proc = start_service("notify", env, log)
    try:
        _wait_for(
            lambda: len(everything.received) + len(high_only.received) >= 60,
            90,
            f"nothing delivered: {log.read_text(errors='replace')[-3000:]}",
        )
        proc.send_signal(stop)
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = len(everything.received) + len(high_only.received)
    assert before < ALERTS + len(wanted_high), "the stop must land in the middle of the burst"
    if stop is signal.SIGTERM:
        assert code == 0, log.read_text(errors="replace")[-3000:]

    proc = start_service("notify", env, log)
    try:
        _wait_for(
            lambda: (
                set(everything.alert_ids()) == set(severities) and set(high_only.alert_ids()) == wanted_high
            ),
            120,
            f"not everything delivered after the restart: {log.read_text(errors='replace')[-3000:]}",
        )
        time.sleep(5)  # past the lease: anything in doubt has been sent again by now
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)

    in_doubt = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("exportwatch_notify_in_doubt_total{")
    )
    for sink, wanted in ((everything, set(severities)), (high_only, wanted_high)):
        assert all(entry["signature_valid"] for entry in sink.received)
        assert sink.rejected == 0, "every complete request verifies"
        by_id = {entry["notification_id"]: entry["alert_ids"] for entry in sink.received}
        per_alert = collections.Counter(a for ids in by_id.values() for a in ids)
        assert set(per_alert) == wanted, "every alert the subscription wants, and nothing else"
        assert max(per_alert.values()) == 1, "counted by notification id, each alert exactly once"
        raw = collections.Counter(sink.alert_ids())
        repeats = sum(n - 1 for n in raw.values())
        if stop is signal.SIGTERM:
            assert repeats == 0, "a graceful stop never sends anything twice"
        else:
            assert repeats <= CONCURRENCY, "only sends that were in flight can repeat"
    if stop is signal.SIGKILL:
        total_repeats = sum(
            n - 1 for sink in (everything, high_only) for n in collections.Counter(sink.alert_ids()).values()
        )
        assert in_doubt >= total_repeats
