"""Alerts and notifications as a researcher reads them: plain text and one-line subjects, and the pieces
every format shares (``render_html`` makes the e-mail HTML from them).

Pure: no I/O. Everything that comes from an article (titles, snippets, URLs, names) is treated as hostile:
control characters never reach a header or a terminal, and every piece of it is HTML-escaped.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable, Sequence
from functools import cache
from urllib.parse import urlsplit

from babel import Locale

from schemas import Alert, Evidence, Notification, Severity

MAX_EVIDENCE = 6
SUBJECT_MAX = 200
NO_DESTINATION = "No listed destination"
NO_TECHNOLOGY = "No listed technology"

# Invisible characters that only steer shaping or hyphenation: dropped rather than turned into spaces, so
# "Überwachungs\u00adsoftware" stays one word.
_INVISIBLE = frozenset("\u00ad\u200b\u200c\u200d\u2060\ufeff")
# Cc: C0/C1 controls (CR, LF, TAB, ESC...); Cf: format characters (bidi overrides...); Zl/Zp: U+2028/2029.
_CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_ACRONYMS = frozenset({"imsi", "dpi", "ip", "cctv", "ai", "gps", "sms", "lte", "gsm"})


# ---------------------------------------------------------------------------------------------- helpers


def scrub(value: str) -> str:
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
    return " ".join(scrub(value).split())


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


def destination_label(code: str) -> str:
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
        groups.append((destination_label(code) if code else NO_DESTINATION, tech_groups))
    return groups


# ------------------------------------------------------------------------------------------ plain text


def window_span(snippet: str, text: str, width: int = 70) -> tuple[str, int, int]:
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
    return window_span(snippet, text, width)[0]


LICENCE_PARTY_CHARS = 120  # an exporter or an end user is a name: longer text is cut


def _amount(value: float, currency: str | None) -> str:
    shown = f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"
    return f"{shown} {one_line(currency)}" if currency else shown


def licence_facts(alert: Alert) -> list[str]:
    """What a reader of a licence alert asks first, as short plain phrases: who exports, to whom, for
    how much, and what was decided (nothing for news, or for a licence alert without its facts).
    Plain text: each format escapes it in its own way."""
    facts = alert.licence
    if facts is None:
        return []
    out = []
    if facts.exporter:
        out.append("exporter " + _fit(one_line(facts.exporter), LICENCE_PARTY_CHARS))
    if facts.end_user:
        out.append("end user " + _fit(one_line(facts.end_user), LICENCE_PARTY_CHARS))
    if facts.value is not None:
        out.append("value " + _amount(facts.value, facts.currency))
    decided = f" on {facts.decided_on.isoformat()}" if facts.decided_on else ""
    out.append(f"decision {facts.decision.value}{decided}")
    return out


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
    if licence := licence_facts(alert):
        lines.append("  licence: " + " | ".join(licence))
    if alert.evidence:
        lines.append("  evidence:")
        lines.extend(_evidence_line(ev) for ev in alert.evidence[:MAX_EVIDENCE])
        if len(alert.evidence) > MAX_EVIDENCE:
            lines.append(f"    (+{len(alert.evidence) - MAX_EVIDENCE} more)")
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


def digest_header(n: Notification) -> list[str]:
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
        lines += digest_header(n)
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
