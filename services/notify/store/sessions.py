"""Console sign-ins (table ``notify_sessions``): a researcher's API token exchanged for a session.

Only SHA-256 hashes are stored, of the cookie's value and of the session's form token (CSRF): a copy of
the database opens no session and forges no form.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select

from services.common.db import Section, uncancellable
from services.notify.store import tables
from services.notify.store.common import hash_token


@dataclass(frozen=True)
class Session:
    """A signed-in researcher: who, whether with the admin's rights, and the hash of the form token."""

    owner: str
    admin: bool
    csrf_hash: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class NewSession:
    """The secrets of a session just made: shown to the browser once, only their hashes kept."""

    cookie: str
    csrf: str


class SessionStore(Section):
    """The sessions table."""

    @uncancellable
    async def create(self, owner: str, admin: bool, now: dt.datetime, lifetime: dt.timedelta) -> NewSession:
        made = NewSession(cookie=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32))
        async with self.writing() as conn:
            await conn.execute(
                tables.sessions.insert().values(
                    id_hash=hash_token(made.cookie),
                    owner=owner,
                    admin=admin,
                    csrf_hash=hash_token(made.csrf),
                    created_at=now,
                    expires_at=now + lifetime,
                )
            )
        return made

    async def find(self, cookie: str, now: dt.datetime) -> Session | None:
        """The session a cookie opens, or None (unknown, ended or expired)."""
        t = tables.sessions
        async with self.reader.connect() as conn:
            row = (
                await conn.execute(
                    select(t.c.owner, t.c.admin, t.c.csrf_hash, t.c.expires_at).where(
                        t.c.id_hash == hash_token(cookie), t.c.expires_at > now
                    )
                )
            ).first()
        if row is None:
            return None
        return Session(row.owner, bool(row.admin), row.csrf_hash, row.expires_at)

    @uncancellable
    async def end(self, cookie: str) -> bool:
        async with self.writing() as conn:
            result = await conn.execute(
                delete(tables.sessions).where(tables.sessions.c.id_hash == hash_token(cookie))
            )
        return bool(result.rowcount)

    @uncancellable
    async def purge(self, now: dt.datetime) -> int:
        """Forget expired sessions (notify's hourly purge)."""
        async with self.writing() as conn:
            result = await conn.execute(delete(tables.sessions).where(tables.sessions.c.expires_at <= now))
        return int(result.rowcount)
