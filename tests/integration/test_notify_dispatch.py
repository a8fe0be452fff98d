"""The notify dispatcher and intake on a real database (SQLite and PostgreSQL) against real local HTTP
receivers, without a broker: alerts are fed to the intake handler as consumer records, and the wall
clock is the test's. Daily digests in the owner's time zone, rate limits that queue instead of
dropping, Retry-After, permanent and exhausted failures, a graceful stop that gives claims back, and
two dispatchers sharing one queue without sending anything twice."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiokafka import ConsumerRecord
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from schemas import Alert, Notification, topics
from schemas.bounds import TITLE_MAX_CHARS
from services.common.addresses import TargetPolicy
from services.common.messaging.metrics import new_registry
from services.notify.channels.base import ChannelContext
from services.notify.core.model import Subscription
from services.notify.core.planning import MAX_ALERTS_PER_NOTIFICATION
from services.notify.core.retry import RetryPolicy
from services.notify.dispatcher import Channels, Dispatcher, DispatchSettings
from services.notify.intake import make_handler
from services.notify.metrics import NotifyMetrics
from services.notify.store import tables
from services.notify.store.repository import NotifyStore
from tests.alerts import make_alert
from tests.conftest import eventually
from tests.trickle import trickling_target
from tools.webhook_sink import Reply, WebhookSink

SECRET = "dispatch-test-signing-secret"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
UTC = dt.UTC


class FakeClock:
    """A wall clock the test sets; between settings it runs at real speed (so retries fall due)."""

    def __init__(self, start: dt.datetime) -> None:
        self.set(start)

    def set(self, when: dt.datetime) -> None:
        self._base = when.astimezone(UTC)
        self._mono = time.monotonic()

    def __call__(self) -> dt.datetime:
        return self._base + dt.timedelta(seconds=time.monotonic() - self._mono)


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[NotifyStore]:
    s = await NotifyStore.open(db_url)
    yield s
    await s.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=2.0, follow_redirects=False) as client:
        yield client


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    s = WebhookSink(secret=SECRET).start()
    yield s
    s.stop()


def make_dispatcher(
    store: NotifyStore,
    http: httpx.AsyncClient,
    clock: FakeClock,
    *,
    rates: tuple[tuple[str, float], ...] = (("slack", 1000.0), ("webhook", 1000.0)),
    attempts: int = 3,
    max_retry_after: float = 3600.0,
    concurrency: int = 32,
    registry: CollectorRegistry | None = None,
    send_timeout: float = 2.0,
) -> Dispatcher:
    ctx = ChannelContext(http=http, targets=TargetPolicy.allowing(["127.0.0.1/32"]))
    return Dispatcher(
        store,
        Channels(ctx),
        RetryPolicy(
            attempts=attempts, base_seconds=0.05, cap_seconds=0.2, max_retry_after_seconds=max_retry_after
        ),
        NotifyMetrics(registry or new_registry()),
        DispatchSettings(
            concurrency=concurrency, poll_seconds=0.05, send_timeout_seconds=send_timeout, rates=rates
        ),
        clock=clock,
    )


@contextlib.asynccontextmanager
async def running(*dispatchers: Dispatcher) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(d.run()) for d in dispatchers]
    try:
        yield
    finally:
        for d in dispatchers:
            await d.stop()
        for task in tasks:
            await asyncio.wait_for(task, 5)


async def subscribe(store: NotifyStore, sub_id: str, channel: dict[str, Any], **spec: Any) -> Subscription:
    now = dt.datetime.now(UTC)
    sub = Subscription.model_validate(
        {
            "name": sub_id,
            "channel": channel,
            **spec,
            "id": sub_id,
            "owner": "amnesty",
            "origin": "api",
            "created_at": now,
            "updated_at": now,
        }
    )
    assert await store.subscriptions.create(sub)
    return sub


def webhook(sink: WebhookSink) -> dict[str, str]:
    return {"type": "webhook", "url": sink.url, "secret": SECRET}


def records(alerts: Sequence[Alert], start: int = 0) -> list[ConsumerRecord[bytes, bytes]]:
    out = []
    for offset, alert in enumerate(alerts, start):
        key, value = alert.id.encode(), alert.model_dump_json().encode()
        out.append(
            ConsumerRecord(
                topic=topics.ALERTS,
                partition=0,
                offset=offset,
                timestamp=int(time.time() * 1000),
                timestamp_type=0,
                key=key,
                value=value,
                checksum=None,
                serialized_key_size=len(key),
                serialized_value_size=len(value),
                headers=[],
            )
        )
    return out


def stories(n: int, prefix: str = "a") -> list[Alert]:
    """``n`` alerts, each about a story of its own (one notification each)."""
    return [make_alert(f"{prefix}-{i}", event_id=f"news-{prefix}-{i}") for i in range(n)]


async def rows(store: NotifyStore) -> list[Any]:
    n = tables.notifications.c
    async with store.engine.connect() as conn:
        return list(
            (
                await conn.execute(
                    select(n.id, n.subscription_id, n.status, n.attempts, n.lease_owner).order_by(
                        n.created_at, n.id
                    )
                )
            ).all()
        )


async def statuses(store: NotifyStore) -> dict[str, int]:
    counts, _ = await store.deliveries.queue_stats()
    return counts


def notifications(sink: WebhookSink) -> list[Notification]:
    return [Notification.model_validate(r["body"]["data"]) for r in sink.received]


async def test_a_daily_digest_goes_out_once_after_the_next_0800_local_time(
    store: NotifyStore, http: httpx.AsyncClient, sink: WebhookSink
) -> None:
    clock = FakeClock(dt.datetime(2026, 3, 10, 10, 0, tzinfo=AMSTERDAM))  # CET, UTC+1
    await subscribe(
        store,
        "morning",
        webhook(sink),
        mode="digest",
        digest={"every": "daily", "at": "08:00", "timezone": "Europe/Amsterdam"},
    )
    dispatcher = make_dispatcher(store, http, clock)
    handle = make_handler(store, NotifyMetrics(new_registry()), 0.0, dispatcher.wake, clock=clock)
    morning = stories(3, "morning")
    assert await handle(records(morning)) == []

    clock.set(dt.datetime(2026, 3, 10, 20, 0, tzinfo=AMSTERDAM))
    assert await dispatcher.dispatch_once() == 0
    clock.set(dt.datetime(2026, 3, 11, 7, 59, tzinfo=AMSTERDAM))
    late = make_alert("late", event_id="news-late")
    assert await handle(records([late], 3)) == []
    assert await dispatcher.dispatch_once() == 0
    await dispatcher.drain()
    assert sink.requests == 0
    assert await statuses(store) == {"open": 1}, "one digest collects every alert of the day"

    clock.set(dt.datetime(2026, 3, 11, 8, 0, 1, tzinfo=AMSTERDAM))
    next_day = make_alert("next-day", event_id="news-next-day")
    assert await handle(records([next_day], 4)) == []  # the next period already
    assert await dispatcher.dispatch_once() == 1
    await dispatcher.drain()
    [received] = sink.received
    assert received["signature_valid"] is True
    [digest] = notifications(sink)
    assert digest.kind == "digest" and digest.story is None
    assert digest.period_start == dt.datetime(2026, 3, 10, 7, 0, tzinfo=UTC)  # 08:00 CET
    assert digest.period_end == dt.datetime(2026, 3, 11, 7, 0, tzinfo=UTC)
    assert sorted(a.id for a in digest.alerts) == sorted([*(a.id for a in morning), late.id])
    assert received["body"]["subject"] == "morning"

    assert await dispatcher.dispatch_once() == 0
    await dispatcher.drain()
    assert sink.requests == 1
    assert await statuses(store) == {"delivered": 1, "open": 1}
    clock.set(dt.datetime(2026, 3, 12, 8, 0, tzinfo=AMSTERDAM))
    assert await dispatcher.dispatch_once() == 1
    await dispatcher.drain()
    second = notifications(sink)[1]
    assert [a.id for a in second.alerts] == [next_day.id]
    assert second.period_start == dt.datetime(2026, 3, 11, 7, 0, tzinfo=UTC)
    assert second.period_end == dt.datetime(2026, 3, 12, 7, 0, tzinfo=UTC)
    await dispatcher.stop()


async def test_a_rate_limit_queues_sends_and_drops_none(
    store: NotifyStore, http: httpx.AsyncClient, sink: WebhookSink
) -> None:
    clock = FakeClock(dt.datetime.now(UTC))
    await subscribe(store, "slack", {"type": "slack", "url": sink.url}, group_wait_seconds=0)
    registry = new_registry()
    dispatcher = make_dispatcher(store, http, clock, rates=(("slack", 2.0),), registry=registry)
    handle = make_handler(store, NotifyMetrics(new_registry()), 0.0, dispatcher.wake, clock=clock)
    async with running(dispatcher):
        await handle(records(stories(6)))
        await eventually(lambda: len(sink.received) == 6, timeout=15)
    arrivals = sorted(r["received_at"] for r in sink.received)
    assert arrivals[-1] - arrivals[0] >= 2.0, arrivals
    assert all(b - a >= 0.25 for a, b in itertools.pairwise(arrivals)), arrivals
    assert sink.requests == 6
    assert [(r.status, r.attempts) for r in await rows(store)] == [("delivered", 1)] * 6
    waited = registry.get_sample_value(
        "exportwatch_notify_rate_limit_wait_seconds_total", {"channel": "slack"}
    )
    assert waited is not None and waited > 4.0  # 0.5 + 1 + 1.5 + 2 + 2.5 s


async def test_a_busy_target_does_not_hold_up_the_notifications_of_other_targets(
    store: NotifyStore, http: httpx.AsyncClient, sink: WebhookSink
) -> None:
    """Forty notifications queue for one slow Slack webhook (2 a second, 20 s in all) ahead of one for
    a webhook elsewhere; the dispatcher sends 4 at once. Claims waiting for the Slack webhook's turn hold
    no send slot, so the other target's notification goes out at once, not after the queue."""
    clock = FakeClock(dt.datetime.now(UTC))
    other = WebhookSink(secret=SECRET).start()
    try:
        await subscribe(
            store,
            "busy",
            {"type": "slack", "url": sink.url},
            group_wait_seconds=0,
            filters={"destinations": ["CN"]},
        )
        await subscribe(
            store, "quiet", webhook(other), group_wait_seconds=0, filters={"destinations": ["IR"]}
        )
        dispatcher = make_dispatcher(
            store, http, clock, rates=(("slack", 2.0), ("webhook", 1000.0)), concurrency=4
        )
        handle = make_handler(store, NotifyMetrics(new_registry()), 0.0, dispatcher.wake, clock=clock)
        busy = stories(40, "busy")
        quiet = make_alert("quiet-1", event_id="news-quiet-1", destinations=["IR"])
        await handle(records(busy))
        await handle(records([quiet], len(busy)))
        started = time.monotonic()
        async with running(dispatcher):
            await eventually(lambda: len(other.received) == 1, timeout=20)
            waited = time.monotonic() - started
            assert len(sink.received) < 10, "the quiet target's notification came before the busy queue"
        assert waited < 3.0, f"the quiet target waited {waited:.1f} s behind a busy one"
        assert [a.id for a in notifications(other)[0].alerts] == [quiet.id]
    finally:
        other.stop()
    statuses_now = await statuses(store)
    assert statuses_now.get("sending", 0) == 0, "the stop gave back every claim waiting for its turn"


async def subscribe_as(
    store: NotifyStore, owner: str, sub_id: str, channel: dict[str, Any], **spec: Any
) -> None:
    now = dt.datetime.now(UTC)
    sub = Subscription.model_validate(
        {
            "name": sub_id,
            "channel": channel,
            **spec,
            "id": sub_id,
            "owner": owner,
            "origin": "api",
            "created_at": now,
            "updated_at": now,
        }
    )
    assert await store.subscriptions.create(sub)


async def test_one_owner_with_a_slow_target_holds_only_its_share_of_the_send_slots(
    store: NotifyStore, http: httpx.AsyncClient, sink: WebhookSink
) -> None:
    """One owner's 24 subscriptions to a target that takes 2 s per answer, ahead of another owner's
    one; 8 sends at once. The first owner (and its target) get at most a quarter of them, so the other
    owner's notification goes out at once instead of after the queue (6 s of it before)."""
    clock = FakeClock(dt.datetime.now(UTC))
    slow = WebhookSink(secret=SECRET, default=Reply(delay=2.0)).start()
    try:
        for i in range(24):
            await subscribe_as(
                store,
                "greedy",
                f"greedy-{i}",
                webhook(slow),
                group_wait_seconds=0,
                filters={"destinations": ["CN"]},
            )
        await subscribe_as(
            store, "other", "other-1", webhook(sink), group_wait_seconds=0, filters={"destinations": ["IR"]}
        )
        dispatcher = make_dispatcher(store, http, clock, concurrency=8, send_timeout=5.0)
        handle = make_handler(store, NotifyMetrics(new_registry()), 0.0, dispatcher.wake, clock=clock)
        await handle(records([make_alert("greedy-alert", event_id="news-greedy")]))
        await handle(records([make_alert("other-alert", event_id="news-other", destinations=["IR"])], 1))
        started = time.monotonic()
        async with running(dispatcher):
            await eventually(lambda: len(sink.received) == 1, timeout=30)
            waited = time.monotonic() - started
            assert slow.requests <= 2, f"the slow target took {slow.requests} of 8 slots"
        assert waited < 1.5, f"the other owner's notification waited {waited:.1f} s"
    finally:
        slow.stop()


async def test_a_target_that_trickles_its_answer_is_cut_off_at_the_send_deadline(
    store: NotifyStore, http: httpx.AsyncClient
) -> None:
    """A target that sends its answer a byte every 0.3 s never trips a read timeout; the overall
    deadline (2 s here) cuts it off and the notification is retried later, reason timeout."""
    async with trickling_target() as url:
        clock = FakeClock(dt.datetime.now(UTC))
        await subscribe(
            store,
            "trickle",
            {"type": "webhook", "url": url, "secret": SECRET},
            group_wait_seconds=0,
        )
        dispatcher = make_dispatcher(store, http, clock, attempts=5)
        handle = make_handler(store, NotifyMetrics(new_registry()), 0.0, dispatcher.wake, clock=clock)
        await handle(records(stories(1)))
        started = time.monotonic()
        assert await dispatcher.dispatch_once() == 1
        await dispatcher.drain(timeout=15)
        took = time.monotonic() - started
        [row] = await rows(store)
        assert (row.status, row.attempts) == ("retry", 1)
        assert took < 3.0, f"the send lasted {took:.1f} s against a 2 s deadline"
        n = tables.notifications.c
        async with store.engine.connect() as conn:
            reason = (await conn.execute(select(n.reason))).scalar_one()
        assert reason == "timeout"
        await dispatcher.stop()


async def test_a_429_with_retry_after_is_honoured(store: NotifyStore, http: httpx.AsyncClient) -> None:
    sink = WebhookSink(script=[Reply(429, {"Retry-After": "2"})], secret=SECRET).start()
    try:
        clock = FakeClock(dt.datetime.now(UTC))
        await subscribe(store, "hook", webhook(sink), group_wait_seconds=0)
        dispatcher = make_dispatcher(store, http, clock)
        handle = make_handler(store, NotifyMetrics(new_registry()), 0.0, dispatcher.wake, clock=clock)
        async with running(dispatcher):
            await handle(records(stories(1)))
            await eventually(lambda: sink.requests >= 1, timeout=10, interval=0.005)
            refused_at = time.time()
            [row] = await rows(store)
            await eventually(lambda: len(sink.received) == 1, timeout=10)
        assert sink.received[0]["received_at"] - refused_at >= 1.9
        assert sink.requests == 2
        assert sink.received[0]["signature_valid"] is True
        assert sink.received[0]["notification_id"] == row.id
        [done] = await rows(store)
        assert (done.status, done.attempts) == ("delivered", 2)
    finally:
        sink.stop()


async def test_a_retry_after_longer_than_the_policy_allows_is_capped(
    store: NotifyStore, http: httpx.AsyncClient
) -> None:
    sink = WebhookSink(script=[Reply(429, {"Retry-After": "3600"})], secret=SECRET).start()
    try:
        clock = FakeClock(dt.datetime.now(UTC))
        await subscribe(store, "hook", webhook(sink), group_wait_seconds=0)
        dispatcher = make_dispatcher(store, http, clock, max_retry_after=1.0)
        handle = make_handler(store, NotifyMetrics(new_registry()), 0.0, dispatcher.wake, clock=clock)
        async with running(dispatcher):
            await handle(records(stories(1)))
            await eventually(lambda: sink.requests >= 1, timeout=10, interval=0.005)
            refused_at = time.time()
            await eventually(lambda: len(sink.received) == 1, timeout=10)
        assert sink.received[0]["received_at"] - refused_at >= 0.9
        [done] = await rows(store)
        assert (done.status, done.attempts) == ("delivered", 2)
    finally:
        sink.stop()


async def test_permanent_failures_die_at_once_and_server_errors_after_every_attempt(
    store: NotifyStore, http: httpx.AsyncClient
) -> None:
    refusing = WebhookSink(script=[Reply(400)], secret=SECRET).start()
    failing = WebhookSink(script=[Reply(503)] * 3, secret=SECRET).start()
    try:
        clock = FakeClock(dt.datetime.now(UTC))
        await subscribe(store, "refusing", webhook(refusing), group_wait_seconds=0)
        await subscribe(store, "failing", webhook(failing), group_wait_seconds=0)
        dispatcher = make_dispatcher(store, http, clock, attempts=3)
        handle = make_handler(store, NotifyMetrics(new_registry()), 0.0, dispatcher.wake, clock=clock)
        [alert] = stories(1)
        async with running(dispatcher):
            await handle(records([alert]))

            async def both_dead() -> bool:
                return (await statuses(store)).get("dead") == 2

            await eventually(both_dead, timeout=15)
        dead = {d.subscription_id: d for d in await store.deliveries.dead_notifications()}
        assert dead["refusing"].attempts == 1 and refusing.requests == 1
        assert dead["refusing"].reason == "client_error"
        assert dead["refusing"].detail == "HTTP 400 (gave up: permanent after 1 attempt(s))"
        assert dead["failing"].attempts == 3 and failing.requests == 3
        assert dead["failing"].reason == "server_error"
        assert dead["failing"].detail is not None and "attempts exhausted" in dead["failing"].detail
        assert dead["failing"].alert_ids == [alert.id] == dead["refusing"].alert_ids
        assert refusing.received == [] and failing.received == []
    finally:
        refusing.stop()
        failing.stop()


async def test_stop_gives_back_a_claim_waiting_for_its_slot_and_nothing_is_sent_twice(
    store: NotifyStore, http: httpx.AsyncClient, sink: WebhookSink
) -> None:
    clock = FakeClock(dt.datetime.now(UTC))
    await subscribe(store, "hook", webhook(sink), group_wait_seconds=0)
    first = make_dispatcher(store, http, clock, rates=(("webhook", 0.2),))  # one request per 5 s
    handle = make_handler(store, NotifyMetrics(new_registry()), 0.0, first.wake, clock=clock)
    task = asyncio.create_task(first.run())
    await handle(records(stories(2)))
    await eventually(lambda: len(sink.received) == 1, timeout=10)
    sent = sink.received[0]["notification_id"]
    [waiting] = [r for r in await rows(store) if r.id != sent]
    assert (waiting.status, waiting.lease_owner) == ("sending", first.holder), "claimed, waiting for a slot"

    started = time.monotonic()
    await first.stop()
    await asyncio.wait_for(task, 5)
    assert time.monotonic() - started < 2.0, "a claim waiting for its slot does not hold up a stop"
    after = {r.id: r for r in await rows(store)}
    assert (after[sent].status, after[sent].attempts) == ("delivered", 1)
    given_back = after[waiting.id]
    assert (given_back.status, given_back.attempts, given_back.lease_owner) == ("retry", 0, None)
    assert sink.requests == 1

    second = make_dispatcher(store, http, clock, rates=(("webhook", 0.2),))
    async with running(second):
        await eventually(lambda: len(sink.received) == 2, timeout=10)
        await asyncio.sleep(0.3)
    assert [r["notification_id"] for r in sink.received] == [sent, waiting.id]
    assert sink.requests == 2
    final = {r.id: (r.status, r.attempts) for r in await rows(store)}
    assert final == {sent: ("delivered", 1), waiting.id: ("delivered", 1)}


async def test_a_claim_that_completes_after_stop_is_given_back_unsent(
    store: NotifyStore, http: httpx.AsyncClient, sink: WebhookSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(dt.datetime.now(UTC))
    await subscribe(store, "hook", webhook(sink), group_wait_seconds=0)
    dispatcher = make_dispatcher(store, http, clock)
    handle = make_handler(store, NotifyMetrics(new_registry()), 0.0, lambda: None, clock=clock)
    await handle(records(stories(1)))
    claiming, go_on = asyncio.Event(), asyncio.Event()
    claim = store.deliveries.claim

    async def slow_claim(*args: Any, **kwargs: Any) -> Any:
        claimed = await claim(*args, **kwargs)
        claiming.set()
        await go_on.wait()  # the database answers just after the stop began
        return claimed

    monkeypatch.setattr(store.deliveries, "claim", slow_claim)
    once = asyncio.create_task(dispatcher.dispatch_once())
    await asyncio.wait_for(claiming.wait(), 5)
    await dispatcher.stop()
    go_on.set()
    assert await once == 0
    await dispatcher.drain()
    await asyncio.sleep(0.2)
    assert sink.requests == 0, "sent after stop() returned"
    [row] = await rows(store)
    assert (row.status, row.attempts, row.lease_owner) == ("retry", 0, None)


async def test_giving_back_an_in_doubt_claim_keeps_the_crashed_attempt_counted(
    store: NotifyStore, http: httpx.AsyncClient, sink: WebhookSink
) -> None:
    now = dt.datetime.now(UTC)
    await subscribe(store, "hook", webhook(sink), group_wait_seconds=0)
    handle = make_handler(store, NotifyMetrics(new_registry()), 0.0, lambda: None, clock=lambda: now)
    await handle(records(stories(2)))
    # A replica claimed both and died: its lease runs out after 1 s.
    crashed = await store.deliveries.claim(now, "crashed-replica", now + dt.timedelta(seconds=1), 10)
    assert len(crashed) == 2 and not any(c.in_doubt for c in crashed)

    clock = FakeClock(now + dt.timedelta(seconds=5))
    dispatcher = make_dispatcher(store, http, clock, rates=(("webhook", 0.2),))
    task = asyncio.create_task(dispatcher.run())
    await eventually(lambda: len(sink.received) == 1, timeout=10)
    sent = sink.received[0]["notification_id"]
    [waiting] = [r for r in await rows(store) if r.id != sent]
    assert (waiting.status, waiting.lease_owner) == ("sending", dispatcher.holder)
    await dispatcher.stop()
    await asyncio.wait_for(task, 5)
    after = {r.id: r for r in await rows(store)}
    assert (after[sent].status, after[sent].attempts) == ("delivered", 1)
    # The crashed replica's attempt (it may have sent) stays counted; only this claim is given back.
    assert (after[waiting.id].status, after[waiting.id].attempts) == ("retry", 1)
    assert sink.requests == 1


async def test_two_dispatchers_on_one_database_send_each_notification_once(
    db_url: str, store: NotifyStore, http: httpx.AsyncClient
) -> None:
    sink = WebhookSink(script=[Reply(200, delay=0.05)] * 30, secret=SECRET).start()
    other = await NotifyStore.open(db_url)  # another replica: its own connections
    try:
        clock = FakeClock(dt.datetime.now(UTC))
        await subscribe(store, "hook", webhook(sink), group_wait_seconds=0)
        registries = [new_registry(), new_registry()]
        one = make_dispatcher(store, http, clock, concurrency=4, registry=registries[0])
        two = make_dispatcher(other, http, clock, concurrency=4, registry=registries[1])
        assert one.holder != two.holder
        alerts = stories(30)
        handle = make_handler(store, NotifyMetrics(new_registry()), 0.0, one.wake, clock=clock)
        async with running(one, two):
            await handle(records(alerts))
            await eventually(lambda: len(sink.received) >= 30, timeout=20)
            await asyncio.sleep(0.5)  # anything sent twice would arrive now
        ids = [r["notification_id"] for r in sink.received]
        assert len(ids) == len(set(ids)) == 30 and sink.requests == 30
        assert sorted(sink.alert_ids()) == sorted(a.id for a in alerts)
        assert all(r["signature_valid"] for r in sink.received)
        assert [(r.status, r.attempts) for r in await rows(store)] == [("delivered", 1)] * 30
        delivered = [
            r.get_sample_value(
                "exportwatch_notify_notifications_total", {"channel": "webhook", "outcome": "delivered"}
            )
            or 0.0
            for r in registries
        ]
        assert sum(delivered) == 30
        assert all(n > 0 for n in delivered), f"both replicas should have sent some: {delivered}"
    finally:
        await other.close()
        sink.stop()


async def test_forty_alerts_with_900_kb_titles_about_one_story_give_bounded_webhook_bodies(
    store: NotifyStore, http: httpx.AsyncClient, sink: WebhookSink
) -> None:
    """Issue 17 item 11: these once made one 12.6 MB webhook body. Now each body stays under 256 KB,
    a story's alerts are split over notifications of at most MAX_ALERTS_PER_NOTIFICATION, and every
    alert id arrives once."""
    clock = FakeClock(dt.datetime.now(UTC))
    await subscribe(store, "story", webhook(sink), group_wait_seconds=60)
    dispatcher = make_dispatcher(store, http, clock)
    handle = make_handler(store, NotifyMetrics(new_registry()), 0.0, dispatcher.wake, clock=clock)
    title = "Surveillance exports " + "x" * 900_000
    alerts = [
        make_alert(f"big-{i}", event_id=f"news-big-{i}", duplicate_of="news-big-0", title=title)
        for i in range(40)
    ]
    assert await handle(records(alerts)) == []
    clock.set(clock() + dt.timedelta(seconds=61))
    assert await dispatcher.dispatch_once() == 2
    await dispatcher.drain()
    sizes = [len(r["raw_body"].encode()) for r in sink.received]
    assert len(sizes) == 2 and max(sizes) < 256 * 1024, sizes
    assert all(r["signature_valid"] for r in sink.received)
    assert sorted(sink.alert_ids()) == sorted(a.id for a in alerts)
    for n in notifications(sink):
        assert n.story == "news-big-0" and len(n.alerts) == MAX_ALERTS_PER_NOTIFICATION
        assert all(len(a.title) <= TITLE_MAX_CHARS and "shortened from 900,021" in a.title for a in n.alerts)
    await dispatcher.stop()
