"""Silences: alerts matching one in force are recorded but not sent."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select, update

from services.common.db import Section, uncancellable
from services.notify.core.model import Silence
from services.notify.store import tables
from services.notify.store.common import reveal


def _silence(row: Any) -> Silence:
    spec = json.loads(row.spec)
    return Silence.model_validate(
        {
            **spec,
            "id": row.id,
            "owner": row.owner,
            "created_by": row.created_by,
            "starts_at": row.starts_at,
            "ends_at": row.ends_at,
            "created_at": row.created_at,
        }
    )


class SilenceStore(Section):
    """The silences table."""

    @uncancellable
    async def add(self, silence: Silence) -> None:
        spec = {
            "filters": reveal(silence.filters.model_dump()),
            "comment": silence.comment,
            "subscription_id": silence.subscription_id,
        }
        async with self.writing() as conn:
            await conn.execute(
                tables.silences.insert().values(
                    id=silence.id,
                    owner=silence.owner,
                    created_by=silence.created_by,
                    spec=json.dumps(spec, ensure_ascii=False, sort_keys=True),
                    starts_at=silence.starts_at,
                    ends_at=silence.ends_at,
                    created_at=silence.created_at,
                )
            )

    async def all(
        self, *, owner: str | None = None, now: dt.datetime | None = None, active_only: bool = False
    ) -> list[Silence]:
        """Silences of ``owner`` (and the global ones) or all; ``active_only`` keeps those in force at
        ``now``; otherwise the ones not yet ended."""
        s = tables.silences.c
        query = select(tables.silences).order_by(s.ends_at)
        if owner is not None:
            query = query.where(s.owner.in_([owner, "*"]))
        if now is not None:
            query = query.where(s.ends_at > now)
            if active_only:
                query = query.where(s.starts_at <= now)
        async with self.reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_silence(r) for r in rows]

    async def get(self, silence_id: str) -> Silence | None:
        async with self.reader.connect() as conn:
            row = (
                await conn.execute(select(tables.silences).where(tables.silences.c.id == silence_id))
            ).first()
        return _silence(row) if row is not None else None

    @uncancellable
    async def expire(self, silence_id: str, now: dt.datetime) -> bool:
        s = tables.silences.c
        async with self.writing() as conn:
            result = await conn.execute(
                update(tables.silences).where(s.id == silence_id, s.ends_at > now).values(ends_at=now)
            )
        return bool(result.rowcount)
