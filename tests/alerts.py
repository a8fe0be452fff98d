"""Realistic alerts for notify's tests, built by hand (notify never imports match)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from schemas import Alert, Evidence, EvidenceKind, Severity

BODY = "Dutch firm sold facial recognition cameras to police in China, documents show."


def make_alert(
    alert_id: str = "alert-1",
    *,
    event_id: str = "news-1",
    severity: Severity = Severity.HIGH,
    destinations: list[str] | None = None,
    created_at: dt.datetime | None = None,
    **extra: Any,
) -> Alert:
    start = BODY.index("facial recognition")
    values: dict[str, Any] = {
        "id": alert_id,
        "event_type": "news_article",
        "event_id": event_id,
        "title": "Dutch firm sold facial recognition cameras to Chinese police",
        "url": f"https://news.example.org/{event_id}",
        "severity": severity,
        "score": 0.9,
        "technologies": ["facial-recognition"],
        "destinations": ["CN"] if destinations is None else destinations,
        "evidence": [
            Evidence(
                field="body",
                start=start,
                end=start + 18,
                text="facial recognition",
                snippet=BODY,
                kind=EvidenceKind.TECHNOLOGY,
                ref="facial-recognition",
            )
        ],
        "rule": "news.tech_destination",
        "summary": "Facial recognition and China in the same article.",
        "watchlist_version": "wl-test",
        "created_at": created_at or dt.datetime.now(dt.UTC),
    }
    values.update(extra)
    return Alert(**values)
