"""JSON Lines of contract events (news articles and licence records), one per line."""

from __future__ import annotations

from collections.abc import Iterator

from schemas import DeadLetterReason, InvalidEvent, parse_event
from services.ingest.core.results import Parsed, Rejected


def parse_jsonl(data: bytes, source: str, max_event_bytes: int = 1_000_000) -> Iterator[Parsed]:
    """Yield an event or a rejection per non-blank line; line numbers start at 1."""
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        if len(line) > max_event_bytes:
            yield Rejected(
                DeadLetterReason.TOO_LARGE,
                f"event of {len(line)} bytes exceeds the limit of {max_event_bytes}",
                line[:4096],
                source,
                number,
            )
            continue
        try:
            yield parse_event(line)
        except InvalidEvent as exc:
            yield Rejected(exc.reason, exc.detail, line, source, number)
