"""Whether an event is new, a correction of one published before, or a repeat of what was published."""

from __future__ import annotations

import hashlib
from enum import StrEnum

from schemas import LicenceRecord, NewsArticle
from services.ingest.core.dedup import normalise_text

# Set by ingest itself: a repeat of the same content must hash the same whatever these say.
_VOLATILE = frozenset({"revision", "ingested_at", "duplicate_of", "published_at_inferred"})


class Status(StrEnum):
    NEW = "new"
    UPDATE = "update"
    DUPLICATE = "duplicate"


def content_hash(event: NewsArticle | LicenceRecord, normalised: str | None = None) -> str:
    """Hash of what the event says. For an article: its normalised title, body and URL, so a feed that
    re-serves an item with a new date or different markup is not an update; for a licence record: every
    field but the ones ingest sets. ``normalised`` is the article's ``normalise_text(title, body)`` when
    the caller has it already (it is then not computed again)."""
    if isinstance(event, NewsArticle):
        text = normalise_text(event.title, event.body) if normalised is None else normalised
        payload = "\x1f".join((event.url, text))
    else:
        payload = event.model_dump_json(exclude=set(_VOLATILE))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def classify(known_hashes: frozenset[str] | None, digest: str) -> Status:
    """NEW for an id never published; DUPLICATE when this exact content was published under the id
    before (in any revision, so an older release read again changes nothing); UPDATE otherwise."""
    if known_hashes is None:
        return Status.NEW
    return Status.DUPLICATE if digest in known_hashes else Status.UPDATE
