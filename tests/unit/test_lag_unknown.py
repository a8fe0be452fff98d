"""Lag that is not known never reads 0 (issue 17): a batch the service is still handling counts as not
taken, a failed measurement removes the series instead of leaving old values, and
``..._consumer_lag_last_success_timestamp_seconds`` says when the lag was last measured."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry

from services.common.lag import PartitionLag, lag_sampler, measure
from services.common.messaging.metrics import PipelineMetrics
from tests.unit.test_metrics import FakeConsumer, Rounds

NEWS = "exportwatch.news.v1"
LAG = "exportwatch_match_consumer_lag_messages"
LAST = "exportwatch_match_consumer_lag_last_success_timestamp_seconds"


async def test_a_batch_being_handled_is_still_lag() -> None:
    """The consumer's position is past the batch it handed out; while the handler cannot record it (the
    database is down) those messages are not taken, so the lag is not 0."""
    tp0, tp1 = TopicPartition(NEWS, 0), TopicPartition(NEWS, 1)
    consumer = FakeConsumer({tp0: 100, tp1: 30}, {tp0: 100, tp1: 30})
    lags = await measure(consumer, handling={(NEWS, 0): 60})
    assert lags == [PartitionLag(NEWS, 0, 60, 100), PartitionLag(NEWS, 1, 30, 30)]
    assert [x.lag for x in lags] == [40, 0]


class Failing(FakeConsumer):
    broken = False

    def assignment(self) -> set[TopicPartition]:
        if self.broken:
            raise RuntimeError("consumer is closing")
        return super().assignment()


async def test_an_unmeasurable_lag_is_absent_and_the_last_success_stays_old() -> None:
    registry = CollectorRegistry()
    metrics = PipelineMetrics("match", registry, (NEWS,))
    tp0 = TopicPartition(NEWS, 0)
    consumer = Failing({tp0: 10}, {tp0: 4})
    now = [1_000.0]
    rounds = Rounds()
    job = lag_sampler(lambda: consumer, metrics.lag, interval=5, clock=lambda: now[0], sleep=rounds.sleep)
    task = asyncio.create_task(job())
    try:
        await rounds.first()
        assert registry.get_sample_value(LAG, {"topic": NEWS, "partition": "0"}) == 6
        assert registry.get_sample_value(LAST) == 1_000.0
        consumer.broken = True
        now[0] = 1_005.0
        await rounds.next()
        assert registry.get_sample_value(LAG, {"topic": NEWS, "partition": "0"}) is None
        assert registry.get_sample_value(LAST) == 1_000.0  # the last success, not this failed round
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
