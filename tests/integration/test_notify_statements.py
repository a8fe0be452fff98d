"""How many SQL statements notify sends per delivery in the steady state (issue 20 item 3), on SQLite and
PostgreSQL: alerts recorded by intake in consumer batches, then claimed, sent to a real local webhook
receiver and settled by the dispatcher. Counting is deterministic where timing is not: how the
settlements of finished sends group together varies, and the bound holds however they do."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from services.common.messaging.metrics import new_registry
from services.notify.intake import make_handler
from services.notify.metrics import NotifyMetrics
from services.notify.store.repository import NotifyStore
from tests.integration.test_notify_dispatch import (
    SECRET,
    FakeClock,
    make_dispatcher,
    records,
    statuses,
    stories,
    subscribe,
    webhook,
)
from tools.sql_counter import StatementCounter
from tools.webhook_sink import WebhookSink

BATCH = 50  # alerts per consumer batch
BATCHES = 4
MAX_STATEMENTS_PER_DELIVERY = 3


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[NotifyStore]:
    s = await NotifyStore.open(db_url)
    yield s
    await s.close()


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    s = WebhookSink(secret=SECRET).start()
    yield s
    s.stop()


async def test_a_delivery_costs_at_most_three_statements_in_the_steady_state(
    store: NotifyStore, sink: WebhookSink
) -> None:
    clock = FakeClock(dt.datetime.now(dt.UTC))
    await subscribe(store, "hook", webhook(sink), group_wait_seconds=0)
    async with httpx.AsyncClient(timeout=5.0) as http:
        dispatcher = make_dispatcher(store, http, clock)
        handle = make_handler(store, NotifyMetrics(new_registry()), 0.0, dispatcher.wake, clock=clock)

        async def one_batch(prefix: str, offset: int) -> None:
            await handle(records(stories(BATCH, prefix), offset))
            while await dispatcher.dispatch_once():
                await dispatcher.drain()

        await one_batch("warm", 0)  # first connection, first queries: not the steady state
        counter = StatementCounter(store.engine, store.reader)
        try:
            for n in range(BATCHES):
                await one_batch(f"steady{n}", BATCH * (n + 1))
        finally:
            counter.close()
        await dispatcher.stop()
        await dispatcher.channels.ctx.clients.aclose()
    deliveries = BATCH * BATCHES
    assert await statuses(store) == {"delivered": deliveries + BATCH}
    assert sink.requests == deliveries + BATCH
    per_delivery = counter.statements / deliveries
    assert per_delivery <= MAX_STATEMENTS_PER_DELIVERY, (per_delivery, dict(counter.by_kind))
    assert counter.commits / deliveries <= 1.0, counter.commits
