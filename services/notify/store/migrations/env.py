"""Alembic environment: migrations run on the connection the service hands over (see services.common.db)."""

from __future__ import annotations

from alembic import context

from services.notify.store.tables import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - the service always passes its connection
    raise RuntimeError("run migrations through services.common.db.migrate")
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=config.attributes.get("version_table", "alembic_version_notify"),
    render_as_batch=True,  # SQLite can only alter tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
