"""The researchers' console: sign-in sessions, feedback on alerts and personal feed URLs.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.common.dbtypes import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notify_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("admin", sa.Boolean, nullable=False, default=False),
        sa.Column("csrf_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_notify_sessions_owner", "notify_sessions", ["owner"])
    op.create_index("ix_notify_sessions_expires_at", "notify_sessions", ["expires_at"])
    op.create_table(
        "notify_feedback",
        sa.Column("alert_id", sa.String(300), primary_key=True),
        sa.Column("owner", sa.String(128), primary_key=True),
        sa.Column("relevant", sa.Boolean, nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("event_type", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_notify_feedback_rule", "notify_feedback", ["rule"])
    op.create_index("ix_notify_feedback_updated_at", "notify_feedback", ["updated_at"])
    op.create_table(
        "notify_feeds",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("subscription_id", sa.String(128), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_notify_feeds_subscription_id", "notify_feeds", ["subscription_id"])
    op.create_index("ix_notify_feeds_owner", "notify_feeds", ["owner"])


def downgrade() -> None:
    op.drop_table("notify_feeds")
    op.drop_table("notify_feedback")
    op.drop_table("notify_sessions")
