"""Metrics operators rely on: consumer lag with Kafka's semantics, stale series removed after a
rebalance, feed staleness, produced messages by outcome."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry

from services.common.lag import PartitionLag, lag_sampler, measure
from services.common.messaging.metrics import PipelineMetrics
from services.common.messaging.publisher import Outgoing, account
from services.ingest.metrics import IngestMetrics


class FakeConsumer:
    """A consumer as Kafka defines it: ``highwater`` is the offset the next produced record will get
    (last offset + 1) as reported by the last fetch; ``position`` the offset of the next record the
    consumer hands out."""

    def __init__(self, ends: dict[TopicPartition, int | None], positions: dict[TopicPartition, int]):
        self.ends = ends
        self.positions = positions

    def assignment(self) -> set[TopicPartition]:
        return set(self.ends)

    def highwater(self, partition: TopicPartition) -> int | None:
        return self.ends[partition]

    async def position(self, partition: TopicPartition) -> int:
        if partition not in self.positions:
            raise RuntimeError("partition is not assigned")
        return self.positions[partition]


class Rounds:
    """A sampler's ``sleep`` that returns only when the test lets it: ``await rounds.first()`` waits for
    the first round to be measured, ``await rounds.next()`` runs exactly one more. No real time passes."""

    def __init__(self) -> None:
        self.intervals: list[float] = []
        self._asleep: asyncio.Queue[None] = asyncio.Queue()
        self._wake: asyncio.Queue[None] = asyncio.Queue()

    async def sleep(self, seconds: float) -> None:
        self.intervals.append(seconds)
        self._asleep.put_nowait(None)
        await self._wake.get()

    async def first(self) -> None:
        await asyncio.wait_for(self._asleep.get(), 5)

    async def next(self) -> None:
        self._wake.put_nowait(None)
        await asyncio.wait_for(self._asleep.get(), 5)


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_lag_is_high_watermark_minus_position() -> None:
    a, b, c, d = (TopicPartition("news", p) for p in range(4))
    consumer = FakeConsumer(
        {a: 100, b: 7, c: None, d: 50},  # c: never fetched; d: position unknown (being reset)
        {a: 40, b: 7, c: 0},
    )
    lags = await measure(consumer)
    assert lags == [PartitionLag("news", 0, 40, 100), PartitionLag("news", 1, 7, 7)]
    assert [x.lag for x in lags] == [60, 0]
    # A position past a stale high watermark (records produced since the last fetch) is no lag.
    assert PartitionLag("news", 0, 12, 10).lag == 0


async def test_lag_gauges_follow_the_assignment() -> None:
    registry = CollectorRegistry()
    metrics = PipelineMetrics("match", registry, ("exportwatch.news.v1", "exportwatch.licences.v1"))
    news = "exportwatch.news.v1"
    tp0, tp1 = TopicPartition(news, 0), TopicPartition(news, 1)
    consumer = FakeConsumer({tp0: 10, tp1: 25}, {tp0: 4, tp1: 25})
    current: list[FakeConsumer | None] = [None]
    rounds = Rounds()
    job = lag_sampler(lambda: current[0], metrics.lag, interval=5, sleep=rounds.sleep)
    task = asyncio.create_task(job())
    try:
        await rounds.first()
        assert _value(registry, "exportwatch_match_assigned_partitions", topic=news) == 0
        current[0] = consumer
        await rounds.next()
        name = "exportwatch_match_consumer_lag_messages"
        assert _value(registry, name, topic=news, partition="0") == 6
        assert _value(registry, name, topic=news, partition="1") == 0
        assert _value(registry, "exportwatch_match_assigned_partitions", topic=news) == 2
        # A rebalance takes partition 1 away: its series disappears instead of freezing at a value.
        del consumer.ends[tp1]
        consumer.positions[tp0] = 10
        await rounds.next()
        assert _value(registry, name, topic=news, partition="0") == 0
        assert _value(registry, name, topic=news, partition="1") is None
        assert _value(registry, "exportwatch_match_assigned_partitions", topic=news) == 1
        assert _value(registry, "exportwatch_match_assigned_partitions", topic="exportwatch.licences.v1") == 0
        assert rounds.intervals == [5, 5, 5]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


class CancelledAnswering(FakeConsumer):
    """Answers ``position`` at the moment the sampler's task is cancelled: the cancellation reaches the
    task after the answer is ready but before the task has taken it."""

    task: asyncio.Task[None] | None = None

    async def position(self, partition: TopicPartition) -> int:
        assert self.task is not None
        asyncio.get_running_loop().call_soon(self.task.cancel)
        return await super().position(partition)


async def test_the_lag_sampler_stops_when_cancelled_as_a_position_arrives() -> None:
    """asyncio.wait_for on Python 3.11 returned the answer and dropped such a cancellation: the sampler
    went on sampling, and the service waiting for its background jobs at shutdown waited for ever (a
    CI run timed out on it)."""
    registry = CollectorRegistry()
    metrics = PipelineMetrics("match", registry, ("news",))
    tp = TopicPartition("news", 0)
    consumer = CancelledAnswering({tp: 10}, {tp: 4})
    task = asyncio.create_task(lag_sampler(lambda: consumer, metrics.lag, interval=0.01)())
    consumer.task = task
    done, _ = await asyncio.wait([task], timeout=2)
    assert task in done and task.cancelled(), "the sampler swallowed its cancellation"


def test_produced_messages_are_counted_by_outcome() -> None:
    registry = CollectorRegistry()
    metrics = PipelineMetrics("match", registry, ("exportwatch.news.v1",))
    messages = [Outgoing("exportwatch.alerts.v1", f"k{i}", b"{}") for i in range(3)]
    failure = ConnectionError("broker gone")
    with pytest.raises(ConnectionError):
        account(messages, ["ack", failure, "ack"], metrics)
    name = "exportwatch_match_messages_produced_total"
    assert _value(registry, name, topic="exportwatch.alerts.v1", outcome="ok") == 2
    assert _value(registry, name, topic="exportwatch.alerts.v1", outcome="error") == 1
    assert _value(registry, name, topic="exportwatch.news.v1", outcome="ok") == 0
    info = [s for m in registry.collect() if m.name == "exportwatch_match_build_info" for s in m.samples]
    assert len(info) == 1 and info[0].labels["python"] and info[0].value == 1


def test_feed_staleness_counts_from_the_last_success() -> None:
    registry = CollectorRegistry()
    metrics = IngestMetrics(registry, ["amnesty", "inbox"])
    name = "exportwatch_ingest_source_staleness_seconds"
    never = _value(registry, name, source="amnesty")
    assert never is not None and 0 <= never < 5  # since the service started
    metrics.succeeded("amnesty", dt.datetime.now(dt.UTC) - dt.timedelta(hours=2))
    stale = _value(registry, name, source="amnesty")
    assert stale is not None and 7199 < stale < 7210
    assert _value(registry, "exportwatch_ingest_source_last_success_timestamp_seconds", source="amnesty")
    assert _value(registry, name, source="inbox") is not None
