"""The alert archive's vocabulary (pure): a query over archived alerts, a page of answers with its
cursor, the counts shown beside a list, and one delivery of the audit.

The archive keeps every alert notify consumed, routed or not, for the query API (``/v1/alerts``, its
CSV and Atom forms), the researchers' console and the personal feeds. The store that answers these
queries is ``services/notify/store/archive.py``; the HTTP routes are ``services/notify/routes/alerts.py``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from schemas import Alert, Severity

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@dataclass(frozen=True)
class AlertQuery:
    """Which archived alerts, newest first. Every kind of filter that is set must match (AND); within a
    kind one value is enough (OR); empty means any. ``text`` is a full-text query over the title, the
    summary and the evidence snippets (the database's own full-text search). ``since`` is inclusive,
    ``until`` exclusive, both on the alert's ``created_at``. ``cursor`` continues a previous page."""

    destinations: tuple[str, ...] = ()
    technologies: tuple[str, ...] = ()
    vendors: tuple[str, ...] = ()
    control_codes: tuple[str, ...] = ()
    severities: tuple[Severity, ...] = ()
    rules: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    text: str | None = None
    cursor: str | None = None
    limit: int = DEFAULT_LIMIT


@dataclass(frozen=True)
class AlertPage:
    """One page of alerts, newest first; ``next_cursor`` is None on the last page."""

    alerts: list[Alert]
    next_cursor: str | None = None


@dataclass(frozen=True)
class Facets:
    """Counts of the alerts a query selects (ignoring its cursor and limit): per destination, per
    technology (most first), and per ISO week (``week`` is that week's Monday, oldest first)."""

    total: int = 0
    destinations: list[tuple[str, int]] = field(default_factory=list)
    technologies: list[tuple[str, int]] = field(default_factory=list)
    weeks: list[tuple[dt.date, int]] = field(default_factory=list)


@dataclass(frozen=True)
class AuditEntry:
    """One (alert, subscription) pair: who was told, when, by which channel and with what outcome.

    ``outcome`` is ``delivered``, ``dead``, ``cancelled``, ``silenced`` or ``pending`` (queued, not yet
    finished); ``at`` is when it finished (or was recorded, while pending); ``detail`` is the last failure,
    readable and never a secret."""

    subscription_id: str
    subscription_name: str | None
    owner: str
    channel: str
    outcome: str
    at: dt.datetime
    attempts: int = 0
    detail: str | None = None


@dataclass(frozen=True)
class ArchivedAlert:
    """One alert as the archive holds it, with its story: every alert of the same story (near-duplicate
    copies from other sources, grouped by ``services.notify.core.routing.story_key``), oldest first and
    this one included."""

    alert: Alert
    received_at: dt.datetime
    story: list[Alert] = field(default_factory=list)
