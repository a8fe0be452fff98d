"""What a parser yields for each input item: a valid event, or a rejection with its reason."""

from __future__ import annotations

from dataclasses import dataclass

from schemas import DeadLetterReason, LicenceRecord, NewsArticle

Event = NewsArticle | LicenceRecord


@dataclass(frozen=True)
class Rejected:
    """An input item that is not a valid event: it goes to the dead-letter topic with this reason."""

    reason: DeadLetterReason
    detail: str
    raw: bytes
    source: str
    line: int | None = None

    def describe(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: {self.reason}: {self.detail}"


Parsed = Event | Rejected
