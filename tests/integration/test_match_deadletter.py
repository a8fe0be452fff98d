"""The match service on the real broker: a poison message is dead-lettered with its reason and bytes,
and the next message on the same partition is still matched."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from schemas import Alert, DeadLetter, topics
from services.common.settings import CommonSettings
from services.match.app import create_service
from services.match.settings import MatchSettings
from tests.conftest import read_topic
from tools.embedded import EmbeddedBroker, free_port

pytestmark = pytest.mark.broker


async def test_poison_message_is_dead_lettered_and_the_partition_moves_on(
    kafka: EmbeddedBroker, news_samples: dict[str, dict[str, Any]]
) -> None:
    run = uuid.uuid4().hex[:8]
    poison = b'{"type": "news_article", "id": "poison-' + run.encode() + b'", "title": 7'
    article = {**news_samples["sample-000"], "id": f"sample-000-{run}"}
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
    await producer.start()
    try:  # same partition, poison first: the valid article must not be stuck behind it
        await producer.send_and_wait(topics.NEWS, poison, key=f"poison-{run}".encode(), partition=0)
        await producer.send_and_wait(
            topics.NEWS, json.dumps(article).encode(), key=article["id"].encode(), partition=0
        )
        await producer.send_and_wait(
            topics.NEWS, b"\xff\xfe not utf-8", key=f"bytes-{run}".encode(), partition=1
        )
    finally:
        await producer.stop()

    settings = MatchSettings(
        common=CommonSettings(kafka_bootstrap=kafka.bootstrap, kafka_embedded=True),
        http_port=free_port(),
        group_id=f"match-test-{run}",
    )
    async with create_service(settings).running():
        letters = await read_topic(
            kafka.bootstrap,
            topics.DEADLETTER,
            lambda rs: {f"poison-{run}".encode(), f"bytes-{run}".encode()} <= {r.key for r in rs},
        )
        alerts = await read_topic(
            kafka.bootstrap,
            topics.ALERTS,
            lambda rs: any(json.loads(r.value)["event_id"] == article["id"] for r in rs),
        )

    by_key = {r.key: DeadLetter.model_validate_json(r.value) for r in letters}
    letter = by_key[f"poison-{run}".encode()]
    assert letter.reason == "invalid_json" and letter.service == "match"
    assert (letter.source_topic, letter.source_partition) == (topics.NEWS, 0)
    assert base64.b64decode(letter.original_base64) == poison
    assert by_key[f"bytes-{run}".encode()].reason == "invalid_encoding"

    (record,) = [r for r in alerts if json.loads(r.value)["event_id"] == article["id"]]
    alert = Alert.model_validate_json(record.value)
    assert record.key == alert.id.encode()
    assert "facial-recognition" in alert.technologies and "CN" in alert.destinations
