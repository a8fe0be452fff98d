"""Tables of the ingest state (prefixed ``ingest_`` so ingest and notify can share one database)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, LargeBinary, MetaData, String, Table, Text

from services.common.dbtypes import UTCDateTime

metadata = MetaData()

items = Table(
    "ingest_items",
    metadata,
    Column("id", String(256), primary_key=True),  # Event id.
    Column("kind", String(16), nullable=False),  # news_article or licence_record.
    Column("source", String(500), nullable=False),  # Feed, file or API the item came from.
    Column("revision", Integer, nullable=False),  # Revision last published.
    Column("content_hash", String(64), nullable=False),  # Hash of the content last published.
    Column("text_hash", String(64), nullable=True, index=True),  # Hash of the normalised text.
    Column("duplicate_of", String(256), nullable=True),  # First copy of a near duplicate.
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
)

versions = Table(
    "ingest_versions",
    metadata,
    Column("item_id", String(256), primary_key=True),
    Column("content_hash", String(64), primary_key=True),  # Earlier contents of the id (not the latest).
    Column("revision", Integer, nullable=False),
)

sketches = Table(
    "ingest_sketches",
    metadata,
    Column("item_id", String(256), primary_key=True),  # An original article (not a duplicate).
    Column("published_at", UTCDateTime, nullable=False, index=True),
    Column("sketch", LargeBinary, nullable=False),  # MinHash signature of its text.
    Column("version", Integer, nullable=False),  # How the sketch was made (core/dedup.py SKETCH_VERSION).
)

sources = Table(
    "ingest_sources",
    metadata,
    Column("key", String(1000), primary_key=True),  # Source name, and the file for folder sources.
    Column("kind", String(16), nullable=False),  # feed, http or file.
    Column("etag", Text, nullable=True),
    Column("last_modified", Text, nullable=True),
    Column("content_hash", String(64), nullable=True),  # Hash of the bytes last fully ingested.
    Column("size", BigInteger, nullable=True),
    Column("mtime_ns", BigInteger, nullable=True),
    Column("failures", Integer, nullable=False, default=0),  # Failures since the last success.
    Column("last_error", Text, nullable=True),
    Column("last_attempt_at", UTCDateTime, nullable=True),
    Column("last_success_at", UTCDateTime, nullable=True),
    Column("next_attempt_at", UTCDateTime, nullable=True),
)
