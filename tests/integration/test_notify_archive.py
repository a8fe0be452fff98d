"""The alert archive on SQLite and PostgreSQL: every consumed alert kept once, each filter, full text in
several languages (accents included), cursor paging through equal timestamps, facets, the story, the
audit before and after the hourly purge, and retention."""

from __future__ import annotations

import datetime as dt

import pytest

from schemas import Alert, Severity
from services.notify.core.archive import AlertQuery
from services.notify.core.model import Subscription
from services.notify.core.planning import Target
from services.notify.store.repository import Intake, NotifyStore

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def alert(
    n: int,
    *,
    title: str = "Article",
    summary: str = "Surveillance technology and a destination in one article.",
    snippet: str = "",
    destinations: tuple[str, ...] = ("EG",),
    technologies: tuple[str, ...] = ("facial-recognition",),
    vendors: tuple[str, ...] = (),
    codes: tuple[str, ...] = (),
    severity: Severity = Severity.HIGH,
    rule: str = "news.tech_destination",
    event_type: str = "news_article",
    source: str | None = "reuters",
    language: str | None = "en",
    created_at: dt.datetime | None = None,
    duplicate_of: str | None = None,
) -> Alert:
    evidence = (
        [
            {
                "field": "body",
                "start": 0,
                "end": 1,
                "text": "x",
                "snippet": snippet,
                "kind": "technology",
                "ref": "facial-recognition",
            }
        ]
        if snippet
        else []
    )
    return Alert.model_validate(
        {
            "id": f"alert-{n}",
            "event_type": event_type,
            "event_id": f"event-{n}",
            "duplicate_of": duplicate_of,
            "title": f"{title} {n}",
            "url": f"https://news.example/{n}",
            "severity": severity,
            "score": 0.9,
            "destinations": list(destinations),
            "technologies": list(technologies),
            "entities": list(vendors),
            "control_codes": list(codes),
            "evidence": evidence,
            "rule": rule,
            "summary": summary,
            "watchlist_version": "test",
            "created_at": created_at or NOW,
            "source": source,
            "language": language,
        }
    )


def intake(a: Alert, *subs: str, silence: str | None = None) -> Intake:
    key = a.duplicate_of or a.event_id
    targets = [Target(s, "webhook", "alerts", key, NOW, silence_id=silence) for s in subs]
    return Intake(a, a.model_dump_json(), targets)


def sub(sub_id: str, owner: str) -> Subscription:
    return Subscription.model_validate(
        {
            "name": f"{sub_id} of {owner}",
            "channel": {"type": "webhook", "url": "https://example.org/h", "secret": "x" * 20},
            "id": sub_id,
            "owner": owner,
            "origin": "api",
            "created_at": NOW,
            "updated_at": NOW,
        }
    )


@pytest.fixture
async def store(db_url: str) -> NotifyStore:
    s = await NotifyStore.open(db_url)
    yield s  # type: ignore[misc]
    await s.close()


async def ids(store: NotifyStore, **filters: object) -> list[str]:
    page = await store.archive.search(AlertQuery(**filters))  # type: ignore[arg-type]
    return [a.id for a in page.alerts]


async def test_every_consumed_alert_is_archived_once_routed_or_not(store: NotifyStore) -> None:
    await store.deliveries.record([intake(alert(1), "s1"), intake(alert(2))], NOW)
    await store.deliveries.record([intake(alert(1, title="Changed"), "s2")], NOW + DAY)
    assert await ids(store) == ["alert-2", "alert-1"] or await ids(store) == ["alert-1", "alert-2"]
    archived = await store.archive.get("alert-1")
    assert archived is not None
    assert archived.alert.title == "Article 1"  # the first copy is kept
    assert archived.received_at == NOW
    assert await store.archive.get("nope") is None


async def test_each_filter_selects_its_alerts(store: NotifyStore) -> None:
    alerts = [
        alert(1, destinations=("EG",), technologies=("spyware",), vendors=("nso",), created_at=NOW - 3 * DAY),
        alert(2, destinations=("CN", "RU"), codes=("5A1J",), severity=Severity.LOW, created_at=NOW - 2 * DAY),
        alert(3, rule="licence.code_destination", event_type="licence_record", source="bafa", language="de"),
        alert(4, destinations=("RU",), severity=Severity.CRITICAL, source="afp", language="fr"),
    ]
    await store.deliveries.record([intake(a) for a in alerts], NOW)
    assert await ids(store, destinations=("EG",)) == ["alert-3", "alert-1"]
    assert await ids(store, destinations=("CN", "RU")) == ["alert-4", "alert-2"]
    assert await ids(store, technologies=("spyware",)) == ["alert-1"]
    assert await ids(store, vendors=("nso",)) == ["alert-1"]
    assert await ids(store, control_codes=("5A1J",)) == ["alert-2"]
    assert await ids(store, severities=(Severity.LOW, Severity.CRITICAL)) == ["alert-4", "alert-2"]
    assert await ids(store, rules=("licence.code_destination",)) == ["alert-3"]
    assert await ids(store, event_types=("licence_record",)) == ["alert-3"]
    assert await ids(store, sources=("afp", "bafa")) == ["alert-4", "alert-3"]
    assert await ids(store, languages=("de",)) == ["alert-3"]
    assert await ids(store, since=NOW - 2 * DAY, until=NOW) == ["alert-2"]
    assert await ids(store, destinations=("RU",), severities=(Severity.LOW,)) == ["alert-2"]
    assert await ids(store, destinations=("FR",)) == []


async def test_full_text_in_several_languages_with_accents(store: NotifyStore) -> None:
    alerts = [
        alert(1, title="Neue Überwachung in Kairo", language="de"),
        alert(2, summary="Sistema de reconocimiento facial vendido a Egipto.", language="es"),
        alert(3, snippet="la société a livré des logiciels espions", language="fr"),
        alert(4, title="Nothing to see"),
    ]
    await store.deliveries.record([intake(a) for a in alerts], NOW)
    assert await ids(store, text="überwachung") == ["alert-1"]
    assert await ids(store, text="Überwachung Kairo") == ["alert-1"]
    assert await ids(store, text="reconocimiento") == ["alert-2"]
    assert await ids(store, text="société espions") == ["alert-3"]
    assert await ids(store, text='espions" ((* ') == ["alert-3"]  # never read as query syntax
    assert await ids(store, text="reconocimiento", destinations=("CN",)) == []
    assert await ids(store, text="absent") == []


async def test_cursor_pages_walk_equal_timestamps_without_gaps_or_repeats(store: NotifyStore) -> None:
    await store.deliveries.record([intake(alert(n, created_at=NOW - (n // 4) * DAY)) for n in range(10)], NOW)
    seen: list[str] = []
    cursor = None
    while True:
        page = await store.archive.search(AlertQuery(limit=3, cursor=cursor))
        seen.extend(a.id for a in page.alerts)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)) == 10
    assert seen == await ids(store, limit=10)
    last = await store.archive.search(AlertQuery(limit=10))
    assert last.next_cursor is None


async def test_facets_count_per_destination_technology_and_week(store: NotifyStore) -> None:
    monday = dt.datetime(2026, 11, 16, 9, tzinfo=dt.UTC)
    alerts = [
        alert(1, destinations=("EG", "CN"), created_at=monday),
        alert(2, destinations=("EG",), technologies=("spyware",), created_at=monday + 6 * DAY),
        alert(3, destinations=("RU",), created_at=monday + 7 * DAY),
    ]
    await store.deliveries.record([intake(a) for a in alerts], NOW)
    facets = await store.archive.facets(AlertQuery())
    assert facets.total == 3
    assert facets.destinations == [("EG", 2), ("CN", 1), ("RU", 1)]
    assert facets.technologies == [("facial-recognition", 2), ("spyware", 1)]
    assert facets.weeks == [(dt.date(2026, 11, 16), 2), (dt.date(2026, 11, 23), 1)]
    only_eg = await store.archive.facets(AlertQuery(destinations=("EG",)))
    assert (only_eg.total, only_eg.destinations) == (2, [("EG", 2), ("CN", 1)])


async def test_an_alert_comes_with_its_story_oldest_first(store: NotifyStore) -> None:
    first = alert(1, created_at=NOW - DAY)
    copy = alert(2, duplicate_of="event-1", source="afp")
    await store.deliveries.record([intake(copy), intake(first), intake(alert(3))], NOW)
    archived = await store.archive.get("alert-2")
    assert archived is not None
    assert [a.id for a in archived.story] == ["alert-1", "alert-2"]


async def test_audit_says_who_was_told_before_and_after_the_purge(store: NotifyStore) -> None:
    await store.subscriptions.create(sub("s1", "amnesty"))
    await store.subscriptions.create(sub("s2", "hrw"))
    await store.subscriptions.create(sub("s3", "amnesty"))
    await store.deliveries.record(
        [intake(alert(1), "s1", "s2"), intake(alert(1), "s3", silence="sil-1")], NOW
    )
    pending = await store.archive.audit("alert-1")
    assert {(e.subscription_id, e.outcome) for e in pending} == {
        ("s1", "pending"),
        ("s2", "pending"),
        ("s3", "silenced"),
    }
    claims = await store.deliveries.claim(NOW, "me", NOW + DAY, 10)
    by_sub = {(await store.deliveries.load(c.id)).subscription_id: c.id for c in claims}  # type: ignore[union-attr]
    assert await store.deliveries.delivered(by_sub["s1"], "me", NOW + dt.timedelta(seconds=5))
    assert await store.deliveries.dead(by_sub["s2"], "me", NOW, "client_error", "the receiver said 404")
    before = {e.subscription_id: e for e in await store.archive.audit("alert-1")}
    assert before["s1"].outcome == "delivered" and before["s1"].channel == "webhook"
    assert before["s1"].at == NOW + dt.timedelta(seconds=5)
    assert before["s1"].subscription_name == "s1 of amnesty"
    assert (before["s2"].outcome, before["s2"].detail) == ("dead", "the receiver said 404")
    assert {e.subscription_id for e in await store.archive.audit("alert-1", owner="amnesty")} == {"s1", "s3"}
    assert await store.deliveries.purge(NOW + 60 * DAY) == 2
    after = {e.subscription_id: e for e in await store.archive.audit("alert-1")}
    assert after == before
    assert {e.subscription_id for e in await store.archive.audit("alert-1", owner="hrw")} == {"s2"}
    assert await store.archive.get("alert-1") is not None  # the archive outlives the queue


async def test_retention_forgets_old_alerts_their_terms_and_full_text(store: NotifyStore) -> None:
    await store.deliveries.record(
        [
            intake(alert(1, title="Ancient spyware", created_at=NOW - 400 * DAY)),
            intake(alert(2, title="Recent spyware", created_at=NOW - DAY)),
        ],
        NOW,
    )
    assert await store.archive.forget(NOW - 365 * DAY) == 1
    assert await ids(store) == ["alert-2"]
    assert await ids(store, text="spyware") == ["alert-2"]
    assert await ids(store, destinations=("EG",)) == ["alert-2"]
    assert (await store.archive.facets(AlertQuery())).total == 1
    assert await store.archive.forget(NOW - 365 * DAY) == 0
