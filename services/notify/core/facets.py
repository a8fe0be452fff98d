"""Which facet counts a summary of the archive can answer exactly, and what one archived alert adds to
that summary (pure: the store, ``services/notify/store/archive_counts.py``, keeps the table).

The summary holds, per ISO week, how many alerts have each *counted* value (a destination, a technology,
or nothing: the total) among the alerts with one *filter* value (any kind a query filters on, or
nothing: every alert). A query with no free text, at most one kind of filter and week-aligned dates is
then a few hundred summary rows instead of a count over every matching alert. Within a multi-valued kind
(destinations, technologies, vendors, control codes) one alert can hold several values, so only a single
value is answered from the summary (adding two values' counts would count such an alert twice); the
single-valued kinds (severity, rule, event type, source, language) are disjoint and may list several.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from services.notify.core.archive import AlertQuery

NONE = ""  # the filter "every alert", or the counted value "the total"
COUNTED_KINDS = ("destination", "technology")
MULTI_VALUED = ("destination", "technology", "vendor", "control_code")

# (filter kind, filter value, week, counted kind, counted value)
Key = tuple[str, str, str, str, str]


@dataclass(frozen=True)
class SummaryQuery:
    """What the summary is asked: the rows of one filter kind and its values, within ``[first_week,
    end_week)`` (Mondays as YYYY-MM-DD; None: unbounded)."""

    kind: str
    values: tuple[str, ...]
    first_week: str | None = None
    end_week: str | None = None


def _monday(when: dt.datetime | None) -> tuple[bool, str | None]:
    """(whether the summary can bound on ``when``, the week it bounds at): a Monday at midnight UTC is
    that week (YYYY-MM-DD); unset is no bound; any other time falls within a week, which the summary
    cannot split."""
    if when is None:
        return True, None
    utc = when.astimezone(dt.UTC)
    if utc.weekday() != 0 or utc.time() != dt.time(0, 0):
        return False, None
    return True, utc.date().isoformat()


def summary_query(query: AlertQuery) -> SummaryQuery | None:
    """The summary rows that answer ``query``'s facets exactly, or None when only a live count can."""
    if query.text:
        return None
    (first_ok, first), (end_ok, end) = _monday(query.since), _monday(query.until)
    if not (first_ok and end_ok):
        return None
    filters: list[tuple[str, tuple[str, ...]]] = [
        (kind, values)
        for kind, values in (
            ("destination", query.destinations),
            ("technology", query.technologies),
            ("vendor", query.vendors),
            ("control_code", query.control_codes),
            ("severity", tuple(sorted({str(s.rank) for s in query.severities}))),
            ("rule", query.rules),
            ("event_type", query.event_types),
            ("source", query.sources),
            ("language", query.languages),
        )
        if values
    ]
    if len(filters) > 1:
        return None
    kind, values = filters[0] if filters else (NONE, (NONE,))
    if kind in MULTI_VALUED and len(values) > 1:
        return None
    return SummaryQuery(kind=kind, values=tuple(dict.fromkeys(values)), first_week=first, end_week=end)


def summary_keys(
    week: str, filters: Iterable[tuple[str, str]], counted: Iterable[tuple[str, str]]
) -> list[Key]:
    """The summary rows one alert adds one to: every pair of (one of its filter values, or none) and
    (one of its counted values, or the total), in its week. ``filters`` are its (kind, value) pairs as
    stored (terms, severity rank, rule, event type, and source and language when known); ``counted``
    its destinations and technologies."""
    left = [(NONE, NONE), *sorted(set(filters))]
    right = [(NONE, NONE), *sorted({(k, v) for k, v in counted if k in COUNTED_KINDS})]
    return [(fk, fv, week, ck, cv) for fk, fv in left for ck, cv in right]


def tally(per_alert: Iterable[list[Key]]) -> list[tuple[Key, int]]:
    """The summary rows of many alerts with how many alerts each gains (or loses), sorted by key so
    concurrent writers take the rows' locks in the same order."""
    counter: Counter[Key] = Counter()
    for keys in per_alert:
        counter.update(keys)
    return sorted(counter.items())
