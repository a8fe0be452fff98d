"""Picking the parser for an input: by the configured format, or by the file name and first bytes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from pathlib import PurePath

from schemas import DeadLetterReason
from schemas.reasons import EVENT_REASONS
from services.ingest.core.caat import is_caat_values, parse_caat_values
from services.ingest.core.feeds import parse_feed
from services.ingest.core.jsonl import parse_jsonl
from services.ingest.core.results import Parsed, Rejected
from services.ingest.core.tabular import CsvMapping, parse_csv

FEED_SUFFIXES = (".xml", ".rss", ".atom", ".rdf")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
SUFFIXES = (*FEED_SUFFIXES, *JSONL_SUFFIXES, ".csv")


def rejection_reasons() -> tuple[DeadLetterReason, ...]:
    """Every reason a parser can reject an item with (metric labels that start at zero)."""
    from services.ingest.core import feeds, tabular

    jsonl = (*EVENT_REASONS, DeadLetterReason.TOO_LARGE)
    unsupported = DeadLetterReason.UNSUPPORTED_SOURCE
    return tuple(dict.fromkeys((*feeds.REASONS, *tabular.REASONS, *jsonl, unsupported)))


def is_ratings_table(name: str, data: bytes) -> bool:
    """A CAAT ``ratings.csv``: descriptions of control codes, read as reference data, not as events."""
    head = data[:200].decode("utf-8-sig", "replace").lower()
    return name.lower().endswith(".csv") and head.startswith("rating,military,short_description")


def _format_of(name: str, data: bytes) -> str | None:
    suffix = PurePath(name).suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in FEED_SUFFIXES:
        return "feed"
    if suffix == ".csv":
        header = data[:500].decode("utf-8-sig", "replace").split("\n", 1)[0]
        return "caat" if is_caat_values(header) else None
    return None


def parse_source(
    name: str,
    data: bytes,
    now: dt.datetime,
    *,
    format: str = "auto",
    language: str | None = None,
    mapping: CsvMapping | None = None,
    ratings: Mapping[str, str] | None = None,
    max_item_bytes: int = 1_000_000,
    feed_name: str | None = None,
) -> Iterator[Parsed]:
    """Items of one file or fetched body. ``name`` is where it came from (a file name or the last part
    of a URL); ``feed_name`` names the outlet in the articles of a feed."""
    kind = _format_of(name, data) if format == "auto" else format
    if kind == "jsonl":
        yield from parse_jsonl(data, name, max_item_bytes)
    elif kind == "feed":
        yield from parse_feed(
            data, feed_name or PurePath(name).stem, now, language, max_item_bytes=max_item_bytes
        )
    elif kind == "caat":
        yield from parse_caat_values(data, name, ratings)
    elif kind == "csv" and mapping is not None:
        yield from parse_csv(data, mapping, name)
    elif PurePath(name).suffix.lower() == ".csv":
        header = data[:500].decode("utf-8-sig", "replace").split("\n", 1)[0]
        yield Rejected(
            DeadLetterReason.UNSUPPORTED_SOURCE,
            f"unknown CSV layout (header: {header[:120]!r}); configure a csv source with a column mapping",
            data[:4096],
            name,
        )
    else:
        suffix = PurePath(name).suffix.lower() or "(none)"
        yield Rejected(
            DeadLetterReason.UNSUPPORTED_SOURCE, f"no parser for files ending in {suffix}", data[:4096], name
        )
