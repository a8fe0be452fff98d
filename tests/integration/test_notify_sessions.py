"""Console sessions on SQLite and PostgreSQL: only hashes stored, expiry, sign-out and the purge."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from services.notify.store import tables
from services.notify.store.repository import NotifyStore

NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


async def test_sessions_keep_only_hashes_expire_end_and_are_purged(db_url: str) -> None:
    store = await NotifyStore.open(db_url)
    try:
        made = await store.sessions.create("alice", False, NOW, HOUR)
        other = await store.sessions.create("admin", True, NOW - 2 * HOUR, HOUR)
        found = await store.sessions.find(made.cookie, NOW)
        assert found is not None and found.owner == "alice" and not found.admin
        assert found.csrf_hash != made.csrf and len(found.csrf_hash) == 64
        async with store.reader.connect() as conn:
            rows = (await conn.execute(select(tables.sessions))).all()
        stored = " ".join(str(v) for row in rows for v in row)
        assert made.cookie not in stored and made.csrf not in stored
        assert await store.sessions.find(made.cookie, NOW + 2 * HOUR) is None  # expired
        assert await store.sessions.find(other.cookie, NOW) is None
        assert await store.sessions.find("not-a-cookie", NOW) is None
        assert await store.sessions.purge(NOW) == 1  # the admin's, expired an hour ago
        assert await store.sessions.end(made.cookie)
        assert await store.sessions.find(made.cookie, NOW) is None
        assert not await store.sessions.end(made.cookie)
    finally:
        await store.close()
