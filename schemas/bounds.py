"""Size bounds on an alert, so that an alert stays small however large the article it is about: match
bounds the alerts it makes, notify bounds the alerts it sends (also those of older producers)."""

from __future__ import annotations

from schemas.events import Alert, Evidence

TITLE_MAX_CHARS = 500
SUMMARY_MAX_CHARS = 1000
SNIPPET_MAX_CHARS = 300
EVIDENCE_MAX_ITEMS = 20
ELLIPSIS = "…"
SHORTENED_NOTE = " [title shortened from {n:,} characters]"


def shorten(text: str, limit: int) -> str:
    """The text cut to at most ``limit`` characters, ending in an ellipsis when it was cut."""
    if len(text) <= limit:
        return text
    return text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


def bound_title(title: str) -> str:
    """The title, cut to TITLE_MAX_CHARS with a note saying how long it was, so the cut is visible."""
    if len(title) <= TITLE_MAX_CHARS:
        return title
    note = SHORTENED_NOTE.format(n=len(title))
    return shorten(title, TITLE_MAX_CHARS - len(note)) + note


def bound_evidence(evidence: list[Evidence]) -> tuple[list[Evidence], int]:
    """At most EVIDENCE_MAX_ITEMS pieces with snippets of SNIPPET_MAX_CHARS, and how many were left out.

    ``text`` is the exact matched slice (a watchlist term or code), so it is left as it is: cutting
    it would break its promise to equal ``event[field][start:end]``.
    """
    kept = [
        e
        if len(e.snippet) <= SNIPPET_MAX_CHARS
        else e.model_copy(update={"snippet": shorten(e.snippet, SNIPPET_MAX_CHARS)})
        for e in evidence[:EVIDENCE_MAX_ITEMS]
    ]
    return kept, max(0, len(evidence) - EVIDENCE_MAX_ITEMS)


def bound_alert(alert: Alert) -> Alert:
    """The alert with its title, summary and evidence bounded; every cut is said in the alert itself."""
    if (
        len(alert.title) <= TITLE_MAX_CHARS
        and len(alert.summary) <= SUMMARY_MAX_CHARS
        and len(alert.evidence) <= EVIDENCE_MAX_ITEMS
        and all(len(e.snippet) <= SNIPPET_MAX_CHARS for e in alert.evidence)
    ):
        return alert  # within every bound, as nearly every alert is: nothing to copy on its path
    evidence, left_out = bound_evidence(alert.evidence)
    summary = alert.summary
    note = f" ({left_out} more pieces of evidence not shown.)" if left_out else ""
    summary = shorten(summary, SUMMARY_MAX_CHARS - len(note)) + note
    return alert.model_copy(
        update={"title": bound_title(alert.title), "summary": summary, "evidence": evidence}
    )
