"""Notifications as e-mail-safe HTML: inline styles only, no scripts, no remote images, links only to
http(s) URLs, and every piece of text from an article escaped (see ``render`` for the shared pieces).

Pure: no I/O.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from schemas import Alert, Evidence, Notification, Severity
from services.notify.core.render import (
    MAX_EVIDENCE,
    destination_label,
    digest_header,
    group_digest,
    licence_facts,
    safe_link,
    scrub,
    subject,
    technology_name,
    window_span,
)

_SEVERITY_COLOURS = {
    Severity.CRITICAL: "#b42318",
    Severity.HIGH: "#c4320a",
    Severity.MEDIUM: "#b54708",
    Severity.LOW: "#475467",
}


def _esc(value: str) -> str:
    return html.escape(scrub(value), quote=True)


def _merge(spans: Iterable[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted((max(0, s), min(length, e)) for s, e in spans):
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


_MARK = '<mark style="background-color:#fff1a8;color:inherit;padding:0 1px;">'


def highlight_html(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """``text`` HTML-escaped, with the ``spans`` (offsets into the raw text) wrapped in <mark>.

    The text is cut at the spans first and each piece escaped on its own, so no article text can
    produce markup."""
    out: list[str] = []
    at = 0
    for start, end in _merge(spans, len(text)):
        out.append(_esc(text[at:start]))
        out.append(_MARK + _esc(text[start:end]) + "</mark>")
        at = end
    out.append(_esc(text[at:]))
    return "".join(out)


def _title_spans(alert: Alert) -> list[tuple[int, int]]:
    return [
        (ev.start, ev.end)
        for ev in alert.evidence
        if ev.field == "title" and ev.end > ev.start and alert.title[ev.start : ev.end] == ev.text
    ]


def _title_html(alert: Alert) -> str:
    title = highlight_html(alert.title, _title_spans(alert))
    link = safe_link(alert.url)
    if link is None:
        return title
    href = html.escape(link, quote=True)
    return f'<a href="{href}" style="color:#0b57d0;text-decoration:underline;">{title}</a>'


def _badge(severity: Severity) -> str:
    colour = _SEVERITY_COLOURS[severity]
    return (
        f'<span style="display:inline-block;background-color:{colour};color:#ffffff;font-size:11px;'
        f'font-weight:bold;padding:1px 6px;border-radius:3px;">{severity.value.upper()}</span>'
    )


def _evidence_html(ev: Evidence) -> str:
    window, start, end = window_span(ev.snippet, ev.text)
    snippet = highlight_html(window, [(start, end)] if start >= 0 else [])
    where = f"{_esc(ev.kind.value)} {_esc(ev.ref)} in {_esc(ev.field)}"
    return (
        f'<li style="margin:0 0 4px 0;"><span style="color:#57606a;">{where}:</span> '
        f'<span dir="auto">{snippet}</span></li>'
    )


def _alert_html(alert: Alert) -> str:
    colour = _SEVERITY_COLOURS[alert.severity]
    facts = []
    if alert.technologies:
        facts.append("Technologies: " + ", ".join(_esc(technology_name(t)) for t in alert.technologies))
    if alert.destinations:
        facts.append("Destinations: " + ", ".join(_esc(destination_label(c)) for c in alert.destinations))
    if alert.entities:
        facts.append("Vendors: " + ", ".join(_esc(e) for e in alert.entities))
    if alert.control_codes:
        facts.append("Control codes: " + ", ".join(_esc(c) for c in alert.control_codes))
    if licence := licence_facts(alert):
        facts.append("Licence: " + _esc(", ".join(licence)))
    parts = [
        f'<div style="border-left:4px solid {colour};padding:8px 12px;margin:0 0 16px 0;">',
        f'<div style="margin:0 0 4px 0;">{_badge(alert.severity)} '
        f'<span style="color:#57606a;font-size:12px;">score {alert.score:.2f}</span></div>',
        '<div dir="auto" style="font-size:16px;font-weight:bold;margin:0 0 4px 0;">'
        f"{_title_html(alert)}</div>",
        f'<div dir="auto" style="margin:0 0 4px 0;">{_esc(alert.summary)}</div>',
    ]
    if facts:
        parts.append(f'<div style="color:#57606a;font-size:13px;margin:0 0 4px 0;">{" · ".join(facts)}</div>')
    if alert.evidence:
        items = [_evidence_html(ev) for ev in alert.evidence[:MAX_EVIDENCE]]
        if len(alert.evidence) > MAX_EVIDENCE:
            items.append(f'<li style="color:#57606a;">+{len(alert.evidence) - MAX_EVIDENCE} more</li>')
        parts.append(
            '<ul style="margin:4px 0 4px 0;padding:0 0 0 18px;font-size:13px;">' + "".join(items) + "</ul>"
        )
    parts.append(
        f'<div style="color:#8c959f;font-size:11px;">alert {_esc(alert.id)} · rule {_esc(alert.rule)} · '
        f"watchlists {_esc(alert.watchlist_version)}</div>"
    )
    parts.append("</div>")
    return "\n".join(parts)


def _digest_html(n: Notification) -> list[str]:
    header = digest_header(n)
    parts = [f'<h1 style="font-size:20px;margin:0 0 8px 0;">{_esc(header[0])}</h1>']
    parts += [f'<p style="margin:0 0 4px 0;color:#57606a;">{_esc(line)}</p>' for line in header[1:]]
    for destination, tech_groups in group_digest(n.alerts):
        parts.append(
            f'<h2 style="font-size:17px;margin:20px 0 4px 0;border-bottom:1px solid #d0d7de;">'
            f"{_esc(destination)}</h2>"
        )
        for technology, alerts in tech_groups:
            parts.append(
                f'<h3 style="font-size:14px;margin:10px 0 4px 0;color:#57606a;">{_esc(technology)}</h3>'
            )
            items = [
                f'<li dir="auto" style="margin:0 0 6px 0;">{_badge(a.severity)} {_title_html(a)}</li>'
                for a in alerts
            ]
            parts.append('<ul style="margin:0;padding:0 0 0 18px;">' + "".join(items) + "</ul>")
    return parts


def render_notification_html(n: Notification) -> str:
    """The notification as a small HTML document for e-mail clients: inline styles only, no scripts, no
    remote images, links only to http(s) URLs, every piece of text escaped."""
    if n.kind == "test":
        body = [
            '<h1 style="font-size:20px;margin:0 0 8px 0;">ExportWatch test message</h1>',
            f"<p>This is a test message for the subscription “{_esc(n.subscription_name)}”.</p>",
            "<p>If you can read it, the subscription works: alerts that match its filters will be "
            "delivered here.</p>",
        ]
    elif n.kind == "digest":
        body = _digest_html(n)
    else:
        body = []
        if len(n.alerts) > 1:
            body.append(
                '<p style="margin:0 0 12px 0;font-weight:bold;">'
                f"{len(n.alerts)} sources report this story</p>"
            )
        body += [_alert_html(alert) for alert in n.alerts]
    footer = (
        '<p style="margin:24px 0 0 0;padding:8px 0 0 0;border-top:1px solid #d0d7de;color:#8c959f;'
        f'font-size:11px;">You receive this because of the ExportWatch subscription '
        f"“{_esc(n.subscription_name)}” ({_esc(n.subscription_id)}). Notification {_esc(n.id)}.</p>"
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            '<head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_esc(subject(n))}</title></head>",
            '<body style="margin:0;padding:16px;background-color:#ffffff;color:#1f2328;'
            'font-family:Arial,Helvetica,sans-serif;font-size:14px;line-height:1.45;">',
            '<div style="max-width:680px;margin:0 auto;">',
            *body,
            footer,
            "</div>",
            "</body>",
            "</html>",
            "",
        ]
    )
