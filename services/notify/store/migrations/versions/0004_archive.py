"""The alert archive (issue 19): every consumed alert, its multi-valued filters, the audit that
outlives the purge, and each database's own full-text index.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.common.dbtypes import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The PostgreSQL full-text expression; the store's query repeats it exactly so the index is used.
PG_DOCUMENT = "to_tsvector('simple', title || ' ' || summary || ' ' || evidence)"


def upgrade() -> None:
    op.create_table(
        "notify_archive",
        sa.Column("id", sa.String(300), primary_key=True),
        sa.Column("story_key", sa.String(320), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("week", sa.String(10), nullable=False),
        sa.Column("severity_rank", sa.Integer, nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(16), nullable=False),
        sa.Column("source", sa.String(128), nullable=True),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("received_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_notify_archive_created", "notify_archive", ["created_at", "id"])
    op.create_index("ix_notify_archive_story", "notify_archive", ["story_key", "created_at"])
    op.create_index("ix_notify_archive_rule", "notify_archive", ["rule", "created_at"])
    op.create_index("ix_notify_archive_severity", "notify_archive", ["severity_rank", "created_at"])
    op.create_index("ix_notify_archive_source", "notify_archive", ["source", "created_at"])
    op.create_index("ix_notify_archive_received", "notify_archive", ["received_at"])
    op.create_index("ix_notify_archive_week", "notify_archive", ["week"])
    op.create_table(
        "notify_archive_texts",
        sa.Column("id", sa.String(300), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=True),
        sa.Column("payload", sa.Text, nullable=False),
    )
    op.create_table(
        "notify_archive_terms",
        sa.Column("alert_id", sa.String(300), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("value", sa.String(128), primary_key=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index(
        "ix_notify_archive_terms_lookup",
        "notify_archive_terms",
        ["kind", "value", "created_at", "alert_id"],
    )
    op.create_table(
        "notify_archive_audit",
        sa.Column("alert_id", sa.String(300), primary_key=True),
        sa.Column("subscription_id", sa.String(128), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("subscription_name", sa.Text, nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, default=0),
        sa.Column("detail", sa.Text, nullable=True),
    )
    op.create_index("ix_notify_archive_audit_at", "notify_archive_audit", ["at"])
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        # Folded case and accents (remove_diacritics 2) so 'uberwachung' finds 'Überwachung'. Its rowid is
        # the notify_archive row's own rowid: a match is a list of rowids, compared without any lookup.
        op.execute(
            "CREATE VIRTUAL TABLE notify_archive_fts USING fts5("
            "title, summary, evidence, tokenize = 'unicode61 remove_diacritics 2')"
        )
    elif dialect == "postgresql":
        op.execute(
            f"CREATE INDEX ix_notify_archive_fulltext ON notify_archive_texts USING gin (({PG_DOCUMENT}))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS notify_archive_fts")
    op.drop_table("notify_archive_audit")
    op.drop_table("notify_archive_terms")
    op.drop_table("notify_archive_texts")
    op.drop_table("notify_archive")
