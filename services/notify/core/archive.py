"""The alert archive's vocabulary (pure): a query over archived alerts, a page of answers with its
cursor, the counts shown beside a list, and one delivery of the audit.

The archive keeps every alert notify consumed, routed or not, for the query API (``/v1/alerts``, its
CSV and Atom forms), the researchers' console and the personal feeds. The store that answers these
queries is ``services/notify/store/archive.py``; the HTTP routes are ``services/notify/routes/alerts.py``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas import Alert, Severity
from services.notify.core.vocabulary import Kind, Vocabulary, normalise

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


# --- the query string, shared by /v1/alerts (JSON, CSV, Atom) and the console --------------------------

# Parameter name -> AlertQuery field, for the filters that take several values (repeat the parameter,
# or separate values with commas).
LIST_PARAMS: dict[str, str] = {
    "destination": "destinations",
    "technology": "technologies",
    "vendor": "vendors",
    "control_code": "control_codes",
    "severity": "severities",
    "rule": "rules",
    "event_type": "event_types",
    "source": "sources",
    "language": "languages",
}
SINGLE_PARAMS = ("since", "until", "q", "cursor", "limit")
EVENT_TYPES = ("news_article", "licence_record")
MAX_VALUES = 100  # values of one filter
MAX_TEXT = 500  # characters of a free-text query
_VOCABULARY_KINDS: dict[str, Kind] = {
    "destination": "destination",
    "technology": "technology",
    "vendor": "vendor",
}


class QueryProblems(ValueError):
    """Every problem of a query string, each as ``{"location": parameter, "message": ...}``."""

    def __init__(self, details: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{d['location']}: {d['message']}" for d in details))
        self.details = details


def _values(params: Mapping[str, Sequence[str]], name: str) -> list[str]:
    return [v.strip() for raw in params.get(name, ()) for v in raw.split(",") if v.strip()]


def _when(name: str, value: str, problems: list[dict[str, str]]) -> dt.datetime | None:
    """A date (midnight UTC) or an ISO 8601 time; a time without an offset is read as UTC."""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        problems.append(
            {"location": name, "message": f"{value[:40]!r} is not a date (2026-03-31) or an ISO 8601 time"}
        )
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _list_filter(
    name: str, values: list[str], vocabulary: Vocabulary | None, problems: list[dict[str, str]]
) -> tuple[str, ...]:
    if len(values) > MAX_VALUES:
        problems.append({"location": name, "message": f"at most {MAX_VALUES} values"})
        return ()
    kind = _VOCABULARY_KINDS.get(name)
    if kind is not None:
        values = [normalise(kind, v) for v in values]
        if vocabulary is not None:
            for v in values:
                unknown = vocabulary.check(kind, v)
                if unknown is not None:
                    problems.append({"location": name, "message": unknown.message})
    elif name == "severity":
        for v in values:
            if v.lower() not in Severity.__members__.values():
                known = ", ".join(s.value for s in Severity)
                problems.append({"location": name, "message": f"unknown severity {v[:40]!r}; use {known}"})
        values = [v.lower() for v in values]
    elif name == "event_type":
        for v in values:
            if v not in EVENT_TYPES:
                problems.append(
                    {
                        "location": name,
                        "message": f"unknown event type {v[:40]!r}; use {' or '.join(EVENT_TYPES)}",
                    }
                )
    elif name == "control_code":
        values = [v.upper() for v in values]
    elif name == "language":
        values = [v.lower() for v in values]
    return tuple(dict.fromkeys(values))


def parse_query(params: Mapping[str, Sequence[str]], vocabulary: Vocabulary | None = None) -> AlertQuery:
    """The query a query string asks for (each parameter with all its values, as Starlette's
    ``request.query_params.multi_items()`` grouped, or ``urllib.parse.parse_qs``). Raises
    QueryProblems listing every problem at once: unknown parameters, severities, event types, ids the
    vocabulary does not know (with the closest known one), bad dates, a limit out of range."""
    problems: list[dict[str, str]] = []
    for name in params:
        if name not in LIST_PARAMS and name not in SINGLE_PARAMS:
            known = ", ".join([*LIST_PARAMS, *SINGLE_PARAMS])
            problems.append({"location": name, "message": f"unknown parameter; known: {known}"})
    fields: dict[str, Any] = {
        attr: _list_filter(name, _values(params, name), vocabulary, problems)
        for name, attr in LIST_PARAMS.items()
    }
    fields["severities"] = tuple(
        Severity(s) for s in fields["severities"] if s in Severity.__members__.values()
    )
    single = {name: (params.get(name) or [""])[-1].strip() for name in SINGLE_PARAMS}
    since = _when("since", single["since"], problems) if single["since"] else None
    until = _when("until", single["until"], problems) if single["until"] else None
    if since and until and until <= since:
        problems.append({"location": "until", "message": "must be after since"})
    text = single["q"] or None
    if text is not None and len(text) > MAX_TEXT:
        problems.append({"location": "q", "message": f"at most {MAX_TEXT} characters"})
    limit = DEFAULT_LIMIT
    if single["limit"]:
        if not single["limit"].isdigit() or not 1 <= int(single["limit"]) <= MAX_LIMIT:
            problems.append({"location": "limit", "message": f"a whole number from 1 to {MAX_LIMIT}"})
        else:
            limit = int(single["limit"])
    cursor = single["cursor"] or None
    if cursor is not None and decode_cursor(cursor) is None:
        problems.append(
            {"location": "cursor", "message": "not a cursor this API gave; start again without it"}
        )
    if problems:
        raise QueryProblems(problems)
    return AlertQuery(**fields, since=since, until=until, text=text, cursor=cursor, limit=limit)


def query_string(query: AlertQuery, *, cursor: str | None = None) -> list[tuple[str, str]]:
    """The query string's pairs that ask for ``query`` again (with another cursor), for links."""
    pairs: list[tuple[str, str]] = []
    for name, attr in LIST_PARAMS.items():
        pairs.extend((name, str(v)) for v in getattr(query, attr))
    if query.since is not None:
        pairs.append(("since", query.since.isoformat()))
    if query.until is not None:
        pairs.append(("until", query.until.isoformat()))
    if query.text:
        pairs.append(("q", query.text))
    if query.limit != DEFAULT_LIMIT:
        pairs.append(("limit", str(query.limit)))
    if cursor:
        pairs.append(("cursor", cursor))
    return pairs


# --- cursors: where a page ended (the last alert's time and id), opaque to callers ---------------------


def encode_cursor(created_at: dt.datetime, alert_id: str) -> str:
    raw = json.dumps([created_at.astimezone(dt.UTC).isoformat(), alert_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, str] | None:
    """(created_at, id) of the last alert of the previous page, or None when ``cursor`` is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        when, alert_id = json.loads(raw.decode("utf-8"))
        parsed = dt.datetime.fromisoformat(when)
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    if not isinstance(alert_id, str) or parsed.tzinfo is None:
        return None
    return parsed, alert_id
