"""The notify database on SQLite and PostgreSQL: the unique delivery key, grouping, claims and leases,
retries, dead notifications and re-drive, subscriptions, tokens and silences, test sends paced per owner
across replicas."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from schemas import Alert, Severity
from services.notify.core.model import Filters, Silence, Subscription
from services.notify.core.planning import Target
from services.notify.core.ratelimit import Pace
from services.notify.store import tables
from services.notify.store.repository import Intake, NotifyStore

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
SEC = dt.timedelta(seconds=1)


def _ignored(difference: object) -> bool:
    """Alembic's own version table, and each database's full-text index, which lives outside the
    metadata by design (SQLite's FTS5 table and its shadow tables; PostgreSQL's expression index)."""
    return any(
        name in str(difference)
        for name in (
            "alembic_version",
            "notify_archive_fts",
            "ix_notify_archive_fulltext",
            "notify_archive_documents",
        )
    )


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"version_table": "alembic_version_notify"})
    return [d for d in compare_metadata(context, tables.metadata) if not _ignored(d)]


def alert(n: int, event: str | None = None, duplicate_of: str | None = None) -> Alert:
    return Alert(
        id=f"alert-{n}",
        event_type="news_article",
        event_id=event or f"news-{n}",
        duplicate_of=duplicate_of,
        title=f"Article {n}",
        severity=Severity.HIGH,
        score=0.9,
        destinations=["CN"],
        technologies=["facial-recognition"],
        rule="news.tech_destination",
        summary="Facial recognition and China in one article.",
        watchlist_version="test",
        created_at=NOW + n * SEC,
    )


def sub(sub_id: str = "s1", owner: str = "amnesty", origin: str = "api", **spec: object) -> Subscription:
    body = {
        "name": sub_id,
        "channel": {"type": "webhook", "url": "https://example.org/h", "secret": "x" * 20},
    }
    body.update(spec)
    return Subscription.model_validate(
        {**body, "id": sub_id, "owner": owner, "origin": origin, "created_at": NOW, "updated_at": NOW}
    )


def intake(a: Alert, *subs: str, due: dt.datetime = NOW, silence: str | None = None) -> Intake:
    key = a.duplicate_of or a.event_id
    return Intake(
        a,
        a.model_dump_json(),
        [Target(s, "webhook", "alerts", key, due, silence_id=silence) for s in subs],
    )


@pytest.fixture
async def store(db_url: str) -> NotifyStore:
    s = await NotifyStore.open(db_url)
    yield s  # type: ignore[misc]
    await s.close()


async def test_migrations_build_exactly_the_declared_tables(store: NotifyStore) -> None:
    async with store.engine.connect() as conn:
        assert await conn.run_sync(_diff) == []
    await store.migrate()  # a second time changes nothing


async def test_a_pair_is_recorded_once_and_one_story_becomes_one_notification(store: NotifyStore) -> None:
    first = await store.deliveries.record(
        [intake(alert(1), "s1", "s2"), intake(alert(2, duplicate_of="news-1"), "s1")], NOW
    )
    assert (first.queued, first.duplicate) == (3, 0)
    again = await store.deliveries.record(
        [intake(alert(1), "s1", "s2"), intake(alert(2, duplicate_of="news-1"), "s1")], NOW
    )
    assert (again.queued, again.duplicate) == (0, 3)
    claims = await store.deliveries.claim(NOW, "me", NOW + 60 * SEC, 10)
    assert len(claims) == 2  # s1: alerts 1 and 2 together; s2: alert 1
    loaded = [await store.deliveries.load(c.id) for c in claims]
    by_sub = {p.subscription_id: [a.id for a in p.alerts] for p in loaded if p}
    assert by_sub == {"s1": ["alert-1", "alert-2"], "s2": ["alert-1"]}


async def test_alerts_after_a_claim_start_a_new_notification(store: NotifyStore) -> None:
    await store.deliveries.record([intake(alert(1), "s1")], NOW)
    [claim] = await store.deliveries.claim(NOW, "me", NOW + 60 * SEC, 10)
    await store.deliveries.record([intake(alert(2, event="news-1"), "s1")], NOW)
    loaded = await store.deliveries.load(claim.id)
    assert loaded is not None and [a.id for a in loaded.alerts] == ["alert-1"]
    [second] = await store.deliveries.claim(NOW, "me", NOW + 60 * SEC, 10)
    assert second.id != claim.id


async def test_not_due_is_not_claimed_and_silenced_never_is(store: NotifyStore) -> None:
    await store.deliveries.record(
        [intake(alert(1), "s1", due=NOW + 30 * SEC), intake(alert(3), "s2", silence="sil-1")], NOW
    )
    assert await store.deliveries.claim(NOW, "me", NOW + 60 * SEC, 10) == []
    assert len(await store.deliveries.claim(NOW + 31 * SEC, "me", NOW + 90 * SEC, 10)) == 1


async def test_two_holders_never_claim_the_same_notification(store: NotifyStore) -> None:
    await store.deliveries.record([intake(alert(i), "s1") for i in range(20)], NOW)
    a, b = await asyncio.gather(
        store.deliveries.claim(NOW, "a", NOW + 60 * SEC, 20),
        store.deliveries.claim(NOW, "b", NOW + 60 * SEC, 20),
    )
    ids_a, ids_b = {c.id for c in a}, {c.id for c in b}
    assert not ids_a & ids_b
    assert len(ids_a | ids_b) == 20


async def test_a_lease_that_runs_out_is_claimed_again_in_doubt(store: NotifyStore) -> None:
    await store.deliveries.record([intake(alert(1), "s1")], NOW)
    [claim] = await store.deliveries.claim(NOW, "dead-process", NOW + 10 * SEC, 10)
    assert await store.deliveries.claim(NOW + 5 * SEC, "me", NOW + 70 * SEC, 10) == []
    [again] = await store.deliveries.claim(NOW + 11 * SEC, "me", NOW + 70 * SEC, 10)
    assert again.id == claim.id and again.in_doubt
    assert not await store.deliveries.delivered(
        claim.id, "dead-process", NOW + 12 * SEC
    )  # the old holder lost it
    assert await store.deliveries.delivered(claim.id, "me", NOW + 12 * SEC)
    assert await store.deliveries.claim(NOW + 100 * SEC, "me", NOW + 200 * SEC, 10) == []


async def test_retry_release_dead_and_redrive(store: NotifyStore) -> None:
    await store.deliveries.record([intake(alert(1), "s1"), intake(alert(2), "s1")], NOW)
    await store.subscriptions.create(sub("s1"))
    c1, c2 = await store.deliveries.claim(NOW, "me", NOW + 60 * SEC, 10)
    assert await store.deliveries.retry_later(c1.id, "me", NOW + 5 * SEC, "server_error", "HTTP 503")
    assert await store.deliveries.release(c2.id, "me", NOW)
    [again] = await store.deliveries.claim(NOW, "me", NOW + 60 * SEC, 10)
    assert again.id == c2.id
    loaded = await store.deliveries.load(c2.id)
    assert loaded is not None and loaded.attempts == 1  # the released claim did not count
    [retried] = await store.deliveries.claim(NOW + 6 * SEC, "me", NOW + 60 * SEC, 10)
    assert retried.id == c1.id
    assert await store.deliveries.dead(c1.id, "me", NOW + 7 * SEC, "client_error", "HTTP 404")
    [dead] = await store.deliveries.dead_notifications(owner="amnesty")
    assert (dead.id, dead.alert_ids, dead.reason, dead.attempts) == (c1.id, ["alert-1"], "client_error", 2)
    assert await store.deliveries.dead_notifications(owner="someone-else") == []
    assert await store.deliveries.redrive(NOW + 8 * SEC) == 0  # nothing chosen, nothing done
    assert await store.deliveries.redrive(NOW + 8 * SEC, ids=[c1.id]) == 1
    [redriven] = await store.deliveries.claim(NOW + 8 * SEC, "me", NOW + 60 * SEC, 10)
    assert redriven.id == c1.id
    counts, _ = await store.deliveries.queue_stats()
    assert counts == {"sending": 2}


async def test_a_file_subscription_removed_or_given_away_takes_its_feed_url_with_it(
    store: NotifyStore,
) -> None:
    subs = [sub("f1", origin="file"), sub("f2", origin="file"), sub("f3", origin="file")]
    await store.subscriptions.sync("file", subs, NOW)
    secrets = {s.id: await store.feeds.create(s.id, s.owner, NOW) for s in subs}
    kept = [sub("f1", origin="file"), sub("f2", owner="pi", origin="file")]  # f2 to pi, f3 removed
    assert await store.subscriptions.sync("file", kept, NOW + SEC) == (0, 1, 1)
    assert await store.feeds.subscription_of(secrets["f1"]) == "f1"
    assert await store.feeds.subscription_of(secrets["f2"]) is None
    assert await store.feeds.subscription_of(secrets["f3"]) is None


async def test_subscriptions_sync_tokens_and_silences(store: NotifyStore) -> None:
    created = await store.subscriptions.sync(
        "file", [sub("f1", origin="file"), sub("f2", owner="pi", origin="file")], NOW
    )
    assert created == (2, 0, 0)
    assert await store.subscriptions.sync(
        "file", [sub("f1", origin="file"), sub("f2", owner="pi", origin="file")], NOW
    ) == (0, 0, 0)
    await store.deliveries.record([intake(alert(1), "f2")], NOW)
    changed = await store.subscriptions.sync("file", [sub("f1", origin="file", name="renamed")], NOW + SEC)
    assert changed == (0, 1, 1)
    assert [s.id for s in await store.subscriptions.all()] == ["f1"]
    assert (
        await store.deliveries.claim(NOW + 2 * SEC, "me", NOW + 60 * SEC, 10) == []
    )  # f2's queue was cancelled
    assert await store.subscriptions.create(sub("a1"))
    assert not await store.subscriptions.create(sub("a1"))
    with pytest.raises(ValueError, match="already used"):
        await store.subscriptions.sync("file", [sub("a1")], NOW)
    stored = await store.subscriptions.get("f1")
    assert stored is not None and stored.name == "renamed"
    assert stored.channel.type == "webhook"
    assert stored.channel.secret.get_secret_value() == "x" * 20  # type: ignore[union-attr]

    token = await store.tokens.add("amnesty", NOW, label="laptop")
    assert await store.tokens.owner_of(token) == ("amnesty", False)
    assert await store.tokens.owner_of(token + "x") is None
    assert await store.tokens.revoke("amnesty") == 1
    assert await store.tokens.owner_of(token) is None

    silence = Silence(
        id="sil-1",
        owner="amnesty",
        created_by="amnesty",
        filters=Filters(destinations=["CN"]),
        comment="known story, already reported",
        starts_at=NOW,
        ends_at=NOW + 3600 * SEC,
        created_at=NOW,
    )
    await store.silences.add(silence)
    assert [s.id for s in await store.silences.all(owner="amnesty", now=NOW, active_only=True)] == ["sil-1"]
    assert await store.silences.all(owner="pi", now=NOW) == []
    assert await store.silences.expire("sil-1", NOW + SEC)
    assert await store.silences.all(now=NOW + 2 * SEC) == []


async def test_replicas_starting_together_sync_the_file_once(db_url: str) -> None:
    """Two notify replicas start at the same moment with a file that adds subscriptions: both start,
    and each subscription exists once."""
    first = await NotifyStore.open(db_url)
    second = await NotifyStore.open(db_url)
    try:
        subs = [sub(f"f{i}", origin="file") for i in range(5)]
        results = await asyncio.gather(
            first.subscriptions.sync("file", subs, NOW), second.subscriptions.sync("file", subs, NOW)
        )
        assert sorted(r[0] for r in results) == [0, 5], results
        assert sorted(s.id for s in await first.subscriptions.all()) == [f"f{i}" for i in range(5)]
    finally:
        await first.close()
        await second.close()


async def test_purge_forgets_old_finished_work_only(store: NotifyStore) -> None:
    await store.deliveries.record([intake(alert(1), "s1"), intake(alert(2), "s1")], NOW)
    c1, _ = await store.deliveries.claim(NOW, "me", NOW + 60 * SEC, 10)
    await store.deliveries.delivered(c1.id, "me", NOW)
    assert await store.deliveries.purge(NOW + SEC) == 1
    counts, _ = await store.deliveries.queue_stats()
    assert counts == {"sending": 1}
    # The purged pair can come again (after the retention, far beyond Kafka's).
    assert (await store.deliveries.record([intake(alert(1), "s1")], NOW)).queued == 1


def test_secrets_stay_out_of_reprs_and_dumps() -> None:
    s = sub("s1")
    assert "x" * 20 not in repr(s) and "example.org" not in repr(s)
    assert "x" * 20 not in s.model_dump_json()


TEST_PACE = Pace(rate=30 / 3600, burst=3)  # the default: 30 an hour, 3 back to back


def at(when: dt.datetime) -> Callable[[], dt.datetime]:
    return lambda: when


async def test_test_sends_burst_then_are_refused_with_the_wait_and_owners_are_independent(
    store: NotifyStore,
) -> None:
    waits = [await store.test_sends.reserve("alice", TEST_PACE, at(NOW)) for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == pytest.approx([120.0, 120.0])  # refusals record nothing: still 120 s
    assert await store.test_sends.reserve("alice", TEST_PACE, at(NOW + 45 * SEC)) == pytest.approx(75.0)
    assert await store.test_sends.reserve("bob", TEST_PACE, at(NOW)) == 0.0  # alice's pace is hers
    assert await store.test_sends.reserve("alice", TEST_PACE, at(NOW + 120 * SEC)) == 0.0
    assert await store.test_sends.reserve("alice", TEST_PACE, at(NOW + 120 * SEC)) == pytest.approx(120.0)


async def test_two_replicas_reserving_at_once_take_exactly_the_burst(db_url: str) -> None:
    """Two stores with their own engines (two replicas) on one database, 20 reservations at once for
    one owner on a clock that runs: exactly ``burst`` get a slot, whichever replica they reach, and no
    refusal names a wait beyond the interval (the clock is read once the owner's row is held, so a
    reservation that queued for the lock does not compute with a time older than its predecessor's)."""
    started = time.monotonic()

    def running_clock() -> dt.datetime:
        return NOW + dt.timedelta(seconds=time.monotonic() - started)

    replicas = [await NotifyStore.open(db_url), await NotifyStore.open(db_url)]
    try:
        waits = await asyncio.gather(
            *(replicas[i % 2].test_sends.reserve("alice", TEST_PACE, running_clock) for i in range(20))
        )
        assert waits.count(0.0) == 3, waits
        assert all(110.0 < w <= 120.0 for w in waits if w), waits
    finally:
        for replica in replicas:
            await replica.close()


async def test_idle_test_send_paces_are_forgotten_and_forgetting_changes_no_answer(
    store: NotifyStore,
) -> None:
    await store.test_sends.reserve("quiet", TEST_PACE, at(NOW))  # frees at NOW + 120 s
    for _ in range(3):
        await store.test_sends.reserve("busy", TEST_PACE, at(NOW + 100 * SEC))  # frees at NOW + 460 s
    assert await store.test_sends.forget_idle(NOW + 119 * SEC) == 0
    assert await store.test_sends.forget_idle(NOW + 120 * SEC) == 1
    assert await store.test_sends.forget_idle(NOW + 120 * SEC) == 0
    # "busy" kept its pace; "quiet" is new again.
    assert await store.test_sends.reserve("busy", TEST_PACE, at(NOW + 121 * SEC)) == pytest.approx(99.0)
    assert [await store.test_sends.reserve("quiet", TEST_PACE, at(NOW + 121 * SEC)) for _ in range(4)] == (
        pytest.approx([0.0, 0.0, 0.0, 120.0])
    )
