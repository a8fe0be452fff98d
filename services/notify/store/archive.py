"""The alert archive: every alert notify consumed, routed or not, kept for the query API, the console
and the personal feeds (the vocabulary is ``services/notify/core/archive.py``).

One query path serves SQLite and PostgreSQL; only the full-text clause differs (``_fulltext``): FTS5 on
SQLite, a GIN-indexed ``to_tsvector('simple', ...)`` on PostgreSQL ('simple': no stemming, so the five
languages are treated alike). The multi-valued filters (destinations, technologies, vendors, control
codes) live in ``notify_archive_terms``, one indexed row per value.

The audit (who was told) is read live from the delivery queue's tables while they hold the rows; the
hourly purge deletes finished notifications and their deliveries, so just before it does, it copies one
compact row per (alert, subscription) into ``notify_archive_audit`` (``keep_audit``, in the purge's own
transaction). Copying at purge time rather than at every settle keeps the hot send path unchanged and
writes each audit row once.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    bindparam,
    delete,
    func,
    literal,
    literal_column,
    select,
    text,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from schemas import Alert
from services.common.db import Section, dialect_insert, uncancellable
from services.common.dbtypes import UTCDateTime
from services.notify.core.archive import (
    AlertPage,
    AlertQuery,
    ArchivedAlert,
    AuditEntry,
    Facets,
    decode_cursor,
    encode_cursor,
)
from services.notify.core.facets import summary_query
from services.notify.core.routing import story_key
from services.notify.store import archive_counts, tables
from services.notify.store.common import FINAL

TERM_KINDS = ("destination", "technology", "vendor", "control_code")
STORY_LIMIT = 200  # copies of one story shown with an alert
_WORD = re.compile(r"\w+", re.UNICODE)
# PostgreSQL's documents are stored once, at insert, in a narrow GIN-indexed table (migration 0005), so
# a match reads small rows instead of recomputing to_tsvector over the wide texts table.
_PG_MATCH = "SELECT id FROM notify_archive_documents WHERE document @@ plainto_tsquery('simple', :fulltext)"
_PG_DOCUMENTS = (
    "INSERT INTO notify_archive_documents (id, document) "
    "SELECT id, to_tsvector('simple', title || ' ' || summary || ' ' || evidence) "
    "FROM notify_archive_texts WHERE id IN :ids ON CONFLICT DO NOTHING"
)


def week_of(when: dt.datetime) -> str:
    """The Monday of ``when``'s ISO week (UTC), as YYYY-MM-DD."""
    day = when.astimezone(dt.UTC).date()
    return (day - dt.timedelta(days=day.weekday())).isoformat()


def fts5_query(words: str) -> str | None:
    """A free-text query as an FTS5 expression: every word must appear (each quoted, so the user's
    text is never read as FTS5 syntax); None when it has no word."""
    found = _WORD.findall(words)
    return " ".join(f'"{w}"' for w in found) if found else None


def _terms(alert: Alert) -> list[tuple[str, str]]:
    values = {
        "destination": alert.destinations,
        "technology": alert.technologies,
        "vendor": alert.entities,
        "control_code": alert.control_codes,
    }
    return sorted({(kind, str(v)[:128]) for kind, vs in values.items() for v in vs})


def _row(alert: Alert, now: dt.datetime) -> dict[str, Any]:
    return {
        "counted": archive_counts.encode(_terms(alert)),
        "id": alert.id,
        "story_key": story_key(alert)[:320],
        "created_at": alert.created_at,
        "week": week_of(alert.created_at),
        "severity_rank": alert.severity.rank,
        "rule": alert.rule[:64],
        "event_type": alert.event_type,
        "source": alert.source[:128] if alert.source else None,
        "language": alert.language[:8] if alert.language else None,
        "received_at": now,
    }


def _texts(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "title": alert.title,
        "summary": alert.summary,
        "evidence": "\n".join(e.snippet for e in alert.evidence),
        "url": alert.url,
        "payload": alert.model_dump_json(),
    }


def _fulltext(conn: AsyncConnection, words: str) -> ColumnElement[bool]:
    """The one dialect-specific clause: alerts whose title, summary or evidence hold every word."""
    a = tables.archive.c
    if conn.dialect.name == "postgresql":
        matched = text(_PG_MATCH).bindparams(fulltext=words)
        return a.id.in_(matched.columns(literal_column("id")))
    expression = fts5_query(words)
    if expression is None:
        return literal_column("1") == 1
    matched = text(
        "SELECT rowid FROM notify_archive_fts WHERE notify_archive_fts MATCH :fulltext"
    ).bindparams(fulltext=expression)
    return literal_column("notify_archive.rowid").in_(matched.columns(literal_column("rowid")))


def _conditions(
    conn: AsyncConnection, query: AlertQuery, *, every: bool = False
) -> list[ColumnElement[bool]]:
    """What ``query`` asks, cursor excluded, as WHERE clauses (AND between kinds, OR within).

    ``every``: the caller needs every match (counts), not the newest few (a page); then a term filter
    is the list of matching ids from the terms index, each looked up once, rather than a probe per
    archived alert."""
    a = tables.archive.c
    t = tables.archive_terms.c
    where: list[ColumnElement[bool]] = []
    for kind, values in (
        ("destination", query.destinations),
        ("technology", query.technologies),
        ("vendor", query.vendors),
        ("control_code", query.control_codes),
    ):
        if values and every:
            where.append(a.id.in_(select(t.alert_id).where(t.kind == kind, t.value.in_(values))))
        elif values:
            # EXISTS, probed through the terms' primary key while the archive is walked newest first:
            # a page stops after ``limit`` matches instead of collecting every match and sorting it.
            where.append(
                select(t.alert_id).where(t.alert_id == a.id, t.kind == kind, t.value.in_(values)).exists()
            )
    if query.severities:
        where.append(a.severity_rank.in_(sorted({s.rank for s in query.severities})))
    for column, values in (
        (a.rule, query.rules),
        (a.event_type, query.event_types),
        (a.source, query.sources),
        (a.language, query.languages),
    ):
        if values:
            where.append(column.in_(values))
    if query.since is not None:
        where.append(a.created_at >= query.since)
    if query.until is not None:
        where.append(a.created_at < query.until)
    if query.text:
        where.append(_fulltext(conn, query.text))
    return where


def _audit_outcome(delivery_status: str, notification_status: str | None) -> str:
    if delivery_status == "silenced":
        return "silenced"
    if notification_status in FINAL:
        return str(notification_status)
    return "pending"


def _spec_facts(spec: str | None) -> tuple[str | None, str | None]:
    """(name, channel type) of a stored subscription spec."""
    if not spec:
        return None, None
    try:
        data = json.loads(spec)
    except ValueError:
        return None, None
    channel = data.get("channel") or {}
    return data.get("name"), channel.get("type") if isinstance(channel, dict) else None


def _live_audit() -> Any:
    """Deliveries with their notification and subscription: the audit while the queue holds it."""
    d = tables.deliveries.c
    n = tables.notifications.c
    s = tables.subscriptions.c
    return (
        select(
            d.alert_id,
            d.subscription_id,
            d.status,
            d.created_at,
            n.status.label("n_status"),
            n.channel,
            n.attempts,
            n.finished_at,
            n.detail,
            s.owner,
            s.spec,
        )
        .select_from(
            tables.deliveries.outerjoin(tables.notifications, n.id == d.notification_id).outerjoin(
                tables.subscriptions, s.id == d.subscription_id
            )
        )
        .order_by(d.created_at, d.subscription_id)
    )


def _audit_entry(row: Any) -> AuditEntry:
    name, channel = _spec_facts(row.spec)
    outcome = _audit_outcome(row.status, row.n_status)
    return AuditEntry(
        subscription_id=row.subscription_id,
        subscription_name=name,
        owner=row.owner or "",
        channel=row.channel or channel or "unknown",
        outcome=outcome,
        at=row.finished_at if outcome in FINAL and row.finished_at else row.created_at,
        attempts=row.attempts or 0,
        detail=row.detail,
    )


async def keep_audit(conn: AsyncConnection, where: ColumnElement[bool]) -> None:
    """Copy the audit of the deliveries ``where`` selects into ``notify_archive_audit`` (the purge calls
    this in its transaction, just before deleting them); a pair kept before keeps its first row."""
    rows = (await conn.execute(_live_audit().where(where))).all()
    if not rows:
        return
    kept = []
    for row in rows:
        entry = _audit_entry(row)
        kept.append(
            {
                "alert_id": row.alert_id,
                "subscription_id": entry.subscription_id,
                "owner": entry.owner,
                "subscription_name": entry.subscription_name,
                "channel": entry.channel,
                "outcome": entry.outcome,
                "at": entry.at,
                "attempts": entry.attempts,
                "detail": entry.detail,
            }
        )
    insert = dialect_insert(conn, tables.archive_audit).on_conflict_do_nothing(
        index_elements=["alert_id", "subscription_id"]
    )
    for start in range(0, len(kept), 500):
        await conn.execute(insert, kept[start : start + 500])


def _insert_new(conn: AsyncConnection, table: Any) -> Any:
    """An INSERT that leaves rows already there as they are (the first copy of an alert wins)."""
    return dialect_insert(conn, table).on_conflict_do_nothing()


async def _live_facets(conn: AsyncConnection, query: AlertQuery) -> Facets:
    """The facets of ``query`` counted over its matches in one grouped scan of the matching rows: each
    (week, destinations and technologies) combination with its number of alerts, summed here. Alerts
    whose values could not be encoded (``counted`` NULL, in practice none) have their terms read."""
    a = tables.archive.c
    t = tables.archive_terms.c
    where = _conditions(conn, query, every=True)
    n = func.count().label("n")
    weeks: Counter[str] = Counter()
    per_kind: dict[str, Counter[str]] = {"destination": Counter(), "technology": Counter()}
    unencoded = False
    for r in await conn.execute(select(a.week, a.counted, n).where(*where).group_by(a.week, a.counted)):
        weeks[r.week] += int(r.n)
        if r.counted is None:
            unencoded = True
            continue
        for kind, value in archive_counts.decode(r.counted):
            per_kind[kind][value] += int(r.n)
    if unencoded:
        both = tables.archive_terms.join(tables.archive, a.id == t.alert_id)
        stmt = select(t.kind, t.value).select_from(both).where(*where, a.counted.is_(None))
        for r in await conn.execute(stmt.where(t.kind.in_(("destination", "technology")))):
            per_kind[r.kind][r.value] += 1
    return Facets(
        total=sum(weeks.values()),
        destinations=sorted(per_kind["destination"].items(), key=lambda item: (-item[1], item[0])),
        technologies=sorted(per_kind["technology"].items(), key=lambda item: (-item[1], item[0])),
        weeks=[(dt.date.fromisoformat(w), weeks[w]) for w in sorted(weeks)],
    )


class ArchiveStore(Section):
    """The archive tables, their full-text index and the delivery audit."""

    async def add(self, conn: AsyncConnection, alerts: Sequence[Alert], now: dt.datetime) -> None:
        """Archive ``alerts`` within the caller's transaction (intake's): an alert id seen before keeps
        its first copy."""
        fresh = {a.id: a for a in reversed(alerts)}  # the first copy of an id within the batch
        if not fresh:
            return
        a = tables.archive.c
        seen = set((await conn.execute(select(a.id).where(a.id.in_(list(fresh))))).scalars())
        new = [alert for alert_id, alert in fresh.items() if alert_id not in seen]
        if not new:
            return
        # ON CONFLICT DO NOTHING: another replica may archive the same alert between the check and here;
        # RETURNING says which rows this transaction wrote, so only those are counted in the summary.
        rows = {alert.id: _row(alert, now) for alert in new}
        written = set(
            (
                await conn.execute(_insert_new(conn, tables.archive).returning(a.id), list(rows.values()))
            ).scalars()
        )
        new = [alert for alert in new if alert.id in written]
        if not new:
            return
        await conn.execute(_insert_new(conn, tables.archive_texts), [_texts(alert) for alert in new])
        held = {alert.id: _terms(alert) for alert in new}
        terms = [
            {"alert_id": alert.id, "kind": kind, "value": value, "created_at": alert.created_at}
            for alert in new
            for kind, value in held[alert.id]
        ]
        if terms:
            await conn.execute(_insert_new(conn, tables.archive_terms), terms)
        await archive_counts.change(
            conn, [archive_counts.alert_keys(rows[alert.id], held[alert.id]) for alert in new], 1
        )
        if conn.dialect.name == "postgresql":
            for start in range(0, len(new), 500):
                await conn.execute(
                    text(_PG_DOCUMENTS).bindparams(bindparam("ids", expanding=True)),
                    {"ids": [alert.id for alert in new[start : start + 500]]},
                )
        if conn.dialect.name == "sqlite":
            for start in range(0, len(new), 500):
                chunk = [alert.id for alert in new[start : start + 500]]
                await conn.execute(
                    text(
                        "INSERT INTO notify_archive_fts (rowid, title, summary, evidence) "
                        "SELECT a.rowid, x.title, x.summary, x.evidence FROM notify_archive a "
                        "JOIN notify_archive_texts x ON x.id = a.id WHERE a.id IN :ids"
                    ).bindparams(bindparam("ids", expanding=True)),
                    {"ids": chunk},
                )

    async def search(self, query: AlertQuery) -> AlertPage:
        """The page of alerts ``query`` selects, newest first (``created_at``, then id)."""
        a = tables.archive.c
        x = tables.archive_texts.c
        async with self.reader.connect() as conn:
            where = _conditions(conn, query)
            after = decode_cursor(query.cursor) if query.cursor else None
            if after is not None:
                when, last_id = after
                # The row-value comparison lets both databases seek the (created_at, id) index.
                where.append(
                    tuple_(a.created_at, a.id) < tuple_(literal(when, UTCDateTime()), literal(last_id))
                )
            rows = (
                await conn.execute(
                    select(x.payload)
                    .select_from(tables.archive.join(tables.archive_texts, x.id == a.id))
                    .where(*where)
                    .order_by(a.created_at.desc(), a.id.desc())
                    .limit(query.limit + 1)
                )
            ).all()
        alerts = [Alert.model_validate_json(r.payload) for r in rows[: query.limit]]
        more = len(rows) > query.limit
        cursor = encode_cursor(alerts[-1].created_at, alerts[-1].id) if more and alerts else None
        return AlertPage(alerts=alerts, next_cursor=cursor)

    async def facets(self, query: AlertQuery) -> Facets:
        """Counts per destination, technology and week of what ``query`` selects: from the summary kept
        ahead when it can answer exactly (no free text, at most one kind of filter, week-aligned dates),
        else counted live over the matches."""
        asked = summary_query(query)
        async with self.reader.connect() as conn:
            if asked is not None:
                return await archive_counts.read(conn, asked)
            return await _live_facets(conn, query)

    async def get(self, alert_id: str) -> ArchivedAlert | None:
        """One alert with its story, or None."""
        a = tables.archive.c
        x = tables.archive_texts.c
        both = tables.archive.join(tables.archive_texts, x.id == a.id)
        async with self.reader.connect() as conn:
            row = (
                await conn.execute(
                    select(x.payload, a.story_key, a.received_at).select_from(both).where(a.id == alert_id)
                )
            ).one_or_none()
            if row is None:
                return None
            story = (
                await conn.execute(
                    select(x.payload)
                    .select_from(both)
                    .where(a.story_key == row.story_key)
                    .order_by(a.created_at, a.id)
                    .limit(STORY_LIMIT)
                )
            ).all()
        return ArchivedAlert(
            alert=Alert.model_validate_json(row.payload),
            received_at=row.received_at,
            story=[Alert.model_validate_json(r.payload) for r in story],
        )

    async def audit(self, alert_id: str, owner: str | None = None) -> list[AuditEntry]:
        """Who was told of ``alert_id``, oldest first; only ``owner``'s subscriptions unless None
        (the admin)."""
        d = tables.deliveries.c
        k = tables.archive_audit.c
        async with self.reader.connect() as conn:
            live = [
                _audit_entry(r) for r in (await conn.execute(_live_audit().where(d.alert_id == alert_id)))
            ]
            kept_rows = (await conn.execute(select(tables.archive_audit).where(k.alert_id == alert_id))).all()
        entries = {e.subscription_id: e for e in live}
        for r in kept_rows:
            entries.setdefault(
                r.subscription_id,
                AuditEntry(
                    subscription_id=r.subscription_id,
                    subscription_name=r.subscription_name,
                    owner=r.owner,
                    channel=r.channel,
                    outcome=r.outcome,
                    at=r.at,
                    attempts=r.attempts,
                    detail=r.detail,
                ),
            )
        chosen = [e for e in entries.values() if owner is None or e.owner == owner]
        return sorted(chosen, key=lambda e: (e.at, e.subscription_id))

    @uncancellable
    async def forget(self, before: dt.datetime) -> int:
        """Retention: delete archived alerts made before ``before`` with their terms, full text and
        audit. Returns how many alerts were deleted."""
        a = tables.archive.c
        async with self.writing() as conn:
            old = list((await conn.execute(select(a.id).where(a.created_at < before))).scalars())
            for start in range(0, len(old), 500):
                chunk = old[start : start + 500]
                await archive_counts.forget(conn, chunk)
                if conn.dialect.name == "postgresql":
                    await conn.execute(
                        text("DELETE FROM notify_archive_documents WHERE id IN :ids").bindparams(
                            bindparam("ids", expanding=True)
                        ),
                        {"ids": chunk},
                    )
                if conn.dialect.name == "sqlite":
                    await conn.execute(
                        text(
                            "DELETE FROM notify_archive_fts WHERE rowid IN "
                            "(SELECT rowid FROM notify_archive WHERE id IN :ids)"
                        ).bindparams(bindparam("ids", expanding=True)),
                        {"ids": chunk},
                    )
                for table, column in (
                    (tables.archive_terms, tables.archive_terms.c.alert_id),
                    (tables.archive_audit, tables.archive_audit.c.alert_id),
                    (tables.archive_texts, tables.archive_texts.c.id),
                    (tables.archive, a.id),
                ):
                    await conn.execute(delete(table).where(column.in_(chunk)))
        return len(old)
