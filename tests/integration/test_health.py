"""/healthz tells the truth about a service's own database (issue 17), seen from outside: the real
notify and ingest services run as their own processes on the embedded broker, each with its own
SQLite file, and are asked over real sockets. While another connection holds an exclusive lock on the
file, writing fails (after the 10 s busy timeout); /healthz then answers 503 naming the ``database``
check and why (no file name, no URL) while /livez stays 200; once the lock is gone and something is
recorded, /healthz answers 200 again."""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from schemas import topics
from tests.alerts import make_alert
from tests.conftest import eventually, running_broker, start_service, wait_ready
from tests.problems import problem
from tools.embedded import EmbeddedBroker, free_port
from tools.stack import example_event, service_env

pytestmark = pytest.mark.broker

TOKEN = "health-test-push-token-0001"
# Longer than one locked write waits (the busy timeout, 10 s), with room for a slow machine.
OUTAGE_SEEN_WITHIN = 40.0


@dataclass(frozen=True)
class Running:
    """A service process: its HTTP address, its SQLite file and its log."""

    url: str
    db: Path
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@contextlib.contextmanager
def serving(name: str, kafka: EmbeddedBroker, workdir: Path, **settings: str) -> Iterator[Running]:
    """``exportwatch serve NAME`` in ``workdir`` (its own database there), with the health threshold
    at 1 s and ``settings`` (``EXPORTWATCH_<NAME>_*`` without the prefix); stopped however the test
    ends. A service that does not start fails the test."""
    workdir.mkdir()
    port = free_port()
    # The stack's webhook subscription points at the discard port: what it sends is not the matter here.
    env = service_env(name, kafka.bootstrap, port, workdir, "http://127.0.0.1:9/", [], push_token=TOKEN)
    prefix = f"EXPORTWATCH_{name.upper()}_"
    env.update({prefix + "HEALTH_THRESHOLD_SECONDS": "1", **{prefix + k: v for k, v in settings.items()}})
    log = workdir / f"{name}.log"
    proc = start_service(name, env, log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(f"{url}/healthz", proc, log)
        yield Running(url, workdir / f"{name}.db", log)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(30)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """A broker of this module's own: on the session's, notify's new consumer group would first work
    through the thousands of alerts earlier tests left there, and the first alert of this test would
    wait behind them."""
    with running_broker(tmp_path_factory.mktemp("health-broker")) as broker:
        yield broker


@pytest.fixture
def notify(kafka: EmbeddedBroker, tmp_path: Path) -> Iterator[Running]:
    # Its own consumer group: it reads the alerts topic from the start, this test's alerts included.
    with serving("notify", kafka, tmp_path / "notify", GROUP_ID=f"health-{uuid.uuid4().hex[:8]}") as running:
        yield running


@pytest.fixture
def ingest(kafka: EmbeddedBroker, tmp_path: Path) -> Iterator[Running]:
    with serving("ingest", kafka, tmp_path / "ingest") as running:
        yield running


@contextlib.contextmanager
def locked(db: Path) -> Iterator[None]:
    """Hold the write lock of ``db`` from another connection (file permissions mean nothing to root)."""
    lock = sqlite3.connect(db, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        lock.execute("ROLLBACK")
        lock.close()


def has_row(db: Path, table: str, row_id: str) -> bool:
    """Whether ``table`` of ``db`` has the row ``row_id``, read beside any writer (WAL)."""
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
        return conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (row_id,)).fetchone() is not None


async def produce_alert(kafka: EmbeddedBroker, alert_id: str) -> None:
    alert = make_alert(alert_id, event_id=f"news-{alert_id}")
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topics.ALERTS, alert.model_dump_json().encode(), key=alert.id.encode())
    finally:
        await producer.stop()


async def answers(client: httpx.AsyncClient, path: str, status: int) -> bool:
    return (await client.get(path)).status_code == status


def assert_database_failing(reply: httpx.Response, db: Path) -> None:
    """A 503 naming the database check, with the error's class as the reason and nothing that says
    where the database is or what it is."""
    assert reply.status_code == 503, reply.text
    [failing] = reply.json()["failing"]
    assert failing["check"] == "database"
    assert failing["reason"] == "OperationalError"
    dt.datetime.fromisoformat(failing["since"])
    assert str(db) not in reply.text and db.name not in reply.text and "sqlite" not in reply.text.lower()


async def assert_healthy_again(client: httpx.AsyncClient) -> None:
    await eventually(lambda: answers(client, "/healthz", 200), timeout=15)
    reply = await client.get("/healthz")
    assert reply.status_code == 200, reply.text
    assert reply.json()["failing"] == []


async def test_notify_healthz_is_503_while_the_database_is_locked(
    kafka: EmbeddedBroker, notify: Running
) -> None:
    run = uuid.uuid4().hex[:8]
    first, second = f"health-{run}-1", f"health-{run}-2"
    async with httpx.AsyncClient(base_url=notify.url, timeout=10) as client:
        await produce_alert(kafka, first)
        await eventually(lambda: has_row(notify.db, "notify_alerts", first), timeout=30)
        assert (await client.get("/healthz")).status_code == 200

        with locked(notify.db):
            await produce_alert(kafka, second)
            # Recording waits out the busy timeout (10 s), longer than the threshold (1 s), then fails.
            await eventually(lambda: answers(client, "/healthz", 503), timeout=OUTAGE_SEEN_WITHIN)
            assert_database_failing(await client.get("/healthz"), notify.db)
            assert not has_row(notify.db, "notify_alerts", second), "recorded through an exclusive lock"
            # Liveness leaves the database out, so an outage does not restart the pod.
            live = await client.get("/livez")
            assert live.status_code == 200, live.text
            assert live.json() == {"service": "notify", "ready": True, "broker": True, "failing": []}

        # The batch was not committed: it comes again and is recorded now.
        await eventually(lambda: has_row(notify.db, "notify_alerts", second), timeout=OUTAGE_SEEN_WITHIN)
        await assert_healthy_again(client)
    assert "OperationalError" in notify.tail() or "locked" in notify.tail()


async def test_ingest_healthz_is_503_and_a_push_is_refused_while_the_database_is_locked(
    ingest: Running,
) -> None:
    event_id = f"health-{uuid.uuid4().hex[:8]}"
    event = example_event(dt.datetime.now(dt.UTC)) | {"id": event_id}
    push = {"authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=ingest.url, timeout=OUTAGE_SEEN_WITHIN) as client:
        with locked(ingest.db):
            # Published, then recording waits out the busy timeout (10 s) and fails: not accepted.
            refused = await client.post("/v1/events", json=event, headers=push)
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"].isdigit()
            answer = problem(refused, 503, "unavailable")
            assert answer["detail"] == "database unavailable; try again in 5 s", answer
            assert answer["retry_after_seconds"] == 5 and refused.headers["retry-after"] == "5"
            assert "Traceback" not in refused.text and "sqlite" not in refused.text.lower()
            assert not has_row(ingest.db, "ingest_items", event_id)
            assert_database_failing(await client.get("/healthz"), ingest.db)
            live = await client.get("/livez")
            assert live.status_code == 200, live.text
            assert live.json()["failing"] == []

        # Nothing else writes, yet the check clears: ingest tries the database again by itself.
        await assert_healthy_again(client)
        # The client sends the same event again: accepted and recorded.
        accepted = await client.post("/v1/events", json=event, headers=push)
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["ids"] == [event_id]
        assert has_row(ingest.db, "ingest_items", event_id)
        await assert_healthy_again(client)
