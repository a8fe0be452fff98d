"""The delivery queue: consumed alerts become deliveries grouped into notifications, which
dispatchers claim under a lease, send, and settle (delivered, retry later, dead, cancelled); operators
list and re-drive the dead ones; the hourly purge forgets what finished long ago.

Exactly one notification per (alert, subscription) rests on three rules kept here:
- a delivery row is inserted once per (alert id, subscription id) (the primary key); a second insert
  of the same pair does nothing, so a redelivered alert is recognised as a duplicate;
- a notification is claimed for sending by a compare-and-set on its status, so two replicas never
  send the same one, and a claim is a lease: when the process dies the lease runs out and the
  notification is sent again with the same id (``in_doubt``), for the receiver to recognise;
- a notification's alerts are fixed once it is claimed: alerts arriving later start a new one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, delete, func, select, update

from schemas import Alert
from services.common.db import Section, uncancellable
from services.notify.store import tables
from services.notify.store.archive import keep_audit
from services.notify.store.common import FINAL, PENDING
from services.notify.store.recording import record_batch
from services.notify.store.records import Claim, DeadNotification, Intake, IntakeResult, Pending


class DeliveryQueue(Section):
    """The alerts, deliveries and notifications tables."""

    # --- intake ----------------------------------------------------------------------------------

    @uncancellable
    async def record(self, intakes: Sequence[Intake], now: dt.datetime) -> IntakeResult:
        """Record consumed alerts and their deliveries in one transaction, in a fixed number of
        statements (``store/recording.py``). A (alert, subscription) pair seen before is counted as a
        duplicate and changes nothing."""
        if not intakes:
            return IntakeResult()
        async with self.writing() as conn:
            return await record_batch(self.store, conn, intakes, now)

    # --- dispatch --------------------------------------------------------------------------------

    @uncancellable
    async def claim(
        self, now: dt.datetime, holder: str, lease_until: dt.datetime, limit: int, exclude: Sequence[str] = ()
    ) -> list[Claim]:
        """Claim up to ``limit`` notifications whose holder's lease ran out (first) and that are due, in
        two statements: each an update of the rows a subquery picks, repeating the subquery's condition
        as a compare-and-set (PostgreSQL re-checks it on a row another transaction changed meanwhile,
        and skips rows another claim holds locked)."""
        if limit <= 0:
            return []
        n = tables.notifications.c
        claimed: list[Claim] = []
        values: dict[str, Any] = {
            "status": "sending",
            "lease_owner": holder,
            "lease_until": lease_until,
            "last_attempt_at": now,
            "first_attempt_at": func.coalesce(n.first_attempt_at, now),
        }
        stale = and_(n.status == "sending", n.lease_until < now)
        due = and_(n.status.in_(PENDING), n.due_at <= now)
        async with self.writing() as conn:
            for condition, order, extra, in_doubt in (
                (stale, n.lease_until, {"in_doubt": n.in_doubt + 1}, True),
                (due, n.due_at, {"attempts": n.attempts + 1}, False),
            ):
                room = limit - len(claimed)
                if room <= 0:
                    break
                # The pick is a CTE, which PostgreSQL computes once: as ``id IN (subquery)`` its plan
                # may run the subquery again per row and so claim more than ``room``.
                pick = select(n.id).where(condition).order_by(order).limit(room)
                if exclude:
                    pick = pick.where(n.id.not_in(list(exclude)))
                picked = pick.with_for_update(skip_locked=True).cte("picked")
                rows = await conn.execute(
                    update(tables.notifications)
                    .where(n.id == picked.c.id, condition)
                    .values({**values, **extra})
                    .returning(n.id, order.label("at"), n.created_at)
                )
                # Oldest first; the sort is stable, so ties keep the order the database returned them in.
                found = sorted(rows.all(), key=lambda r: (r.at, r.created_at))
                claimed += [Claim(r.id, in_doubt) for r in found]
        return claimed

    async def load(self, notification_id: str) -> Pending | None:
        """A claimed notification and its alerts, oldest first."""
        return (await self.load_many([notification_id])).get(notification_id)

    async def load_many(self, notification_ids: Sequence[str]) -> dict[str, Pending]:
        """Claimed notifications with their alerts (oldest first), in two queries."""
        if not notification_ids:
            return {}
        n = tables.notifications.c
        d = tables.deliveries.c
        a = tables.alerts.c
        ids = list(notification_ids)
        async with self.reader.connect() as conn:
            rows = (await conn.execute(select(tables.notifications).where(n.id.in_(ids)))).all()
            members = (
                await conn.execute(
                    select(d.notification_id, a.payload)
                    .select_from(tables.deliveries.join(tables.alerts, a.id == d.alert_id))
                    .where(d.notification_id.in_(ids))
                )
            ).all()
        alerts: dict[str, list[Alert]] = {r.id: [] for r in rows}
        for m in members:
            alerts.setdefault(m.notification_id, []).append(Alert.model_validate_json(m.payload))
        out = {}
        for row in rows:
            found = sorted(alerts[row.id], key=lambda al: (al.created_at, al.id))
            out[row.id] = Pending(
                id=row.id,
                subscription_id=row.subscription_id,
                channel=row.channel,
                kind=row.kind,
                group_key=row.group_key,
                period_start=row.period_start,
                period_end=row.period_end,
                attempts=row.attempts,
                first_attempt_at=row.first_attempt_at or row.created_at,
                created_at=row.created_at,
                alerts=found,
            )
        return out

    @uncancellable
    async def delivered_many(
        self, notification_ids: Sequence[str], holder: str, now: dt.datetime
    ) -> set[str]:
        """Record several deliveries in one statement (group commit); the ids this holder still held."""
        if not notification_ids:
            return set()
        n = tables.notifications.c
        async with self.writing() as conn:
            result = await conn.execute(
                update(tables.notifications)
                .where(n.id.in_(list(notification_ids)), n.status == "sending", n.lease_owner == holder)
                .values(
                    lease_owner=None,
                    lease_until=None,
                    status="delivered",
                    finished_at=now,
                    reason=None,
                    detail=None,
                )
                .returning(n.id)
            )
            return set(result.scalars())

    @uncancellable
    async def _settle(self, notification_id: str, holder: str, values: dict[str, Any]) -> bool:
        n = tables.notifications.c
        async with self.writing() as conn:
            result = await conn.execute(
                update(tables.notifications)
                .where(n.id == notification_id, n.status == "sending", n.lease_owner == holder)
                .values(lease_owner=None, lease_until=None, **values)
            )
        return bool(result.rowcount)

    async def delivered(self, notification_id: str, holder: str, now: dt.datetime) -> bool:
        return notification_id in await self.delivered_many([notification_id], holder, now)

    async def retry_later(
        self, notification_id: str, holder: str, due_at: dt.datetime, reason: str, detail: str
    ) -> bool:
        return await self._settle(
            notification_id, holder, {"status": "retry", "due_at": due_at, "reason": reason, "detail": detail}
        )

    async def dead(
        self, notification_id: str, holder: str, now: dt.datetime, reason: str, detail: str
    ) -> bool:
        return await self._settle(
            notification_id,
            holder,
            {"status": "dead", "finished_at": now, "reason": reason, "detail": detail},
        )

    async def cancel(self, notification_id: str, holder: str, now: dt.datetime, why: str) -> bool:
        return await self._settle(
            notification_id, holder, {"status": "cancelled", "finished_at": now, "detail": why}
        )

    async def release(
        self,
        notification_id: str,
        holder: str,
        now: dt.datetime,
        due_at: dt.datetime | None = None,
        *,
        counted: bool = True,
    ) -> bool:
        """Give back a claim that was never sent (shutdown, a long rate-limit queue): due again at
        ``due_at`` (default: at once); the attempt the claim counted is taken back. An in-doubt claim
        (``counted=False``) counted none: the attempt of the holder that died stays counted."""
        n = tables.notifications.c
        values: dict[str, Any] = {"status": "retry", "due_at": due_at or now}
        if counted:
            values["attempts"] = n.attempts - 1
        return await self._settle(notification_id, holder, values)

    # --- operators -------------------------------------------------------------------------------

    async def dead_notifications(
        self, *, subscription_id: str | None = None, owner: str | None = None, limit: int = 100
    ) -> list[DeadNotification]:
        n = tables.notifications.c
        s = tables.subscriptions.c
        query = (
            select(tables.notifications, s.owner)
            .select_from(tables.notifications.outerjoin(tables.subscriptions, s.id == n.subscription_id))
            .where(n.status == "dead")
            .order_by(n.finished_at.desc(), n.id)
            .limit(limit)
        )
        if subscription_id is not None:
            query = query.where(n.subscription_id == subscription_id)
        if owner is not None:
            query = query.where(s.owner == owner)
        async with self.reader.connect() as conn:
            rows = (await conn.execute(query)).all()
            ids = [r.id for r in rows]
            members: dict[str, list[str]] = {i: [] for i in ids}
            if ids:
                d = tables.deliveries.c
                for m in (
                    await conn.execute(
                        select(d.notification_id, d.alert_id)
                        .where(d.notification_id.in_(ids))
                        .order_by(d.alert_id)
                    )
                ).all():
                    members[m.notification_id].append(m.alert_id)
        return [
            DeadNotification(
                id=r.id,
                subscription_id=r.subscription_id,
                owner=r.owner,
                channel=r.channel,
                kind=r.kind,
                alert_ids=members[r.id],
                attempts=r.attempts,
                reason=r.reason,
                detail=r.detail,
                created_at=r.created_at,
                finished_at=r.finished_at,
            )
            for r in rows
        ]

    @uncancellable
    async def redrive(
        self,
        now: dt.datetime,
        *,
        ids: Sequence[str] = (),
        subscription_id: str | None = None,
        everything: bool = False,
    ) -> int:
        """Put dead notifications back in the queue with a fresh set of attempts; returns how many."""
        n = tables.notifications.c
        conditions = [n.status == "dead"]
        if ids:
            conditions.append(n.id.in_(list(ids)))
        if subscription_id is not None:
            conditions.append(n.subscription_id == subscription_id)
        if not (ids or subscription_id is not None or everything):
            return 0
        async with self.writing() as conn:
            result = await conn.execute(
                update(tables.notifications)
                .where(*conditions)
                .values(
                    status="retry",
                    due_at=now,
                    attempts=0,
                    first_attempt_at=None,
                    finished_at=None,
                )
            )
        return int(result.rowcount)

    async def queue_stats(self) -> tuple[dict[str, int], dt.datetime | None]:
        """Notifications per status, and the oldest due time of those waiting to be sent."""
        n = tables.notifications.c
        async with self.reader.connect() as conn:
            rows = (
                await conn.execute(select(n.status, func.count().label("total")).group_by(n.status))
            ).all()
            counts = {str(r.status): int(r.total) for r in rows}
            oldest = (
                await conn.execute(select(func.min(n.due_at)).where(n.status.in_((*PENDING, "sending"))))
            ).scalar_one_or_none()
        return counts, oldest

    @uncancellable
    async def purge(self, before: dt.datetime) -> int:
        """Forget what finished before ``before``: notifications, their deliveries and alerts that no
        pending notification needs. Returns the number of notifications removed."""
        n = tables.notifications.c
        d = tables.deliveries.c
        a = tables.alerts.c
        async with self.writing() as conn:
            old = (
                (await conn.execute(select(n.id).where(n.status.in_(FINAL), n.finished_at < before)))
                .scalars()
                .all()
            )
            for start in range(0, len(old), 500):
                chunk = old[start : start + 500]
                await keep_audit(conn, d.notification_id.in_(chunk))
                await conn.execute(delete(tables.deliveries).where(d.notification_id.in_(chunk)))
                await conn.execute(delete(tables.notifications).where(n.id.in_(chunk)))
            silenced = and_(d.status == "silenced", d.created_at < before)
            await keep_audit(conn, silenced)
            await conn.execute(delete(tables.deliveries).where(silenced))
            await conn.execute(
                delete(tables.alerts).where(
                    a.received_at < before, ~select(d.alert_id).where(d.alert_id == a.id).exists()
                )
            )
        return len(old)
