"""Personal Atom feeds: one secret URL per subscription (table ``notify_feeds``; only hashes kept).

The secret is shown once, when made; the table keeps its SHA-256, so a lookup is by hash (an index
lookup, not a comparison of secrets) and a stolen database opens no feed.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select

from services.common.db import Section, uncancellable
from services.notify.store import tables
from services.notify.store.common import hash_token

SECRET_BYTES = 32
MAX_SECRET = 128  # longer is never one of ours: not hashed, not looked up


@dataclass(frozen=True)
class FeedUrl:
    subscription_id: str
    owner: str
    created_at: dt.datetime


class FeedStore(Section):
    """The feeds table."""

    @uncancellable
    async def create(self, subscription_id: str, owner: str, now: dt.datetime) -> str:
        """A new secret for the subscription's feed (any earlier one is revoked); shown once."""
        secret = secrets.token_urlsafe(SECRET_BYTES)
        feeds = tables.feeds
        async with self.writing() as conn:
            await conn.execute(delete(feeds).where(feeds.c.subscription_id == subscription_id))
            await conn.execute(
                feeds.insert().values(
                    token_hash=hash_token(secret),
                    subscription_id=subscription_id,
                    owner=owner,
                    created_at=now,
                )
            )
        return secret

    @uncancellable
    async def revoke(self, subscription_id: str) -> bool:
        """Revoke the subscription's feed URL; False when it had none."""
        feeds = tables.feeds
        async with self.writing() as conn:
            result = await conn.execute(delete(feeds).where(feeds.c.subscription_id == subscription_id))
        return bool(result.rowcount)

    async def of_owner(self, owner: str) -> list[FeedUrl]:
        """Which of ``owner``'s subscriptions have a feed URL (never the secret)."""
        feeds = tables.feeds
        async with self.reader.connect() as conn:
            rows = (
                await conn.execute(
                    select(feeds.c.subscription_id, feeds.c.owner, feeds.c.created_at)
                    .where(feeds.c.owner == owner)
                    .order_by(feeds.c.subscription_id)
                )
            ).all()
        return [FeedUrl(r.subscription_id, r.owner, r.created_at) for r in rows]

    async def subscription_of(self, secret: str) -> str | None:
        """The subscription id a feed secret opens, or None (unknown or revoked)."""
        if not secret or len(secret) > MAX_SECRET:
            return None
        feeds = tables.feeds
        async with self.reader.connect() as conn:
            row = (
                await conn.execute(
                    select(feeds.c.subscription_id).where(feeds.c.token_hash == hash_token(secret))
                )
            ).first()
        return str(row.subscription_id) if row is not None else None
