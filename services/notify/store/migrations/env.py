"""Alembic environment: migrations run on the connection the service hands over (see services.common.db)."""

from __future__ import annotations

from services.common.db import run_migrations
from services.notify.store.tables import metadata

run_migrations(metadata, "alembic_version_notify")
