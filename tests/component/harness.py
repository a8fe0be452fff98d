"""Running a service's real wiring (its create_service) on FastStream's in-memory TestKafkaBroker.

Written against the services' public entry points only (create_service, Service.on_start/on_stop,
Service.broker, Service.publisher, Service.asgi, Service.state); the one thing it reaches inside is
the Publisher's producer, replaced by one that publishes on the in-memory broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

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


class InMemoryProducer:
    """Stands in for the aiokafka producer inside the service's Publisher (services/common/messaging/
    publisher.py), which the in-memory broker cannot see: ``send`` publishes through the test broker,
    so the Publisher's own checks, acknowledgement handling and metrics still run."""

    def __init__(self, broker: KafkaBroker) -> None:
        self.broker = broker

    async def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Sequence[tuple[str, bytes]] = ()
    ) -> asyncio.Future[None]:
        await self.broker.publish(value, topic=topic, key=key, headers={k: v.decode() for k, v in headers})
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def with_broker(service: Service) -> KafkaBroker:
    """The service's FastStream broker; a service that consumes nothing (ingest) gets an empty one, for
    the test broker to carry what it publishes."""
    if service.broker is None:
        service.broker = KafkaBroker()
    return service.broker


@contextlib.asynccontextmanager
async def on_test_broker(service: Service) -> AsyncIterator[KafkaBroker]:
    """The service as Service.running starts it (its start hooks, then its broker; its stop hooks at
    the end), with the broker in memory. No HTTP server and no background job runs: a test calls the
    ASGI app (``service.asgi()``) or a poller itself."""
    for hook in service.on_start:
        await hook()
    try:
        async with TestKafkaBroker(with_broker(service)) as broker:
            service.publisher._producer = InMemoryProducer(broker)  # type: ignore[assignment]
            service.ready = True
            try:
                yield broker
            finally:
                service.ready = False
    finally:
        for hook in service.on_stop:
            await hook()
