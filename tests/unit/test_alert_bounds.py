"""Alert size does not follow article size (issue 17 item 11): title, summary and evidence are bounded
where alerts are made, and an immediate notification carries a bounded number of alerts."""

from __future__ import annotations

import datetime as dt
from functools import partial

from schemas.bounds import (
    EVIDENCE_MAX_ITEMS,
    SNIPPET_MAX_CHARS,
    SUMMARY_MAX_CHARS,
    bound_alert,
)
from schemas.events import Evidence, EvidenceKind
from services.notify.core.planning import MAX_ALERTS_PER_NOTIFICATION, joins
from tests.alerts import make_alert

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


# An alert with nothing but what the bounds look at (tests/alerts.py builds it).
bounds_alert = partial(
    make_alert,
    "a-1",
    event_id="e-1",
    url=None,
    score=0.7,
    technologies=(),
    destinations=(),
    watchlist_version="v1",
    created_at=NOW,
)


def _evidence(i: int, snippet: str) -> Evidence:
    return Evidence(
        field="body", start=i, end=i + 1, text="x", snippet=snippet, kind=EvidenceKind.TECHNOLOGY, ref="t"
    )


def test_bounds_leave_a_small_alert_as_it_is() -> None:
    alert = bounds_alert(title="A title", summary="A summary.", evidence=[_evidence(0, "a snippet")])
    assert bound_alert(alert) == alert


def test_evidence_is_capped_with_the_rest_counted_and_snippets_cut() -> None:
    evidence = [_evidence(i, "s" * 5_000) for i in range(EVIDENCE_MAX_ITEMS + 12)]
    bounded = bound_alert(bounds_alert(title="t", summary="S" * 50_000, evidence=evidence))
    assert len(bounded.evidence) == EVIDENCE_MAX_ITEMS
    assert all(len(e.snippet) <= SNIPPET_MAX_CHARS and e.snippet.endswith("…") for e in bounded.evidence)
    assert len(bounded.summary) <= SUMMARY_MAX_CHARS
    assert bounded.summary.endswith("(12 more pieces of evidence not shown.)")


def test_an_immediate_notification_takes_alerts_up_to_the_cap_and_a_digest_takes_all() -> None:
    assert joins("alerts", MAX_ALERTS_PER_NOTIFICATION - 1)
    assert not joins("alerts", MAX_ALERTS_PER_NOTIFICATION)
    assert joins("digest", 10 * MAX_ALERTS_PER_NOTIFICATION)
