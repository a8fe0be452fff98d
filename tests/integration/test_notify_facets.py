"""The archive's facet counts on SQLite and PostgreSQL equal a brute-force count over the archived alerts
for many random queries: those the summary kept ahead answers (one filter, week-aligned dates) and those
counted live (free text, several filters, dates within a week), after duplicates, retention and more
inserts."""

from __future__ import annotations

import datetime as dt
import importlib.util
import random
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import Row, delete, func, select, text, update

from schemas import Alert, Severity
from services.notify.core.archive import AlertQuery, Facets
from services.notify.core.facets import summary_query
from services.notify.store import tables
from services.notify.store.repository import NotifyStore

MONDAY = dt.datetime(2026, 9, 7, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
DESTINATIONS = ("EG", "CN", "RU", "SA")
TECHNOLOGIES = ("spyware", "facial-recognition", "imsi-catcher")
VENDORS = ("hikvision", "cellebrite")
CODES = ("5A001J", "4A005")
RULES = ("news.tech_destination", "licence.code_destination")
SOURCES = ("reuters", "afp", None)
LANGUAGES = ("en", "de", None)
WORDS = ("alpha", "bravo", "charlie", "delta")


def random_alert(n: int, rng: random.Random) -> Alert:
    words = " ".join(rng.sample(WORDS, rng.randint(1, 2)))
    return Alert.model_validate(
        {
            "id": f"alert-{n}",
            "event_type": rng.choice(("news_article", "licence_record")),
            "event_id": f"event-{n}",
            "title": f"Title {words}",
            "url": f"https://news.example/{n}",
            "severity": rng.choice(list(Severity)),
            "score": 0.9,
            "destinations": rng.sample(DESTINATIONS, rng.randint(1, 2)),
            "technologies": rng.sample(TECHNOLOGIES, rng.randint(0, 2)),
            "entities": rng.sample(VENDORS, rng.randint(0, 1)),
            "control_codes": rng.sample(CODES, rng.randint(0, 1)),
            "evidence": [],
            "rule": rng.choice(RULES),
            "summary": "A summary sentence.",
            "watchlist_version": "test",
            "created_at": MONDAY + dt.timedelta(seconds=rng.randrange(70 * 86400)),
            "source": rng.choice(SOURCES),
            "language": rng.choice(LANGUAGES),
        }
    )


def random_when(rng: random.Random) -> dt.datetime:
    """A Monday at midnight (the summary can bound on it) or any time (it cannot)."""
    if rng.random() < 0.5:
        return MONDAY + 7 * DAY * rng.randrange(11)
    return MONDAY + dt.timedelta(seconds=rng.randrange(70 * 86400))


def random_query(rng: random.Random) -> AlertQuery:
    pools: dict[str, tuple[object, ...]] = {
        "destinations": DESTINATIONS,
        "technologies": TECHNOLOGIES,
        "vendors": VENDORS,
        "control_codes": CODES,
        "severities": tuple(Severity),
        "rules": RULES,
        "event_types": ("news_article", "licence_record"),
        "sources": ("reuters", "afp"),
        "languages": ("en", "de"),
    }
    fields: dict[str, object] = {}
    for name in rng.sample(list(pools), rng.choice((0, 1, 1, 1, 2))):
        fields[name] = tuple(rng.sample(pools[name], rng.choice((1, 1, 2))))
    if rng.random() < 0.3:
        fields["since"] = random_when(rng)
    if rng.random() < 0.3:
        fields["until"] = random_when(rng)
    if rng.random() < 0.25:
        fields["text"] = " ".join(rng.sample(WORDS, rng.choice((1, 1, 2))))
    return AlertQuery(**fields)  # type: ignore[arg-type]


def selects(a: Alert, q: AlertQuery) -> bool:
    """Whether ``q`` selects ``a``, written from the query's documented meaning."""
    held: list[tuple[tuple[object, ...], list[object]]] = [
        (q.destinations, list(a.destinations)),
        (q.technologies, list(a.technologies)),
        (q.vendors, list(a.entities)),
        (q.control_codes, list(a.control_codes)),
        (q.severities, [a.severity]),
        (q.rules, [a.rule]),
        (q.event_types, [a.event_type]),
        (q.sources, [a.source]),
        (q.languages, [a.language]),
    ]
    if any(wanted and not set(wanted) & set(values) for wanted, values in held):
        return False
    if q.since is not None and a.created_at < q.since:
        return False
    if q.until is not None and a.created_at >= q.until:
        return False
    words = set(re.findall(r"\w+", f"{a.title} {a.summary}".lower()))
    return not q.text or set(q.text.lower().split()) <= words


def brute_force(alerts: dict[str, Alert], q: AlertQuery) -> Facets:
    chosen = [a for a in alerts.values() if selects(a, q)]
    dests = Counter(d for a in chosen for d in a.destinations)
    techs = Counter(t for a in chosen for t in a.technologies)
    weeks = Counter(a.created_at.date() - dt.timedelta(days=a.created_at.weekday()) for a in chosen)

    def most_first(counts: Counter[str]) -> list[tuple[str, int]]:
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))

    return Facets(
        total=len(chosen),
        destinations=most_first(dests),
        technologies=most_first(techs),
        weeks=sorted(weeks.items()),
    )


@pytest.fixture
async def store(db_url: str) -> NotifyStore:
    s = await NotifyStore.open(db_url)
    yield s  # type: ignore[misc]
    await s.close()


async def add(store: NotifyStore, alerts: list[Alert], kept: dict[str, Alert]) -> None:
    async with store.writing() as conn:
        await store.archive.add(conn, alerts, MONDAY)
    for a in alerts:
        kept.setdefault(a.id, a)  # the first copy of an id wins


async def check(store: NotifyStore, kept: dict[str, Alert], rng: random.Random, queries: int) -> int:
    """Compare ``queries`` random queries; returns how many the summary answered."""
    summarised = 0
    for _ in range(queries):
        q = random_query(rng)
        summarised += summary_query(q) is not None
        assert await store.archive.facets(q) == brute_force(kept, q), q
    return summarised


async def test_facets_equal_a_brute_force_count(store: NotifyStore) -> None:
    rng = random.Random(19)
    kept: dict[str, Alert] = {}
    odd = random_alert(119, rng).model_copy(update={"technologies": ["odd\x1fvalue", "spyware"]})
    await add(store, [*(random_alert(n, rng) for n in range(119)), odd], kept)  # odd: see encode()
    # Duplicates: ids seen before (with other content: the first copy stays) and twice in one batch.
    again = [random_alert(n, rng) for n in rng.sample(range(120), 30)]
    await add(store, [*again, *again[:5], random_alert(500, rng), random_alert(500, rng)], kept)
    summarised = await check(store, kept, rng, 120)

    before = MONDAY + 30 * DAY
    forgotten = await store.archive.forget(before)
    assert forgotten == sum(a.created_at < before for a in kept.values()) > 0
    kept = {i: a for i, a in kept.items() if a.created_at >= before}
    summarised += await check(store, kept, rng, 120)

    await add(store, [random_alert(n, rng) for n in range(1000, 1060)], kept)  # some older than `before`
    summarised += await check(store, kept, rng, 120)
    assert 60 < summarised < 300  # both paths were exercised

    c = tables.archive_counts.c
    async with store.reader.connect() as conn:
        empty = await conn.execute(select(func.count()).where(c.alerts <= 0))
        assert empty.scalar_one() == 0  # rows that fell to zero are gone


async def test_everything_forgotten_leaves_an_empty_summary(store: NotifyStore) -> None:
    rng = random.Random(7)
    kept: dict[str, Alert] = {}
    await add(store, [random_alert(n, rng) for n in range(40)], kept)
    assert await store.archive.forget(MONDAY + 100 * DAY) == 40
    assert await store.archive.facets(AlertQuery()) == Facets()
    async with store.reader.connect() as conn:
        rows = await conn.execute(select(func.count()).select_from(tables.archive_counts))
        assert rows.scalar_one() == 0


def migration_0005() -> ModuleType:
    path = Path(tables.__file__).parent / "migrations" / "versions" / "0005_facets.py"
    spec = importlib.util.spec_from_file_location("notify_migration_0005", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_migration_fills_what_the_inserts_keep(store: NotifyStore) -> None:
    """Migration 0005 fills the summary and ``counted`` of an archive archived before it existed: the
    same rows the inserts keep (``counted`` compared as sets: the database orders the values its way)."""
    rng = random.Random(3)
    odd = random_alert(59, rng).model_copy(update={"technologies": ["odd\x1fvalue"]})
    await add(store, [*(random_alert(n, rng) for n in range(59)), odd], {})
    assert await store.archive.forget(MONDAY + 10 * DAY) > 0
    migration = migration_0005()
    a = tables.archive.c
    counts = select(tables.archive_counts).order_by(*tables.archive_counts.primary_key.columns)

    def held(rows: Sequence[Row[tuple[str, str | None]]]) -> dict[str, frozenset[str] | None]:
        return {r.id: None if r.counted is None else frozenset(r.counted.split("\x1f")) for r in rows}

    async with store.writing() as conn:
        kept = (await conn.execute(counts)).all()
        kept_counted = held((await conn.execute(select(a.id, a.counted))).all())
        await conn.execute(delete(tables.archive_counts))
        await conn.execute(update(tables.archive).values(counted="stale"))
        await conn.execute(text(migration.BACKFILL_COUNTS))
        for statement in migration.fill_counted(conn.dialect.name):
            await conn.execute(statement)
        assert (await conn.execute(counts)).all() == kept
        assert held((await conn.execute(select(a.id, a.counted))).all()) == kept_counted
    assert kept_counted["alert-59"] is None
