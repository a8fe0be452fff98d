"""Test sends paced per owner in the database, so that every replica sees the same pace.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.common.dbtypes import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notify_test_send_pacing",
        sa.Column("owner", sa.String(128), primary_key=True),
        sa.Column("tat", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notify_test_send_pacing")
