"""Notifications as Slack incoming-webhook payloads: Block Kit ``blocks`` and a plain ``text`` fallback.
Pure: no I/O.

Everything that comes from an article or a subscriber (titles, summaries, snippets, names) goes through
:func:`escape`: untrusted text can never mention people (``<!channel>``, ``@here``), open a link of its
own (``<https://evil|click>``, bare URLs and domains) or inject an entity. The only links in a payload
are the ones this module builds to the alerts' sources, and only for http(s) URLs.

Slack's limits are respected by construction: 3000 characters per section, 150 per header, 50 blocks,
10 elements per context block; what does not fit is summarised as "and N more".
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from schemas import Alert, Evidence, Notification, Severity
from services.notify.core.render import country_name, is_web_url, licence_facts, technology_name

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_FALLBACK = 3000  # the top-level `text` (Slack cuts it at 40,000; a notification preview is short)
MAX_TOTAL = 30_000  # characters of block text per message: well below what Slack accepts
MAX_URL = 800

WORD_JOINER = "\u2060"
ZERO_WIDTH_SPACE = "\u200b"

SEVERITY_EMOJI: dict[Severity, str] = {
    Severity.LOW: "🔵",
    Severity.MEDIUM: "🟡",
    Severity.HIGH: "🟠",
    Severity.CRITICAL: "🔴",
}

_MENTION = re.compile(r"@(?=(?:channel|here|everyone)\b)", re.IGNORECASE)
# A domain is delimited by anything but letters, digits, dots and hyphens: an underscore too, since
# "_evil.example_" is italics around a domain Slack would link.
_DOMAIN = re.compile(
    r"(?<![a-z0-9.-])[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
    r"\.[a-z]{2,63}(?![a-z0-9-])",
    re.IGNORECASE | re.ASCII,
)

Block = dict[str, Any]


# --- escaping -------------------------------------------------------------------------------------


def escape(text: str) -> str:
    """``text`` made inert for Slack mrkdwn: ``&``, ``<`` and ``>`` as entities (so no ``<!channel>``,
    ``<@U…>``, ``<#C…>`` or ``<url|label>`` can form), ``@channel``/``@here``/``@everyone`` broken by a
    word joiner, and URLs and domains broken by zero-width spaces so they are not made clickable."""
    out = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    out = _MENTION.sub("@" + WORD_JOINER, out)
    out = out.replace("://", "://" + ZERO_WIDTH_SPACE)
    return _DOMAIN.sub(lambda m: m.group(0).replace(".", ZERO_WIDTH_SPACE + "."), out)


def _flat(text: str) -> str:
    return " ".join(text.split())


def _shorten(text: str, limit: int, render: Callable[[str], str] = escape) -> str:
    """``render(text)``, with ``text`` shortened (and "…" appended) until the result has at most
    ``limit`` characters. Shortening happens before rendering, so no entity or link is ever cut."""
    out = render(text)
    raw = text
    while len(out) > limit and raw:
        keep = min(len(raw) - 1, max(0, int(len(raw) * limit / len(out)) - 2))
        raw = raw[:keep].rstrip()
        out = render(raw) + "…"
    return out if len(out) <= limit else "…"


def _term_pattern(term: str) -> re.Pattern[str] | None:
    words = term.split()
    if not words:
        return None
    return re.compile(r"\s+".join(re.escape(w) for w in words), re.IGNORECASE)


def bold_terms(text: str, terms: Iterable[str]) -> str:
    """``escape(text)`` with every occurrence of the ``terms`` (case-insensitive) in *bold*.

    The text is escaped piece by piece around the matches, so a term can never break an entity and
    untrusted text can never produce formatting beyond the bold markers added here."""
    spans: list[tuple[int, int]] = []
    for term in sorted(set(terms), key=len, reverse=True):
        pattern = _term_pattern(term)
        if pattern is not None:
            spans.extend(m.span() for m in pattern.finditer(text) if m.end() > m.start())
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out: list[str] = []
    at = 0
    for start, end in merged:
        out.append(escape(text[at:start]))
        out.append("*" + escape(text[start:end]) + "*")
        at = end
    out.append(escape(text[at:]))
    return "".join(out)


def safe_url(url: str | None) -> str | None:
    """``url`` ready to go inside ``<…|label>``, or None when it must not be linked (not http(s), no host,
    too long). ``|``, ``<``, ``>``, spaces and control characters are percent-encoded, ``&`` escaped."""
    if not url:
        return None
    url = url.strip()
    if not is_web_url(url):
        return None
    encoded = "".join(f"%{ord(c):02X}" if c in '|<>"' or ord(c) <= 0x20 or ord(c) == 0x7F else c for c in url)
    encoded = encoded.replace("&", "&amp;")
    return encoded if len(encoded) <= MAX_URL else None


def link(url: str | None, label: str, limit: int = 300) -> str:
    """Our own link to a source: ``<url|label>`` with the label escaped; the bare label when the URL
    cannot be linked safely."""
    label = _shorten(_flat(label) or "(untitled)", limit)
    target = safe_url(url)
    return f"<{target}|{label}>" if target else label


# --- vocabulary -----------------------------------------------------------------------------------


def flag(code: str) -> str:
    """The flag emoji of an ISO alpha-2 code (regional indicator symbols)."""
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        return ""
    return "".join(chr(0x1F1E6 + ord(c) - ord("A")) for c in code.upper())


def country(code: str) -> str:
    """ "🇨🇳 China (CN)"; the bare code when it is not a known territory."""
    name = country_name(code)
    return f"{flag(code)} {name} ({code.upper()})" if name != code else code


def _listing(items: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _when(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M %Z").strip()


# --- blocks ---------------------------------------------------------------------------------------


def _section(lines: Iterable[str]) -> Block:
    """A mrkdwn section; whole lines are dropped from the end if it would exceed the limit."""
    kept: list[str] = []
    size = 0
    for line in lines:
        if not line:
            continue
        extra = len(line) + (1 if kept else 0)
        if size + extra > MAX_SECTION - 2:
            kept.append("…")
            break
        kept.append(line)
        size += extra
    text = "\n".join(kept) or " "
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:MAX_SECTION]}}


def _header(text: str) -> Block:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": _shorten(_flat(text), MAX_HEADER), "emoji": True},
    }


def _context(elements: Iterable[str]) -> Block:
    items = [e for e in elements if e][:MAX_CONTEXT_ELEMENTS] or [" "]
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": e[:MAX_SECTION]} for e in items]}


def _divider() -> Block:
    return {"type": "divider"}


def _terms(alert: Alert) -> list[str]:
    return [e.text for e in alert.evidence if e.text.strip()]


def _evidence_window(ev: Evidence, width: int = 160, needle_max: int = 300) -> tuple[str, bool, bool]:
    """The part of the snippet around the matched text: (window, cut before, cut after)."""
    flat = _flat(ev.snippet)
    pattern = _term_pattern(ev.text)
    found = pattern.search(flat) if pattern is not None else None
    if found is None:
        end = min(len(flat), 2 * width)
        return flat[:end], False, end < len(flat)
    start = max(0, found.start() - width)
    end = min(len(flat), found.end() + width, found.start() + needle_max + width)
    return flat[start:end], start > 0, end < len(flat)


def evidence_line(ev: Evidence, terms: Iterable[str], limit: int = 900) -> str:
    """One evidence quote: where it was found, and the snippet around it with the matched terms bold."""
    window, cut_before, cut_after = _evidence_window(ev)
    words = list(terms)
    body = _shorten(window, limit - 40, lambda s: bold_terms(s, words))
    if cut_before:
        body = "…" + body
    if cut_after and not body.endswith("…"):
        body += "…"
    where = escape(_flat(ev.field)[:40])
    return f"> _{where}_: {body}"


def _pick_evidence(alert: Alert, count: int) -> list[Evidence]:
    seen: set[tuple[str, str]] = set()
    picked: list[Evidence] = []
    for ev in alert.evidence:
        key = (ev.field, _flat(ev.snippet))
        if key in seen:
            continue
        seen.add(key)
        picked.append(ev)
        if len(picked) == count:
            break
    return picked


def _facts(alert: Alert) -> list[str]:
    facts = []
    if alert.destinations:
        facts.append("*Destinations:* " + _shorten(_listing([country(c) for c in alert.destinations]), 300))
    if alert.technologies:
        techs = [technology_name(t) for t in alert.technologies]
        facts.append("*Technologies:* " + _shorten(_listing(techs), 300))
    if alert.entities:
        facts.append("*Vendors:* " + _shorten(_listing(alert.entities), 300))
    if alert.control_codes:
        facts.append("*Control codes:* " + _shorten(_listing(alert.control_codes), 300))
    if licence := licence_facts(alert):
        facts.append("*Licence:* " + _shorten(", ".join(licence), 300))
    return facts


def _headline(alert: Alert) -> str:
    sev = alert.severity
    return f"{SEVERITY_EMOJI[sev]} *{sev.value.upper()}* · {_shorten(_flat(alert.summary), 500)}"


def _title_line(alert: Alert) -> str:
    return "*" + link(alert.url, alert.title) + "*"


def alert_blocks(alert: Alert) -> list[Block]:
    """The full rendering of one alert: what, where, matched text, and provenance."""
    blocks = [_section([_headline(alert), _title_line(alert), *_facts(alert)])]
    terms = _terms(alert)
    evidence = _pick_evidence(alert, 3)
    if evidence:
        lines = [evidence_line(ev, terms) for ev in evidence]
        hidden = len({(e.field, _flat(e.snippet)) for e in alert.evidence}) - len(evidence)
        if hidden > 0:
            lines.append(f"_and {hidden} more {'match' if hidden == 1 else 'matches'}_")
        blocks.append(_section(lines))
    blocks.append(
        _context(
            [
                f"alert `{_shorten(alert.id, 200)}`",
                f"rule `{_shorten(alert.rule, 200)}`",
                f"score {alert.score:.2f}",
                f"watchlists {_shorten(alert.watchlist_version, 100)}",
            ]
        )
    )
    return blocks


def compact_alert_block(alert: Alert) -> Block:
    """One alert in one section (digests): headline, linked title, facts on one line, best evidence."""
    facts = [country(c) for c in alert.destinations[:5]]
    facts += [technology_name(t) for t in alert.technologies[:5]]
    facts += alert.entities[:5]
    lines = [_headline(alert), _title_line(alert)]
    if facts:
        lines.append(_shorten(" · ".join(facts), 300))
    evidence = _pick_evidence(alert, 1)
    if evidence:
        lines.append(evidence_line(evidence[0], _terms(alert), limit=500))
    return _section(lines)


def _size(blocks: Iterable[Block]) -> int:
    total = 0
    for block in blocks:
        if "text" in block:
            total += len(block["text"]["text"])
        for element in block.get("elements", []):
            total += len(element.get("text", ""))
    return total


def _more(count: int, what: str) -> Block:
    return _context([f"_and {count} more {what}_"])


def _fill(
    blocks: list[Block], groups: Iterable[list[Block]], count: int, footer: list[Block], what: str
) -> list[Block]:
    """Append groups of blocks while they fit, then "and N more", then the footer."""
    shown = 0
    reserve = len(footer) + 1
    for group in groups:
        fits_blocks = len(blocks) + len(group) + reserve <= MAX_BLOCKS
        if not fits_blocks or _size(blocks) + _size(group) + _size(footer) + 100 > MAX_TOTAL:
            break
        blocks.extend(group)
        shown += 1
    if shown < count:
        blocks.append(_more(count - shown, what))
    blocks.extend(footer)
    return blocks


def _footer(notification: Notification) -> list[Block]:
    return [
        _context(
            [
                f"ExportWatch · {_shorten(_flat(notification.subscription_name), 200)}",
                f"notification `{_shorten(notification.id, 200)}`",
            ]
        )
    ]


def _top(alerts: Sequence[Alert]) -> Severity:
    return max((a.severity for a in alerts), key=lambda s: s.rank, default=Severity.LOW)


def _render_alerts(notification: Notification) -> tuple[str, list[Block]]:
    alerts = notification.alerts
    if not alerts:
        return "ExportWatch: no alerts", [_section(["No alerts."]), *_footer(notification)]
    first, top = alerts[0], _top(alerts)
    emoji = SEVERITY_EMOJI[top]
    blocks: list[Block]
    if len(alerts) == 1:
        fallback = f"{emoji} {first.severity.value.upper()}: {_flat(first.summary)}"
        blocks = [_header(f"{emoji} {first.severity.value.capitalize()}: {first.title}")]
    else:
        fallback = f"{emoji} {len(alerts)} sources report: {_flat(first.summary)}"
        blocks = [_header(f"{emoji} {len(alerts)} sources report: {first.title}")]
        sources = [f"• {SEVERITY_EMOJI[a.severity]} {link(a.url, a.title, limit=200)}" for a in alerts[:15]]
        if len(alerts) > 15:
            sources.append(f"_and {len(alerts) - 15} more sources_")
        blocks.append(_section([f"*{len(alerts)} sources report this story:*", *sources]))
    groups = ([*alert_blocks(a), _divider()] for a in alerts)
    blocks = _fill(blocks, groups, len(alerts), _footer(notification), "alerts")
    return _shorten(fallback, MAX_FALLBACK), blocks


def _counts(label: str, counter: Counter[str], show: Callable[[str], str], limit: int = 15) -> str:
    ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    text = " · ".join(f"{show(key)} {n}" for key, n in ranked[:limit])
    more = f" · and {len(ranked) - limit} more" if len(ranked) > limit else ""
    return f"*{label}:* " + _shorten(text, 1200) + more


def _render_digest(notification: Notification) -> tuple[str, list[Block]]:
    alerts = sorted(notification.alerts, key=lambda a: -a.severity.rank)  # stable: oldest first per rank
    count = len(alerts)
    name = _flat(notification.subscription_name)
    noun = "alert" if count == 1 else "alerts"
    fallback = f"ExportWatch digest for {name}: {count} {noun}"
    blocks = [_header(f"📬 ExportWatch digest: {count} {noun}")]
    intro = [f"*{_shorten(name, 200)}*"]
    if notification.period_start and notification.period_end:
        intro.append(f"{_when(notification.period_start)} – {_when(notification.period_end)}")
    if count:
        severities = Counter(a.severity for a in alerts)
        intro.append(
            " · ".join(
                f"{SEVERITY_EMOJI[s]} {severities[s]} {s.value}"
                for s in sorted(severities, key=lambda s: -s.rank)
            )
        )
        intro.append(_counts("By destination", Counter(c for a in alerts for c in a.destinations), country))
        techs = Counter(t for a in alerts for t in a.technologies)
        intro.append(_counts("By technology", techs, technology_name))
    else:
        intro.append("No alerts in this period.")
    blocks.extend([_section(intro), _divider()])
    groups = ([compact_alert_block(a)] for a in alerts)
    blocks = _fill(blocks, groups, count, _footer(notification), "alerts")
    return _shorten(fallback, MAX_FALLBACK), blocks


def _render_test(notification: Notification) -> tuple[str, list[Block]]:
    name = _shorten(_flat(notification.subscription_name), 200)
    blocks = [
        _header("✅ ExportWatch test message"),
        _section(
            [
                f"This is a test message for the subscription *{name}*.",
                "If you can read it, alerts will reach this channel.",
            ]
        ),
        _context(
            [f"sent {_when(notification.created_at)}", f"notification `{_shorten(notification.id, 200)}`"]
        ),
    ]
    return _shorten(f"ExportWatch test message for {_flat(notification.subscription_name)}", 500), blocks


def render(notification: Notification) -> dict[str, Any]:
    """The incoming-webhook payload for ``notification``: ``text`` (fallback, notifications) and
    ``blocks``. Never contains the subscription's URL; link unfurling is off."""
    if notification.kind == "digest":
        text, blocks = _render_digest(notification)
    elif notification.kind == "test":
        text, blocks = _render_test(notification)
    else:
        text, blocks = _render_alerts(notification)
    return {"text": text, "blocks": blocks[:MAX_BLOCKS], "unfurl_links": False, "unfurl_media": False}
