"""Intake's transaction: a batch of consumed alerts into the delivery log in a fixed number of
statements, however many alerts and targets the batch holds (issue 20: about four statements per
delivery before).

The statements: the routed alerts (one multi-row insert), the archive (``ArchiveStore.add``), the
deliveries (one multi-row insert that returns the pairs it inserted: a pair seen before is a
duplicate), the open notifications of the batch's groups (read locked on PostgreSQL, so that no
dispatcher claims one while alerts join it), the new notifications (one insert), the joined ones'
counts (one update), the deliveries' notification ids (one executemany), and the earliest due time.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from schemas.bounds import bound_alert
from services.common.db import Store, dialect_insert
from services.notify.core.planning import Target, joins
from services.notify.store import tables
from services.notify.store.archive import ArchiveStore
from services.notify.store.common import new_id
from services.notify.store.records import Intake, IntakeResult


class JoinLost(RuntimeError):
    """An open notification stopped being open while alerts joined it (a claim in between, which the
    lock should prevent): the batch is rolled back and read again."""


@dataclass
class _Open:
    id: str
    count: int


async def record_batch(
    store: Store, conn: AsyncConnection, intakes: Sequence[Intake], now: dt.datetime
) -> IntakeResult:
    """Record ``intakes`` within ``conn``'s transaction; see the module's description."""
    result = IntakeResult()
    routed = [{"id": i.alert.id, "payload": i.payload, "received_at": now} for i in intakes if i.targets]
    if routed:
        insert_alert = dialect_insert(conn, tables.alerts).on_conflict_do_nothing(index_elements=["id"])
        await conn.execute(insert_alert, routed)
    await ArchiveStore(store).add(conn, [bound_alert(i.alert) for i in intakes], now)
    pairs = [(i.alert.id, t) for i in intakes for t in i.targets]
    inserted = await _insert_deliveries(conn, pairs, now)
    waiting: list[tuple[str, Target]] = []
    for alert_id, target in pairs:
        if (alert_id, target.subscription_id) not in inserted:
            result.duplicate += 1
            result.count(target.channel, "duplicate")
        elif target.silence_id:
            result.silenced += 1
            result.count(target.channel, "silenced")
        else:
            waiting.append((alert_id, target))
            result.queued += 1
            result.count(target.channel, "queued")
        inserted.discard((alert_id, target.subscription_id))  # a second copy in the batch is a duplicate
    if waiting:
        await _attach(conn, waiting, now)
    n = tables.notifications.c
    result.earliest_due = (
        await conn.execute(select(func.min(n.due_at)).where(n.status == "open"))
    ).scalar_one_or_none()
    return result


async def _insert_deliveries(
    conn: AsyncConnection, pairs: Sequence[tuple[str, Target]], now: dt.datetime
) -> set[tuple[str, str]]:
    """Insert each (alert, subscription) pair once; the pairs that were new."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for alert_id, target in pairs:
        rows.setdefault(
            (alert_id, target.subscription_id),
            {
                "alert_id": alert_id,
                "subscription_id": target.subscription_id,
                "notification_id": None,
                "status": "silenced" if target.silence_id else "queued",
                "silence_id": target.silence_id,
                "created_at": now,
            },
        )
    if not rows:
        return set()
    d = tables.deliveries.c
    insert = (
        dialect_insert(conn, tables.deliveries)
        .on_conflict_do_nothing(index_elements=["alert_id", "subscription_id"])
        .returning(d.alert_id, d.subscription_id)
    )
    returned = await conn.execute(insert, list(rows.values()))
    return {(r.alert_id, r.subscription_id) for r in returned}


async def _attach(conn: AsyncConnection, waiting: Sequence[tuple[str, Target]], now: dt.datetime) -> None:
    """Put each new delivery into its group's open notification (the one with the fewest alerts, while
    it may take one more) or a new one."""
    n = tables.notifications.c
    query = (
        select(n.id, n.subscription_id, n.group_key, n.alert_count)
        .where(
            n.status == "open",
            n.subscription_id.in_(sorted({t.subscription_id for _, t in waiting})),
            n.group_key.in_(sorted({t.group_key for _, t in waiting})),
        )
        .order_by(n.id)
        .with_for_update()  # PostgreSQL: no claim in between; SQLite's writer holds the database
    )
    groups: dict[tuple[str, str], list[_Open]] = {}
    for row in (await conn.execute(query)).all():
        groups.setdefault((row.subscription_id, row.group_key), []).append(_Open(row.id, row.alert_count))
    joined: Counter[str] = Counter()  # alerts joining notifications that were open before the batch
    fresh: set[str] = set()
    created: list[dict[str, Any]] = []
    members: list[dict[str, Any]] = []
    for alert_id, target in waiting:
        group = groups.setdefault((target.subscription_id, target.group_key), [])
        smallest = min(group, key=lambda o: o.count, default=None)
        if smallest is not None and joins(target.kind, smallest.count):
            smallest.count += 1
            if smallest.id not in fresh:
                joined[smallest.id] += 1
            chosen = smallest.id
        else:
            chosen = new_id("ntf")
            group.append(_Open(chosen, 1))
            fresh.add(chosen)
            created.append(_new_notification(chosen, target, now))
        members.append({"a": alert_id, "s": target.subscription_id, "nid": chosen})
    counts = {o.id: o.count for group in groups.values() for o in group}
    for new in created:
        new["alert_count"] = counts[new["id"]]
    if created:
        await conn.execute(tables.notifications.insert(), created)
    if joined:
        cas = (
            update(tables.notifications)
            .where(n.id.in_(list(joined)), n.status == "open")
            .values(alert_count=n.alert_count + case(dict(joined), value=n.id, else_=0))
            .returning(n.id)
        )
        if len((await conn.execute(cas)).all()) != len(joined):
            raise JoinLost("an open notification was claimed while alerts joined it")
    d = tables.deliveries.c
    await conn.execute(
        update(tables.deliveries)
        .where(d.alert_id == bindparam("a"), d.subscription_id == bindparam("s"))
        .values(notification_id=bindparam("nid")),
        members,
    )


def _new_notification(notification_id: str, target: Target, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": notification_id,
        "subscription_id": target.subscription_id,
        "channel": target.channel,
        "kind": target.kind,
        "group_key": target.group_key,
        "period_start": target.period_start,
        "period_end": target.period_end,
        "status": "open",
        "alert_count": 1,
        "due_at": target.due_at,
        "attempts": 0,
        "in_doubt": 0,
        "created_at": now,
    }
