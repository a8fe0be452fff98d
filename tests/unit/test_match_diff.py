"""The watchlist change preview: alerts of the old and new watchlists paired by event and rule."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from schemas.events import Alert, LicenceRecord, NewsArticle, Severity
from services.match.core.engine import Matcher
from tests.unit.test_match_rules import NOW, news
from tools.watchlist_diff import (
    AlertChange,
    Diff,
    Kind,
    ListChange,
    compare,
    format_text,
    json_lines,
    preview,
)

NEWS = "news.technology_destination"
ONLY = "news.technology_only"


def alert(
    event_id: str = "e-1",
    rule: str = NEWS,
    severity: str = "medium",
    version: str = "wl-old",
    **lists: list[str],
) -> Alert:
    return Alert(
        id=f"alert-{event_id}-{rule}",
        event_type="news_article",
        event_id=event_id,
        title=f"Title of {event_id}",
        severity=Severity(severity),
        score=0.5,
        rule=rule,
        summary=f"Why {event_id} alerts under {rule}.",
        watchlist_version=version,
        created_at=NOW,
        **lists,
    )


def new(event_id: str = "e-1", rule: str = NEWS, severity: str = "medium", **lists: list[str]) -> Alert:
    return alert(event_id, rule, severity, "wl-new", **lists)


def summary(change: AlertChange) -> tuple[Kind, str, str, str | None, str | None, tuple[ListChange, ...]]:
    old = change.old.severity.value if change.old else None
    now = change.new.severity.value if change.new else None
    return change.kind, change.alert.event_id, change.alert.rule, old, now, change.lists


CASES: list[tuple[str, list[Alert], list[Alert], list[Any], int]] = [
    ("nothing either side", [], [], [], 0),
    (
        "appear",
        [],
        [new(severity="low")],
        [(Kind.APPEAR, "e-1", NEWS, None, "low", ())],
        0,
    ),
    (
        "disappear",
        [alert(severity="high")],
        [],
        [(Kind.DISAPPEAR, "e-1", NEWS, "high", None, ())],
        0,
    ),
    (
        "severity change",
        [alert(severity="medium")],
        [new(severity="low")],
        [(Kind.CHANGE, "e-1", NEWS, "medium", "low", ())],
        0,
    ),
    (
        "destination added, same severity",
        [alert(destinations=["CN"])],
        [new(destinations=["CN", "MA"])],
        [(Kind.CHANGE, "e-1", NEWS, "medium", "medium", (ListChange("destinations", ("MA",), ()),))],
        0,
    ),
    (
        "technology swapped and vendor removed",
        [alert(technologies=["spyware"], entities=["nso-group"])],
        [new(technologies=["facial-recognition"])],
        [
            (
                Kind.CHANGE,
                "e-1",
                NEWS,
                "medium",
                "medium",
                (
                    ListChange("technologies", ("facial-recognition",), ("spyware",)),
                    ListChange("entities", (), ("nso-group",)),
                ),
            )
        ],
        0,
    ),
    (
        "unchanged: same severity and ids, another order, score and version",
        [alert(destinations=["CN", "RU"])],
        [new(destinations=["RU", "CN"]).model_copy(update={"score": 0.6})],
        [],
        1,
    ),
    (
        "several rules per event: one kept, one gone, one new",
        [alert(rule=NEWS, severity="high"), alert(rule="news.surveillance_destination")],
        [new(rule=NEWS, severity="high"), new(rule=ONLY, severity="low")],
        [
            (Kind.DISAPPEAR, "e-1", "news.surveillance_destination", "medium", None, ()),
            (Kind.APPEAR, "e-1", ONLY, None, "low", ()),
        ],
        1,
    ),
    (
        "same rule on two events is two pairs",
        [alert("e-1"), alert("e-2")],
        [new("e-2", severity="critical")],
        [
            (Kind.DISAPPEAR, "e-1", NEWS, "medium", None, ()),
            (Kind.CHANGE, "e-2", NEWS, "medium", "critical", ()),
        ],
        0,
    ),
]


@pytest.mark.parametrize(
    ("old", "new_alerts", "expected", "unchanged"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_compare(old: list[Alert], new_alerts: list[Alert], expected: list[Any], unchanged: int) -> None:
    changes, same = compare(old, new_alerts)
    assert [summary(c) for c in changes] == expected
    assert same == unchanged


@pytest.fixture
def bundled(matcher: Matcher) -> Matcher:
    return matcher


def test_preview_on_real_watchlists_sorts_groups_by_severity(bundled: Matcher, tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text("news:\n  same_article: low\n  technology_only: low\n")
    (tmp_path / "destinations.yaml").write_text("alert_tiers: [core, further, optional]\n")
    events = [
        news("Spyware was sold to China.", event_id="same-sentence"),  # high both sides
        news("Facial recognition is spreading. Police in China are buying.", event_id="same-article"),
        news("Facial recognition is spreading in Europe.", event_id="no-destination"),
        news("Spyware was sold to Morocco.", event_id="optional-tier"),  # Morocco: the optional tier
        news("Spyware was sold to China. Morocco bought it too.", event_id="more-destinations"),
    ]
    diff = preview(events, bundled, Matcher.load([tmp_path]), NOW)
    assert (diff.events, diff.old_alerts, diff.new_alerts, diff.unchanged) == (5, 3, 5, 1)
    assert diff.old_version == bundled.version and diff.new_version != bundled.version
    assert [summary(c)[:5] for c in diff.changes] == [
        (Kind.APPEAR, "optional-tier", NEWS, None, "high"),  # highest first within a group
        (Kind.APPEAR, "no-destination", ONLY, None, "low"),
        (Kind.CHANGE, "more-destinations", NEWS, "high", "high"),
        (Kind.CHANGE, "same-article", NEWS, "medium", "low"),
    ]
    assert diff.changes[2].lists == (ListChange("destinations", ("MA",), ()),)
    assert all(c.new is None or c.new.created_at == NOW for c in diff.changes)


@dataclass
class Fixed:
    """A matcher that gives the alerts it was told for each event id."""

    version: str
    alerts: dict[str, list[Alert]] = field(default_factory=dict)

    def evaluate(self, event: NewsArticle | LicenceRecord, now: dt.datetime) -> list[Alert]:
        return [a.model_copy(update={"created_at": now}) for a in self.alerts.get(event.id, [])]


def fixed_diff(old: list[Alert], new_alerts: list[Alert], *more_events: str) -> Diff:
    """preview on events named by the alerts' event ids (and ``more_events``), with fixed answers."""
    ids = dict.fromkeys([*(a.event_id for a in [*old, *new_alerts]), *more_events])
    before, after = Fixed("wl-old"), Fixed("wl-new")
    for a in old:
        before.alerts.setdefault(a.event_id, []).append(a)
    for a in new_alerts:
        after.alerts.setdefault(a.event_id, []).append(a)
    return preview([news("text", event_id=i) for i in ids], before, after, NOW)


def test_text_report_has_the_header_and_one_block_per_change() -> None:
    diff = fixed_diff(
        [alert("e-1", severity="medium", destinations=["CN"]), alert("e-2"), alert("e-3")],
        [new("e-1", severity="low", destinations=["CN", "MA"]), new("e-3"), new("e-4", severity="high")],
    )
    text = format_text(diff, "bundled defaults", "bundled defaults + mine", invalid=2)
    assert text.splitlines()[:5] == [
        "old watchlists: wl-old (bundled defaults)",
        "new watchlists: wl-new (bundled defaults + mine)",
        "events read: 4, invalid lines: 2",
        "alerts: 3 old, 3 new",
        "appear: 1, disappear: 1, change: 1, unchanged: 1",
    ]
    assert text.index("APPEAR (1)") < text.index("DISAPPEAR (1)") < text.index("CHANGE (1)")
    assert "[none -> high] e-4  news.technology_destination" in text
    assert "[medium -> none] e-2  news.technology_destination" in text
    assert "[medium -> low] e-1" in text
    assert "changed: severity medium -> low; destinations +MA" in text
    assert "Why e-1 alerts under news.technology_destination." in text
    assert "Title of e-4" in text
    assert "e-3" not in text  # unchanged: counted, not listed


def test_json_lines_name_the_kind_and_what_changed() -> None:
    diff = fixed_diff(
        [alert("e-1", severity="high", technologies=["spyware"]), alert("e-2")],
        [new("e-1", severity="critical", technologies=["facial-recognition"]), new("e-3", rule=ONLY)],
    )
    records = [json.loads(line) for line in json_lines(diff)]
    assert [(r["kind"], r["event_id"], r["rule"]) for r in records] == [
        ("appear", "e-3", ONLY),
        ("disappear", "e-2", NEWS),
        ("change", "e-1", NEWS),
    ]
    change = records[2]
    assert change["changed"] == ["severity", "technologies"]
    assert change["added"] == {"technologies": ["facial-recognition"]}
    assert change["removed"] == {"technologies": ["spyware"]}
    assert (change["old"]["severity"], change["new"]["severity"]) == ("high", "critical")
    assert change["new"]["watchlist_version"] == "wl-new" and change["new"]["summary"]
    assert records[0]["old"] is None and records[1]["new"] is None


def test_no_change_is_an_empty_diff_and_a_header_alone() -> None:
    diff = fixed_diff([alert("e-1")], [new("e-1")], "e-2")
    assert (diff.events, diff.unchanged, diff.changes) == (2, 1, ())
    assert format_text(diff, "a", "b").count("\n") == 5
    assert list(json_lines(diff)) == []
