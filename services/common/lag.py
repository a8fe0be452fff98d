"""Consumer lag per partition, from the consumer's own view.

Lag is the high watermark the broker reported with the last fetch (the offset the next produced message
will get) minus the consumer's position (the offset of the next record it will hand to the service), as
Kafka defines it. Both come from the consumer itself, so no admin call to the group coordinator is needed
(and the embedded broker cannot answer that call).

A batch being handled is not yet taken: the consumer's position is already past it, so while the
service cannot handle it (its database is down) the position alone would read a lag of 0. Its first
offset counts instead. When lag cannot be measured at all, its series are removed rather than left at
their last (or a zero) value: Prometheus's convention for "unknown" is an absent series, which ``sum``
skips and which NaN would poison; ``<prefix>_consumer_lag_last_success_timestamp_seconds`` says how old
the last measurement is, so a rule can tell "no lag" from "lag unknown".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
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


async def measure(
    consumer: LagSource, timeout: float = 1.0, handling: Mapping[tuple[str, int], int] | None = None
) -> list[PartitionLag]:
    """Lag of every assigned partition whose high watermark and position are known. ``handling`` maps
    (topic, partition) to the first offset of the batch being handled, which is not taken yet."""
    unhandled = handling or {}
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
        position = min(position, unhandled.get((tp.topic, tp.partition), position))
        out.append(PartitionLag(tp.topic, tp.partition, position, end))
    return out


class LagGauges:
    """``<prefix>_consumer_lag_messages{topic,partition}`` and ``<prefix>_assigned_partitions{topic}``;
    series of partitions no longer assigned are removed, so a rebalance leaves no stale lag behind."""

    def __init__(
        self, lag: Gauge, assigned: Gauge, topics: Iterable[str], last_success: Gauge | None = None
    ) -> None:
        self.lag = lag
        self.assigned = assigned
        self.last_success = last_success
        self.topics = tuple(topics)
        self._shown: set[tuple[str, str]] = set()
        for topic in self.topics:
            assigned.labels(topic=topic).set(0)

    def unknown(self) -> None:
        """The lag could not be measured: no series rather than stale or zero values."""
        for labels in self._shown:
            with contextlib.suppress(KeyError):
                self.lag.remove(*labels)
        self._shown = set()

    def show(
        self, lags: Iterable[PartitionLag], assignment: Iterable[TopicPartition], now: float | None = None
    ) -> None:
        """``now`` (Unix seconds) when the lags are a fresh measurement of a running consumer."""
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
        if now is not None and self.last_success is not None:
            self.last_success.set(now)


def lag_sampler(
    consumer: Callable[[], LagSource | None],
    gauges: LagGauges,
    interval: float = 5.0,
    handling: Callable[[], Mapping[tuple[str, int], int]] = dict,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Callable[[], Coroutine[Any, Any, None]]:
    """A background job: every ``interval`` seconds, measure the consumer's lag into ``gauges``.
    ``consumer`` returns the running consumer (None while it is not started); ``handling`` the first
    offset of each partition's batch being handled. ``clock`` (Unix seconds, for the last-success
    gauge) and ``sleep`` are the real ones but for tests, which step the sampler one round at a time."""

    async def run() -> None:
        while True:
            current = consumer()
            try:
                if current is None:
                    gauges.show((), ())
                else:
                    assignment = set(current.assignment())
                    lags = await measure(current, handling=handling())
                    gauges.show(lags, assignment, now=clock())
            except Exception:
                log.debug("lag measurement failed", exc_info=True)
                gauges.unknown()
            await sleep(interval)

    return run
