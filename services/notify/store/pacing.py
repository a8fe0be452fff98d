"""The pace of test sends per owner, shared by every replica (see ``SendPacingStore.reserve``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.db import Section, dialect_insert, uncancellable
from services.notify.core.ratelimit import Pace
from services.notify.store import tables


class SendPacingStore(Section):
    """The test-send pacing table."""

    @uncancellable
    async def reserve(self, owner: str, pace: Pace, clock: Callable[[], dt.datetime]) -> float:
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
                dialect_insert(conn, tables.test_send_pacing).on_conflict_do_nothing(
                    index_elements=["owner"]
                ),
                {"owner": owner, "tat": idle},
            )
            tat: dt.datetime | None = (
                await conn.execute(select(p.tat).where(p.owner == owner).with_for_update())
            ).scalar_one_or_none()
            if tat is not None:
                return tat

    @uncancellable
    async def forget_idle(self, now: dt.datetime) -> int:
        """Delete the test-send pace of owners whose slots have all freed by ``now`` (a missing row means
        the same), so the table holds only owners who sent lately; the number deleted."""
        async with self.writing() as conn:
            result = await conn.execute(
                delete(tables.test_send_pacing).where(tables.test_send_pacing.c.tat <= now)
            )
        return int(result.rowcount)
