"""Dead letters: what a service could not process, on the dead-letter topic with the reason and the
original bytes, and the policy a consumer follows for a record it rejects."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass

from aiokafka import ConsumerRecord

from schemas import DeadLetter, DeadLetterReason, topics
from services.common.messaging.publisher import Outgoing

# A dead letter must itself fit in one Kafka message (1 MiB by default, on brokers and producers; base64
# adds a third): of a larger original it keeps the start, and its detail says so. Without this, the dead
# letter of a large bad message could never be published and its batch was read again forever.
MAX_DEAD_LETTER_ORIGINAL = 256 * 1024


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


@dataclass(frozen=True)
class DeadLetterPolicy:
    """What becomes of a consumed record that cannot be processed: a dead letter from ``service`` on the
    dead-letter topic, so no poison message blocks its partition. The consumer asks it for every
    rejection (the decoder's, the size guard's, a handler's processing error) and asks it which of a
    batch's outputs were dead letters, to count the batch's records by outcome."""

    service: str

    def letter(self, record: ConsumerRecord[bytes, bytes], reason: DeadLetterReason, detail: str) -> Outgoing:
        return dead_letter_record(self.service, record, reason, detail)

    @staticmethod
    def sources(outgoing: list[Outgoing]) -> set[tuple[str | None, int | None, int | None]]:
        """(topic, partition, offset) of each consumed record that ``outgoing`` dead-letters."""
        return {
            (o.value.source_topic, o.value.source_partition, o.value.source_offset)
            for o in outgoing
            if isinstance(o.value, DeadLetter)
        }

    @staticmethod
    def reasons(outgoing: list[Outgoing]) -> list[str]:
        """The reason of each dead letter in ``outgoing``, one per letter."""
        return [o.value.reason for o in outgoing if isinstance(o.value, DeadLetter)]
