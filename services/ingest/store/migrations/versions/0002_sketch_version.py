"""Near-duplicate sketches carry the version of the scheme that made them; the version 1 sketches are dropped.

Version 1 sketches hashed every shingle with datasketch's SHA-1; version 2 (issue 20) hashes them with the
vectorised scheme of ``services/ingest/core/shingles.py``. The two give unrelated values, so an old sketch
can never match a new one. Ingest keeps only hashes of what it published, not the text, so the old sketches
cannot be made again: they are deleted, and the count is logged. The cost is bounded by the window (72 hours
by default): a near copy of an article published before the upgrade, arriving within the window after it,
is published as an original (its alert is not grouped with the first one's) instead of being marked as a
near duplicate.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

log = logging.getLogger("exportwatch.ingest")


def upgrade() -> None:
    bind = op.get_bind()
    dropped = bind.execute(sa.text("DELETE FROM ingest_sketches")).rowcount
    if dropped:
        log.warning(
            "dropped %d near-duplicate sketches of version 1 (SHA-1 shingles): the text they were made "
            "from is not stored, so they cannot be made again in version 2; near copies of articles "
            "published before this upgrade are published as originals until those articles leave the "
            "near-duplicate window",
            dropped,
            extra={"dropped_sketches": dropped},
        )
    with op.batch_alter_table("ingest_sketches") as batch:
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="2"))
    with op.batch_alter_table("ingest_sketches") as batch:
        batch.alter_column("version", server_default=None)


def downgrade() -> None:
    # Version 2 sketches mean nothing to the version 1 code: drop them as the upgrade dropped the others.
    op.execute(sa.text("DELETE FROM ingest_sketches"))
    with op.batch_alter_table("ingest_sketches") as batch:
        batch.drop_column("version")
