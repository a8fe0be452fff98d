"""Consuming and producing with at-least-once semantics, dead letters and the metrics every service shares.

Handlers consume in batches (a batch subscriber does several times the throughput of a per-message
one) and commit only after every output of the batch is acknowledged by the broker. The ack policy is
``NACK_ON_ERROR``: if publishing fails the offsets are rewound and the batch is read again, and the
deterministic ids downstream make the repeats harmless. Bad input never raises: it becomes a dead
letter, so no poison message can block a partition.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import platform
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import (
    PLATFORM_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)
from pydantic import BaseModel

from schemas import DeadLetter, DeadLetterReason, topics
from schemas.reasons import CONSUMER_REASONS
from services.common.inflight import InFlight
from services.common.lag import LagGauges, lag_sampler
from services.common.topics import TopicGuard

log = logging.getLogger("exportwatch.pipeline")

DEADLETTER_REASONS = CONSUMER_REASONS
OUTCOMES = ("ok", "deadlettered")
# The largest message a consumer hands to its service: ingest's largest accepted event (its default
# EXPORTWATCH_INGEST_MAX_EVENT_BYTES). A larger one is dead-lettered as too_large.
MAX_RECORD_BYTES = 1_000_000
# A dead letter must itself fit in one Kafka message (1 MiB by default, on brokers and producers; base64
# adds a third): of a larger original it keeps the start, and its detail says so. Without this, the dead
# letter of a large bad message could never be published and its batch was read again forever.
MAX_DEAD_LETTER_ORIGINAL = 256 * 1024


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


def dead_letter(
    service: str,
    reason: DeadLetterReason,
    detail: str,
    raw: bytes,
    *,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    key: bytes | str | None = None,
    source: str | None = None,
    now: dt.datetime | None = None,
) -> Outgoing:
    """A dead-letter message for ``raw``, keyed like the original so it stays next to its siblings."""
    key_text = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
    kept = raw[:MAX_DEAD_LETTER_ORIGINAL]
    if len(kept) < len(raw):
        note = f" (original {len(raw)} bytes; the first {len(kept)} kept)"
        detail = detail[: 2000 - len(note)] + note
    letter = DeadLetter(
        service=service,
        source_topic=topic,
        source_partition=partition,
        source_offset=offset,
        source=source,
        key=key_text,
        reason=reason,
        detail=detail[:2000],
        original_base64=base64.b64encode(kept).decode("ascii"),
        created_at=now or dt.datetime.now(dt.UTC),
    )
    fallback = f"{topic}:{partition}:{offset}" if topic else (source or "unknown")
    return Outgoing(topics.DEADLETTER, key_text or fallback, letter)


class PipelineMetrics:
    """The metrics every service exports, registered on the service's own registry."""

    def __init__(self, service: str, registry: CollectorRegistry, consumed_topics: Sequence[str]) -> None:
        self.service = service
        prefix = f"exportwatch_{service}"
        self.consumed = Counter(
            f"{prefix}_messages_consumed_total",
            "Messages consumed, by topic and outcome.",
            ["topic", "outcome"],
            registry=registry,
        )
        self.produced = Counter(
            f"{prefix}_messages_produced_total",
            "Messages produced, by topic and outcome: ok (acknowledged by the broker) or error (not "
            "acknowledged; the batch that made it is read and published again).",
            ["topic", "outcome"],
            registry=registry,
        )
        self.deadlettered = Counter(
            f"{prefix}_deadletters_total",
            "Messages sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=registry,
        )
        self.processing = Histogram(
            f"{prefix}_batch_processing_seconds",
            "Time to process one consumed batch, publishing included.",
            registry=registry,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.publish_failures = Counter(
            f"{prefix}_publish_failures_total",
            "Batches whose outputs could not be published; they are read again.",
            registry=registry,
        )
        self.lag = LagGauges(
            Gauge(
                f"{prefix}_consumer_lag_messages",
                "Messages on each assigned partition not yet taken by this replica: the high watermark "
                "of its last fetch minus its position.",
                ["topic", "partition"],
                registry=registry,
            ),
            Gauge(
                f"{prefix}_assigned_partitions",
                "Partitions of each consumed topic assigned to this replica by its consumer group.",
                ["topic"],
                registry=registry,
            ),
            consumed_topics,
            Gauge(
                f"{prefix}_consumer_lag_last_success_timestamp_seconds",
                "When the consumer lag was last measured (Unix time); lag series are absent while it "
                "cannot be, so an old value here means the lag is unknown, not zero.",
                registry=registry,
            ),
        )
        self.build_info = Gauge(
            f"{prefix}_build_info",
            "Build information: ExportWatch and Python versions (always 1).",
            ["version", "python"],
            registry=registry,
        )
        from importlib.metadata import PackageNotFoundError, version

        try:
            ver = version("exportwatch")
        except PackageNotFoundError:
            ver = "unknown"
        self.build_info.labels(version=ver, python=platform.python_version()).set(1)
        for topic in consumed_topics:
            for outcome in OUTCOMES:
                self.consumed.labels(topic=topic, outcome=outcome)
        for topic in topics.ALL:
            for outcome in ("ok", "error"):
                self.produced.labels(topic=topic, outcome=outcome)
        for reason in DEADLETTER_REASONS:
            self.deadlettered.labels(reason=reason)


def new_registry() -> CollectorRegistry:
    disable_created_metrics()  # type: ignore[no-untyped-call]
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    registry.register(PLATFORM_COLLECTOR)
    return registry


async def publish_all(
    broker: KafkaBroker, messages: Sequence[Outgoing], metrics: PipelineMetrics, *, guard: TopicGuard
) -> None:
    """Publish every message and wait for every acknowledgement; raise if any failed. ``guard``
    (``topic_guard``, services/common/topics.py) says whether the broker is asked for the topics
    around the send (the embedded broker only)."""
    if not messages:
        return

    async def send() -> list[object]:
        done: list[object] = await asyncio.gather(
            *(
                broker.publish(
                    encode(m.value),
                    topic=m.topic,
                    key=m.key.encode("utf-8"),
                    headers={"content-type": "application/json"},
                )
                for m in messages
            ),
            return_exceptions=True,
        )
        return done

    # FastStream's admin client (connected with the broker), for a guard that asks the broker for its
    # topics: the embedded broker, having lost them, may acknowledge and drop (topics.py).
    admin = broker.config.admin_client if guard.lists_topics else None
    results = await guard.publish(admin, {m.topic for m in messages}, len(messages), send)
    account(messages, results, metrics)


def account(messages: Sequence[Outgoing], results: Sequence[object], metrics: PipelineMetrics) -> None:
    """Count the acknowledged messages (``results`` from a gather with return_exceptions) and raise
    the first failure, if any."""
    errors = [r for r in results if isinstance(r, BaseException)]
    for m, r in zip(messages, results, strict=True):
        outcome = "error" if isinstance(r, BaseException) else "ok"
        metrics.produced.labels(topic=m.topic, outcome=outcome).inc()
    if errors:
        raise errors[0]


BatchHandler = Callable[[Sequence[ConsumerRecord[bytes, bytes]]], Awaitable[list[Outgoing]]]


def subscribe_batches(
    broker: KafkaBroker,
    source_topics: Sequence[str],
    group_id: str,
    handle: BatchHandler,
    metrics: PipelineMetrics,
    *,
    max_records: int = 500,
    max_record_bytes: int = MAX_RECORD_BYTES,
    retry_delay: float = 1.0,
    lag_interval: float = 5.0,
    description: str | None = None,
    session_timeout_ms: int = 10_000,
    heartbeat_interval_ms: int = 3_000,
    guard: TopicGuard,
) -> Callable[[], Coroutine[Any, Any, None]]:
    """Register a batch consumer: ``handle`` turns records into outgoing messages, which are published
    before the offsets are committed. A failure to publish rewinds the batch (after ``retry_delay``).
    A record larger than ``max_record_bytes`` never reaches ``handle``: it is dead-lettered as too_large.
    ``description`` says what the consumer does, for the AsyncAPI document (``tools/asyncapi.py``).
    ``session_timeout_ms`` and ``heartbeat_interval_ms`` are the consumer group's (CommonSettings);
    ``guard`` is how outputs are published with respect to lost topics (``topic_guard``).

    Returns the background job that keeps the consumer's lag gauges current (add it to the service's
    background jobs)."""

    in_flight = InFlight()  # the batch being handled; a rebalance waits for it to be committed

    async def _consume(msg: KafkaMessage) -> None:
        raw: Any = msg.raw_message
        records: Sequence[ConsumerRecord[bytes, bytes]] = raw if isinstance(raw, tuple) else (raw,)
        in_flight.begin((r.topic, r.partition, r.offset) for r in records)
        try:
            await _consume_batch(records)
            # Committed here, not after the handler returns, so that a rebalance waiting on
            # ``in_flight`` hands over offsets past this batch.
            try:
                await msg.ack()
            except KafkaError as exc:
                log.warning(
                    "commit failed after the batch was published; it may be read again",
                    extra={"records": len(records), "error": type(exc).__name__},
                )
        finally:
            in_flight.end()

    async def _consume_batch(records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        started = time.perf_counter()
        fitting = [r for r in records if len(r.value or b"") <= max_record_bytes]
        outgoing = await handle(fitting) if fitting else []
        for r in records:
            if len(r.value or b"") > max_record_bytes:
                size = len(r.value or b"")
                log.warning(
                    "message too large dead-lettered",
                    extra={"topic": r.topic, "partition": r.partition, "offset": r.offset, "bytes": size},
                )
                detail = f"message of {size} bytes exceeds the limit of {max_record_bytes}"
                outgoing.append(dead_letter_record(metrics.service, r, DeadLetterReason.TOO_LARGE, detail))
        try:
            await publish_all(broker, outgoing, metrics, guard=guard)
        except Exception:
            metrics.publish_failures.inc()
            log.exception("publishing failed; the batch will be read again", extra={"records": len(records)})
            await asyncio.sleep(retry_delay)
            raise
        dead_keys = {
            (o.value.source_topic, o.value.source_partition, o.value.source_offset)
            for o in outgoing
            if isinstance(o.value, DeadLetter)
        }
        for r in records:
            outcome = "deadlettered" if (r.topic, r.partition, r.offset) in dead_keys else "ok"
            metrics.consumed.labels(topic=r.topic, outcome=outcome).inc()
        for o in outgoing:
            if isinstance(o.value, DeadLetter):
                metrics.deadlettered.labels(reason=o.value.reason).inc()
        metrics.processing.observe(time.perf_counter() - started)

    subscriber = broker.subscriber(
        *source_topics,
        group_id=group_id,
        batch=True,
        max_records=max_records,
        batch_timeout_ms=100,
        auto_offset_reset="earliest",
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=heartbeat_interval_ms,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        listener=in_flight,
        title=f"{group_id}-consumer",
        description=description,
    )
    subscriber(_consume)
    return lag_sampler(lambda: subscriber.consumer, metrics.lag, lag_interval, lambda: in_flight.handling)


def dead_letter_record(
    service: str, record: ConsumerRecord[bytes, bytes], reason: DeadLetterReason, detail: str
) -> Outgoing:
    """A dead letter for a consumed record, pointing back at its topic, partition and offset."""
    return dead_letter(
        service,
        reason,
        detail,
        record.value or b"",
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
    )
