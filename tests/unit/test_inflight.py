"""A rebalance waits for the batch in hand (services/common/inflight.py): the partitions are handed
over only once it is committed, so the next owner does not publish its outputs again."""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition

from services.common.inflight import InFlight

REVOKED = {TopicPartition("t", 0)}


async def test_a_revocation_with_nothing_in_hand_returns_at_once() -> None:
    in_flight = InFlight(revoke_wait=5)
    await asyncio.wait_for(in_flight.on_partitions_revoked(REVOKED), 0.1)


async def test_a_revocation_waits_until_the_batch_in_hand_is_finished() -> None:
    in_flight = InFlight(revoke_wait=5)
    in_flight.begin([("t", 0, 7), ("t", 0, 5), ("t", 1, 9)])
    assert in_flight.handling == {("t", 0): 5, ("t", 1): 9}
    revoking = asyncio.create_task(in_flight.on_partitions_revoked(REVOKED))
    for _ in range(10):  # let it run as far as it can without the batch finishing
        await asyncio.sleep(0)
    assert not revoking.done(), "the partitions went while the batch was still in hand"
    in_flight.end()
    await asyncio.wait_for(revoking, 1)
    assert in_flight.handling == {}


async def test_a_revocation_does_not_wait_longer_than_its_bound() -> None:
    in_flight = InFlight(revoke_wait=0)  # the bound is up at once: no real time passes
    in_flight.begin([("t", 0, 1)])
    await asyncio.wait_for(in_flight.on_partitions_revoked(REVOKED), 1)
    assert in_flight.handling == {("t", 0): 1}  # still in hand: its outputs may be published again
