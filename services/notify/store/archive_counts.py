"""The archive's facet counts kept ahead (``notify_archive_counts``; which queries it answers and what
one alert adds are ``services/notify/core/facets.py``): added to in the archive's insert transaction,
taken from in retention's, read for the facets of a one-filter query.

Both writes are one ``INSERT ... ON CONFLICT DO UPDATE`` adding a signed number, with the keys sorted
so two replicas archiving at once take the rows' locks in the same order; rows that fall to zero are
deleted so the table holds only what the archive holds.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.db import dialect_insert
from services.notify.core.archive import Facets
from services.notify.core.facets import NONE, Key, SummaryQuery, summary_keys, tally
from services.notify.store import tables

_CHUNK = 500
SEPARATOR = "\x1f"  # the unit separator, between the values of ``notify_archive.counted``
_PREFIX = {"destination": "d", "technology": "t"}
_KIND = {v: k for k, v in _PREFIX.items()}


def encode(terms: Iterable[tuple[str, str]]) -> str | None:
    """An alert's destinations and technologies as ``notify_archive.counted``: a letter for the kind,
    the value, joined by the unit separator; None when a value holds the separator (that alert's terms
    are then read from ``notify_archive_terms``)."""
    chosen = [(kind, value) for kind, value in terms if kind in _PREFIX]
    if any(SEPARATOR in value for _, value in chosen):
        return None
    return SEPARATOR.join(_PREFIX[kind] + value for kind, value in chosen)


def decode(counted: str) -> list[tuple[str, str]]:
    """The (kind, value) pairs ``encode`` wrote."""
    return [(_KIND[item[0]], item[1:]) for item in counted.split(SEPARATOR) if item]


def alert_keys(row: Any, terms: Iterable[tuple[str, str]]) -> list[Key]:
    """The summary rows of one archived alert: ``row`` has its stored columns (week, severity_rank,
    rule, event_type, source, language), ``terms`` its stored (kind, value) terms."""
    held = list(terms)
    filters = [
        *held,
        ("severity", str(row["severity_rank"])),
        ("rule", row["rule"]),
        ("event_type", row["event_type"]),
    ]
    filters += [(kind, row[kind]) for kind in ("source", "language") if row[kind] is not None]
    return summary_keys(row["week"], filters, held)


async def change(conn: AsyncConnection, per_alert: Iterable[list[Key]], sign: int) -> None:
    """Add (``sign`` 1) or remove (-1) the alerts whose summary rows are ``per_alert``."""
    c = tables.archive_counts.c
    rows = [
        {
            "filter_kind": k[0],
            "filter_value": k[1],
            "week": k[2],
            "count_kind": k[3],
            "count_value": k[4],
            "alerts": sign * n,
        }
        for k, n in tally(per_alert)
    ]
    if not rows:
        return
    insert = dialect_insert(conn, tables.archive_counts)
    upsert = insert.on_conflict_do_update(
        index_elements=["filter_kind", "filter_value", "week", "count_kind", "count_value"],
        set_={"alerts": c.alerts + insert.excluded.alerts},
    )
    for start in range(0, len(rows), _CHUNK):
        await conn.execute(upsert, rows[start : start + _CHUNK])
    if sign < 0:
        await conn.execute(delete(tables.archive_counts).where(c.alerts <= 0))


async def forget(conn: AsyncConnection, ids: Sequence[str]) -> None:
    """Take the alerts ``ids`` (about to be deleted, still stored) out of the summary."""
    a = tables.archive.c
    t = tables.archive_terms.c
    held: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for r in await conn.execute(select(t.alert_id, t.kind, t.value).where(t.alert_id.in_(ids))):
        held[r.alert_id].append((r.kind, r.value))
    columns = (a.id, a.week, a.severity_rank, a.rule, a.event_type, a.source, a.language)
    rows = (await conn.execute(select(*columns).where(a.id.in_(ids)))).mappings().all()
    await change(conn, [alert_keys(r, held[r["id"]]) for r in rows], -1)


async def read(conn: AsyncConnection, asked: SummaryQuery) -> Facets:
    """The facets ``asked`` selects, from the summary alone."""
    c = tables.archive_counts.c
    n = func.sum(c.alerts).label("n")
    stmt = (
        select(c.count_kind, c.count_value, c.week, n)
        .where(c.filter_kind == asked.kind, c.filter_value.in_(asked.values))
        .group_by(c.count_kind, c.count_value, c.week)
    )
    if asked.first_week is not None:
        stmt = stmt.where(c.week >= asked.first_week)
    if asked.end_week is not None:
        stmt = stmt.where(c.week < asked.end_week)
    weeks: dict[str, int] = defaultdict(int)
    per_kind: dict[str, dict[str, int]] = {"destination": defaultdict(int), "technology": defaultdict(int)}
    for r in await conn.execute(stmt):
        if int(r.n) <= 0:
            continue
        if r.count_kind == NONE:
            weeks[r.week] += int(r.n)
        elif r.count_kind in per_kind:
            per_kind[r.count_kind][r.count_value] += int(r.n)

    def most_first(counts: dict[str, int]) -> list[tuple[str, int]]:
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))

    return Facets(
        total=sum(weeks.values()),
        destinations=most_first(per_kind["destination"]),
        technologies=most_first(per_kind["technology"]),
        weeks=[(dt.date.fromisoformat(w), weeks[w]) for w in sorted(weeks)],
    )
