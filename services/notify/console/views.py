"""What the console's pages show, computed apart from the templates: matched words found in their
snippets, the bars of the weekly chart, the problems of a form placed next to its fields, and the
forms turned into the bodies the API takes (so the console goes through the API's own rules)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from schemas import Evidence

Form = Mapping[str, Sequence[str]]


def highlight(evidence: Evidence) -> list[tuple[str, bool]]:
    """The snippet cut into (text, matched) parts: the matched text marked where the snippet holds it
    (case ignored); the template escapes every part."""
    snippet, text = evidence.snippet or evidence.text, evidence.text
    at = snippet.lower().find(text.lower()) if text else -1
    if at < 0:
        return [(snippet, False)] if snippet == text or not text else [(snippet, False), (text, True)]
    end = at + len(text)
    parts = [(snippet[:at], False), (snippet[at:end], True), (snippet[end:], False)]
    return [p for p in parts if p[0]]


@dataclass(frozen=True)
class Passage:
    """One sentence (a snippet) of the event with every matched word in it marked: evidence items that
    share a snippet are read once, not once per word."""

    field: str
    words: list[Evidence]
    parts: list[tuple[str, bool]]


def _marks(snippet: str, texts: Sequence[str]) -> list[tuple[int, int]]:
    """Where each text is in the snippet (case ignored; a repeated text takes its next occurrence),
    overlapping marks joined."""
    lowered = snippet.lower()
    spans: list[tuple[int, int]] = []
    taken: set[tuple[int, int]] = set()
    for text in texts:
        at = lowered.find(text.lower()) if text else -1
        while at >= 0 and (at, at + len(text)) in taken:
            at = lowered.find(text.lower(), at + 1)
        if at >= 0:
            taken.add((at, at + len(text)))
            spans.append((at, at + len(text)))
    joined: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if joined and start <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(end, joined[-1][1]))
        else:
            joined.append((start, end))
    return joined


_FIELD_NAMES = {
    "title": "the title",
    "body": "the article",
    "destination_country": "the destination country",
    "destination_name": "the destination as published",
    "end_user": "the end user",
    "exporter": "the exporter",
}
_ITEM_PARTS = {"control_code": "control code", "description": "description"}


def field_label(path: str) -> str:
    """An event field's path in words: ``items.0.control_code`` -> "the goods, line 1: control code"."""
    if path in _FIELD_NAMES:
        return _FIELD_NAMES[path]
    parts = path.split(".")
    if len(parts) == 3 and parts[0] == "items" and parts[1].isdigit():
        return f"the goods, line {int(parts[1]) + 1}: {_ITEM_PARTS.get(parts[2], parts[2].replace('_', ' '))}"
    return path.replace("_", " ")


ELLIPSIS = "…"
MIN_OVERLAP = 20  # characters two windows of one long sentence must share to be read as one passage


@dataclass
class _Window:
    """A passage being assembled: the text of one or more snippets of a field, without their ellipses."""

    field: str
    text: str
    lead: bool  # the sentence goes on before the text
    trail: bool  # and after it
    words: list[Evidence]

    def join(self, text: str, lead: bool, trail: bool) -> bool:
        """Take in another snippet of the same sentence when the two share text; False when they do not."""
        if text in self.text:
            return True
        if self.text in text:
            self.text, self.lead, self.trail = text, lead, trail
            return True
        if k := _overlap(self.text, text):
            self.text, self.trail = self.text + text[k:], trail
            return True
        if k := _overlap(text, self.text):
            self.text, self.lead = text + self.text[k:], lead
            return True
        return False


def _overlap(first: str, then: str) -> int:
    """The length of the longest end of ``first`` that ``then`` starts with (at least MIN_OVERLAP), or 0."""
    for k in range(min(len(first), len(then)) - 1, MIN_OVERLAP - 1, -1):
        if first.endswith(then[:k]):
            return k
    return 0


def _windows(evidence: Sequence[Evidence]) -> list[_Window]:
    windows: list[_Window] = []
    for e in evidence:
        snippet = e.snippet or e.text
        lead, trail = snippet.startswith(ELLIPSIS), snippet.endswith(ELLIPSIS) and len(snippet) > 1
        text = snippet[1 if lead else 0 : len(snippet) - 1 if trail else len(snippet)]
        window = next((w for w in windows if w.field == e.field and w.join(text, lead, trail)), None)
        if window is None:
            window = _Window(e.field, text, lead, trail, [])
            windows.append(window)
        window.words.append(e)
    return windows


def passages(evidence: Sequence[Evidence]) -> list[Passage]:
    """The evidence read sentence by sentence (in the order first met): snippets of one sentence, the
    same or overlapping windows of it, become one passage with all its matched words marked; the
    template escapes every part."""
    found: list[Passage] = []
    for window in _windows(evidence):
        shown = (ELLIPSIS if window.lead else "") + window.text + (ELLIPSIS if window.trail else "")
        marks = _marks(shown, [e.text for e in window.words])
        if not marks:  # the snippet does not hold the words (cut differently): show each item alone
            found.extend(Passage(window.field, [e], highlight(e)) for e in window.words)
            continue
        parts: list[tuple[str, bool]] = []
        at = 0
        for start, end in marks:
            parts.extend([(shown[at:start], False), (shown[start:end], True)])
            at = end
        parts.append((shown[at:], False))
        found.append(Passage(window.field, window.words, [p for p in parts if p[0]]))
    return found


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    width: int
    height: int
    week: dt.date
    count: int


CHART_WIDTH, CHART_HEIGHT = 600, 160


def bars(weeks: Sequence[tuple[dt.date, int]]) -> list[Bar]:
    """One bar per week, scaled to the busiest week, in the SVG's own units."""
    if not weeks:
        return []
    top = max(count for _, count in weeks) or 1
    step = CHART_WIDTH // len(weeks)
    width = max(1, step - 2)
    out = []
    for i, (week, count) in enumerate(weeks):
        height = round(count / top * (CHART_HEIGHT - 10))
        out.append(Bar(i * step, CHART_HEIGHT - height, width, height, week, count))
    return out


# Where the API's problem locations go on the console's forms.
_FIELDS = {
    "name": "name",
    "channel.type": "channel_type",
    "channel.url": "channel_url",
    "channel.secret": "channel_secret",
    "channel.to": "channel_to",
    "filters.technologies": "technologies",
    "filters.destinations": "destinations",
    "filters.entities": "vendors",
    "filters.event_types": "event_types",
    "filters.min_severity": "min_severity",
    "filters.keyword": "keyword",
    "mode": "mode",
    "duration": "duration",
    "comment": "comment",
    "subscription_id": "subscription_id",
}


def field_of(location: str) -> str:
    """The form field an API problem's location names (``channel.webhook.url`` -> ``channel_url``)."""
    parts = location.replace("[", ".").replace("]", "").split(".")
    parts = [
        p for p in parts if not p.isdigit() and p not in ("slack", "webhook", "email", "console", "file")
    ]
    for size in range(len(parts), 0, -1):
        found = _FIELDS.get(".".join(parts[:size]))
        if found:
            return found
    return "form"


def placed(details: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """The API's problems, by form field."""
    out: dict[str, list[str]] = {}
    for d in details:
        out.setdefault(field_of(str(d.get("location", ""))), []).append(str(d.get("message", "")))
    return out


def one(form: Form, name: str) -> str:
    values = form.get(name) or [""]
    return values[-1].strip()


def many(form: Form, name: str) -> list[str]:
    return [v.strip() for v in form.get(name, ()) if v.strip()]


def filters_body(form: Form) -> dict[str, Any]:
    body: dict[str, Any] = {
        "technologies": many(form, "technologies"),
        "destinations": many(form, "destinations"),
        "entities": many(form, "vendors"),
        "event_types": many(form, "event_types"),
        "keyword": one(form, "keyword") or None,
    }
    if one(form, "min_severity"):
        body["min_severity"] = one(form, "min_severity")
    return body


def subscription_body(form: Form, *, editing: bool) -> dict[str, Any]:
    """The API body a subscription form stands for. Blank secrets are left out, so that on an edit the
    stored ones are kept (the API merges a change into what is stored)."""
    channel: dict[str, Any] = {"type": one(form, "channel_type")}
    for name in ("url", "secret"):
        value = one(form, f"channel_{name}")
        if value:
            channel[name] = value
    recipients = [r.strip() for r in one(form, "channel_to").replace("\n", ",").split(",") if r.strip()]
    if recipients or (not editing and channel["type"] == "email"):
        channel["to"] = recipients
    return {
        "name": one(form, "name"),
        "filters": filters_body(form),
        "channel": channel,
        "mode": one(form, "mode") or "immediate",
    }


def silence_body(form: Form) -> dict[str, Any]:
    body: dict[str, Any] = {
        "filters": filters_body(form),
        "duration": one(form, "duration"),
        "comment": one(form, "comment"),
    }
    if one(form, "subscription_id"):
        body["subscription_id"] = one(form, "subscription_id")
    return body


def query_params(items: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """The alert list's query string grouped by name, blank values (an empty select) left out."""
    out: dict[str, list[str]] = {}
    for name, value in items:
        if value.strip():
            out.setdefault(name, []).append(value)
    return out
