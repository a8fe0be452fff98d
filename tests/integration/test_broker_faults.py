"""Regressions found by tests/e2e/test_faults_e2e.py, each on a broker of its own.

- After a restart of the embedded broker (memory storage) a producer with the topics in its metadata
  cache got acknowledgements for messages to topics the broker no longer had, which it dropped: ingest
  answered 202 and recorded events no one would ever read. Publishing now fails until the topics exist
  again (checked on the broker before the send and after the acknowledgements).
- A bad message larger than 1 MiB made a dead letter larger than a Kafka message: its batch failed to
  publish and was read again forever, blocking the partition and re-publishing the batch's other dead
  letters each time. Messages above the largest accepted event are now dead-lettered as too_large, and
  a dead letter keeps at most the start of a large original.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Collection
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, UnknownTopicOrPartitionError

from schemas import Alert, DeadLetter, topics
from services.common.messaging.consumer import MAX_RECORD_BYTES
from services.common.messaging.deadletters import MAX_DEAD_LETTER_ORIGINAL, dead_letter
from services.common.messaging.metrics import PipelineMetrics, new_registry
from services.common.messaging.publisher import Outgoing, Publisher, encode
from services.common.settings import CommonSettings
from services.common.topics import ensure_topics, send_while_topics_exist, topic_guard
from services.match.app import create_service
from services.match.settings import MatchSettings
from tests.conftest import read_topic
from tools.embedded import EmbeddedBroker, free_port

pytestmark = pytest.mark.broker


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[EmbeddedBroker]:
    b = EmbeddedBroker(partitions=2, log_path=tmp_path / "tansu.log")
    await b.start()
    try:
        yield b
    finally:
        b.stop()


async def _restart_empty(broker: EmbeddedBroker) -> None:
    """Kill the broker and start a new one on the same port, without creating any topic."""
    broker.kill()
    broker.start_process()
    deadline = time.monotonic() + 20
    while True:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex((broker.host, broker.port)) == 0:
                return
        assert time.monotonic() < deadline, "the broker did not come back"
        await asyncio.sleep(0.05)


async def test_publishing_fails_while_a_restarted_broker_lacks_the_topics(broker: EmbeddedBroker) -> None:
    metrics = PipelineMetrics("ingest", new_registry(), ())
    settings = CommonSettings(kafka_bootstrap=broker.bootstrap, kafka_embedded=True)
    guard = topic_guard(settings.kafka_embedded)  # the embedded broker's add-on, as the services decide
    producer = Publisher(broker.kafka, "faults-test", metrics, guard=guard)
    alerts = Publisher(broker.kafka, "faults-test-alerts", metrics, guard=guard)  # as match publishes
    await producer.start()
    await alerts.start()
    try:
        await producer.publish_all([Outgoing(topics.NEWS, "before", b'{"n": 0}')])
        await alerts.publish_all([Outgoing(topics.ALERTS, "before", b'{"n": 0}')])

        await _restart_empty(broker)
        # Both producers still have the topics in their metadata; the broker has none.
        for _ in range(3):
            with pytest.raises(KafkaError):
                await producer.publish_all([Outgoing(topics.NEWS, "lost", b'{"n": 1}')])
            with pytest.raises(KafkaError):
                lost = [Outgoing(topics.ALERTS, "lost", b'{"n": 1}')]
                await alerts.publish_all(lost)
        errors = metrics.produced.labels(topic=topics.NEWS, outcome="error")._value.get()
        assert errors == 3, "a batch that could not be stored is counted as an error"

        await ensure_topics(broker.kafka, list(topics.ALL), 2)
        await producer.publish_all([Outgoing(topics.NEWS, "after", b'{"n": 2}')])
        await alerts.publish_all([Outgoing(topics.ALERTS, "after", b'{"n": 2}')])
    finally:
        await alerts.stop()
        await producer.stop()

    for topic in (topics.NEWS, topics.ALERTS):
        records = await read_topic(broker.bootstrap, topic, lambda rs: any(r.key == b"after" for r in rs))
        assert [r.key for r in records] == [b"after"], "published after the topics were back, and only that"


class _Admin:
    """An admin client whose list_topics answers from a script."""

    def __init__(self, *answers: Collection[str]) -> None:
        self.answers = list(answers)

    async def list_topics(self) -> list[str]:
        return list(self.answers.pop(0))


async def test_topics_lost_during_the_send_fail_the_batch() -> None:
    sent: list[int] = []

    async def send() -> list[object]:
        sent.append(1)
        return ["ack", "ack"]

    names = {topics.NEWS}
    assert await send_while_topics_exist(_Admin([topics.NEWS], [topics.NEWS]), names, 2, send) == ["ack"] * 2
    # Lost between the check and the acknowledgements: acknowledged, maybe dropped, so failed.
    results = await send_while_topics_exist(_Admin([topics.NEWS], []), names, 2, send)
    assert len(results) == 2 and all(isinstance(r, UnknownTopicOrPartitionError) for r in results)
    # Missing before: nothing is sent.
    results = await send_while_topics_exist(_Admin([]), names, 2, send)
    assert all(isinstance(r, UnknownTopicOrPartitionError) for r in results) and len(sent) == 2


def test_a_dead_letter_of_a_large_message_fits_in_a_kafka_message() -> None:
    raw = b"x" * 999_999
    letter = dead_letter(
        "match", "invalid_json", "not valid JSON", raw, topic=topics.NEWS, partition=0, offset=7
    )
    assert isinstance(letter.value, DeadLetter)
    kept = base64.b64decode(letter.value.original_base64)
    assert kept == raw[:MAX_DEAD_LETTER_ORIGINAL]
    assert "original 999999 bytes" in letter.value.detail
    assert len(encode(letter.value)) < 1024 * 1024
    small = dead_letter("match", "invalid_json", "x", b"{", topic=topics.NEWS, partition=0, offset=8)
    assert isinstance(small.value, DeadLetter) and base64.b64decode(small.value.original_base64) == b"{"


async def test_a_message_too_large_is_dead_lettered_and_the_partition_moves_on(
    broker: EmbeddedBroker, news_samples: dict[str, Any]
) -> None:
    run = uuid.uuid4().hex[:8]
    big = b'{"type": "news_article", "id": "big", "body": "' + b"x" * MAX_RECORD_BYTES + b'"}'
    article = {**news_samples["sample-000"], "id": f"after-big-{run}"}
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, max_request_size=4 * len(big))
    await producer.start()
    try:  # one partition: the valid article is behind the large message
        meta = await producer.send_and_wait(topics.NEWS, big, key=b"big", partition=0)
        await producer.send_and_wait(
            topics.NEWS, json.dumps(article).encode(), key=article["id"].encode(), partition=0
        )
    finally:
        await producer.stop()

    settings = MatchSettings(
        common=CommonSettings(kafka_bootstrap=broker.bootstrap, kafka_embedded=True),
        http_port=free_port(),
        group_id=run,
    )
    async with create_service(settings).running():
        alerts = await read_topic(
            broker.bootstrap,
            topics.ALERTS,
            lambda rs: any(Alert.model_validate_json(r.value).event_id == article["id"] for r in rs),
        )
        letters = await read_topic(broker.bootstrap, topics.DEADLETTER, lambda rs: len(rs) >= 1)
        await asyncio.sleep(2)  # a batch read again would dead-letter it again
        again = await read_topic(broker.bootstrap, topics.DEADLETTER, lambda rs: len(rs) >= 1)

    assert len(alerts) == 1
    assert len(letters) == len(again) == 1, "dead-lettered once, not once per retry"
    letter = DeadLetter.model_validate_json(letters[0].value)
    assert (letter.reason, letter.service, letter.source_offset) == ("too_large", "match", meta.offset)
    assert f"{len(big)} bytes" in letter.detail
    assert big.startswith(base64.b64decode(letter.original_base64))
