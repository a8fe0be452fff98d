"""Atom 1.0 feeds (RFC 4287) of archived alerts, built as XML trees so every text is escaped by the
serializer: the archive's ``/v1/alerts.atom`` and the personal feeds (``/feeds/<secret>.atom``)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from schemas import Alert
from services.notify.core.render import safe_link

ATOM_NS = "http://www.w3.org/2005/Atom"
MEDIA_TYPE = "application/atom+xml; charset=utf-8"
# A fixed namespace for the entries' urn:uuid ids: the same alert id always gives the same entry id.
ENTRY_NAMESPACE = uuid.UUID("5b3f2d1e-8f1c-4f43-9d0e-6a7c2b9e4f10")
# Characters XML 1.0 does not allow at all (every control character but tab, newline and carriage
# return, lone surrogates, U+FFFE and U+FFFF): removed, or the feed would not parse.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

ET.register_namespace("", ATOM_NS)


@dataclass(frozen=True)
class FeedInfo:
    """What the feed says of itself: its permanent id, title, the URL it is read at (``self``), the
    console it belongs to (``base``, no trailing slash) and when it was made (used when it is empty)."""

    id: str
    title: str
    self_url: str
    base: str
    now: dt.datetime
    subtitle: str | None = None


def clean(text: str) -> str:
    """``text`` without the characters XML cannot carry."""
    return _NOT_XML.sub("", text)


def entry_id(alert_id: str) -> str:
    return f"urn:uuid:{uuid.uuid5(ENTRY_NAMESPACE, alert_id)}"


def _stamp(when: dt.datetime) -> str:
    aware = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", {k: clean(v) for k, v in attrs.items()})
    if text is not None:
        element.text = clean(text)
    return element


def _content(alert: Alert) -> str:
    """The evidence as plain text: each matched word with its snippet, one per line."""
    lines = [alert.summary]
    for ev in alert.evidence:
        lines.append(f"- {ev.kind.value} {ev.ref} ({ev.field}): {ev.snippet}")
    if alert.control_codes:
        lines.append("Control codes: " + ", ".join(alert.control_codes))
    return "\n".join(lines)


def _entry(feed: ET.Element, alert: Alert, base: str) -> None:
    entry = _add(feed, "entry")
    _add(entry, "id", entry_id(alert.id))
    _add(entry, "title", alert.title or alert.summary or alert.id, type="text")
    _add(entry, "updated", _stamp(alert.created_at))
    _add(entry, "link", rel="alternate", type="text/html", href=f"{base}/alerts/{quote(alert.id, safe='')}")
    related = safe_link(alert.url)  # a javascript: or data: address from a hostile source is no link
    if related:
        _add(entry, "link", rel="related", href=related)
    if alert.source:
        author = _add(entry, "author")
        _add(author, "name", alert.source)
    _add(entry, "summary", alert.summary, type="text")
    _add(entry, "content", _content(alert), type="text")
    _add(entry, "category", term=f"severity:{alert.severity.value}", label=f"severity {alert.severity.value}")
    for tech in alert.technologies:
        _add(entry, "category", term=f"technology:{tech}", label=tech)
    for dest in alert.destinations:
        _add(entry, "category", term=f"destination:{dest}", label=dest)


def render_feed(info: FeedInfo, alerts: Sequence[Alert]) -> bytes:
    """The feed document, UTF-8 with its XML declaration; ``updated`` is the newest alert's time (or
    ``info.now`` when there is none). Every entry has an author via the feed's own author."""
    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    _add(feed, "id", info.id)
    _add(feed, "title", info.title, type="text")
    if info.subtitle:
        _add(feed, "subtitle", info.subtitle, type="text")
    newest = max((a.created_at for a in alerts), default=info.now)
    _add(feed, "updated", _stamp(newest))
    author = _add(feed, "author")
    _add(author, "name", "ExportWatch")
    _add(feed, "link", rel="self", type="application/atom+xml", href=info.self_url)
    _add(feed, "link", rel="alternate", type="text/html", href=f"{info.base}/")
    _add(feed, "generator", "ExportWatch")
    for alert in alerts:
        _entry(feed, alert, info.base)
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body
