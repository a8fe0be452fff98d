"""The notify service's database, one store per concept on a single ``Store`` (engines, migrations and
one queue of writers): ``subscriptions``, ``tokens``, ``silences``, ``test_sends`` (their pace) and
``deliveries`` (the queue of notifications). The same queries run on SQLite and PostgreSQL.

Every write runs to its end even when its caller is cancelled (``uncancellable``): a transaction cut
off in the middle can leave SQLite's write lock held by a connection nobody uses any more.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.db import Store
from services.notify.core.planning import Target
from services.notify.store.archive import ArchiveStore
from services.notify.store.common import FINAL, PENDING, hash_token, new_id, spec_json
from services.notify.store.feedback import FeedbackStore
from services.notify.store.feeds import FeedStore
from services.notify.store.pacing import SendPacingStore
from services.notify.store.queue import DeliveryQueue
from services.notify.store.records import Claim, DeadNotification, Intake, IntakeResult, Pending
from services.notify.store.sessions import SessionStore
from services.notify.store.silences import SilenceStore
from services.notify.store.subscriptions import SubscriptionStore
from services.notify.store.tokens import TOKEN_PREFIX, TokenStore

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version_notify"


class NotifyStore(Store):
    """The notify service's database; ``open`` brings its schema up to date."""

    migrations = MIGRATIONS
    version_table = VERSION_TABLE
    # Every SQLite transaction takes the write lock at BEGIN: a transaction that reads and then writes
    # could otherwise fail at once (not wait) when another connection wrote in between.
    immediate = True

    def __init__(self, engine: AsyncEngine, reader: AsyncEngine | None = None) -> None:
        super().__init__(engine, reader)
        self.subscriptions = SubscriptionStore(self)
        self.tokens = TokenStore(self)
        self.silences = SilenceStore(self)
        self.test_sends = SendPacingStore(self)
        self.deliveries = DeliveryQueue(self)
        self.archive = ArchiveStore(self)
        self.feedback = FeedbackStore(self)
        self.feeds = FeedStore(self)
        self.sessions = SessionStore(self)


__all__ = [
    "FINAL",
    "PENDING",
    "TOKEN_PREFIX",
    "Claim",
    "DeadNotification",
    "DeliveryQueue",
    "Intake",
    "IntakeResult",
    "NotifyStore",
    "Pending",
    "SendPacingStore",
    "SessionStore",
    "SilenceStore",
    "SubscriptionStore",
    "Target",
    "TokenStore",
    "hash_token",
    "new_id",
    "spec_json",
]
