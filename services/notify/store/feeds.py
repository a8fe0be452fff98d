"""Personal Atom feeds: one secret URL per subscription (table ``notify_feeds``; only hashes kept).

CONTRACT (issue 19): the signatures below are what the API, the console and the feed route call; their
bodies are being written (branch ``feeds``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.common.db import Section


@dataclass(frozen=True)
class FeedUrl:
    subscription_id: str
    owner: str
    created_at: dt.datetime


class FeedStore(Section):
    async def create(self, subscription_id: str, owner: str, now: dt.datetime) -> str:
        """A new secret for the subscription's feed (any earlier one is revoked); shown once."""
        raise NotImplementedError

    async def revoke(self, subscription_id: str) -> bool:
        """Revoke the subscription's feed URL; False when it had none."""
        raise NotImplementedError

    async def of_owner(self, owner: str) -> list[FeedUrl]:
        """Which of ``owner``'s subscriptions have a feed URL (never the secret)."""
        raise NotImplementedError

    async def subscription_of(self, secret: str) -> str | None:
        """The subscription id a feed secret opens, or None (unknown or revoked)."""
        raise NotImplementedError
