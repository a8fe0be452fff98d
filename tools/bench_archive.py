"""The alert archive benchmark (issue 19): how long a filtered page of ``GET /v1/alerts`` and the counts
beside it take with 100,000 stored alerts, on SQLite and on PostgreSQL, against the 200 ms target.

The database is filled once with synthetic but realistic alerts: news in five languages and licence
records, over a year, across a dozen destinations, technologies, vendors, rules and sources, with
a few destinations and technologies far more frequent than the rest (as in real coverage). Then each
query runs many times through the store's own methods (the code the API runs, without HTTP); p50 and
p95 are reported in ms, and each p95 as a ratio against a baseline measured in the same run (one
alert read by its primary key) and against the target. Only ratios compare across runs: the machines
are shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from schemas import Alert, Severity
from services.common.db import safe_url
from services.notify.core.archive import AlertQuery
from services.notify.store import tables
from services.notify.store.repository import NotifyStore

TARGET_MS = 200.0
START = dt.datetime(2025, 12, 1, tzinfo=dt.UTC)
DESTINATIONS = ["CN", "RU", "EG", "SA", "AE", "IR", "BY", "MM", "VN", "ET", "UG", "RW", "BH", "KZ"]
TECHNOLOGIES = [
    "facial-recognition",
    "spyware",
    "imsi-catcher",
    "deep-packet-inspection",
    "internet-filtering",
    "forensic-extraction",
    "predictive-policing",
    "lawful-interception",
]
VENDORS = ["hikvision", "nso-group", "cellebrite", "sandvine", "huawei", "intellexa", "idemia", "gamma"]
CODES = ["5A001J", "5A004B", "5D001A", "4A005", "5A002A", "5E001A"]
RULES = ["news.tech_destination", "news.vendor_destination", "licence.code_destination", "news.vendor_tech"]
SOURCES = ["reuters", "afp", "dw", "elpais", "lemonde", "nrc", "bafa", "uk-ecju"]
# A sentence per language; {tech} and {dest} are filled in. Words like 'surveillance' are frequent on
# purpose: full text must stay fast when a word matches many alerts.
SENTENCES = {
    "en": "Authorities in {dest} bought {tech} systems for surveillance of protesters, records show.",
    "de": "Behörden in {dest} kauften {tech} zur Überwachung von Demonstranten, zeigen Unterlagen.",
    "fr": "Les autorités de {dest} ont acheté des systèmes de {tech} pour la surveillance des manifestants.",
    "es": "Las autoridades de {dest} compraron sistemas de {tech} para el reconocimiento de manifestantes.",
    "nl": "De autoriteiten in {dest} kochten {tech} voor het toezicht op demonstranten, blijkt uit stukken.",
}
EXTRA_WORDS = ["contract", "police", "ministry", "tender", "export", "licence", "border", "telecom", "camera"]


def skewed(rng: random.Random, values: Sequence[str]) -> str:
    """A value where the first few are much more frequent than the last (roughly Zipf)."""
    return values[min(int(rng.paretovariate(1.2)) - 1, len(values) - 1)]


def synthetic_alert(n: int, rng: random.Random) -> Alert:
    language = rng.choice(list(SENTENCES))
    licence = rng.random() < 0.2
    dests = sorted({skewed(rng, DESTINATIONS) for _ in range(rng.choice((1, 1, 1, 2)))})
    techs = sorted({skewed(rng, TECHNOLOGIES) for _ in range(rng.choice((1, 1, 2)))})
    sentence = SENTENCES[language].format(dest=dests[0], tech=techs[0].replace("-", " "))
    extra = " ".join(rng.sample(EXTRA_WORDS, 3))
    created = START + dt.timedelta(seconds=rng.randrange(365 * 86400))
    evidence = [
        {
            "field": "body",
            "start": 0,
            "end": 10,
            "text": sentence[:10],
            "snippet": f"{sentence} {extra}",
            "kind": "technology",
            "ref": techs[0],
        }
    ]
    return Alert.model_validate(
        {
            "id": f"bench-{n:07d}",
            "event_type": "licence_record" if licence else "news_article",
            "event_id": f"event-{n // 3 if rng.random() < 0.1 else n}",
            "title": f"{techs[0].replace('-', ' ').title()} for {dests[0]}: {extra}",
            "url": f"https://news.example/{n}",
            "severity": rng.choice(list(Severity)),
            "score": 0.9,
            "destinations": dests,
            "technologies": techs,
            "entities": [skewed(rng, VENDORS)] if rng.random() < 0.5 else [],
            "control_codes": [rng.choice(CODES)] if licence else [],
            "evidence": evidence,
            "rule": "licence.code_destination" if licence else rng.choice(RULES[:2] + RULES[3:]),
            "summary": sentence,
            "watchlist_version": "bench",
            "created_at": created,
            "source": rng.choice(SOURCES[6:] if licence else SOURCES[:6]),
            "language": None if licence else language,
        }
    )


async def fill(store: NotifyStore, count: int, out: Callable[[str], None]) -> None:
    """Add ``count`` synthetic alerts in batches (the intake's own ``add``), then refresh statistics."""
    rng = random.Random(19)
    started = time.perf_counter()
    batch = 2000
    for start in range(0, count, batch):
        alerts = [synthetic_alert(n, rng) for n in range(start, min(count, start + batch))]
        async with store.writing() as conn:
            await store.archive.add(conn, alerts, dt.datetime.now(dt.UTC))
    async with store.writing() as conn:
        await conn.exec_driver_sql("ANALYZE")
    out(f"filled {count} alerts in {time.perf_counter() - started:.0f} s")


@dataclass(frozen=True)
class Figure:
    name: str
    p50_ms: float
    p95_ms: float
    rows: int


async def measure(name: str, call: Callable[[], Awaitable[int]], repeats: int) -> Figure:
    rows = await call()  # warm the caches once
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        rows = await call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return Figure(name, statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)], rows)


def queries(store: NotifyStore, rng: random.Random) -> dict[str, Callable[[], Awaitable[int]]]:
    """The queries a researcher's console and API make; each call varies its values a little."""
    archive = store.archive

    async def page(**filters: Any) -> int:
        return len((await archive.search(AlertQuery(**filters))).alerts)

    def month() -> dict[str, Any]:
        since = START + dt.timedelta(days=rng.randrange(330))
        return {"since": since, "until": since + dt.timedelta(days=30)}

    async def second_page() -> int:
        query = AlertQuery(destinations=(rng.choice(DESTINATIONS[:6]),))
        first = await archive.search(query)
        return len((await archive.search(dataclasses.replace(query, cursor=first.next_cursor))).alerts)

    async def facets(**filters: Any) -> int:
        return (await archive.facets(AlertQuery(**filters))).total

    return {
        "destination": lambda: page(destinations=(rng.choice(DESTINATIONS),)),
        "technology + severity": lambda: page(
            technologies=(rng.choice(TECHNOLOGIES),), severities=(Severity.HIGH, Severity.CRITICAL)
        ),
        "date range (30 days)": lambda: page(**month()),
        "rare destination + date range": lambda: page(
            destinations=(rng.choice(DESTINATIONS[-4:]),), **month()
        ),
        "free text (common word)": lambda: page(text=rng.choice(["surveillance", "contract", "camera"])),
        "free text (rare word)": lambda: page(text=rng.choice(["überwachung", "reconocimiento", "toezicht"])),
        "free text + destination": lambda: page(
            text="surveillance", destinations=(rng.choice(DESTINATIONS),)
        ),
        "second page via cursor (2 queries)": second_page,
        "facets, no filter": facets,
        "facets, destination": lambda: facets(destinations=(rng.choice(DESTINATIONS),)),
        "facets, free text": lambda: facets(text=rng.choice(["surveillance", "überwachung"])),
    }


async def run(url: str, count: int, repeats: int, out: Callable[[str], None]) -> list[Figure]:
    store = await NotifyStore.open(url)
    try:
        async with store.reader.connect() as conn:
            stored = (await conn.execute(select(func.count()).select_from(tables.archive))).scalar_one()
        if stored == 0:
            await fill(store, count, out)
        elif stored < count:
            raise SystemExit(f"the archive holds {stored} alerts, fewer than {count}: use an empty database")
        else:
            out(f"reusing the {stored} alerts already stored")
        rng = random.Random(7)
        x = tables.archive_texts.c

        async def baseline() -> int:
            async with store.reader.connect() as conn:
                alert_id = f"bench-{rng.randrange(count):07d}"
                return len((await conn.execute(select(x.payload).where(x.id == alert_id))).all())

        figures = [await measure("baseline: one alert by primary key", baseline, repeats)]
        for name, call in queries(store, rng).items():
            figures.append(await measure(name, call, repeats))
        return figures
    finally:
        await store.close()


def report(figures: list[Figure], out: Callable[[str], None]) -> bool:
    """The table; True when every query's p95 is within the target."""
    base = figures[0].p95_ms
    out(f"| query | p50 ms | p95 ms | p95 / baseline | p95 / {TARGET_MS:.0f} ms target | rows |")
    out("| --- | ---: | ---: | ---: | ---: | ---: |")
    for f in figures:
        out(
            f"| {f.name} | {f.p50_ms:.1f} | {f.p95_ms:.1f} | {f.p95_ms / base:.1f}x | "
            f"{f.p95_ms / TARGET_MS:.2f} | {f.rows} |"
        )
    slow = [f.name for f in figures[1:] if f.p95_ms > TARGET_MS]
    out("every p95 within the target" if not slow else f"over the target: {', '.join(slow)}")
    return not slow


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="exportwatch bench-archive", description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=100_000, help="alerts to store (default 100,000)")
    parser.add_argument("--repeats", type=int, default=100, help="runs of each query (default 100)")
    parser.add_argument(
        "--database-url",
        default=None,
        help="a scratch database to fill (postgresql://...); default: SQLite in a temporary folder. "
        "A database already holding at least --alerts archived alerts is reused as it is.",
    )
    args = parser.parse_args(argv)

    def out(line: str) -> None:
        print(line, flush=True)

    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'archive.db'}"
        out(
            f"python {platform.python_version()} on {platform.machine()}, {safe_url(url)}, "
            f"{args.alerts} alerts"
        )
        figures = asyncio.run(run(url, args.alerts, args.repeats, out))
    return 0 if report(figures, out) else 1
