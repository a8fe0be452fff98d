"""Consumer lag per partition, from the consumer's own view.

Lag is the high watermark the broker reported with the last fetch (the offset the next produced message
will get) minus the consumer's position (the offset of the next record it will hand to the service), as
Kafka defines it. Both come from the consumer itself, so no admin call to the group coordinator is needed
(and the embedded broker cannot answer that call).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import TopicPartition
from prometheus_client import Gauge

log = logging.getLogger("exportwatch.lag")


class LagSource(Protocol):
    """The part of ``AIOKafkaConsumer`` lag needs."""

    def assignment(self) -> set[TopicPartition]: ...

    def highwater(self, partition: TopicPartition) -> int | None: ...

    async def position(self, partition: TopicPartition) -> int: ...


@dataclass(frozen=True, order=True)
class PartitionLag:
    topic: str
    partition: int
    position: int
    end: int

    @property
    def lag(self) -> int:
        """Messages on the partition the consumer has not yet taken (never negative)."""
        return max(0, self.end - self.position)


async def measure(consumer: LagSource, timeout: float = 1.0) -> list[PartitionLag]:
    """Lag of every assigned partition whose high watermark and position are known."""
    out: list[PartitionLag] = []
    for tp in sorted(consumer.assignment()):
        end = consumer.highwater(tp)
        if end is None:  # nothing fetched from it yet
            continue
        try:
            async with asyncio.timeout(timeout):  # not wait_for: on 3.11 it can swallow a cancellation
                position = await consumer.position(tp)
        except Exception as exc:  # revoked meanwhile, or resetting its offset: measured next time
            log.debug("no position yet", extra={"partition": f"{tp.topic}:{tp.partition}", "err": repr(exc)})
            continue
        out.append(PartitionLag(tp.topic, tp.partition, position, end))
    return out


class LagGauges:
    """``<prefix>_consumer_lag_messages{topic,partition}`` and ``<prefix>_assigned_partitions{topic}``;
    series of partitions no longer assigned are removed, so a rebalance leaves no stale lag behind."""

    def __init__(self, lag: Gauge, assigned: Gauge, topics: Iterable[str]) -> None:
        self.lag = lag
        self.assigned = assigned
        self.topics = tuple(topics)
        self._shown: set[tuple[str, str]] = set()
        for topic in self.topics:
            assigned.labels(topic=topic).set(0)

    def show(self, lags: Iterable[PartitionLag], assignment: Iterable[TopicPartition]) -> None:
        counts = dict.fromkeys(self.topics, 0)
        for tp in assignment:
            counts[tp.topic] = counts.get(tp.topic, 0) + 1
        for topic, count in counts.items():
            self.assigned.labels(topic=topic).set(count)
        shown: set[tuple[str, str]] = set()
        for item in lags:
            labels = (item.topic, str(item.partition))
            self.lag.labels(*labels).set(item.lag)
            shown.add(labels)
        for labels in self._shown - shown:
            with contextlib.suppress(KeyError):
                self.lag.remove(*labels)
        self._shown = shown


def lag_sampler(
    consumer: Callable[[], LagSource | None], gauges: LagGauges, interval: float = 5.0
) -> Callable[[], Coroutine[Any, Any, None]]:
    """A background job: every ``interval`` seconds, measure the consumer's lag into ``gauges``.
    ``consumer`` returns the running consumer (None while it is not started)."""

    async def run() -> None:
        while True:
            current = consumer()
            try:
                if current is None:
                    gauges.show((), ())
                else:
                    assignment = set(current.assignment())
                    gauges.show(await measure(current), assignment)
            except Exception:
                log.debug("lag measurement failed", exc_info=True)
            await asyncio.sleep(interval)

    return run
