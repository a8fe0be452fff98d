"""Notify state: subscriptions, tokens, silences, alerts, notifications and deliveries.

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
        "notify_subscriptions",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_notify_subscriptions_owner", "notify_subscriptions", ["owner"])
    op.create_table(
        "notify_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("admin", sa.Boolean, nullable=False),
        sa.Column("label", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_notify_tokens_owner", "notify_tokens", ["owner"])
    op.create_table(
        "notify_silences",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("starts_at", UTCDateTime, nullable=False),
        sa.Column("ends_at", UTCDateTime, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_notify_silences_owner", "notify_silences", ["owner"])
    op.create_index("ix_notify_silences_ends_at", "notify_silences", ["ends_at"])
    op.create_table(
        "notify_alerts",
        sa.Column("id", sa.String(300), primary_key=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_notify_alerts_received_at", "notify_alerts", ["received_at"])
    op.create_table(
        "notify_notifications",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("subscription_id", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("group_key", sa.String(320), nullable=False),
        sa.Column("period_start", UTCDateTime, nullable=True),
        sa.Column("period_end", UTCDateTime, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("alert_count", sa.Integer, nullable=False),
        sa.Column("due_at", UTCDateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("in_doubt", sa.Integer, nullable=False),
        sa.Column("first_attempt_at", UTCDateTime, nullable=True),
        sa.Column("last_attempt_at", UTCDateTime, nullable=True),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_notify_notifications_status_due", "notify_notifications", ["status", "due_at"])
    op.create_index(
        "ix_notify_notifications_group", "notify_notifications", ["subscription_id", "group_key", "status"]
    )
    op.create_table(
        "notify_deliveries",
        sa.Column("alert_id", sa.String(300), primary_key=True),
        sa.Column("subscription_id", sa.String(128), primary_key=True),
        sa.Column("notification_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("silence_id", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_notify_deliveries_notification_id", "notify_deliveries", ["notification_id"])
    op.create_index("ix_notify_deliveries_created_at", "notify_deliveries", ["created_at"])


def downgrade() -> None:
    for table in (
        "notify_deliveries",
        "notify_notifications",
        "notify_alerts",
        "notify_silences",
        "notify_tokens",
        "notify_subscriptions",
    ):
        op.drop_table(table)
