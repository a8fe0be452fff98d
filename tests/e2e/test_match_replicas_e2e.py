"""Scaling out: three match replicas share the topics' partitions as one consumer group on the embedded
broker. One is stopped in the middle of a stream; the other two take over its partitions and every
event is matched exactly once downstream: the alerts on the topic are exactly the expected ones, each
once."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from schemas import NewsArticle, parse_event, topics
from services.match.core.engine import Matcher
from tests.conftest import metric_value, read_topic, running_broker, start_service
from tools.embedded import EmbeddedBroker, free_port
from tools.stack import service_env

pytestmark = [pytest.mark.broker, pytest.mark.slow]
REPLICAS = 3
PARTITIONS = 6
EVENTS = 1800
GROUP = "replicas-e2e"


def _stream(samples: dict[str, dict[str, Any]]) -> list[NewsArticle]:
    """``EVENTS`` distinct articles made from the real samples (some alert, some do not)."""
    now = dt.datetime.now(dt.UTC)
    base = [parse_event(json_bytes(doc)) for doc in samples.values()]
    out: list[NewsArticle] = []
    for i in range(EVENTS):
        template = base[i % len(base)]
        assert isinstance(template, NewsArticle)
        out.append(
            template.model_copy(
                update={"id": f"replica-{i:05d}", "url": f"{template.url}?copy={i}", "ingested_at": now}
            )
        )
    return out


def json_bytes(doc: dict[str, Any]) -> bytes:
    import json

    return json.dumps(doc).encode("utf-8")


class Replicas:
    def __init__(self, tmp_path: Path, bootstrap: str) -> None:
        self.tmp_path = tmp_path
        self.bootstrap = bootstrap
        self.ports = [free_port() for _ in range(REPLICAS)]
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        for i, port in enumerate(self.ports):
            env = service_env("match", self.bootstrap, port, self.tmp_path, "", [])
            env["EXPORTWATCH_MATCH_GROUP_ID"] = GROUP
            env["EXPORTWATCH_MATCH_MAX_BATCH"] = "50"  # many small batches: the stop lands mid-batch
            self.procs.append(start_service("match", env, self.log(i)))

    def log(self, i: int) -> Path:
        return self.tmp_path / f"match-{i}.log"

    def wait(self, check: Any, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            for i, proc in enumerate(self.procs):
                code = proc.poll()
                assert code is None or code == 0, (
                    f"replica {i} exited {code}: {self.log(i).read_text()[-3000:]}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if check():
                    return
            assert time.monotonic() < deadline, f"{what} not reached within {timeout}s"
            time.sleep(0.5)

    def assigned(self, indexes: list[int]) -> float:
        return sum(
            metric_value(self.ports[i], "exportwatch_match_assigned_partitions", topic=topics.NEWS)
            for i in indexes
        )

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)
            if proc.poll() is None:
                proc.kill()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    # Its own broker with six partitions: the alert topic must hold this test's alerts only.
    with running_broker(tmp_path, PARTITIONS) as b:
        yield b


@pytest.fixture
def replicas(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[Replicas]:
    r = Replicas(tmp_path, broker.bootstrap)
    try:
        r.start()
        yield r
    finally:
        r.stop()


async def _produce(bootstrap: str, events: list[NewsArticle], stop_after: int, stop: Any) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        for i, event in enumerate(events):
            if i == stop_after:
                await asyncio.to_thread(stop)
            await producer.send(topics.NEWS, event.model_dump_json().encode(), key=event.id.encode())
            if i % 50 == 49:
                await producer.flush()
                await asyncio.sleep(0.1)  # a stream, not one burst: about 500 events a second
        await producer.flush()
    finally:
        await producer.stop()


def test_three_replicas_share_the_stream_and_one_stops_midway(
    replicas: Replicas, broker: EmbeddedBroker, news_samples: dict[str, dict[str, Any]]
) -> None:
    everyone = list(range(REPLICAS))
    replicas.wait(lambda: replicas.assigned(everyone) == PARTITIONS, "all partitions assigned", timeout=90)
    for i in everyone:
        assert (
            metric_value(replicas.ports[i], "exportwatch_match_assigned_partitions", topic=topics.NEWS) >= 1
        ), f"replica {i} got no partition: the group did not spread the work"

    events = _stream(news_samples)
    matcher = Matcher.load()
    now = dt.datetime.now(dt.UTC)
    expected = {a.id for e in events for a in matcher.evaluate(e, now)}
    assert len(expected) > EVENTS // 3, "the stream must hold many matching events"

    stopped = 1
    consumed_before_stop: list[float] = []

    def stop_one() -> None:
        consumed_before_stop.append(
            metric_value(
                replicas.ports[stopped], "exportwatch_match_messages_consumed_total", topic=topics.NEWS
            )
        )
        replicas.procs[stopped].send_signal(signal.SIGTERM)

    asyncio.run(_produce(broker.bootstrap, events, EVENTS // 3, stop_one))
    assert replicas.procs[stopped].wait(30) == 0, replicas.log(stopped).read_text()[-3000:]
    assert consumed_before_stop and consumed_before_stop[0] > 0, "the stopped replica had done no work"

    # The two left take over every partition.
    left = [i for i in everyone if i != stopped]
    replicas.wait(lambda: replicas.assigned(left) == PARTITIONS, "partitions taken over", timeout=90)

    records = asyncio.run(
        read_topic(
            broker.bootstrap,
            topics.ALERTS,
            lambda recs: {r.key.decode() for r in recs} >= expected,
            timeout=180,
        )
    )
    # Let any late repeat arrive before counting.
    time.sleep(3)
    records = asyncio.run(read_topic(broker.bootstrap, topics.ALERTS, lambda recs: len(recs) >= len(records)))
    ids = [r.key.decode() for r in records]
    assert set(ids) == expected, f"missing {len(expected - set(ids))}, unexpected {len(set(ids) - expected)}"
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} alerts published twice"

    # Both replicas left did part of the work.
    for i in left:
        assert (
            metric_value(replicas.ports[i], "exportwatch_match_events_total", event_type="news_article") > 0
        )
