"""Ingest state: published items and their versions, near-duplicate sketches, per-source state.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.common.dbtypes import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_items",
        sa.Column("id", sa.String(256), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("text_hash", sa.String(64), nullable=True),
        sa.Column("duplicate_of", sa.String(256), nullable=True),
        sa.Column("first_seen_at", UTCDateTime, nullable=False),
        sa.Column("last_seen_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_ingest_items_text_hash", "ingest_items", ["text_hash"])
    op.create_table(
        "ingest_versions",
        sa.Column("item_id", sa.String(256), primary_key=True),
        sa.Column("content_hash", sa.String(64), primary_key=True),
        sa.Column("revision", sa.Integer, nullable=False),
    )
    op.create_table(
        "ingest_sketches",
        sa.Column("item_id", sa.String(256), primary_key=True),
        sa.Column("published_at", UTCDateTime, nullable=False),
        sa.Column("sketch", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_ingest_sketches_published_at", "ingest_sketches", ["published_at"])
    op.create_table(
        "ingest_sources",
        sa.Column("key", sa.String(1000), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("etag", sa.Text, nullable=True),
        sa.Column("last_modified", sa.Text, nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=True),
        sa.Column("size", sa.BigInteger, nullable=True),
        sa.Column("mtime_ns", sa.BigInteger, nullable=True),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("last_attempt_at", UTCDateTime, nullable=True),
        sa.Column("last_success_at", UTCDateTime, nullable=True),
        sa.Column("next_attempt_at", UTCDateTime, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("ingest_sources")
    op.drop_table("ingest_sketches")
    op.drop_table("ingest_versions")
    op.drop_table("ingest_items")
