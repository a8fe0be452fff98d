"""From parsed items to published events: drop what was published before, mark corrections and near
duplicates, publish, wait for the broker's acknowledgement, and only then remember what was published.

Remembering after the acknowledgement means a crash can only ever cause a repeat (of at most one
chunk, which the deterministic alert ids downstream absorb), never a loss. The check against what was
published, the publish and the record run under one lock, so feeds, folders and the push API never race
each other on the same ids. Preparing a chunk (language, normalised text, hashes, sketch) needs no shared
state, so it runs outside the lock, in a worker thread, while the previous chunk is published.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime as dt
import itertools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas import DeadLetterReason, LicenceRecord, NewsArticle, topics
from services.common.messaging.deadletters import dead_letter
from services.common.messaging.metrics import PipelineMetrics
from services.common.messaging.publisher import Outgoing, Publisher
from services.ingest.core.dedup import (
    SKETCH_VERSION,
    NearDuplicateIndex,
    NormalisedArticle,
    Sketch,
    Sketcher,
    fingerprint,
)
from services.ingest.core.identity import Status, classify, content_hash
from services.ingest.core.language import LanguageDetector, fill_language
from services.ingest.core.results import Event, Parsed, Rejected
from services.ingest.metrics import IngestMetrics
from services.ingest.store.repository import IngestStore, ItemRow, KnownItem

log = logging.getLogger("exportwatch.ingest")
SERVICE = "ingest"
CHUNK = 1000


def topic_for(event: Event) -> str:
    return topics.NEWS if isinstance(event, NewsArticle) else topics.LICENCES


@dataclass(frozen=True)
class ItemResult:
    """What happened to one input item."""

    status: str  # published | updated | near_duplicate | duplicate | rejected
    id: str | None = None
    revision: int | None = None
    duplicate_of: str | None = None
    reason: str | None = None
    detail: str | None = None
    line: int | None = None


@dataclass
class Tally:
    """Counts of item results, for logs and for the closing line of a file."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, results: Iterable[ItemResult]) -> None:
        for r in results:
            self.counts[r.status] = self.counts.get(r.status, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class _Prepared:
    """An event with what deduplication needs, computed off the event loop."""

    event: Event
    digest: str
    text_hash: str | None
    sketch: Sketch | None
    bands: list[int] | None = None  # the sketch's band keys in the near-duplicate index


@dataclass
class _Plan:
    """What one chunk will publish and record; nothing leaves it before the broker acknowledged."""

    source: str
    now: dt.datetime
    known: dict[str, KnownItem]
    by_text: dict[str, str]
    # When ingest received the items (the push API: its request), stamped as their ``ingested_at`` so
    # that the time to delivery includes any wait for the lock (issue 20 item 5a); ``now`` when unset.
    received: dt.datetime | None = None
    results: list[ItemResult] = field(default_factory=list)
    outgoing: list[Outgoing] = field(default_factory=list)
    rows: list[ItemRow] = field(default_factory=list)
    indexed: list[str] = field(default_factory=list)
    # What this chunk publishes counts as known for the rest of the chunk.
    hashes: dict[str, set[str]] = field(default_factory=dict)
    revisions: dict[str, int] = field(default_factory=dict)

    def reject(self, item: Rejected) -> None:
        detail = f"line {item.line}: {item.detail}" if item.line is not None else item.detail
        where = f"{self.source}: {item.source}" if item.source and item.source != self.source else self.source
        self.outgoing.append(dead_letter(SERVICE, item.reason, detail, item.raw, source=where))
        self.results.append(ItemResult("rejected", reason=item.reason, detail=item.detail, line=item.line))

    def publish(self, prep: _Prepared, revision: int, duplicate_of: str | None, sketch: bytes | None) -> None:
        update: dict[str, Any] = {"ingested_at": self.received or self.now, "revision": revision}
        if isinstance(prep.event, NewsArticle):
            update["duplicate_of"] = duplicate_of
        event = prep.event.model_copy(update=update)
        self.hashes.setdefault(event.id, set()).add(prep.digest)
        self.revisions[event.id] = revision
        self.outgoing.append(Outgoing(topic_for(event), event.id, event))
        self.rows.append(
            ItemRow(
                id=event.id,
                kind=event.type,
                source=self.source,
                revision=revision,
                content_hash=prep.digest,
                text_hash=prep.text_hash,
                duplicate_of=duplicate_of,
                seen_at=self.now,
                sketch=sketch,
                sketch_version=SKETCH_VERSION if sketch is not None else None,
                published_at=event.published_at if isinstance(event, NewsArticle) else None,
            )
        )
        status = "updated" if revision > 1 else ("near_duplicate" if duplicate_of else "published")
        self.results.append(ItemResult(status, id=event.id, revision=revision, duplicate_of=duplicate_of))


class Ingestor:
    def __init__(
        self,
        publisher: Publisher,
        store: IngestStore,
        pipeline: PipelineMetrics,
        metrics: IngestMetrics,
        *,
        sketcher: Sketcher,
        near: NearDuplicateIndex,
        detector: LanguageDetector | None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.publisher = publisher
        self.store = store
        self.pipeline = pipeline
        self.metrics = metrics
        self.sketcher = sketcher
        self.near = near
        self.detector = detector
        self.clock = clock
        self.lock = asyncio.Lock()
        self._inflight: set[asyncio.Future[list[ItemResult]]] = set()
        self._unknown_names: set[str] = set()

    async def load(self) -> int:
        """Fill the near-duplicate index from the database: the originals inside the window."""
        since = self.clock() - self.near.window
        rows = await self.store.sketches_since(since, SKETCH_VERSION)
        for item_id, published_at, data in rows:
            self.metrics.near_evicted.inc(self.near.add(item_id, Sketch.from_bytes(data), published_at))
        self.metrics.near_index.set(len(self.near))
        return len(rows)

    async def prune(self) -> int:
        """Forget originals that left the window, in memory and in the database."""
        now = self.clock()
        async with self.lock:
            removed = self.near.prune(now)
            await self.store.prune_sketches(now - self.near.window)
        self.metrics.near_index.set(len(self.near))
        return removed

    async def ingest(
        self,
        parsed: Iterable[Parsed],
        source: str,
        *,
        label: str | None = None,
        keep: bool = False,
        received_at: dt.datetime | None = None,
    ) -> tuple[Tally, list[ItemResult]]:
        """Publish in chunks, each acknowledged and then recorded. ``label`` is the metrics label of the
        source; ``keep`` returns every item's result (the push API answers with them); ``received_at``,
        when ingest took the items in, is their ``ingested_at`` (else the time their chunk is
        published)."""
        tally = Tally()
        kept: list[ItemResult] = []
        items = iter(parsed)
        pending: asyncio.Future[list[ItemResult]] | None = None
        try:
            while True:
                # Parsing and preparing run in a thread, one chunk at a time: a large file or feed never
                # blocks the event loop (health checks, the push API, other sources) and is never all in
                # memory. The next chunk is prepared while the previous one is published and recorded.
                chunk, prepared = await asyncio.to_thread(self._read_chunk, items)
                if pending is not None:
                    results = await pending
                    pending = None
                    tally.add(results)
                    if keep:
                        kept.extend(results)
                if not chunk:
                    break
                pending = self._chunk(chunk, prepared, source, label or source, received_at)
        finally:
            if pending is not None:
                # A failure while the next chunk was read: the chunk in hand still finishes (it is shielded).
                await asyncio.gather(pending, return_exceptions=True)
        return tally, kept

    def _read_chunk(self, items: Iterable[Parsed]) -> tuple[list[Parsed], list[_Prepared]]:
        chunk = list(itertools.islice(items, CHUNK))
        return chunk, self._prepare([p for p in chunk if not isinstance(p, Rejected)])

    def _prepare(self, events: Sequence[Event]) -> list[_Prepared]:
        """CPU work, off the event loop and outside the lock: language, content hash, text hash, sketch and
        its band keys per event."""
        out: list[_Prepared] = []
        for original in events:
            event = original
            if isinstance(event, NewsArticle):
                if event.language is None and self.detector is not None:
                    event = fill_language(event, self.detector)
                # Normalised once, for the content hash, the fingerprint and the sketch alike.
                normalised = NormalisedArticle.of(event.title, event.body)
                text = normalised.text
                sketch = self.sketcher.sketch_normalised(normalised.body)
                out.append(_Prepared(event, content_hash(event, text), fingerprint(text), sketch))
            else:
                out.append(_Prepared(event, content_hash(event), None, None))
        sketched = [(i, p.sketch) for i, p in enumerate(out) if p.sketch is not None]
        keys = self.near.band_keys([sketch for _, sketch in sketched])
        for (i, _), bands in zip(sketched, keys, strict=True):
            out[i] = dataclasses.replace(out[i], bands=bands)
        return out

    def _chunk(
        self,
        chunk: Sequence[Parsed],
        prepared: list[_Prepared],
        source: str,
        label: str,
        received: dt.datetime | None = None,
    ) -> asyncio.Future[list[ItemResult]]:
        # Shielded: a stop in the middle of a chunk lets it finish publishing and recording (drain()
        # waits for it), so a graceful restart republishes nothing.
        task = asyncio.ensure_future(self._chunk_guarded(list(chunk), prepared, source, label, received))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return asyncio.shield(task)

    async def _chunk_guarded(
        self,
        chunk: Sequence[Parsed],
        prepared: list[_Prepared],
        source: str,
        label: str,
        received: dt.datetime | None,
    ) -> list[ItemResult]:
        async with self.lock:
            return await self._chunk_locked(chunk, prepared, source, label, received)

    async def drain(self) -> None:
        """Wait for chunks in flight (called at stop, before the broker is closed)."""
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)

    async def _chunk_locked(
        self,
        chunk: Sequence[Parsed],
        prepared: list[_Prepared],
        source: str,
        label: str,
        received: dt.datetime | None = None,
    ) -> list[ItemResult]:
        known = await self.store.known_items([p.event.id for p in prepared])
        text_hashes = [p.text_hash for p in prepared if p.text_hash is not None]
        plan = _Plan(
            source=source,
            now=self.clock(),
            received=received,
            known=known,
            by_text=await self.store.ids_by_text(text_hashes) if text_hashes else {},
        )
        prepared_iter = iter(prepared)
        for item in chunk:
            if isinstance(item, Rejected):
                plan.reject(item)
            else:
                self._decide(plan, next(prepared_iter))
        try:
            await self.publisher.publish_all(plan.outgoing)
            await self.store.record(plan.rows)
        except BaseException:
            for item_id in plan.indexed:
                self.near.discard(item_id)
            raise
        # Counted once published: a chunk that failed and is read again is not counted twice.
        counts = collections.Counter((r.status, r.reason) for r in plan.results)
        for (status, reason), n in counts.items():
            self.metrics.items.labels(source=label, outcome=status).inc(n)
            if status == "duplicate":
                self.metrics.duplicates.labels(kind=reason or "same_id").inc(n)
            elif status == "near_duplicate":
                self.metrics.duplicates.labels(kind="near").inc(n)
            elif status == "rejected":
                self.pipeline.deadlettered.labels(reason=reason or DeadLetterReason.INVALID_EVENT).inc(n)
        for out in plan.outgoing:
            if not isinstance(out.value, bytes) and out.topic != topics.DEADLETTER:
                self._warn(out.value)  # type: ignore[arg-type]
        self.metrics.near_index.set(len(self.near))
        return plan.results

    def _decide(self, plan: _Plan, prep: _Prepared) -> None:
        """New, update or duplicate; for a new article also exact text and near duplicates."""
        event = prep.event
        before = plan.known.get(event.id)
        seen = plan.hashes.get(event.id)
        hashes = (before.hashes if before else frozenset()) | (seen or set())
        status = classify(frozenset(hashes) if (before or seen) else None, prep.digest)
        if status is Status.DUPLICATE:
            plan.results.append(ItemResult("duplicate", id=event.id, reason="same_id"))
            return
        duplicate_of: str | None = None
        sketch: bytes | None = None
        if status is Status.UPDATE:
            revision = max(plan.revisions.get(event.id, 0), before.revision if before else 0) + 1
            duplicate_of = before.duplicate_of if before else None
        else:
            revision = 1
            first = plan.by_text.get(prep.text_hash) if prep.text_hash else None
            if first is not None and first != event.id:
                plan.results.append(
                    ItemResult("duplicate", id=event.id, duplicate_of=first, reason="same_text")
                )
                return
            if isinstance(event, NewsArticle) and prep.sketch is not None:
                duplicate_of = self.near.find(prep.sketch, event.published_at, prep.bands)
                if duplicate_of is None:
                    evicted = self.near.add(event.id, prep.sketch, event.published_at, prep.bands)
                    self.metrics.near_evicted.inc(evicted)
                    sketch = prep.sketch.to_bytes()
                    plan.indexed.append(event.id)
            if prep.text_hash is not None:
                plan.by_text[prep.text_hash] = event.id
        plan.publish(prep, revision, duplicate_of, sketch)

    def _warn(self, event: Event) -> None:
        extra = event.model_extra or {}
        if isinstance(event, LicenceRecord) and event.destination_name and not event.destination_country:
            self.metrics.warnings.labels(kind="unknown_country").inc()
            name = event.destination_name[:100]
            if name not in self._unknown_names and len(self._unknown_names) < 10_000:
                # Once per name: a data set repeats the same few names on thousands of rows.
                self._unknown_names.add(name)
                log.warning(
                    "unknown destination kept without a country code (logged once per name)",
                    extra={"event_id": event.id, "destination_name": name},
                )
        if extra.get("published_at_inferred"):
            self.metrics.warnings.labels(kind="date_inferred").inc()
        if extra.get("language_detected"):
            self.metrics.warnings.labels(kind="language_detected").inc()
        if extra.get("encoding_repaired"):
            self.metrics.warnings.labels(kind="encoding_repaired").inc()
