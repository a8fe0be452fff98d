"""The load harness's own logic: its events, its oracle and its bookkeeping (a harness that could not
report a loss would prove nothing)."""

from __future__ import annotations

import json
from collections import Counter

from schemas import parse_event
from tools.loadtest import EventSource, LoadConfig, LoadReport, check, prepare


def _report(**changes: object) -> LoadReport:
    report = LoadReport(LoadConfig(events=100))
    report.finished = True
    report.pushed = 100
    report.statuses = {"published": 100}
    report.poison = 2
    report.consumed_ok, report.consumed_dead = 100, 2
    report.outcomes = {"alerted": 5, "no_match": 95, "invalid": 2, "error": 0}
    report.alerts_made = report.expected = report.received_alerts = 5
    for key, value in changes.items():
        setattr(report, key, value)
    return report


def test_a_complete_run_has_no_problems() -> None:
    assert check(_report()) == []


def test_every_kind_of_loss_or_repeat_is_reported() -> None:
    cases = {
        "finished": False,
        "statuses": {"published": 99, "duplicate": 1},
        "consumed_ok": 99,
        "consumed_dead": 1,
        "outcomes": {"alerted": 5, "no_match": 94},
        "alerts_made": 4,
        "missing": 1,
        "unexpected": 1,
        "duplicates": 1,
        "unsigned": 1,
        "notify_dead": 1,
    }
    for field, value in cases.items():
        problems = check(_report(**{field: value}))
        assert problems, f"{field}={value!r} went unnoticed"


def test_events_are_valid_distinct_repeatable_and_mixed() -> None:
    cfg = LoadConfig(events=400, batch=64)
    first = prepare(EventSource(cfg, "a"))
    again = prepare(EventSource(cfg, "a"))
    assert first.bodies == again.bodies and first.expected == again.expected
    messages = list(first.messages())
    assert len(messages) == 400 and len(first.bodies) == 7
    events = [parse_event(json.loads(m)) for m in messages]
    assert len({e.id for e in events}) == 400
    kinds = Counter(e.type for e in events)
    assert 60 <= kinds["licence_record"] <= 140, kinds  # about a quarter
    languages = Counter(getattr(e, "language", None) for e in events if e.type == "news_article")
    assert set(languages) == {"en", "nl", "fr", "de", "es"}
    # The oracle: the bundled watchlists alert on a small share, news and licences both.
    alerted = set(first.expected.values())
    assert 8 <= len(alerted) <= 50, len(alerted)
    assert {e.type for e in events if e.id in alerted} == {"news_article", "licence_record"}
    bodies = [e.body for e in events if e.type == "news_article"]
    assert len(set(bodies)) == len(bodies)
