"""The embedded broker's topic add-on is switched on by EXPORTWATCH_KAFKA_EMBEDDED alone (issue 18 item 2).

On Apache Kafka (the default) publishing is a plain send: no admin client, no topic listing around a
batch, no topic watcher. With the switch on (the local stack, the tests) a batch counts as published
only while the broker lists its topics, as ``send_while_topics_exist`` always did; the restart tests in
tests/integration/test_broker_faults.py and tests/e2e/test_faults_e2e.py show it on the real broker.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import UnknownTopicOrPartitionError

from schemas import topics
from services.common.kafka import KafkaSettings
from services.common.messaging import publisher as producer
from services.common.messaging.metrics import PipelineMetrics, new_registry
from services.common.messaging.publisher import Outgoing, Publisher
from services.common.settings import CommonSettings
from services.common.topics import EmbeddedTopicGuard, TopicGuard, topic_guard
from tools.stack import service_env

ROOT = Path(__file__).resolve().parents[2]
NAMES = {topics.NEWS}


class _NoAdmin:
    """An admin client the plain guard must never ask."""

    async def list_topics(self) -> list[str]:
        pytest.fail("the default topic guard asked the broker for its topics")


class _Admin:
    """An admin client whose list_topics answers from a script, counting the calls."""

    def __init__(self, *answers: Collection[str]) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def list_topics(self) -> list[str]:
        self.calls += 1
        return list(self.answers.pop(0))


class _Sends:
    def __init__(self) -> None:
        self.count = 0

    async def __call__(self) -> list[object]:
        self.count += 1
        return ["ack", "ack"]


def test_only_the_switch_chooses_the_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    assert type(topic_guard(False)) is TopicGuard
    assert type(topic_guard(True)) is EmbeddedTopicGuard
    monkeypatch.delenv("EXPORTWATCH_KAFKA_EMBEDDED", raising=False)
    assert CommonSettings().kafka_embedded is False, "production's default: Apache Kafka, no add-on"
    monkeypatch.setenv("EXPORTWATCH_KAFKA_EMBEDDED", "true")
    assert CommonSettings().kafka_embedded is True


async def test_the_default_guard_just_sends() -> None:
    guard = topic_guard(False)
    send = _Sends()
    assert not guard.lists_topics
    assert await guard.publish(_NoAdmin(), NAMES, 2, send) == ["ack", "ack"]
    assert await guard.publish(None, NAMES, 2, send) == ["ack", "ack"]
    assert send.count == 2
    assert guard.watcher(KafkaSettings(), list(topics.ALL), 4, 1) is None, "no topic watcher"


async def test_the_embedded_guard_sends_only_while_the_topics_exist() -> None:
    guard = topic_guard(True)
    send = _Sends()
    assert guard.lists_topics

    admin = _Admin([topics.NEWS], [topics.NEWS])
    assert await guard.publish(admin, NAMES, 2, send) == ["ack", "ack"]
    assert admin.calls == 2, "listed before the send and after the acknowledgements"
    # Lost between the check and the acknowledgements: acknowledged, maybe dropped, so failed.
    results = await guard.publish(_Admin([topics.NEWS], []), NAMES, 2, send)
    assert len(results) == 2 and all(isinstance(r, UnknownTopicOrPartitionError) for r in results)
    # Missing before: nothing is sent.
    results = await guard.publish(_Admin([]), NAMES, 2, send)
    assert len(results) == 2 and all(isinstance(r, UnknownTopicOrPartitionError) for r in results)
    assert send.count == 2
    with pytest.raises(RuntimeError):
        await guard.publish(None, NAMES, 2, send)

    watcher = guard.watcher(KafkaSettings(), list(topics.ALL), 4, 1)
    assert watcher is not None, "the embedded broker's lost topics are re-created"
    watcher.close()


class _FakeKafkaProducer:
    def __init__(self, **options: Any) -> None:
        self.sent: list[str] = []

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def send(self, topic: str, **kwargs: Any) -> Any:
        self.sent.append(topic)

        async def ack() -> str:
            return "ack"

        return ack()


class _NoAdminClient:
    def __init__(self, **options: Any) -> None:
        pytest.fail("the producer opened an admin client for the default topic guard")


async def test_the_producer_opens_no_admin_client_on_apache_kafka(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(producer, "AIOKafkaProducer", _FakeKafkaProducer)
    monkeypatch.setattr(producer, "AIOKafkaAdminClient", _NoAdminClient)
    metrics = PipelineMetrics("ingest", new_registry(), ())
    p = Publisher(KafkaSettings(), "guard-test", metrics, guard=topic_guard(False))
    await p.start()
    try:
        await p.publish_all([Outgoing(topics.NEWS, "k", b"{}"), Outgoing(topics.NEWS, "j", b"{}")])
    finally:
        await p.stop()
    assert metrics.produced.labels(topic=topics.NEWS, outcome="ok")._value.get() == 2


async def test_consumers_publish_without_admin_requests_on_apache_kafka(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Match and notify publish through the same Publisher as ingest: no admin client, no admin request."""
    sent: list[_FakeKafkaProducer] = []

    def make(**options: Any) -> _FakeKafkaProducer:
        sent.append(_FakeKafkaProducer(**options))
        return sent[-1]

    monkeypatch.setattr(producer, "AIOKafkaProducer", make)
    monkeypatch.setattr(producer, "AIOKafkaAdminClient", _NoAdminClient)
    metrics = PipelineMetrics("match", new_registry(), ())
    p = Publisher(KafkaSettings(), "match-test", metrics, guard=topic_guard(False), topics={topics.ALERTS})
    await p.start()
    messages = [Outgoing(topics.ALERTS, "a", b"{}"), Outgoing(topics.ALERTS, "b", b"{}")]
    try:
        await p.publish_all(messages)
        with pytest.raises(ValueError, match="does not declare"):
            await p.publish_all([Outgoing(topics.NEWS, "n", b"{}")])
    finally:
        await p.stop()
    assert sent[0].sent == [topics.ALERTS, topics.ALERTS]


def test_the_local_stack_switches_the_add_on_on(tmp_path: Path) -> None:
    user = {"EXPORTWATCH_KAFKA_EMBEDDED": "false"}  # the stack's broker is embedded, whatever this says
    for name in ("ingest", "match", "notify"):
        env = service_env(name, "127.0.0.1:9", 8080, tmp_path, "http://127.0.0.1:9/", [], user)
        assert env["EXPORTWATCH_KAFKA_EMBEDDED"] == "true"


def test_production_does_not_switch_it_on() -> None:
    files = [ROOT / "compose.yaml", *sorted((ROOT / "deploy").rglob("*"))]
    for path in files:
        if path.is_file():
            assert "KAFKA_EMBEDDED" not in path.read_text(encoding="utf-8", errors="replace"), path
