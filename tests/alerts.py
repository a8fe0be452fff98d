"""Realistic alerts for notify's tests, built by hand (notify never imports match): the one factory.

A test file that needs other defaults for all its alerts binds them once
(``functools.partial(make_alert, score=0.87, ...)``) rather than writing another factory.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal

from schemas import Alert, Evidence, EvidenceKind, Severity

TITLE = "Dutch firm sold facial recognition cameras to Chinese police"
BODY = "Dutch firm sold facial recognition cameras to police in China, documents show."

# The words an alert quotes for a technology id, and their kind.
TERMS: dict[str, tuple[str, EvidenceKind]] = {
    "facial-recognition": ("facial recognition", EvidenceKind.TECHNOLOGY),
    "spyware": ("spyware", EvidenceKind.TECHNOLOGY),
    "telecom-interception": ("IMSI catchers", EvidenceKind.TECHNOLOGY),
}

Field = Literal["title", "body"]
Term = tuple[str, EvidenceKind, str]  # the text quoted, its kind, the id it is evidence of


def evidence_of(
    field: Field, source: str, terms: Sequence[Term], snippet: str | None = None
) -> list[Evidence]:
    """Evidence for each term found in ``source`` (the alert's ``field``), at its real offsets; the
    snippet is ``source`` unless given."""
    found = []
    for text, kind, ref in terms:
        start = source.find(text)
        if start >= 0:
            found.append(
                Evidence(
                    field=field,
                    start=start,
                    end=start + len(text),
                    text=text,
                    snippet=source if snippet is None else snippet,
                    kind=kind,
                    ref=ref,
                )
            )
    return found


def make_alert(
    alert_id: str = "alert-1",
    *,
    event_id: str = "news-1",
    severity: Severity | str = Severity.HIGH,
    title: str = TITLE,
    body: str = BODY,
    url: str | None = "",
    technologies: Sequence[str] = ("facial-recognition",),
    destinations: Sequence[str] | None = None,
    evidence_in: Sequence[Field] = ("body",),
    terms: Sequence[Term] | None = None,
    snippet: str | None = None,
    created_at: dt.datetime | None = None,
    **extra: Any,
) -> Alert:
    """An alert on a news article. Its evidence quotes ``terms`` (by default the words of
    ``technologies`` in TERMS) where they occur in the fields ``evidence_in``, with the field's text
    (or ``snippet``) as snippet. ``url`` "" (the default) is a URL made from ``event_id``; any other
    field of Alert goes in ``extra``."""
    if terms is None:
        terms = [(TERMS[t][0], TERMS[t][1], t) for t in technologies if t in TERMS]
    sources: dict[Field, str] = {"title": title, "body": body}
    values: dict[str, Any] = {
        "id": alert_id,
        "event_type": "news_article",
        "event_id": event_id,
        "title": title,
        "url": f"https://news.example.org/{event_id}" if url == "" else url,
        "severity": severity,
        "score": 0.9,
        "technologies": list(technologies),
        "destinations": ["CN"] if destinations is None else list(destinations),
        "evidence": [ev for f in evidence_in for ev in evidence_of(f, sources[f], terms, snippet)],
        "rule": "news.tech_destination",
        "summary": "Facial recognition and China in the same article.",
        "watchlist_version": "wl-test",
        "created_at": created_at or dt.datetime.now(dt.UTC),
    }
    values.update(extra)
    return Alert.model_validate(values)
