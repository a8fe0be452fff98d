"""The effect of a watchlist change: the alerts of two matchers on the same events, compared by event
and rule, and the report of what appears, disappears and changes."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from schemas.events import Alert, LicenceRecord, NewsArticle, Severity

LISTS = ("destinations", "technologies", "entities", "control_codes")
"""The alert fields that say what matched; a change in any of them (as sets) changes the alert."""


class Kind(StrEnum):
    APPEAR = "appear"  # raised with the new watchlists only
    DISAPPEAR = "disappear"  # raised with the old watchlists only
    CHANGE = "change"  # raised with both, with another severity or other matches


_GROUPS = (Kind.APPEAR, Kind.DISAPPEAR, Kind.CHANGE)


@dataclass(frozen=True)
class ListChange:
    """What one alert list (``destinations``, ``technologies``...) gained and lost."""

    name: str
    added: tuple[str, ...]
    removed: tuple[str, ...]


@dataclass(frozen=True)
class AlertChange:
    """One alert (an event and a rule) that differs between the old and the new watchlists."""

    kind: Kind
    old: Alert | None
    new: Alert | None
    lists: tuple[ListChange, ...] = ()

    @property
    def alert(self) -> Alert:
        """The new alert, or the old one when it disappears: where the event id, rule and title come from."""
        alert = self.new or self.old
        assert alert is not None, "an alert change has an old or a new alert"
        return alert

    @property
    def severity(self) -> Severity:
        """The higher of the two severities: what the report sorts by."""
        both = [a.severity for a in (self.old, self.new) if a is not None]
        return max(both, key=lambda s: s.rank)

    @property
    def severity_changed(self) -> bool:
        return self.old is not None and self.new is not None and self.old.severity != self.new.severity


@dataclass(frozen=True)
class Diff:
    """The comparison of a whole archive; ``changes`` are grouped (appear, disappear, change) and
    sorted by severity, highest first, then in archive order."""

    old_version: str
    new_version: str
    events: int
    old_alerts: int
    new_alerts: int
    unchanged: int
    changes: tuple[AlertChange, ...]

    def count(self, kind: Kind) -> int:
        return sum(1 for c in self.changes if c.kind is kind)


class Evaluator(Protocol):
    """What preview needs of a matcher (``Matcher`` is one): its version and its alerts for an event."""

    @property
    def version(self) -> str: ...

    def evaluate(self, event: NewsArticle | LicenceRecord, now: dt.datetime) -> list[Alert]: ...


def _list_changes(old: Alert, new: Alert) -> tuple[ListChange, ...]:
    found = []
    for name in LISTS:
        before: list[str] = getattr(old, name)
        after: list[str] = getattr(new, name)
        added = tuple(v for v in after if v not in before)
        removed = tuple(v for v in before if v not in after)
        if added or removed:
            found.append(ListChange(name, added, removed))
    return tuple(found)


def compare(old: Sequence[Alert], new: Sequence[Alert]) -> tuple[list[AlertChange], int]:
    """The changes between the alerts of the old and the new watchlists, paired by (event id, rule),
    and the number of pairs unchanged. At most one alert per event and rule on each side, as
    ``Matcher.evaluate`` gives. A pair is unchanged when severity and the matched ids are the same: a new
    score, summary wording or evidence alone does not change what a researcher is told to look at."""
    before = {(a.event_id, a.rule): a for a in old}
    after = {(a.event_id, a.rule): a for a in new}
    changes: list[AlertChange] = []
    unchanged = 0
    for key, was in before.items():
        becomes = after.get(key)
        if becomes is None:
            changes.append(AlertChange(Kind.DISAPPEAR, was, None))
            continue
        lists = _list_changes(was, becomes)
        if lists or was.severity != becomes.severity:
            changes.append(AlertChange(Kind.CHANGE, was, becomes, lists))
        else:
            unchanged += 1
    changes.extend(AlertChange(Kind.APPEAR, None, a) for key, a in after.items() if key not in before)
    return changes, unchanged


def _order(change: AlertChange) -> tuple[int, int]:
    return _GROUPS.index(change.kind), -change.severity.rank


def preview(
    events: Iterable[NewsArticle | LicenceRecord], old: Evaluator, new: Evaluator, now: dt.datetime
) -> Diff:
    """Evaluate every event with both matchers at the same ``now`` and compare their alerts event by
    event (so two revisions of one event in an archive are not paired with each other's alerts)."""
    changes: list[AlertChange] = []
    count = old_alerts = new_alerts = unchanged = 0
    for event in events:
        before = old.evaluate(event, now)
        after = new.evaluate(event, now)
        found, same = compare(before, after)
        count += 1
        old_alerts += len(before)
        new_alerts += len(after)
        unchanged += same
        changes.extend(found)
    return Diff(
        old_version=old.version,
        new_version=new.version,
        events=count,
        old_alerts=old_alerts,
        new_alerts=new_alerts,
        unchanged=unchanged,
        changes=tuple(sorted(changes, key=_order)),  # stable: archive order within a severity
    )


def _one_line(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _severities(change: AlertChange) -> str:
    old = change.old.severity.value if change.old else "none"
    new = change.new.severity.value if change.new else "none"
    return f"{old} -> {new}"


def _matched(alert: Alert) -> str:
    parts = [f"{name} {', '.join(getattr(alert, name))}" for name in LISTS if getattr(alert, name)]
    return "; ".join(parts) or "nothing listed"


def _block(change: AlertChange) -> list[str]:
    alert = change.alert
    lines = [
        f"  [{_severities(change)}] {alert.event_id}  {alert.rule}",
        f"    {_one_line(alert.title)}",
        f"    {alert.summary}",
    ]
    if change.kind is Kind.CHANGE and change.old is not None:
        if change.old.summary != alert.summary:
            lines.append(f"    was: {change.old.summary}")
        what = [f"severity {_severities(change)}"] if change.severity_changed else []
        for listed in change.lists:
            ids = [f"+{v}" for v in listed.added] + [f"-{v}" for v in listed.removed]
            what.append(f"{listed.name} {' '.join(ids)}")
        lines.append(f"    changed: {'; '.join(what)}")
    else:
        lines.append(f"    matched: {_matched(alert)}")
    return lines


def format_counts(diff: Diff, invalid: int = 0) -> str:
    """The counts, in three lines: what was read, the alerts on each side, and how they compare."""
    return (
        f"events read: {diff.events}, invalid lines: {invalid}\n"
        f"alerts: {diff.old_alerts} old, {diff.new_alerts} new\n"
        f"appear: {diff.count(Kind.APPEAR)}, disappear: {diff.count(Kind.DISAPPEAR)}, "
        f"change: {diff.count(Kind.CHANGE)}, unchanged: {diff.unchanged}"
    )


def format_text(diff: Diff, old_label: str, new_label: str, invalid: int = 0) -> str:
    """The report for people: a header with both watchlist versions and the counts, then one block per
    changed alert. ``old_label`` and ``new_label`` say where each version came from (its folders)."""
    lines = [
        f"old watchlists: {diff.old_version} ({old_label})",
        f"new watchlists: {diff.new_version} ({new_label})",
        format_counts(diff, invalid),
    ]
    for kind in _GROUPS:
        group = [c for c in diff.changes if c.kind is kind]
        if not group:
            continue
        lines += ["", f"{kind.value.upper()} ({len(group)})"]
        for change in group:
            lines += ["", *_block(change)]
    return "\n".join(lines) + "\n"


def _fields(alert: Alert | None) -> dict[str, Any] | None:
    if alert is None:
        return None
    return alert.model_dump(
        mode="json", include={"id", "severity", "score", "summary", *LISTS, "watchlist_version"}
    )


def json_lines(diff: Diff) -> Iterator[str]:
    """The report for tools: one JSON object per changed alert, in the order of the text report."""
    for change in diff.changes:
        alert = change.alert
        changed = (["severity"] if change.severity_changed else []) + [c.name for c in change.lists]
        record = {
            "kind": change.kind.value,
            "event_id": alert.event_id,
            "event_type": alert.event_type,
            "rule": alert.rule,
            "title": alert.title,
            "changed": changed,
            "added": {c.name: list(c.added) for c in change.lists if c.added},
            "removed": {c.name: list(c.removed) for c in change.lists if c.removed},
            "old": _fields(change.old),
            "new": _fields(change.new),
        }
        yield json.dumps(record, ensure_ascii=False)
