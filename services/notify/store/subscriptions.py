"""Subscriptions: made through the API, or synced from a file or the built-in set (their ``origin``).
Removing or disabling one cancels what still waits to be sent to it, in the same transaction."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.db import Section, dialect_insert, uncancellable
from services.notify.core.model import Subscription
from services.notify.store import tables
from services.notify.store.common import cancel_pending, spec_json

SYNC_LOCK = 0x4E4F54494659  # PostgreSQL advisory lock key of the subscriptions sync ("NOTIFY")


def _subscription(row: Any) -> Subscription:
    spec = json.loads(row.spec)
    return Subscription.model_validate(
        {
            **spec,
            "id": row.id,
            "owner": row.owner,
            "origin": row.origin,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
    )


class SubscriptionStore(Section):
    """The subscriptions table."""

    async def all(self, owner: str | None = None) -> list[Subscription]:
        query = select(tables.subscriptions).order_by(tables.subscriptions.c.id)
        if owner is not None:
            query = query.where(tables.subscriptions.c.owner == owner)
        async with self.reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_subscription(r) for r in rows]

    async def get(self, subscription_id: str) -> Subscription | None:
        async with self.reader.connect() as conn:
            row = (
                await conn.execute(
                    select(tables.subscriptions).where(tables.subscriptions.c.id == subscription_id)
                )
            ).first()
        return _subscription(row) if row is not None else None

    def _subscription_values(self, sub: Subscription) -> dict[str, Any]:
        return {
            "id": sub.id,
            "owner": sub.owner,
            "origin": sub.origin,
            "spec": spec_json(sub),
            "created_at": sub.created_at,
            "updated_at": sub.updated_at,
        }

    @uncancellable
    async def create(self, sub: Subscription) -> bool:
        """Insert a new subscription; False when the id is taken."""
        async with self.writing() as conn:
            stmt = dialect_insert(conn, tables.subscriptions).on_conflict_do_nothing(index_elements=["id"])
            result = await conn.execute(stmt, self._subscription_values(sub))
        return bool(result.rowcount)

    @uncancellable
    async def replace(self, sub: Subscription) -> bool:
        """Overwrite an existing subscription (same id); False when there is none."""
        values = self._subscription_values(sub)
        del values["created_at"]
        async with self.writing() as conn:
            result = await conn.execute(
                update(tables.subscriptions).where(tables.subscriptions.c.id == sub.id).values(values)
            )
            if result.rowcount and not sub.enabled:
                await cancel_pending(conn, [sub.id], sub.updated_at, "subscription disabled")
        return bool(result.rowcount)

    @uncancellable
    async def delete(self, subscription_id: str, now: dt.datetime) -> bool:
        async with self.writing() as conn:
            result = await conn.execute(
                delete(tables.subscriptions).where(tables.subscriptions.c.id == subscription_id)
            )
            await cancel_pending(conn, [subscription_id], now, "subscription deleted")
            await self._revoke_feeds(conn, [subscription_id])
        return bool(result.rowcount)

    @staticmethod
    async def _revoke_feeds(conn: AsyncConnection, subscription_ids: Sequence[str]) -> None:
        """A subscription's personal feed goes with it (deleted, removed from the file, given to another
        owner): the secret URL must not outlive what it shows."""
        await conn.execute(delete(tables.feeds).where(tables.feeds.c.subscription_id.in_(subscription_ids)))

    @uncancellable
    async def sync(self, origin: str, subs: Sequence[Subscription], now: dt.datetime) -> tuple[int, int, int]:
        """Make the subscriptions of ``origin`` (file, builtin) exactly ``subs``: returns (created,
        changed, removed). An id used by another origin is an error."""
        created = changed = removed = 0
        async with self.writing() as conn:
            if conn.dialect.name == "postgresql":
                # Replicas starting together sync the same file: one at a time, or both would insert
                # the same new subscription and one would fail to start. (SQLite's writer lock already
                # serialises this transaction.)
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SYNC_LOCK})
            rows = {
                r.id: r
                for r in (
                    await conn.execute(
                        select(tables.subscriptions).where(
                            tables.subscriptions.c.id.in_([s.id for s in subs])
                            | (tables.subscriptions.c.origin == origin)
                        )
                    )
                ).all()
            }
            for sub in subs:
                row = rows.get(sub.id)
                if row is not None and row.origin != origin:
                    raise ValueError(
                        f"subscription id {sub.id!r} is already used by a subscription made through "
                        f"the {row.origin}; choose another id"
                    )
                values = self._subscription_values(sub)
                if row is None:
                    await conn.execute(tables.subscriptions.insert().values(values))
                    created += 1
                elif row.spec != values["spec"] or row.owner != sub.owner:
                    del values["created_at"]
                    values["updated_at"] = now
                    await conn.execute(
                        update(tables.subscriptions).where(tables.subscriptions.c.id == sub.id).values(values)
                    )
                    if not sub.enabled:
                        await cancel_pending(conn, [sub.id], now, "subscription disabled")
                    if row.owner != sub.owner:  # the old owner's feed URL must not show the new owner's
                        await self._revoke_feeds(conn, [sub.id])
                    changed += 1
            gone = [i for i, r in rows.items() if r.origin == origin and i not in {s.id for s in subs}]
            if gone:
                await conn.execute(delete(tables.subscriptions).where(tables.subscriptions.c.id.in_(gone)))
                await cancel_pending(conn, gone, now, "subscription removed from the file")
                await self._revoke_feeds(conn, gone)
                removed = len(gone)
        return created, changed, removed
