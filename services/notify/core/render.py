"""Alerts as text a researcher reads: a headline, the source, what matched and where."""

from __future__ import annotations

from schemas import Alert, Evidence

_MAX_EVIDENCE = 6


def _window(snippet: str, text: str, width: int = 70) -> str:
    """The part of ``snippet`` around ``text``, at most ``width`` characters either side."""
    flat = " ".join(snippet.split())
    at = flat.find(text)
    if at < 0:
        return flat if len(flat) <= 2 * width + len(text) else flat[: 2 * width] + "…"
    start, end = max(0, at - width), min(len(flat), at + len(text) + width)
    return ("…" if start else "") + flat[start:end] + ("…" if end < len(flat) else "")


def _evidence_line(ev: Evidence) -> str:
    return f'    - {ev.kind.value} {ev.ref}: "{ev.text}" in {ev.field}: {_window(ev.snippet, ev.text)}'


def render_text(alert: Alert) -> str:
    """A multi-line plain-text rendering of an alert (console, email body)."""
    lines = [
        f"[{alert.severity.value.upper()}] {alert.summary}",
        f"  {alert.title}",
    ]
    if alert.url:
        lines.append(f"  {alert.url}")
    facts = []
    if alert.technologies:
        facts.append("technologies: " + ", ".join(alert.technologies))
    if alert.destinations:
        facts.append("destinations: " + ", ".join(alert.destinations))
    if alert.entities:
        facts.append("vendors: " + ", ".join(alert.entities))
    if alert.control_codes:
        facts.append("control codes: " + ", ".join(alert.control_codes))
    if facts:
        lines.append("  " + " | ".join(facts))
    if alert.evidence:
        lines.append("  evidence:")
        lines.extend(_evidence_line(ev) for ev in alert.evidence[:_MAX_EVIDENCE])
        if len(alert.evidence) > _MAX_EVIDENCE:
            lines.append(f"    (+{len(alert.evidence) - _MAX_EVIDENCE} more)")
    lines.append(
        f"  alert {alert.id} · rule {alert.rule} · score {alert.score:.2f} · "
        f"watchlists {alert.watchlist_version}"
    )
    return "\n".join(lines)
