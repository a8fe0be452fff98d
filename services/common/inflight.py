"""The batch a consumer is handling, and a rebalance that waits for it.

A consumer commits a batch only after every output of it is acknowledged. When the group rebalances
(a replica joins or leaves) while a batch is being handled, Kafka takes the partitions away at once: the
next owner, or this replica after a reassignment, starts again from the last commit and publishes the
batch's outputs a second time. ``InFlight`` is the consumer's rebalance listener: on revocation it waits
for the batch in hand to be finished and committed (up to ``revoke_wait`` seconds), so a rebalance hands
over committed offsets and nothing is matched twice. A batch that takes longer is handed over as it is:
its outputs may then be repeated, which the deterministic ids downstream make harmless.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from aiokafka import ConsumerRebalanceListener, TopicPartition

log = logging.getLogger("exportwatch.pipeline")


class InFlight(ConsumerRebalanceListener):  # type: ignore[misc]
    """First offset, per (topic, partition), of the batch being handled; a rebalance waits for it."""

    def __init__(self, revoke_wait: float = 30.0) -> None:
        self.revoke_wait = revoke_wait
        self.handling: dict[tuple[str, int], int] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    def begin(self, records: Iterable[tuple[str, int, int]]) -> None:
        """A batch of (topic, partition, offset) is taken in hand."""
        for topic, partition, offset in records:
            key = (topic, partition)
            self.handling[key] = min(self.handling.get(key, offset), offset)
        self._idle.clear()

    def end(self) -> None:
        """The batch is finished: committed, or rewound to be read again."""
        self.handling.clear()
        self._idle.set()

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if self._idle.is_set():
            return
        started = time.monotonic()
        try:
            await asyncio.wait_for(self._idle.wait(), self.revoke_wait)
        except TimeoutError:
            log.warning(
                "rebalance did not wait longer for the batch in hand: its outputs may be published again",
                extra={"waited_seconds": self.revoke_wait, "partitions": len(self.handling)},
            )
            return
        log.info(
            "rebalance waited for the batch in hand to be committed",
            extra={"waited_seconds": round(time.monotonic() - started, 3), "revoked": len(revoked)},
        )

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        return None
