"""The ingest database on SQLite and PostgreSQL: migrations match the tables, state round-trips."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from services.common.db import create_engine
from services.common.health import DATABASE_CHECK
from services.ingest.store import tables
from services.ingest.store.repository import (
    MIGRATIONS,
    VERSION_TABLE,
    DatabaseUnavailable,
    IngestStore,
    ItemRow,
    SourceState,
)

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"version_table": "alembic_version_ingest"})
    return [d for d in compare_metadata(context, tables.metadata) if "alembic_version" not in str(d)]


async def test_migrations_build_exactly_the_declared_tables(db_url: str) -> None:
    store = await IngestStore.open(db_url)
    try:
        async with store.engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await store.close()


async def test_replicas_migrating_at_once_and_again_are_harmless(db_url: str) -> None:
    stores = await asyncio.gather(*(IngestStore.open(db_url) for _ in range(3)))
    try:
        await stores[0].migrate()
    finally:
        for store in stores:
            await store.close()


async def test_items_versions_sketches_and_source_state_round_trip(db_url: str) -> None:
    store = await IngestStore.open(db_url)
    try:
        await store.record(
            [
                ItemRow("news-1", "news_article", "feed", 1, "h1", "t1", None, NOW, b"\x00sketch", NOW, 2),
                ItemRow("news-2", "news_article", "feed", 1, "h2", None, "news-1", NOW),
                ItemRow("uk-1", "licence_record", "caat", 1, "h3", None, None, NOW),
            ]
        )
        await store.record([ItemRow("uk-1", "licence_record", "caat", 2, "h4", None, None, NOW)])
        known = await store.known_items(["news-1", "news-2", "uk-1", "absent"])
        assert set(known) == {"news-1", "news-2", "uk-1"}
        assert known["uk-1"].revision == 2 and known["uk-1"].hashes == {"h3", "h4"}
        assert known["news-2"].duplicate_of == "news-1"
        assert await store.ids_by_text(["t1", "t-unknown"]) == {"t1": "news-1"}
        assert await store.sketches_since(NOW - dt.timedelta(hours=1), 2) == [("news-1", NOW, b"\x00sketch")]
        # A sketch made another way (an older replica during an upgrade) is not read.
        assert await store.sketches_since(NOW - dt.timedelta(hours=1), 3) == []
        assert await store.prune_sketches(NOW + dt.timedelta(seconds=1)) == 1
        assert await store.sketches_since(NOW - dt.timedelta(hours=1), 2) == []

        state = await store.source_state("amnesty", "http")
        assert state.failures == 0 and state.etag is None
        state.etag, state.failures, state.next_attempt_at = '"v1"', 2, NOW + dt.timedelta(minutes=1)
        await store.save_source(state)
        again = await store.source_state("amnesty", "http")
        assert (again.etag, again.failures, again.next_attempt_at) == (
            '"v1"',
            2,
            NOW + dt.timedelta(minutes=1),
        )
        assert again.next_attempt_at.tzinfo is not None
    finally:
        await store.close()


async def test_lookups_of_many_ids_are_chunked(db_url: str) -> None:
    store = await IngestStore.open(db_url)
    try:
        rows = [
            ItemRow(f"id-{i}", "licence_record", "bulk", 1, f"h{i}", None, None, NOW) for i in range(2500)
        ]
        await store.record(rows)
        known = await store.known_items([r.id for r in rows] + ["missing"])
        assert len(known) == 2500
    finally:
        await store.close()


async def test_every_operation_reports_a_failure_and_only_a_write_clears_it(tmp_path: Path) -> None:
    # Not migrated yet: every query fails at once ("no such table"), as an unusable database would.
    store = IngestStore.from_url(f"sqlite:///{tmp_path / 'ingest.db'}")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    try:
        with pytest.raises(DatabaseUnavailable, match=r"^OperationalError$") as caught:
            await store.known_items(["news-1"])
        assert isinstance(caught.value.__cause__, OperationalError)  # the detail stays in the logs
        [failing] = store.health.failing(later)
        assert (failing.check, failing.reason) == (DATABASE_CHECK, "OperationalError")
        await store.migrate()
        # A read that works proves nothing of writing (with WAL it works beside a held write lock).
        assert await store.known_items(["news-1"]) == {}
        await store.record([])  # a chunk of duplicates writes nothing
        assert store.health.is_failing(DATABASE_CHECK)
        await store.save_source(SourceState(key="feed", kind="http"))
        assert not store.health.is_failing(DATABASE_CHECK)
        await store.probe()
        assert store.health.failing(later) == []
    finally:
        await store.close()


def _upgrade_to(connection: Connection, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["version_table"] = VERSION_TABLE
    command.upgrade(config, revision)


async def test_version_1_sketches_are_dropped_with_a_log_line(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Their text is not stored, so they cannot be made again in version 2; the migration says how many went.
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade_to, "0001")
            await conn.execute(
                text("INSERT INTO ingest_sketches (item_id, published_at, sketch) VALUES ('old', :t, :s)"),
                {"t": NOW, "s": b"EWSK\x01"},
            )
        with caplog.at_level(logging.WARNING, logger="exportwatch.ingest"):
            async with engine.begin() as conn:
                await conn.run_sync(_upgrade_to, "head")
    finally:
        await engine.dispose()
    assert any("dropped 1 near-duplicate sketches of version 1" in r.getMessage() for r in caplog.records)
    store = await IngestStore.open(db_url)
    try:
        assert await store.sketches_since(NOW - dt.timedelta(days=1), 1) == []
        async with store.engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await store.close()
