"""Reading and writing the notify state, the same queries on SQLite and PostgreSQL.

Exactly one notification per (alert, subscription) rests on three rules kept here:
- a delivery row is inserted once per (alert id, subscription id) (the primary key); a second insert
  of the same pair does nothing, so a redelivered alert is recognised as a duplicate;
- a notification is claimed for sending by a compare-and-set on its status, so two replicas never
  send the same one, and a claim is a lease: when the process dies the lease runs out and the
  notification is sent again with the same id (``in_doubt``), for the receiver to recognise;
- a notification's alerts are fixed once it is claimed: alerts arriving later start a new one.

Every write runs to its end even when its caller is cancelled (``uncancellable``): a transaction cut
off in the middle can leave SQLite's write lock held by a connection nobody uses any more.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import and_, delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from schemas import Alert
from services.common.db import Store, uncancellable
from services.notify.core.model import Silence, Subscription, SubscriptionSpec
from services.notify.core.planning import Target, joins
from services.notify.core.ratelimit import Pace
from services.notify.store import tables

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version_notify"
PENDING = ("open", "retry")
FINAL = ("delivered", "dead", "cancelled")
SYNC_LOCK = 0x4E4F54494659  # PostgreSQL advisory lock key of the subscriptions sync ("NOTIFY")
TOKEN_PREFIX = "ewt_"  # noqa: S105 - a marker that makes leaked tokens easy to find, not a secret


def _reveal(value: Any) -> Any:
    """A model dump with secrets in clear (for the database only) and plain JSON types."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_reveal(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    return value


def spec_json(spec: SubscriptionSpec) -> str:
    fields = set(SubscriptionSpec.model_fields)
    return json.dumps(_reveal(spec.model_dump(include=fields)), ensure_ascii=False, sort_keys=True)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


@dataclass(frozen=True)
class Intake:
    """A consumed alert and the subscriptions it goes to."""

    alert: Alert
    payload: str
    targets: Sequence[Target]


@dataclass
class IntakeResult:
    queued: int = 0
    silenced: int = 0
    duplicate: int = 0
    by_channel: dict[tuple[str, str], int] = field(default_factory=dict)  # (channel, outcome) -> n
    earliest_due: dt.datetime | None = None

    def count(self, channel: str, outcome: str) -> None:
        self.by_channel[(channel, outcome)] = self.by_channel.get((channel, outcome), 0) + 1


@dataclass(frozen=True)
class Claim:
    id: str
    in_doubt: bool  # the previous holder's lease ran out: it may or may not have sent it


@dataclass(frozen=True)
class Pending:
    """A claimed notification with what is needed to send it."""

    id: str
    subscription_id: str
    channel: str
    kind: str
    group_key: str
    period_start: dt.datetime | None
    period_end: dt.datetime | None
    attempts: int
    first_attempt_at: dt.datetime
    created_at: dt.datetime
    alerts: list[Alert]


@dataclass(frozen=True)
class DeadNotification:
    id: str
    subscription_id: str
    owner: str | None
    channel: str
    kind: str
    alert_ids: list[str]
    attempts: int
    reason: str | None
    detail: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None

    def as_json(self) -> dict[str, Any]:
        """How the API and ``exportwatch notify dead --json`` show it."""
        return {
            "id": self.id,
            "subscription_id": self.subscription_id,
            "owner": self.owner,
            "channel": self.channel,
            "kind": self.kind,
            "alerts": self.alert_ids,
            "attempts": self.attempts,
            "reason": self.reason,
            "detail": self.detail,
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


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


class NotifyStore(Store):
    """The notify service's database; ``open`` brings its schema up to date."""

    migrations = MIGRATIONS
    version_table = VERSION_TABLE
    # Every SQLite transaction takes the write lock at BEGIN: a transaction that reads and then writes
    # could otherwise fail at once (not wait) when another connection wrote in between.
    immediate = True

    @staticmethod
    def _insert(conn: AsyncConnection, table: Any) -> Any:
        return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)

    # --- subscriptions -------------------------------------------------------------------------

    async def subscriptions(self, owner: str | None = None) -> list[Subscription]:
        query = select(tables.subscriptions).order_by(tables.subscriptions.c.id)
        if owner is not None:
            query = query.where(tables.subscriptions.c.owner == owner)
        async with self.reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_subscription(r) for r in rows]

    async def subscription(self, subscription_id: str) -> Subscription | None:
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
    async def create_subscription(self, sub: Subscription) -> bool:
        """Insert a new subscription; False when the id is taken."""
        async with self.writing() as conn:
            stmt = self._insert(conn, tables.subscriptions).on_conflict_do_nothing(index_elements=["id"])
            result = await conn.execute(stmt, self._subscription_values(sub))
        return bool(result.rowcount)

    @uncancellable
    async def replace_subscription(self, sub: Subscription) -> bool:
        """Overwrite an existing subscription (same id); False when there is none."""
        values = self._subscription_values(sub)
        del values["created_at"]
        async with self.writing() as conn:
            result = await conn.execute(
                update(tables.subscriptions).where(tables.subscriptions.c.id == sub.id).values(values)
            )
            if result.rowcount and not sub.enabled:
                await self._cancel_pending(conn, [sub.id], sub.updated_at, "subscription disabled")
        return bool(result.rowcount)

    @uncancellable
    async def delete_subscription(self, subscription_id: str, now: dt.datetime) -> bool:
        async with self.writing() as conn:
            result = await conn.execute(
                delete(tables.subscriptions).where(tables.subscriptions.c.id == subscription_id)
            )
            await self._cancel_pending(conn, [subscription_id], now, "subscription deleted")
        return bool(result.rowcount)

    @uncancellable
    async def sync_subscriptions(
        self, origin: str, subs: Sequence[Subscription], now: dt.datetime
    ) -> tuple[int, int, int]:
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
                        await self._cancel_pending(conn, [sub.id], now, "subscription disabled")
                    changed += 1
            gone = [i for i, r in rows.items() if r.origin == origin and i not in {s.id for s in subs}]
            if gone:
                await conn.execute(delete(tables.subscriptions).where(tables.subscriptions.c.id.in_(gone)))
                await self._cancel_pending(conn, gone, now, "subscription removed from the file")
                removed = len(gone)
        return created, changed, removed

    async def _cancel_pending(
        self, conn: AsyncConnection, subscription_ids: Sequence[str], now: dt.datetime, why: str
    ) -> None:
        n = tables.notifications.c
        await conn.execute(
            update(tables.notifications)
            .where(n.subscription_id.in_(subscription_ids), n.status.in_(PENDING))
            .values(status="cancelled", finished_at=now, detail=why, lease_owner=None, lease_until=None)
        )

    # --- tokens ----------------------------------------------------------------------------------

    @uncancellable
    async def add_token(self, owner: str, now: dt.datetime, *, admin: bool = False, label: str = "") -> str:
        """A new bearer token for ``owner``; only its hash is stored, so this is the one chance to see
        it."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        async with self.writing() as conn:
            await conn.execute(
                tables.tokens.insert().values(
                    token_hash=hash_token(token),
                    owner=owner,
                    admin=admin,
                    label=label or None,
                    created_at=now,
                )
            )
        return token

    async def token_owner(self, token: str) -> tuple[str, bool] | None:
        """(owner, admin) of a bearer token, or None."""
        async with self.reader.connect() as conn:
            row = (
                await conn.execute(
                    select(tables.tokens.c.owner, tables.tokens.c.admin).where(
                        tables.tokens.c.token_hash == hash_token(token)
                    )
                )
            ).first()
        return (row.owner, bool(row.admin)) if row is not None else None

    @uncancellable
    async def revoke_tokens(self, owner: str) -> int:
        async with self.writing() as conn:
            result = await conn.execute(delete(tables.tokens).where(tables.tokens.c.owner == owner))
        return int(result.rowcount)

    # --- test sends -----------------------------------------------------------------------------

    @uncancellable
    async def reserve_test_send(self, owner: str, pace: Pace, clock: Callable[[], dt.datetime]) -> float:
        """Take one of ``owner``'s test-send slots if one is free: 0.0, and the slot recorded; otherwise
        the seconds until one frees, and nothing recorded (a refused call does not push the next slot
        further away).

        The pace lives in the database so that every replica behind a load balancer paces the same owner
        together, hence wall-clock time (replicas share no monotonic clock). Read, decide and write are
        one transaction holding the owner's row: SQLite's writer lock (BEGIN IMMEDIATE) or PostgreSQL's
        row lock, so two replicas can never both take the last slot. ``clock`` is read once that lock is
        held: a time read before it could be older than the one the previous holder wrote with, and a
        refusal would then name a wait longer than the real one."""
        p = tables.test_send_pacing.c
        async with self.writing() as conn:
            tat = await self._locked_tat(conn, owner, clock())
            now = clock()
            # Seconds counted from ``now``, not since 1970: small numbers keep the float error far below
            # the microsecond the database stores, and the wait is rounded to that microsecond.
            wait, after = pace.step((tat - now).total_seconds(), 0.0)
            wait = round(wait, 6)
            if wait == 0:
                await conn.execute(
                    update(tables.test_send_pacing)
                    .where(p.owner == owner)
                    .values(tat=now + dt.timedelta(seconds=after))
                )
        return wait

    async def _locked_tat(self, conn: AsyncConnection, owner: str, idle: dt.datetime) -> dt.datetime:
        """The owner's theoretical arrival time, its row locked until the transaction ends.

        A missing row is first inserted as ``idle``, a time not in the future (which means the same as
        an owner never seen), since FOR UPDATE locks only rows that exist: two replicas finding none
        would otherwise both go ahead; a concurrent insert makes the second wait for the first to
        commit. The loop is for the purge deleting the row between the two statements (PostgreSQL;
        SQLite's lock keeps the purge out)."""
        p = tables.test_send_pacing.c
        while True:
            await conn.execute(
                self._insert(conn, tables.test_send_pacing).on_conflict_do_nothing(index_elements=["owner"]),
                {"owner": owner, "tat": idle},
            )
            tat: dt.datetime | None = (
                await conn.execute(select(p.tat).where(p.owner == owner).with_for_update())
            ).scalar_one_or_none()
            if tat is not None:
                return tat

    @uncancellable
    async def forget_idle_test_sends(self, now: dt.datetime) -> int:
        """Delete the test-send pace of owners whose slots have all freed by ``now`` (a missing row means
        the same), so the table holds only owners who sent lately; the number deleted."""
        async with self.writing() as conn:
            result = await conn.execute(
                delete(tables.test_send_pacing).where(tables.test_send_pacing.c.tat <= now)
            )
        return int(result.rowcount)

    # --- silences --------------------------------------------------------------------------------

    @uncancellable
    async def add_silence(self, silence: Silence) -> None:
        spec = {
            "filters": _reveal(silence.filters.model_dump()),
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

    async def silences(
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

    async def silence(self, silence_id: str) -> Silence | None:
        async with self.reader.connect() as conn:
            row = (
                await conn.execute(select(tables.silences).where(tables.silences.c.id == silence_id))
            ).first()
        return _silence(row) if row is not None else None

    @uncancellable
    async def expire_silence(self, silence_id: str, now: dt.datetime) -> bool:
        s = tables.silences.c
        async with self.writing() as conn:
            result = await conn.execute(
                update(tables.silences).where(s.id == silence_id, s.ends_at > now).values(ends_at=now)
            )
        return bool(result.rowcount)

    # --- intake ----------------------------------------------------------------------------------

    @uncancellable
    async def record(self, intakes: Sequence[Intake], now: dt.datetime) -> IntakeResult:
        """Record consumed alerts and their deliveries in one transaction. A (alert, subscription)
        pair seen before is counted as a duplicate and changes nothing."""
        result = IntakeResult()
        if not intakes:
            return result
        n = tables.notifications.c
        async with self.writing() as conn:
            insert_alert = self._insert(conn, tables.alerts).on_conflict_do_nothing(index_elements=["id"])
            insert_delivery = self._insert(conn, tables.deliveries).on_conflict_do_nothing(
                index_elements=["alert_id", "subscription_id"]
            )
            routed = [
                {"id": i.alert.id, "payload": i.payload, "received_at": now} for i in intakes if i.targets
            ]
            if routed:
                await conn.execute(insert_alert, routed)
            for intake in intakes:
                for target in intake.targets:
                    status = "silenced" if target.silence_id else "queued"
                    inserted = await conn.execute(
                        insert_delivery,
                        {
                            "alert_id": intake.alert.id,
                            "subscription_id": target.subscription_id,
                            "notification_id": None,
                            "status": status,
                            "silence_id": target.silence_id,
                            "created_at": now,
                        },
                    )
                    if not inserted.rowcount:
                        result.duplicate += 1
                        result.count(target.channel, "duplicate")
                        continue
                    if target.silence_id:
                        result.silenced += 1
                        result.count(target.channel, "silenced")
                        continue
                    notification_id = await self._attach(conn, target, now)
                    await conn.execute(
                        update(tables.deliveries)
                        .where(
                            tables.deliveries.c.alert_id == intake.alert.id,
                            tables.deliveries.c.subscription_id == target.subscription_id,
                        )
                        .values(notification_id=notification_id)
                    )
                    result.queued += 1
                    result.count(target.channel, "queued")
            due = (
                await conn.execute(select(func.min(n.due_at)).where(n.status == "open"))
            ).scalar_one_or_none()
        result.earliest_due = due
        return result

    async def _attach(self, conn: AsyncConnection, target: Target, now: dt.datetime) -> str:
        """The open notification of the target's group, or a new one."""
        n = tables.notifications.c
        open_row = (
            await conn.execute(
                select(n.id, n.alert_count)
                .where(
                    n.subscription_id == target.subscription_id,
                    n.group_key == target.group_key,
                    n.status == "open",
                )
                .order_by(n.alert_count)
                .limit(1)
            )
        ).first()
        if open_row is not None and joins(target.kind, open_row.alert_count):
            open_id = open_row.id
            # Compare-and-set: if a dispatcher claimed it meanwhile, this changes nothing.
            joined = await conn.execute(
                update(tables.notifications)
                .where(n.id == open_id, n.status == "open")
                .values(alert_count=n.alert_count + 1)
            )
            if joined.rowcount:
                return str(open_id)
        notification_id = new_id("ntf")
        await conn.execute(
            tables.notifications.insert().values(
                id=notification_id,
                subscription_id=target.subscription_id,
                channel=target.channel,
                kind=target.kind,
                group_key=target.group_key,
                period_start=target.period_start,
                period_end=target.period_end,
                status="open",
                alert_count=1,
                due_at=target.due_at,
                attempts=0,
                in_doubt=0,
                created_at=now,
            )
        )
        return notification_id

    # --- dispatch --------------------------------------------------------------------------------

    @uncancellable
    async def claim(
        self, now: dt.datetime, holder: str, lease_until: dt.datetime, limit: int, exclude: Sequence[str] = ()
    ) -> list[Claim]:
        """Claim up to ``limit`` notifications that are due, and those whose holder's lease ran out."""
        if limit <= 0:
            return []
        n = tables.notifications.c
        claims: list[Claim] = []
        async with self.writing() as conn:
            due = (
                await conn.execute(
                    select(n.id, n.status)
                    .where(n.status.in_(PENDING), n.due_at <= now)
                    .order_by(n.due_at)
                    .limit(limit + len(exclude))
                )
            ).all()
            stale = (
                await conn.execute(
                    select(n.id, n.status)
                    .where(n.status == "sending", n.lease_until < now)
                    .order_by(n.lease_until)
                    .limit(limit + len(exclude))
                )
            ).all()
            skip = set(exclude)
            for row in [*stale, *due]:
                if len(claims) >= limit:
                    break
                if row.id in skip:
                    continue
                in_doubt = row.status == "sending"
                condition = (
                    and_(n.status == "sending", n.lease_until < now)
                    if in_doubt
                    else and_(n.status == row.status, n.due_at <= now)
                )
                values: dict[str, Any] = {
                    "status": "sending",
                    "lease_owner": holder,
                    "lease_until": lease_until,
                    "last_attempt_at": now,
                    "first_attempt_at": func.coalesce(n.first_attempt_at, now),
                }
                if in_doubt:
                    values["in_doubt"] = n.in_doubt + 1
                else:
                    values["attempts"] = n.attempts + 1
                done = await conn.execute(
                    update(tables.notifications).where(n.id == row.id, condition).values(values)
                )
                if done.rowcount:
                    claims.append(Claim(row.id, in_doubt))
        return claims

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
        """Record several deliveries in one transaction (group commit); the ids this holder still held."""
        n = tables.notifications.c
        done = set()
        async with self.writing() as conn:
            for notification_id in notification_ids:
                result = await conn.execute(
                    update(tables.notifications)
                    .where(n.id == notification_id, n.status == "sending", n.lease_owner == holder)
                    .values(
                        lease_owner=None,
                        lease_until=None,
                        status="delivered",
                        finished_at=now,
                        reason=None,
                        detail=None,
                    )
                )
                if result.rowcount:
                    done.add(notification_id)
        return done

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
                await conn.execute(delete(tables.deliveries).where(d.notification_id.in_(chunk)))
                await conn.execute(delete(tables.notifications).where(n.id.in_(chunk)))
            await conn.execute(delete(tables.deliveries).where(d.status == "silenced", d.created_at < before))
            await conn.execute(
                delete(tables.alerts).where(
                    a.received_at < before, ~select(d.alert_id).where(d.alert_id == a.id).exists()
                )
            )
        return len(old)


__all__ = [
    "Claim",
    "DeadNotification",
    "Intake",
    "IntakeResult",
    "NotifyStore",
    "Pending",
    "Target",
]
