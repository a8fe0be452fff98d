"""Reading and writing the ingest state, the same queries on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import delete, false, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.common.db import Store
from services.common.health import DATABASE_CHECK, Health
from services.ingest.store import tables

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version_ingest"
_CHUNK = 500  # ids per IN (...) query: far below SQLite's and PostgreSQL's parameter limits


@dataclass(frozen=True)
class KnownItem:
    """What was published before under one id: its last revision and every content hash it had."""

    revision: int
    hashes: frozenset[str]
    duplicate_of: str | None = None


@dataclass(frozen=True)
class ItemRow:
    """One published item, to be recorded after the broker acknowledged it."""

    id: str
    kind: str
    source: str
    revision: int
    content_hash: str
    text_hash: str | None
    duplicate_of: str | None
    seen_at: dt.datetime
    sketch: bytes | None = None
    published_at: dt.datetime | None = None
    sketch_version: int | None = None  # How the sketch was made (``SKETCH_VERSION`` in core/dedup.py).


@dataclass
class SourceState:
    """Per-source (or per-file) state: validators, content hash, failures and timings."""

    key: str
    kind: str
    etag: str | None = None
    last_modified: str | None = None
    content_hash: str | None = None
    size: int | None = None
    mtime_ns: int | None = None
    failures: int = 0
    last_error: str | None = None
    last_attempt_at: dt.datetime | None = None
    last_success_at: dt.datetime | None = None
    next_attempt_at: dt.datetime | None = None

    def values(self) -> dict[str, Any]:
        return {c.name: getattr(self, c.name) for c in tables.sources.columns}


class DatabaseUnavailable(Exception):
    """Reading or writing ingest's database failed (locked past the busy timeout, unreachable, disk
    full): nothing of the operation was recorded, and it may be tried again. The message is the
    error's class name, never its text, which may carry the database URL; the error is its cause."""


_S = TypeVar("_S", bound="IngestStore")
_P = ParamSpec("_P")
_T = TypeVar("_T")
_Method = Callable[Concatenate[_S, _P], Awaitable[_T]]


def _reported(
    *, write: bool
) -> Callable[[_Method[_S, _P, _T]], Callable[Concatenate[_S, _P], Coroutine[Any, Any, _T]]]:
    """Report an operation to the store's ``database`` health check. A failure always counts (since
    the operation began: it may have waited out the busy timeout); a success clears the check only
    for a write, because reads go on working beside a writer that holds the lock (WAL), and a read
    clearing the check would hide an outage in which nothing can be recorded."""

    def wrap(method: _Method[_S, _P, _T]) -> Callable[Concatenate[_S, _P], Coroutine[Any, Any, _T]]:
        @functools.wraps(method)
        async def run(store: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
            began = dt.datetime.now(dt.UTC)
            try:
                result = await method(store, *args, **kwargs)
            except Exception as exc:
                store.health.failed(DATABASE_CHECK, began, type(exc).__name__)
                raise DatabaseUnavailable(type(exc).__name__) from exc
            if write:
                store.health.ok(DATABASE_CHECK)
            return result

        return run

    return wrap


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


class IngestStore(Store):
    """The ingest service's database; ``open`` brings its schema up to date. Each operation reports
    to ``health`` (the service's /healthz shows it) and raises DatabaseUnavailable when it fails."""

    migrations = MIGRATIONS
    version_table = VERSION_TABLE

    def __init__(self, engine: AsyncEngine, reader: AsyncEngine | None = None) -> None:
        super().__init__(engine, reader)
        self.health = Health()  # the service puts its own (with the configured threshold) here

    async def _upsert(
        self, conn: AsyncConnection, table: Any, rows: list[dict[str, Any]], keys: list[str]
    ) -> None:
        """Insert or update by ``keys``, as one executemany of a cached statement (a multi-VALUES
        statement would be compiled anew for every batch)."""
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(table)
        updates = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
        await conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=updates), rows)

    @_reported(write=False)
    async def known_items(self, ids: Sequence[str]) -> dict[str, KnownItem]:
        unique = list(dict.fromkeys(ids))
        revisions: dict[str, tuple[int, str | None]] = {}
        hashes: dict[str, set[str]] = {}
        async with self.engine.connect() as conn:
            for part in _chunks(unique):
                rows = await conn.execute(
                    select(
                        tables.items.c.id,
                        tables.items.c.revision,
                        tables.items.c.duplicate_of,
                        tables.items.c.content_hash,
                    ).where(tables.items.c.id.in_(part))
                )
                for item_id, revision, duplicate_of, latest_hash in rows:
                    revisions[item_id] = (revision, duplicate_of)
                    hashes.setdefault(item_id, set()).add(latest_hash)
                found = [i for i in part if i in revisions]
                if not found:
                    continue
                version_rows = await conn.execute(
                    select(tables.versions.c.item_id, tables.versions.c.content_hash).where(
                        tables.versions.c.item_id.in_(found)
                    )
                )
                for item_id, content_hash in version_rows:
                    hashes.setdefault(item_id, set()).add(content_hash)
        return {i: KnownItem(rev, frozenset(hashes.get(i, ())), dup) for i, (rev, dup) in revisions.items()}

    @_reported(write=False)
    async def ids_by_text(self, text_hashes: Sequence[str]) -> dict[str, str]:
        """text hash -> id of the item first published with that text."""
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(text_hashes))
        async with self.engine.connect() as conn:
            for part in _chunks(unique):
                rows = await conn.execute(
                    select(tables.items.c.text_hash, tables.items.c.id)
                    .where(tables.items.c.text_hash.in_(part))
                    .order_by(tables.items.c.first_seen_at)
                )
                for text_hash, item_id in rows:
                    found.setdefault(text_hash, item_id)
        return found

    async def record(self, rows: Sequence[ItemRow]) -> None:
        """Record published items (one transaction): new ids are inserted, updated ids get their new
        revision; every content hash is kept so an older release read again is not an update."""
        if rows:  # a chunk of duplicates writes nothing, which proves nothing to the health check
            await self._record(rows)

    @_reported(write=True)
    async def _record(self, rows: Sequence[ItemRow]) -> None:
        async with self.engine.begin() as conn:
            existing: set[str] = set()
            ids = list(dict.fromkeys(r.id for r in rows))
            for part in _chunks(ids):
                result = await conn.execute(select(tables.items.c.id).where(tables.items.c.id.in_(part)))
                existing.update(result.scalars())
            latest: dict[str, ItemRow] = {}
            for row in rows:
                latest[row.id] = row
            item_values = [
                {
                    "id": r.id,
                    "kind": r.kind,
                    "source": r.source[:500],
                    "revision": r.revision,
                    "content_hash": r.content_hash,
                    "text_hash": r.text_hash,
                    "duplicate_of": r.duplicate_of,
                    "first_seen_at": r.seen_at,
                    "last_seen_at": r.seen_at,
                }
                for r in latest.values()
            ]
            new_values = [v for v in item_values if v["id"] not in existing]
            if new_values:
                await conn.execute(tables.items.insert(), new_values)
            # The items table holds each id's latest content hash; the hashes it replaces move to
            # versions (updates are rare, so this costs nothing on a first read of a large file).
            superseded: list[dict[str, Any]] = []
            for part in _chunks([i for i in latest if i in existing]):
                result = await conn.execute(
                    select(tables.items.c.id, tables.items.c.content_hash, tables.items.c.revision).where(
                        tables.items.c.id.in_(part)
                    )
                )
                superseded.extend({"item_id": i, "content_hash": h, "revision": rev} for i, h, rev in result)
            superseded.extend(
                {"item_id": r.id, "content_hash": r.content_hash, "revision": r.revision}
                for r in rows
                if latest[r.id] is not r  # an earlier revision published in this same batch
            )
            if superseded:
                await self._upsert(conn, tables.versions, superseded, ["item_id", "content_hash"])
            for v in item_values:
                if v["id"] in existing:
                    await conn.execute(
                        tables.items.update()
                        .where(tables.items.c.id == v["id"])
                        .values(
                            revision=v["revision"],
                            content_hash=v["content_hash"],
                            text_hash=v["text_hash"],
                            last_seen_at=v["last_seen_at"],
                        )
                    )
            sketch_values = [
                {
                    "item_id": r.id,
                    "published_at": r.published_at,
                    "sketch": r.sketch,
                    "version": r.sketch_version or 0,
                }
                for r in latest.values()
                if r.sketch is not None and r.published_at is not None
            ]
            if sketch_values:
                await self._upsert(conn, tables.sketches, sketch_values, ["item_id"])

    @_reported(write=True)
    async def probe(self) -> None:
        """A write that changes nothing: it takes the write lock as any write does, so it succeeds only
        once writing works again, and clears the health check then."""
        async with self.engine.begin() as conn:
            await conn.execute(delete(tables.sketches).where(false()))

    @_reported(write=False)
    async def sketches_since(self, since: dt.datetime, version: int) -> list[tuple[str, dt.datetime, bytes]]:
        """The sketches of originals published since ``since`` and made the way ``version`` says (during a
        rolling upgrade an older replica may still write sketches of another version: they are skipped)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(tables.sketches.c.item_id, tables.sketches.c.published_at, tables.sketches.c.sketch)
                .where(tables.sketches.c.published_at >= since, tables.sketches.c.version == version)
                .order_by(tables.sketches.c.published_at)
            )
            return [(i, p, bytes(s)) for i, p, s in rows]

    @_reported(write=True)
    async def prune_sketches(self, before: dt.datetime) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(tables.sketches).where(tables.sketches.c.published_at < before)
            )
            return int(result.rowcount or 0)

    @_reported(write=False)
    async def source_state(self, key: str, kind: str) -> SourceState:
        async with self.engine.connect() as conn:
            row = (
                (await conn.execute(select(tables.sources).where(tables.sources.c.key == key)))
                .mappings()
                .first()
            )
        if row is None:
            return SourceState(key=key, kind=kind)
        return SourceState(**dict(row))

    @_reported(write=False)
    async def source_states(self, prefix: str) -> list[SourceState]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(tables.sources).where(tables.sources.c.key.startswith(prefix, autoescape=True))
                )
            ).mappings()
            return [SourceState(**dict(row)) for row in rows]

    @_reported(write=True)
    async def save_source(self, state: SourceState) -> None:
        async with self.engine.begin() as conn:
            await self._upsert(conn, tables.sources, [state.values()], ["key"])
