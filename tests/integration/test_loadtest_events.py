"""The load harness's events and their oracle (moved from tests/unit/test_loadtest.py: preparing them
compiles the bundled watchlists and matches 400 events, twice)."""

from __future__ import annotations

import json
from collections import Counter

from schemas import parse_event
from tools.loadtest import EventSource, LoadConfig, prepare


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
