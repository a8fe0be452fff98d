"""Researchers' feedback on alerts (table ``notify_feedback``): one judgement per alert and researcher,
replaced when they judge again; counted for the precision metric and listed for the eval-case export.

The console and the API call ``put``, ``get``, ``delete`` and ``of_owner``; the metric ``counts``; the
export ``judged``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select

from schemas import Alert
from services.common.db import Section, dialect_insert, uncancellable
from services.notify.store import tables


@dataclass(frozen=True)
class Feedback:
    """One researcher's judgement of one alert."""

    alert_id: str
    owner: str
    relevant: bool
    reason: str | None  # one of services.notify.core.feedback.REASONS, or None
    note: str | None
    rule: str
    language: str | None
    event_type: str
    created_at: dt.datetime
    updated_at: dt.datetime


def _feedback(row: Any) -> Feedback:
    return Feedback(
        alert_id=row.alert_id,
        owner=row.owner,
        relevant=bool(row.relevant),
        reason=row.reason,
        note=row.note,
        rule=row.rule,
        language=row.language,
        event_type=row.event_type,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class FeedbackStore(Section):
    @uncancellable
    async def put(
        self, alert: Alert, owner: str, relevant: bool, reason: str | None, note: str | None, now: dt.datetime
    ) -> Feedback:
        """Record (or replace) ``owner``'s judgement of ``alert``; a replaced one keeps its created_at."""
        values = {
            "relevant": relevant,
            "reason": reason,
            "note": note,
            "rule": alert.rule,
            "language": alert.language,
            "event_type": alert.event_type,
            "updated_at": now,
        }
        async with self.writing() as conn:
            stmt = dialect_insert(conn, tables.feedback).values(
                alert_id=alert.id, owner=owner, created_at=now, **values
            )
            await conn.execute(stmt.on_conflict_do_update(index_elements=["alert_id", "owner"], set_=values))
            row = (await conn.execute(self._one(alert.id, owner))).one()
        return _feedback(row)

    @staticmethod
    def _one(alert_id: str, owner: str) -> Any:
        f = tables.feedback.c
        return select(tables.feedback).where(f.alert_id == alert_id, f.owner == owner)

    async def get(self, alert_id: str, owner: str) -> Feedback | None:
        async with self.reader.connect() as conn:
            row = (await conn.execute(self._one(alert_id, owner))).first()
        return _feedback(row) if row is not None else None

    @uncancellable
    async def delete(self, alert_id: str, owner: str) -> bool:
        """Withdraw ``owner``'s judgement; False when there was none."""
        f = tables.feedback.c
        async with self.writing() as conn:
            result = await conn.execute(
                delete(tables.feedback).where(f.alert_id == alert_id, f.owner == owner)
            )
        return bool(result.rowcount)

    async def of_owner(self, owner: str | None, limit: int = 500) -> list[Feedback]:
        """``owner``'s judgements (everyone's when None, for the admin), newest first."""
        f = tables.feedback.c
        query = select(tables.feedback).order_by(f.updated_at.desc(), f.alert_id, f.owner).limit(limit)
        if owner is not None:
            query = query.where(f.owner == owner)
        async with self.reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_feedback(r) for r in rows]

    async def counts(self) -> dict[tuple[str, str | None, bool], int]:
        """The number of judgements per (rule, language, relevant), for the precision metric."""
        f = tables.feedback.c
        query = select(f.rule, f.language, f.relevant, func.count()).group_by(f.rule, f.language, f.relevant)
        async with self.reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {(r[0], r[1], bool(r[2])): int(r[3]) for r in rows}

    async def judged(
        self, *, relevant: bool | None = None, since: dt.datetime | None = None
    ) -> list[tuple[Feedback, Alert | None]]:
        """Every judgement (only relevant or not relevant ones, only those changed since ``since``) with
        the alert judged as notify received it (None when notify no longer holds it), oldest first: from
        the archive, which holds every alert, else from the delivery queue (an alert the archive's
        retention forgot while a notification still holds it)."""
        f = tables.feedback.c
        archived, queued = tables.archive_texts.c, tables.alerts.c
        query = (
            select(tables.feedback, func.coalesce(archived.payload, queued.payload).label("payload"))
            .select_from(
                tables.feedback.outerjoin(tables.archive_texts, archived.id == f.alert_id).outerjoin(
                    tables.alerts, queued.id == f.alert_id
                )
            )
            .order_by(f.updated_at, f.alert_id, f.owner)
        )
        if relevant is not None:
            query = query.where(f.relevant == relevant)
        if since is not None:
            query = query.where(f.updated_at >= since)
        async with self.reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            (_feedback(r), Alert.model_validate_json(r.payload) if r.payload is not None else None)
            for r in rows
        ]
