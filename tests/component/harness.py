"""Running a service's real wiring (its create_service) on FastStream's in-memory TestKafkaBroker.

Written against the services' public entry points only (create_service, Service.on_start/on_stop,
Service.broker, Service.asgi, Service.state), so a change of the messaging core inside
services/common changes nothing here unless those change.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from services.common.pipeline import Outgoing, encode
from services.common.runtime import Service


@dataclass(frozen=True)
class Record:
    topic: str
    key: bytes | None
    value: bytes

    def json(self) -> Any:
        return json.loads(self.value)


class Recorder:
    """Every message published to ``names`` on the service's broker, as the bytes on the wire. Make it
    before the test broker starts: it subscribes like any other consumer."""

    def __init__(self, broker: KafkaBroker, *names: str) -> None:
        self.records: list[Record] = []

        async def record(msg: KafkaMessage) -> None:
            raw = msg.raw_message
            for r in raw if isinstance(raw, (tuple, list)) else (raw,):
                self.records.append(Record(r.topic, r.key, r.value))

        for name in names:
            broker.subscriber(name, group_id="component-recorder")(record)

    def on(self, topic: str) -> list[Record]:
        return [r for r in self.records if r.topic == topic]


class BrokerProducer:
    """Stands in for ingest's producer (services/common/producer.py: a plain aiokafka producer, which
    the test broker cannot see): the same ``start``/``stop``/``publish_all``, published through the
    service's broker. ``broker`` is set once create_service has made it."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.broker: KafkaBroker | None = None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish_all(self, messages: Sequence[Outgoing]) -> None:
        assert self.broker is not None, "set BrokerProducer.broker to the service's broker"
        for m in messages:
            await self.broker.publish(
                encode(m.value),
                topic=m.topic,
                key=m.key.encode("utf-8"),
                headers={"content-type": "application/json"},
            )


@contextlib.asynccontextmanager
async def on_test_broker(service: Service) -> AsyncIterator[KafkaBroker]:
    """The service as Service.running starts it (its start hooks, then its broker; its stop hooks at
    the end), with the broker in memory. No HTTP server and no background job runs: a test calls the
    ASGI app (``service.asgi()``) or a poller itself."""
    for hook in service.on_start:
        await hook()
    try:
        async with TestKafkaBroker(service.broker) as broker:
            service.ready = True
            try:
                yield broker
            finally:
                service.ready = False
    finally:
        for hook in service.on_stop:
            await hook()
