"""The one consumer: batches from FastStream, a size guard, a typed ``BatchHandler``, every output
published by the service's ``Publisher``, then the offsets committed by the ``CommitPolicy``.

Handlers consume in batches (a batch subscriber does several times the throughput of a per-message
one) and commit only after every output of the batch is acknowledged by the broker. The ack policy is
``NACK_ON_ERROR``: if publishing fails the offsets are rewound and the batch is read again, and the
deterministic ids downstream make the repeats harmless. Bad input never raises: it becomes a dead
letter, so no poison message can block a partition.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage

from schemas import DeadLetterReason
from services.common.inflight import InFlight
from services.common.lag import lag_sampler
from services.common.messaging.declarations import Consumes
from services.common.messaging.decoding import BatchHandler, Record
from services.common.messaging.metrics import PipelineMetrics
from services.common.messaging.publisher import Outgoing, Publisher

log = logging.getLogger("exportwatch.pipeline")

# The largest message a consumer hands to its service: ingest's largest accepted event (its default
# EXPORTWATCH_INGEST_MAX_EVENT_BYTES). A larger one is dead-lettered as too_large.
MAX_RECORD_BYTES = 1_000_000


class CommitPolicy:
    """When a batch's offsets are committed: once every output is acknowledged, from inside the handler
    (so a rebalance waiting on the batch in hand, ``InFlight``, hands over offsets past it). A batch
    whose outputs cannot be published is rewound (``NACK_ON_ERROR``) after ``retry_delay`` seconds and
    read again."""

    ack_policy = AckPolicy.NACK_ON_ERROR

    def __init__(self, retry_delay: float = 1.0) -> None:
        self.retry_delay = retry_delay

    async def commit(self, msg: KafkaMessage, records: int) -> None:
        try:
            await msg.ack()
        except KafkaError as exc:
            log.warning(
                "commit failed after the batch was published; it may be read again",
                extra={"records": records, "error": type(exc).__name__},
            )

    async def rewind(self, records: int) -> None:
        """Publishing failed: log, wait, and let the caller raise so that the batch is read again."""
        log.exception("publishing failed; the batch will be read again", extra={"records": records})
        await asyncio.sleep(self.retry_delay)


def _too_large(handler: BatchHandler[Any], records: Sequence[Record], limit: int) -> list[Outgoing]:
    """Dead letters of the records larger than ``limit``, which never reach the handler."""
    out: list[Outgoing] = []
    for r in records:
        size = len(r.value or b"")
        if size > limit:
            log.warning(
                "message too large dead-lettered",
                extra={"topic": r.topic, "partition": r.partition, "offset": r.offset, "bytes": size},
            )
            detail = f"message of {size} bytes exceeds the limit of {limit}"
            out.append(handler.dead_letters.letter(r, DeadLetterReason.TOO_LARGE, detail))
    return out


async def raw_bodies(msg: StreamMessage[Any]) -> Any:
    """The message's bodies as the bytes that arrived: the ``Decoder`` of each service reads the records
    itself, so FastStream's own decoding (``json.loads`` of every body, which the handler never sees) is
    skipped. It was 13-15% of match's CPU under load (issue 20 item 4)."""
    return msg.body


def subscribe(
    broker: KafkaBroker,
    consumes: Consumes,
    group_id: str,
    handler: BatchHandler[Any],
    publisher: Publisher,
    metrics: PipelineMetrics,
    *,
    commit: CommitPolicy | None = None,
    max_records: int = 500,
    max_record_bytes: int = MAX_RECORD_BYTES,
    lag_interval: float = 5.0,
    session_timeout_ms: int = 10_000,
    heartbeat_interval_ms: int = 3_000,
) -> Callable[[], Coroutine[Any, Any, None]]:
    """Register a batch consumer of ``consumes.topics``: ``handler`` turns records into outgoing
    messages, which ``publisher`` publishes before ``commit`` commits the offsets. A record larger than
    ``max_record_bytes`` never reaches ``handler``: it is dead-lettered as too_large.
    ``session_timeout_ms`` and ``heartbeat_interval_ms`` are the consumer group's (CommonSettings).

    Returns the background job that keeps the consumer's lag gauges current (add it to the service's
    background jobs)."""
    policy = commit or CommitPolicy()
    in_flight = InFlight()  # the batch being handled; a rebalance waits for it to be committed

    async def _consume(msg: KafkaMessage) -> None:
        raw: Any = msg.raw_message
        # A batch: a tuple from aiokafka's getmany, a list from FastStream's in-memory test broker.
        records: Sequence[Record] = raw if isinstance(raw, tuple | list) else (raw,)
        in_flight.begin((r.topic, r.partition, r.offset) for r in records)
        try:
            await _consume_batch(records)
            # Committed here, not after the handler returns, so that a rebalance waiting on
            # ``in_flight`` hands over offsets past this batch.
            await policy.commit(msg, len(records))
        finally:
            in_flight.end()

    async def _consume_batch(records: Sequence[Record]) -> None:
        started = time.perf_counter()
        fitting = [r for r in records if len(r.value or b"") <= max_record_bytes]
        outgoing = await handler(fitting) if fitting else []
        outgoing.extend(_too_large(handler, records, max_record_bytes))
        try:
            await publisher.publish_all(outgoing)
        except Exception:
            metrics.publish_failures.inc()
            await policy.rewind(len(records))
            raise
        dead = handler.dead_letters.sources(outgoing)
        for r in records:
            outcome = "deadlettered" if (r.topic, r.partition, r.offset) in dead else "ok"
            metrics.consumed.labels(topic=r.topic, outcome=outcome).inc()
        for reason in handler.dead_letters.reasons(outgoing):
            metrics.deadlettered.labels(reason=reason).inc()
        metrics.processing.observe(time.perf_counter() - started)

    subscriber = broker.subscriber(
        *consumes.topics,
        group_id=group_id,
        batch=True,
        max_records=max_records,
        batch_timeout_ms=100,
        auto_offset_reset="earliest",
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=heartbeat_interval_ms,
        ack_policy=policy.ack_policy,
        listener=in_flight,
        title=f"{group_id}-consumer",
        description=consumes.description,
    )
    subscriber(_consume, decoder=raw_bodies)
    return lag_sampler(lambda: subscriber.consumer, metrics.lag, lag_interval, lambda: in_flight.handling)
