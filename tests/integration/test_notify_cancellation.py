"""Notify cancelled the way a stopping service cancels it (runtime.py cancels the background jobs,
FastStream may cancel a batch handler): no SQLite write lock is left behind by a transaction cut off
in the middle, and a cancelled dispatcher stops gracefully (sends in flight finish and are recorded,
claims not sent are given back) instead of leaving claims to run out their lease.

Regressions of the SIGTERM flake of test_notify_restart_e2e.py[sqlite-sigterm]: notify took over 30 s
to stop because a write transaction cancelled in the middle kept SQLite's write lock on a connection
SQLAlchemy had dropped, and every later write waited out the 10 s busy timeout."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from services.common.messaging.metrics import new_registry
from services.notify.intake import make_handler
from services.notify.metrics import NotifyMetrics
from services.notify.store import tables
from services.notify.store.repository import NotifyStore
from tests.conftest import eventually
from tests.integration.test_notify_dispatch import (
    FakeClock,
    make_dispatcher,
    records,
    rows,
    stories,
    subscribe,
    webhook,
)
from tests.integration.test_notify_store import alert, intake, sub
from tools.webhook_sink import Reply, WebhookSink

NOW = dt.datetime.now(dt.UTC)
SECRET = "dispatch-test-signing-secret"


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[NotifyStore]:
    store = await NotifyStore.open(f"sqlite:///{tmp_path / 'notify.db'}")
    yield store
    await store.close()


def _write_lock_free(path: str) -> bool:
    """Whether another connection can take SQLite's write lock within a second."""
    conn = sqlite3.connect(path, timeout=1.0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


async def test_a_write_cancelled_anywhere_leaves_no_sqlite_lock_behind(
    sqlite_store: NotifyStore, tmp_path: Path
) -> None:
    """Cancel a batch of intake at every moment of its transaction (from before BEGIN to after COMMIT),
    hundreds of times: the write lock is always free afterwards, and each batch is recorded whole or
    not at all. Before the fix about one cancellation in a hundred left the lock held."""
    store = sqlite_store
    await store.subscriptions.sync("api", [sub("s1"), sub("s2")], NOW)
    path = str(tmp_path / "notify.db")
    n = 0
    for i in range(300):
        batch = []
        for _ in range(3):
            n += 1
            batch.append(intake(alert(n), "s1", "s2", due=NOW))
        task = asyncio.create_task(store.deliveries.record(batch, NOW))
        await asyncio.sleep((i % 30) * 0.0001)  # 0 to 3 ms: every step of the transaction
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):  # it may have finished first
            await task
        assert await asyncio.to_thread(_write_lock_free, path), f"write lock held after cancel {i}"
        async with store.reader.connect() as conn:
            d = tables.deliveries.c
            found = (
                await conn.execute(select(func.count()).where(d.alert_id.in_([b.alert.id for b in batch])))
            ).scalar_one()
        assert found in (0, 6), "a batch is recorded whole or not at all"
    now = dt.datetime.now(dt.UTC)
    assert isinstance(await asyncio.wait_for(store.deliveries.claim(now, "h", now, 1), 5), list)


@pytest.fixture
def slow_sink() -> Iterator[WebhookSink]:
    sink = WebhookSink(secret=SECRET, default=Reply(delay=0.5)).start()
    yield sink
    sink.stop()


async def test_cancelling_run_finishes_sends_in_flight_and_gives_back_the_rest(
    sqlite_store: NotifyStore, slow_sink: WebhookSink
) -> None:
    """The service cancels dispatcher.run() while sends are in flight: before the cancelled task ends,
    those sends are finished and recorded delivered, and nothing is left claimed."""
    store = sqlite_store
    async with httpx.AsyncClient(timeout=2.0) as http:
        clock = FakeClock(dt.datetime.now(dt.UTC))
        await subscribe(store, "hook", webhook(slow_sink), group_wait_seconds=0)
        dispatcher = make_dispatcher(store, http, clock, concurrency=3)
        handle = make_handler(store, NotifyMetrics(new_registry()), 0.0, dispatcher.wake, clock=clock)
        await handle(records(stories(8)))
        task = asyncio.create_task(dispatcher.run())
        await eventually(lambda: slow_sink.requests == 3, timeout=10)  # three sends in flight
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        after = await rows(store)
    assert len(slow_sink.received) == 3, "the sends in flight finished"
    delivered = {r.id for r in after if r.status == "delivered"}
    assert delivered == {e["notification_id"] for e in slow_sink.received}, "and were recorded"
    assert not [r for r in after if r.status == "sending"], "nothing left claimed to run out its lease"
    rest = {(r.status, r.attempts, r.lease_owner) for r in after if r.id not in delivered}
    assert rest <= {("open", 0, None), ("retry", 0, None)}, "never claimed, or given back unsent"


async def test_cancelling_run_while_it_claims_gives_the_claims_back(
    sqlite_store: NotifyStore, slow_sink: WebhookSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cancellation lands while the claim is under way: the claim is not cut in two (claimed in
    the database but neither sent nor given back); it is given back before the task ends."""
    store = sqlite_store
    async with httpx.AsyncClient(timeout=2.0) as http:
        clock = FakeClock(dt.datetime.now(dt.UTC))
        await subscribe(store, "hook", webhook(slow_sink), group_wait_seconds=0)
        dispatcher = make_dispatcher(store, http, clock)
        handle = make_handler(store, NotifyMetrics(new_registry()), 0.0, lambda: None, clock=clock)
        await handle(records(stories(3)))
        claiming, go_on = asyncio.Event(), asyncio.Event()
        claim = store.deliveries.claim

        async def slow_claim(*args: Any, **kwargs: Any) -> Any:
            claimed = await claim(*args, **kwargs)
            claiming.set()
            await go_on.wait()  # the answer is on its way when the service stops
            return claimed

        monkeypatch.setattr(store.deliveries, "claim", slow_claim)
        task = asyncio.create_task(dispatcher.run())
        await asyncio.wait_for(claiming.wait(), 5)
        task.cancel()
        await asyncio.sleep(0.1)
        assert not task.done(), "the cancelled run waits for its claim"
        go_on.set()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        after = await rows(store)
    assert slow_sink.requests == 0
    assert {(r.status, r.attempts, r.lease_owner) for r in after} == {("retry", 0, None)}
