"""Typed batches: each consumed record decoded into an event, or rejected with a reason; handlers see
only the decoded events, and the rejected records become dead letters by the consumer's policy."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeAlias, TypeVar

from aiokafka import ConsumerRecord

from schemas import DeadLetterReason
from services.common.messaging.deadletters import DeadLetterPolicy
from services.common.messaging.publisher import Outgoing

T = TypeVar("T")
Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


@dataclass(frozen=True, slots=True)
class Decoded(Generic[T]):
    """A record and the event decoded from it."""

    record: Record
    event: T


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that is not a valid event: why, and a readable detail for its dead letter."""

    record: Record
    reason: DeadLetterReason
    detail: str


Decoder = Callable[[Record], "Decoded[T] | Rejected"]
"""One record in, its event or its rejection out; never raises for bad input."""

Handle = Callable[[Sequence[Decoded[T]]], Awaitable[list[Outgoing]]]
"""The decoded events of a batch in, the messages to publish out (alerts, a handler's dead letters)."""


class BatchHandler(Generic[T]):
    """Records in, messages to publish out: ``decode`` each record, dead-letter the rejected ones by
    ``dead_letters``, hand the decoded ones to ``handle`` (not called when none is left). With
    ``decode_in_thread`` the decoding runs in a worker thread, for decoders whose CPU time would keep
    the event loop (health checks, the consumer group's heartbeats) waiting."""

    def __init__(
        self,
        decode: Decoder[T],
        handle: Handle[T],
        dead_letters: DeadLetterPolicy,
        *,
        decode_in_thread: bool = False,
    ) -> None:
        self.decode = decode
        self.handle = handle
        self.dead_letters = dead_letters
        self.decode_in_thread = decode_in_thread

    def decode_all(self, records: Sequence[Record]) -> tuple[list[Decoded[T]], list[Rejected]]:
        decoded: list[Decoded[T]] = []
        rejected: list[Rejected] = []
        for record in records:
            result = self.decode(record)
            if isinstance(result, Rejected):
                rejected.append(result)
            else:
                decoded.append(result)
        return decoded, rejected

    async def __call__(self, records: Sequence[Record]) -> list[Outgoing]:
        if self.decode_in_thread:
            decoded, rejected = await asyncio.to_thread(self.decode_all, records)
        else:
            decoded, rejected = self.decode_all(records)
        out = [self.dead_letters.letter(r.record, r.reason, r.detail) for r in rejected]
        if decoded:
            out.extend(await self.handle(decoded))
        return out
