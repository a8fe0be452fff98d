"""Publishing many messages fast: a plain aiokafka producer, every send enqueued at once, then every
acknowledgement awaited.

FastStream's ``broker.publish`` costs about 0.5 ms of CPU per message (middlewares, a correlation id,
its own serialisation); ingest publishes whole files, where that was 50 of the 62 seconds of the UK data
set. Consumers stay on FastStream; a producer-only path needs none of its machinery.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from services.common.kafka import KafkaSettings
from services.common.pipeline import Outgoing, PipelineMetrics, account, encode
from services.common.topics import TopicGuard

_HEADERS = [("content-type", b"application/json")]


class Producer:
    """``guard`` (``topic_guard`` in services/common/topics.py) says how a batch is published with
    respect to lost topics; an admin client is opened only for a guard that lists topics."""

    def __init__(
        self, kafka: KafkaSettings, client_id: str, metrics: PipelineMetrics, *, guard: TopicGuard
    ) -> None:
        self.kafka = kafka
        self.client_id = client_id
        self.metrics = metrics
        self.guard = guard
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

    async def publish_all(self, messages: Sequence[Outgoing]) -> None:
        """Send every message and wait for every acknowledgement; raise if any failed."""
        if not messages:
            return
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
