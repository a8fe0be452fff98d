"""RSS 2.0, Atom and RDF feeds to news articles (feedparser does the tolerant XML work)."""

from __future__ import annotations

import calendar
import datetime as dt
import re
import time
from collections.abc import Iterator
from typing import Any

import feedparser

from schemas import NewsArticle
from services.ingest.core.html import html_to_text
from services.ingest.core.results import Parsed, Rejected
from services.ingest.core.urls import canonical_url, news_id

_LANG = re.compile(r"^([A-Za-z]{2})(?:[-_].*)?$")


def _language(*candidates: object) -> str | None:
    for value in candidates:
        if isinstance(value, str) and (m := _LANG.match(value.strip())):
            return m.group(1).lower()
    return None


def _published(entry: Any) -> dt.datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if isinstance(value, time.struct_time):
            return dt.datetime.fromtimestamp(calendar.timegm(value), tz=dt.UTC)
    return None


def _body(entry: Any) -> str:
    contents = entry.get("content") or []
    html = max((c.get("value", "") for c in contents), key=len, default="")
    summary = entry.get("summary", "") or ""
    return html_to_text(html if len(html) >= len(summary) else summary)


def parse_feed(
    data: bytes, feed_name: str, now: dt.datetime, language: str | None = None
) -> Iterator[Parsed]:
    """Yield a NewsArticle per feed entry, or a rejection; a broken feed yields one rejection.

    Entries without a date get ``now`` and ``published_at_inferred: true`` rather than being lost.
    """
    parsed = feedparser.parse(data)
    entries = parsed.get("entries") or []
    if parsed.get("bozo"):
        # feedparser salvages what it can from broken XML: keep those entries, report the breakage.
        error = parsed.get("bozo_exception")
        salvaged = f"; {len(entries)} entries salvaged" if entries else ""
        yield Rejected("invalid_feed", f"malformed feed: {error}{salvaged}", data[:4096], feed_name)
    feed_lang = _language(parsed.get("feed", {}).get("language"), language)
    for index, entry in enumerate(entries, start=1):
        link = entry.get("link") or ""
        if not link and str(entry.get("id", "")).startswith(("http://", "https://")):
            link = entry["id"]
        title = html_to_text(entry.get("title", "") or "")
        if not link:
            yield Rejected(
                "missing_link",
                f"entry {index} ({title[:80]!r}) has no link",
                title.encode()[:4096],
                feed_name,
                index,
            )
            continue
        url = canonical_url(link)
        published = _published(entry)
        extra: dict[str, Any] = {}
        if published is None:
            published, extra["published_at_inferred"] = now, True
        yield NewsArticle(
            id=news_id(url),
            source=feed_name,
            url=url,
            title=title,
            body=_body(entry),
            language=_language(entry.get("language"), feed_lang),
            published_at=published,
            **extra,
        )
