"""Alerts as text a researcher reads: a headline, the source, what matched and where."""

from __future__ import annotations

from schemas import Alert, Evidence

_MAX_EVIDENCE = 6


def _evidence_line(ev: Evidence) -> str:
    snippet = " ".join(ev.snippet.split())
    return f'    - {ev.kind.value} {ev.ref}: "{ev.text}" in {ev.field}: …{snippet}…'


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
