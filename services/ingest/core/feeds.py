"""RSS 2.0, Atom and RDF feeds to news articles (feedparser does the tolerant XML work)."""

from __future__ import annotations

import calendar
import datetime as dt
import re
import time
import unicodedata
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import ftfy
from dateutil import parser as dateparser
from ftfy.badness import is_bad

from schemas import DeadLetterReason, NewsArticle
from services.ingest.core.html import html_to_text
from services.ingest.core.language import LanguageDetector, fill_language
from services.ingest.core.results import Parsed, Rejected
from services.ingest.core.urls import canonical_url, news_id

REASONS = (
    DeadLetterReason.INVALID_FEED,
    DeadLetterReason.INVALID_ENCODING,
    DeadLetterReason.MISSING_LINK,
    DeadLetterReason.NO_TEXT,
    DeadLetterReason.TOO_LARGE,
)
"""Every reason parse_feed rejects with: a metric label, so a short fixed list."""

MAX_RAW = 4096
SUSPECT_AHEAD = dt.timedelta(days=2)
"""A date further in the future than this is kept but marked ``published_at_suspect``."""
EARLIEST_PLAUSIBLE = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
"""Before the web: an epoch-zero or year-1 placeholder, kept but marked ``published_at_suspect``."""

# feedparser flags a feed whose declared encoding was wrong although it decoded the bytes another
# way; the entries are fine, so this alone is not an invalid feed.
_ENCODING_ONLY = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
# Only mojibake repair: curly quotes, ligatures and full-width forms are the article's own text.
_REPAIR = ftfy.TextFixerConfig(
    unescape_html=False,
    uncurl_quotes=False,
    fix_latin_ligatures=False,
    fix_character_width=False,
    explain=False,
)
_LANG = re.compile(r"^([A-Za-z]{2})(?:[-_].*)?$")
_HTML_TYPES = ("", "text/html", "application/xhtml+xml")


def parse_feed(
    data: bytes,
    feed_name: str,
    now: dt.datetime,
    language: str | None = None,
    *,
    max_item_bytes: int = 1_000_000,
    detector: LanguageDetector | None = None,
) -> Iterator[Parsed]:
    """Yield a NewsArticle per feed entry, or a rejection with one of ``REASONS``.

    Broken XML yields one ``invalid_feed`` rejection and the entries feedparser salvaged. Entries
    without a usable date get ``now`` and ``published_at_inferred: true`` rather than being lost. The
    language is the entry's, else the feed's, else ``language``, else ``detector``'s guess. The caller
    checks the size of the whole feed; ``max_item_bytes`` bounds the text of one entry.
    """
    try:
        parsed = feedparser.parse(data)
    except (ValueError, LookupError, OverflowError) as exc:
        # feedparser itself fails on some broken encoding declarations (encoding="\x82"), and its
        # loose parser on a character reference beyond any code point (&#99999999999;: OverflowError).
        yield Rejected(DeadLetterReason.INVALID_FEED, f"unreadable feed: {exc!r}", data[:MAX_RAW], feed_name)
        return
    entries = parsed.get("entries") or []
    error = parsed.get("bozo_exception")
    if parsed.get("bozo") and not isinstance(error, _ENCODING_ONLY):
        # feedparser salvages what it can from broken XML: keep those entries, report the breakage.
        salvaged = f"; {len(entries)} entries salvaged" if entries else ""
        yield Rejected(
            DeadLetterReason.INVALID_FEED, f"malformed feed: {error}{salvaged}", data[:MAX_RAW], feed_name
        )
    elif not parsed.get("version"):
        # Well-formed but not a feed (an HTML page, an empty file): otherwise it would vanish silently.
        yield Rejected(
            DeadLetterReason.INVALID_FEED, "not an RSS, Atom or RDF feed", data[:MAX_RAW], feed_name
        )
    feed = parsed.get("feed") or {}
    feed_language = _language(feed.get("language"), language)
    base = feed.get("link") if isinstance(feed.get("link"), str) else None
    damaged: list[int] = []
    for index, entry in enumerate(entries, start=1):
        result = _entry(entry, index, feed_name, now, feed_language, base, max_item_bytes)
        if isinstance(result, NewsArticle):
            if (result.model_extra or {}).get("encoding_damaged"):
                damaged.append(index)
            if detector is not None:
                result = fill_language(result, detector)
        yield result
    if damaged:
        # The entries are published (a few lost characters rarely hide a match); the feed is reported
        # once so that someone can fix its encoding at the source.
        how = f"; {error}" if isinstance(error, _ENCODING_ONLY) else ""
        yield Rejected(
            DeadLetterReason.INVALID_ENCODING,
            f"{len(damaged)} of {len(entries)} entries have characters lost to a wrong encoding "
            f"(entries {', '.join(map(str, damaged[:10]))}; read as {parsed.get('encoding')}{how})",
            data[:MAX_RAW],
            feed_name,
        )


def _entry(
    entry: Mapping[str, Any],
    index: int,
    feed_name: str,
    now: dt.datetime,
    feed_language: str | None,
    base: str | None,
    max_item_bytes: int,
) -> Parsed:
    title = html_to_text(_text(entry.get("title")))
    markup = _body_markup(entry)
    body = html_to_text(markup)
    size = len(title.encode()) + len(body.encode())
    if size > max_item_bytes:
        return Rejected(
            DeadLetterReason.TOO_LARGE,
            f"entry {index} ({title[:80]!r}) has {size:,} bytes of text, over the {max_item_bytes:,} limit",
            f"{title}\n\n{body}".encode()[:MAX_RAW],
            feed_name,
            index,
        )
    if not title and not body:
        # Bodies of only <img>, <iframe> or <script>: nothing to read, nothing to match.
        return Rejected(
            DeadLetterReason.NO_TEXT,
            f"entry {index} has neither a title nor body text",
            markup.encode()[:MAX_RAW],
            feed_name,
            index,
        )
    link = _link(entry, base)
    if link is None:
        return Rejected(
            DeadLetterReason.MISSING_LINK,
            f"entry {index} ({title[:80]!r}) has no http(s) link",
            title.encode()[:MAX_RAW],
            feed_name,
            index,
        )
    extra: dict[str, Any] = {}
    (repaired_title, title_fixed), (repaired_body, body_fixed) = _repair(title), _repair(body)
    if title_fixed or body_fixed:
        extra["encoding_repaired"] = True
    if _damaged(repaired_title) or _damaged(repaired_body):
        extra["encoding_damaged"] = True
    published, date_extra = _published(entry, now)
    url = canonical_url(link)
    return NewsArticle(
        id=news_id(url),
        source=feed_name,
        url=url,
        title=repaired_title,
        body=repaired_body,
        language=_entry_language(entry) or feed_language,
        published_at=published,
        **date_extra,
        **extra,
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _body_markup(entry: Mapping[str, Any]) -> str:
    contents = entry.get("content") or []
    html = max((_text(c.get("value")) for c in contents), key=len, default="")
    summary = _text(entry.get("summary"))
    return html if len(html) >= len(summary) else summary


def _repair(text: str) -> tuple[str, bool]:
    """Mojibake undone ("FranÃ§ais" -> "Français"), also when only some entries of a feed have it;
    and whether that changed more than the Unicode normalisation (NFC) ftfy also applies."""
    if text.isascii():
        return text, False
    repaired = ftfy.fix_text(text, _REPAIR)
    return repaired, repaired != unicodedata.normalize("NFC", text)


def _damaged(text: str) -> bool:
    """Characters lost for good: replacement characters, or mojibake ftfy could not undo."""
    return not text.isascii() and ("\ufffd" in text or is_bad(text))


def _language(*candidates: object) -> str | None:
    for value in candidates:
        if isinstance(value, str) and (m := _LANG.match(value.strip())):
            return m.group(1).lower()
    return None


def _entry_language(entry: Mapping[str, Any]) -> str | None:
    """RDF/RSS ``dc:language`` of the item, else Atom ``xml:lang`` (feedparser puts it on each text)."""
    details = [*(entry.get("content") or []), entry.get("summary_detail"), entry.get("title_detail")]
    return _language(entry.get("language"), *(d.get("language") for d in details if isinstance(d, Mapping)))


def _link(entry: Mapping[str, Any], base: str | None) -> str | None:
    """The article's URL: an alternate link (HTML first), else the link, else a guid or id that is a URL.

    Atom ids are often ``tag:`` URIs, and an RSS guid is often not a URL at all: only http(s) counts.
    """
    links = [link for link in entry.get("links") or [] if isinstance(link, Mapping)]
    alternates = [link for link in links if (link.get("rel") or "alternate") == "alternate"]
    alternates.sort(key=lambda link: _text(link.get("type")).lower() not in _HTML_TYPES)
    for link in alternates:
        # Only real link elements are resolved against the feed's own link: a relative guid is no URL.
        if url := _http_url(_text(link.get("href")), base):
            return url
    for key in ("link", "id"):
        if url := _http_url(_text(entry.get(key)), None):
            return url
    return None


def _http_url(href: str, base: str | None) -> str | None:
    href = href.strip()
    try:
        parts = urlsplit(href)
        if not parts.scheme and base and href:
            parts = urlsplit(href := urljoin(base, href))
        # .port raises for a port out of range, as canonical_url would later.
        web = parts.scheme.lower() in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # "https://[broken/", "https://x:99999/"
        return None
    return href if web else None


def _published(entry: Mapping[str, Any], now: dt.datetime) -> tuple[dt.datetime, dict[str, Any]]:
    """Publication time, and the extra fields that say how far to trust it."""
    raw_seen: str | None = None
    for key in ("published", "updated", "created"):
        raw = _text(entry.get(key)).strip()
        raw_seen = raw_seen or raw or None
        extra: dict[str, Any] = {}
        published = by_feedparser = _from_struct(entry.get(f"{key}_parsed"))
        # feedparser takes unknown zone names (CET) and no zone at all as UTC without saying so; only a
        # numeric offset or UTC/GMT/Z is trusted without a second reading (dateutil is the slow part).
        if raw and (published is None or not _EXPLICIT_ZONE.search(raw)):
            published = parse_date(raw) or by_feedparser
            if published is not None and published.tzinfo is None:
                published, extra["published_at_assumed_utc"] = published.replace(tzinfo=dt.UTC), True
        if published is not None:
            if published > now + SUSPECT_AHEAD or published < EARLIEST_PLAUSIBLE:
                extra["published_at_suspect"] = True
            return published, extra
    inferred: dict[str, Any] = {"published_at_inferred": True}
    if raw_seen:
        inferred["published_raw"] = raw_seen[:200]
    return now, inferred


def _from_struct(value: object) -> dt.datetime | None:
    if not isinstance(value, time.struct_time):
        return None
    try:
        return dt.datetime.fromtimestamp(calendar.timegm(value), tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None


# Month names in the languages of the feeds, to English for dateutil; with common abbreviations.
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            "january jan januari januar jänner janvier janv enero ene gennaio gen janeiro",
            "february feb februari februar feber février fevrier févr fevr febrero febbraio fevereiro fev",
            "march mar maart mrt märz maerz mär mrz mars marzo março",
            "april apr avril avr abril abr aprile",
            "may mei mai mayo maggio mag maio",
            "june jun juni juin junio giugno giu junho",
            "july jul juli juillet juil julio luglio lug julho",
            "august aug augustus août aout agosto ago",
            "september sep sept septembre septiembre setiembre settembre set setembro",
            "october oct oktober okt octobre octubre ottobre ott outubro out",
            "november nov novembre noviembre novembro",
            "december dec dezember dez décembre decembre déc diciembre dic dicembre dezembro",
        ),
        start=1,
    )
    for name in names.split()
}
_MONTH_ABBR = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Weekdays and small words that dateutil does not know; dropped from the string.
_NOISE = frozenset(
    word
    for words in (
        "lundi mardi mercredi jeudi vendredi samedi dimanche lun mer jeu ven sam dim le à a",
        "maandag dinsdag woensdag donderdag vrijdag zaterdag zondag om uur",
        "montag dienstag mittwoch donnerstag freitag samstag sonnabend sonntag mo di mi do fr sa so um uhr",
        "lunes martes miércoles miercoles jueves viernes sábado sabado domingo mié jue vie sáb de del las",
        "lunedì martedì mercoledì giovedì venerdì sabato domenica alle ore às",
    )
    for word in words.split()
)
_WORD = re.compile(r"[^\W\d_]+\.?")
_DAY_DOT = re.compile(r"\b(\d{1,2})\.\s+(?=[^\W\d_])")  # German "23. November"
_FIRST = re.compile(r"\b1(?:er|º|°)(?=\s)", re.IGNORECASE)  # "1er novembre", "1º de noviembre"
_CLOCK = re.compile(r"\b(\d{1,2})\s?[h.]\s?(\d{2})\b(?!\.\d)", re.IGNORECASE)  # "14h05", "14.05 Uhr"
_MERIDIEM = re.compile(r"\b([ap])\.\s?m\.", re.IGNORECASE)  # "a.m." before "a" is dropped as a word
_EXPLICIT_ZONE = re.compile(r"(?:[+-]\d\d:?\d\d|\bGMT|\bUTC?|\dZ)\s*$", re.IGNORECASE)
_YEAR_FIRST = re.compile(r"^\s*\d{4}\b")
_ZONES = {
    **{"UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "WEST": 1, "BST": 1, "CET": 1, "CEST": 2},
    **{"MET": 1, "MEST": 2, "MEZ": 1, "MESZ": 2, "EET": 2, "EEST": 3, "MSK": 3},
    **{"EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7},
}
# Two defaults: a field dateutil filled in from them was not in the string.
_DEFAULTS = (dt.datetime(2000, 1, 1), dt.datetime(2001, 2, 2))


def _zone(name: str | None, offset: int | None) -> dt.tzinfo | None:
    # A callable, not a dict: with a dict dateutil would read the machine's own zone names.
    if offset is not None:
        return dt.timezone(dt.timedelta(seconds=offset))
    hours = _ZONES.get((name or "").upper())
    return None if hours is None else dt.timezone(dt.timedelta(hours=hours))


def _word(match: re.Match[str]) -> str:
    word = match.group(0).rstrip(".").lower()
    if word in _MONTHS:
        return f" {_MONTH_ABBR[_MONTHS[word]]} "
    return " " if word in _NOISE else match.group(0)


def parse_date(raw: str) -> dt.datetime | None:
    """A date as feeds write it (RFC 822, ISO 8601, "23/11/2026 14:05", "23 novembre 2026",
    "23. November 2026", "23 de noviembre de 2026"): in UTC, or naive when it names no zone; None if
    it is not a whole date.

    Numeric dates are read day first, as in Europe, unless they start with the year.
    """
    if not raw or len(raw) > 100:
        return None
    text = _FIRST.sub("1", _DAY_DOT.sub(r"\1 ", raw))
    text = _CLOCK.sub(r" \1:\2 ", _MERIDIEM.sub(r"\1m", text))
    text = _WORD.sub(_word, text)
    dayfirst = not _YEAR_FIRST.match(text)
    try:
        first, second = (
            dateparser.parse(text, default=d, dayfirst=dayfirst, tzinfos=_zone) for d in _DEFAULTS
        )
    except (ValueError, OverflowError):
        return None
    if first.date() != second.date():
        return None
    try:
        return first if first.tzinfo is None else first.astimezone(dt.UTC)
    except OverflowError:  # "0001-01-01T00:00+01:00" is before the first representable UTC time
        return None
