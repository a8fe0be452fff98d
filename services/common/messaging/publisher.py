"""The one way a service publishes: a plain aiokafka producer, every send of a batch enqueued at once,
then every acknowledgement awaited, with the embedded broker's topic guard around it when it is on.

FastStream's ``broker.publish`` costs about 0.5 ms of CPU per message (middlewares, a correlation id,
its own serialisation); ingest publishes whole files, where that was 50 of the 62 seconds of the UK data
set. Every service (ingest, match, notify) publishes through ``Publisher``; consumers stay on FastStream
(``consumer.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import BaseModel

from services.common.kafka import KafkaSettings
from services.common.messaging.metrics import PipelineMetrics
from services.common.topics import TopicGuard

_HEADERS = [("content-type", b"application/json")]


@dataclass(frozen=True)
class Outgoing:
    """One message to publish: topic, key and the model (or raw bytes) as value."""

    topic: str
    key: str
    value: BaseModel | bytes


def encode(value: BaseModel | bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    return value.model_dump_json(exclude_none=False).encode("utf-8")


def account(messages: Sequence[Outgoing], results: Sequence[object], metrics: PipelineMetrics) -> None:
    """Count the acknowledged messages (``results`` from a gather with return_exceptions) and raise
    the first failure, if any."""
    errors = [r for r in results if isinstance(r, BaseException)]
    for m, r in zip(messages, results, strict=True):
        outcome = "error" if isinstance(r, BaseException) else "ok"
        metrics.produced.labels(topic=m.topic, outcome=outcome).inc()
    if errors:
        raise errors[0]


class Publisher:
    """Publishes batches and waits for every acknowledgement. ``guard`` (``topic_guard`` in
    services/common/topics.py) says how a batch is published with respect to lost topics; an admin
    client is opened only for a guard that lists topics. ``topics``: the topics the service declares it
    produces (``declarations.py``); a message for another is a bug and raises ValueError (None: any)."""

    def __init__(
        self,
        kafka: KafkaSettings,
        client_id: str,
        metrics: PipelineMetrics,
        *,
        guard: TopicGuard,
        topics: Collection[str] | None = None,
    ) -> None:
        self.kafka = kafka
        self.client_id = client_id
        self.metrics = metrics
        self.guard = guard
        self.topics = frozenset(topics) if topics is not None else None
        self._producer: AIOKafkaProducer | None = None  # made in start(): it needs the running loop
        self._admin: AIOKafkaAdminClient | None = None  # the guard's, when it asks the broker for topics

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            **self.kafka.client_options(),
            client_id=self.client_id,
            acks="all",
            linger_ms=5,  # a few ms of batching: many messages per request
            max_batch_size=1 << 20,
            request_timeout_ms=30_000,
        )
        admin = (
            AIOKafkaAdminClient(
                **self.kafka.client_options(), client_id=self.client_id, request_timeout_ms=10_000
            )
            if self.guard.lists_topics
            else None
        )
        await producer.start()
        if admin is not None:
            try:
                await admin.start()
            except BaseException:
                await producer.stop()
                raise
        self._producer, self._admin = producer, admin

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        admin, self._admin = self._admin, None
        if producer is not None:
            await producer.stop()
        if admin is not None:
            await admin.close()

    async def ping(self, timeout: float) -> bool:
        """Does a broker answer the producer's client (a metadata request) within ``timeout`` seconds;
        a failed request is tried again meanwhile, as FastStream's ``broker.ping`` does."""
        producer = self._producer
        if producer is None:
            return False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while True:
                    try:
                        await producer.client.fetch_all_metadata()
                    except Exception:
                        await asyncio.sleep(timeout / 10)
                    else:
                        return True
        return False

    async def publish_all(self, messages: Sequence[Outgoing]) -> None:
        """Send every message and wait for every acknowledgement; raise if any failed."""
        if not messages:
            return
        if self.topics is not None and (undeclared := {m.topic for m in messages} - self.topics):
            raise ValueError(f"{self.client_id} does not declare that it produces {sorted(undeclared)}")
        producer = self._producer
        if producer is None:
            raise RuntimeError("the producer is not running")

        async def send() -> list[object]:
            futures = [
                await producer.send(
                    m.topic, value=encode(m.value), key=m.key.encode("utf-8"), headers=_HEADERS
                )
                for m in messages
            ]
            done: list[object] = await asyncio.gather(*futures, return_exceptions=True)
            return done

        # On the embedded broker, acknowledged is not stored when it lost the topics (topics.py).
        results = await self.guard.publish(self._admin, {m.topic for m in messages}, len(messages), send)
        account(messages, results, self.metrics)
