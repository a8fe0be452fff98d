"""Alerts and notifications as a researcher reads them: plain text, e-mail-safe HTML and one-line subjects.

Pure: no I/O. Everything that comes from an article (titles, snippets, URLs, names) is treated as hostile:
control characters never reach a header or a terminal, and every piece of it is HTML-escaped.
"""

from __future__ import annotations

import datetime as dt
import html
import unicodedata
from collections.abc import Iterable, Sequence
from functools import cache
from urllib.parse import urlsplit

from babel import Locale

from schemas import Alert, Evidence, Notification, Severity

_MAX_EVIDENCE = 6
SUBJECT_MAX = 200
NO_DESTINATION = "No listed destination"
NO_TECHNOLOGY = "No listed technology"

# Invisible characters that only steer shaping or hyphenation: dropped rather than turned into spaces, so
# "Überwachungs\u00adsoftware" stays one word.
_INVISIBLE = frozenset("\u00ad\u200b\u200c\u200d\u2060\ufeff")
# Cc: C0/C1 controls (CR, LF, TAB, ESC...); Cf: format characters (bidi overrides...); Zl/Zp: U+2028/2029.
_CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_ACRONYMS = frozenset({"imsi", "dpi", "ip", "cctv", "ai", "gps", "sms", "lte", "gsm"})

_SEVERITY_COLOURS = {
    Severity.CRITICAL: "#b42318",
    Severity.HIGH: "#c4320a",
    Severity.MEDIUM: "#b54708",
    Severity.LOW: "#475467",
}


# ---------------------------------------------------------------------------------------------- helpers


def _scrub(value: str) -> str:
    """``value`` with control and format characters replaced by spaces (invisible ones removed).

    Never lengthens the text, so it can be applied segment by segment."""
    if value.isprintable() and not _INVISIBLE.intersection(value):
        return value
    out = []
    for ch in value:
        if ch in _INVISIBLE:
            continue
        out.append(" " if unicodedata.category(ch) in _CONTROL_CATEGORIES else ch)
    return "".join(out)


def one_line(value: str) -> str:
    """``value`` on one line: control characters (CR, LF, TAB, U+2028/2029, bidi overrides, ...) and runs
    of white space collapsed to single spaces."""
    return " ".join(_scrub(value).split())


def _fit(value: str, limit: int) -> str:
    """``value`` cut to at most ``limit`` characters, at a word boundary when one is near, with "…"."""
    if len(value) <= limit:
        return value
    if limit <= 1:
        return "…"[:limit]
    cut = value[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit * 2 // 3:
        cut = cut[:space]
    return cut.rstrip() + "…"


@cache
def _territories() -> dict[str, str]:
    return {str(code): str(name) for code, name in Locale("en").territories.items()}


def country_name(code: str) -> str:
    """The English name of an ISO 3166-1 alpha-2 code ("CN" -> "China"), or the code when unknown."""
    return _territories().get(code.strip().upper(), code)


def technology_name(technology: str) -> str:
    """A readable name for a technology id: "facial-recognition" -> "facial recognition"."""
    words = technology.replace("_", "-").split("-")
    return " ".join(w.upper() if w.lower() in _ACRONYMS else w for w in words if w) or technology


def _destination_label(code: str) -> str:
    name = country_name(code)
    return f"{name} ({code})" if name != code else code


def is_web_url(url: str) -> bool:
    """Whether ``url`` is an absolute http(s) URL with a host (not javascript:, data:, a relative path)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def safe_link(url: str | None) -> str | None:
    """``url`` when it is an absolute http(s) URL fit to be a link, else None (javascript:, data:, ...)."""
    if not url or url != url.strip() or any(ch.isspace() or not ch.isprintable() for ch in url):
        return None
    return url if is_web_url(url) else None


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _offset(value: dt.datetime) -> str:
    delta = value.utcoffset() or dt.timedelta(0)
    minutes = int(delta.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{mins:02d}"


def _period_text(n: Notification) -> str | None:
    start, end = n.period_start, n.period_end
    if start is None or end is None:
        return None
    text = f"{_utc(start)} to {_utc(end)}"
    if start.utcoffset() or end.utcoffset():
        text += (
            f" (as scheduled: {start:%Y-%m-%d %H:%M} {_offset(start)} to {end:%Y-%m-%d %H:%M} {_offset(end)})"
        )
    return text


def _digest_cadence(n: Notification) -> str:
    if n.period_start is None or n.period_end is None:
        return ""
    length = n.period_end - n.period_start
    if dt.timedelta(minutes=55) <= length <= dt.timedelta(minutes=65):
        return "hourly "
    if dt.timedelta(hours=23) <= length <= dt.timedelta(hours=25):  # 23 or 25 on DST days
        return "daily "
    return ""


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {plural or word + 's'}"


def _severity_counts(alerts: Sequence[Alert]) -> str:
    counts = {s: 0 for s in Severity}
    for alert in alerts:
        counts[alert.severity] += 1
    parts = [f"{counts[s]} {s.value}" for s in sorted(Severity, key=lambda s: -s.rank) if counts[s]]
    return ", ".join(parts)


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _by_severity(alerts: Iterable[Alert]) -> list[Alert]:
    return sorted(alerts, key=lambda a: -a.severity.rank)  # stable: oldest first within a severity


Group = tuple[str, list[tuple[str, list[Alert]]]]


def group_digest(alerts: Sequence[Alert]) -> list[Group]:
    """Alerts grouped by destination, then by technology: ``[(destination label, [(technology label,
    alerts)])]``. An alert appears in every group it belongs to, once per group. Bigger groups first;
    alerts without destination (or technology) come last, under "No listed destination/technology"."""
    by_destination: dict[str, dict[str, dict[str, Alert]]] = {}
    for alert in alerts:
        destinations = _unique(alert.destinations) or [""]
        technologies = _unique(alert.technologies) or [""]
        for code in destinations:
            techs = by_destination.setdefault(code, {})
            for tech in technologies:
                techs.setdefault(tech, {}).setdefault(alert.id, alert)

    def size(techs: dict[str, dict[str, Alert]]) -> int:
        return len({alert_id for group in techs.values() for alert_id in group})

    groups: list[Group] = []
    for code in sorted(by_destination, key=lambda c: (c == "", -size(by_destination[c]), country_name(c))):
        techs = by_destination[code]
        tech_groups = [
            (technology_name(tech) if tech else NO_TECHNOLOGY, _by_severity(techs[tech].values()))
            for tech in sorted(techs, key=lambda t: (t == "", -len(techs[t]), technology_name(t)))
        ]
        groups.append((_destination_label(code) if code else NO_DESTINATION, tech_groups))
    return groups


# ------------------------------------------------------------------------------------------ plain text


def _window_span(snippet: str, text: str, width: int = 70) -> tuple[str, int, int]:
    """The part of ``snippet`` around ``text`` (at most ``width`` characters either side, on one line),
    and where ``text`` is in it (-1, -1 when it is not)."""
    flat = one_line(snippet)
    needle = one_line(text)
    at = flat.find(needle) if needle else -1
    if at < 0:
        return (flat if len(flat) <= 2 * width + len(needle) else flat[: 2 * width] + "…"), -1, -1
    start, end = max(0, at - width), min(len(flat), at + len(needle) + width)
    prefix = "…" if start else ""
    window = prefix + flat[start:end] + ("…" if end < len(flat) else "")
    return window, len(prefix) + at - start, len(prefix) + at - start + len(needle)


def _window(snippet: str, text: str, width: int = 70) -> str:
    return _window_span(snippet, text, width)[0]


def _evidence_line(ev: Evidence) -> str:
    return (
        f'    - {ev.kind.value} {one_line(ev.ref)}: "{one_line(ev.text)}" in {one_line(ev.field)}: '
        f"{_window(ev.snippet, ev.text)}"
    )


def render_text(alert: Alert) -> str:
    """A multi-line plain-text rendering of an alert (console, email body); no control characters."""
    lines = [
        f"[{alert.severity.value.upper()}] {one_line(alert.summary)}",
        f"  {one_line(alert.title)}",
    ]
    if alert.url:
        lines.append(f"  {one_line(alert.url)}")
    facts = []
    if alert.technologies:
        facts.append("technologies: " + ", ".join(one_line(t) for t in alert.technologies))
    if alert.destinations:
        facts.append("destinations: " + ", ".join(alert.destinations))
    if alert.entities:
        facts.append("vendors: " + ", ".join(one_line(e) for e in alert.entities))
    if alert.control_codes:
        facts.append("control codes: " + ", ".join(one_line(c) for c in alert.control_codes))
    if facts:
        lines.append("  " + " | ".join(facts))
    if alert.evidence:
        lines.append("  evidence:")
        lines.extend(_evidence_line(ev) for ev in alert.evidence[:_MAX_EVIDENCE])
        if len(alert.evidence) > _MAX_EVIDENCE:
            lines.append(f"    (+{len(alert.evidence) - _MAX_EVIDENCE} more)")
    lines.append(
        f"  alert {one_line(alert.id)} · rule {one_line(alert.rule)} · score {alert.score:.2f} · "
        f"watchlists {one_line(alert.watchlist_version)}"
    )
    return "\n".join(lines)


def _footer_text(n: Notification) -> list[str]:
    return [
        "-- ",
        f"You receive this because of the ExportWatch subscription “{one_line(n.subscription_name)}” "
        f"({one_line(n.subscription_id)}).",
        f"Notification {one_line(n.id)}",
    ]


def _digest_header(n: Notification) -> list[str]:
    alerts = n.alerts
    lines = [f"ExportWatch {_digest_cadence(n)}digest for “{one_line(n.subscription_name)}”"]
    period = _period_text(n)
    if period:
        lines.append(f"Period: {period}")
    if alerts:
        destinations = {c for a in alerts for c in a.destinations}
        technologies = {t for a in alerts for t in a.technologies}
        lines.append(
            f"{_plural(len(alerts), 'alert')} ({_severity_counts(alerts)}) · "
            f"{_plural(len(destinations), 'destination')} · "
            f"{_plural(len(technologies), 'technology', 'technologies')}"
        )
    else:
        lines.append("No alerts in this period.")
    return lines


def render_notification_text(n: Notification) -> str:
    """The plain-text body of a notification (e-mail text part, console)."""
    lines: list[str] = []
    if n.kind == "test":
        lines += [
            "This is a test message from ExportWatch for the subscription "
            f"“{one_line(n.subscription_name)}”.",
            "",
            "If you can read it, the subscription works: alerts that match its filters will be delivered "
            "here.",
        ]
    elif n.kind == "digest":
        lines += _digest_header(n)
        for destination, tech_groups in group_digest(n.alerts):
            lines += ["", f"== {destination} =="]
            for technology, alerts in tech_groups:
                lines += ["", f"  {technology}"]
                for alert in alerts:
                    lines.append(f"    [{alert.severity.value.upper()}] {one_line(alert.title)}")
                    if alert.url:
                        lines.append(f"      {one_line(alert.url)}")
    else:
        if len(n.alerts) > 1:
            lines += [f"{len(n.alerts)} sources report this story", ""]
        for i, alert in enumerate(n.alerts):
            if i:
                lines.append("")
            lines.append(render_text(alert))
    lines += ["", *_footer_text(n)]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ HTML


def _esc(value: str) -> str:
    return html.escape(_scrub(value), quote=True)


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
    window, start, end = _window_span(ev.snippet, ev.text)
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
        facts.append("Destinations: " + ", ".join(_esc(_destination_label(c)) for c in alert.destinations))
    if alert.entities:
        facts.append("Vendors: " + ", ".join(_esc(e) for e in alert.entities))
    if alert.control_codes:
        facts.append("Control codes: " + ", ".join(_esc(c) for c in alert.control_codes))
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
        items = [_evidence_html(ev) for ev in alert.evidence[:_MAX_EVIDENCE]]
        if len(alert.evidence) > _MAX_EVIDENCE:
            items.append(f'<li style="color:#57606a;">+{len(alert.evidence) - _MAX_EVIDENCE} more</li>')
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
    header = _digest_header(n)
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


# --------------------------------------------------------------------------------------------- subject


def _story_alert(n: Notification) -> Alert:
    return next((a for a in n.alerts if a.event_id == n.story), n.alerts[0])


def subject(n: Notification) -> str:
    """A one-line subject of at most 200 characters, free of control characters:
    "[HIGH] Dutch firm sold facial recognition cameras to Chinese police (CN)" or
    "ExportWatch daily digest: 12 alerts, 2026-11-23"."""
    name = one_line(n.subscription_name)
    if n.kind == "test":
        # Never the name: anyone with a token picks it and the recipients, and asks for test sends.
        return "ExportWatch test message: your subscription works"
    if n.kind == "digest":
        when = n.period_end or n.created_at
        cadence = _digest_cadence(n)
        date = f"{when:%Y-%m-%d %H:%M}" if cadence == "hourly " else f"{when:%Y-%m-%d}"
        count = _plural(len(n.alerts), "alert") if n.alerts else "no alerts"
        head = f"ExportWatch {cadence}digest: {count}, {date}"
        return _fit(one_line(f"{head} ({name})"), SUBJECT_MAX) if name else head
    if not n.alerts:
        return _fit(one_line(f"ExportWatch: no alerts ({name})"), SUBJECT_MAX)
    severity = max((a.severity for a in n.alerts), key=lambda s: s.rank)
    codes = _unique(c for a in n.alerts for c in a.destinations)
    suffix = ""
    if codes:
        suffix = " (" + ", ".join(codes[:3]) + (f" +{len(codes) - 3}" if len(codes) > 3 else "") + ")"
    if len(n.alerts) > 1:
        suffix += f" · {len(n.alerts)} sources"
    prefix = f"[{severity.value.upper()}] "
    title = one_line(_story_alert(n).title) or "(no title)"
    return prefix + _fit(title, SUBJECT_MAX - len(prefix) - len(suffix)) + suffix
