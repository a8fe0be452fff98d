"""Bearer tokens of the API: only their hashes are stored."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import delete, select

from services.common.db import Section, uncancellable
from services.notify.store import tables
from services.notify.store.common import hash_token

TOKEN_PREFIX = "ewt_"  # noqa: S105 - a marker that makes leaked tokens easy to find, not a secret


class TokenStore(Section):
    """The tokens table."""

    @uncancellable
    async def add(self, owner: str, now: dt.datetime, *, admin: bool = False, label: str = "") -> str:
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

    async def owner_of(self, token: str) -> tuple[str, bool] | None:
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
    async def revoke(self, owner: str) -> int:
        async with self.writing() as conn:
            result = await conn.execute(delete(tables.tokens).where(tables.tokens.c.owner == owner))
        return int(result.rowcount)
