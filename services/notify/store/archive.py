"""The alert archive: every alert notify consumed, routed or not, kept for the query API, the console
and the personal feeds (the vocabulary is ``services/notify/core/archive.py``).

CONTRACT (issue 19): the method signatures below are what the routes, the console, feedback and feeds
call. Their bodies are being written (branch ``archive``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from schemas import Alert
from services.common.db import Section
from services.notify.core.archive import AlertPage, AlertQuery, ArchivedAlert, AuditEntry, Facets


class ArchiveStore(Section):
    """The archive tables, their full-text index and the delivery audit."""

    async def add(self, conn: AsyncConnection, alerts: Sequence[Alert], now: dt.datetime) -> None:
        """Archive ``alerts`` within the caller's transaction (intake's): an alert id seen before keeps
        its first copy."""
        raise NotImplementedError

    async def search(self, query: AlertQuery) -> AlertPage:
        """The page of alerts ``query`` selects, newest first (``created_at``, then id)."""
        raise NotImplementedError

    async def facets(self, query: AlertQuery) -> Facets:
        """Counts per destination, technology and week of what ``query`` selects."""
        raise NotImplementedError

    async def get(self, alert_id: str) -> ArchivedAlert | None:
        """One alert with its story, or None."""
        raise NotImplementedError

    async def audit(self, alert_id: str, owner: str | None = None) -> list[AuditEntry]:
        """Who was told of ``alert_id``, oldest first; only ``owner``'s subscriptions unless None
        (the admin)."""
        raise NotImplementedError
