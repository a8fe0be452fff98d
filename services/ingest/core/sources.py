"""Picking the parser for an input file by its name and first bytes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from pathlib import PurePath

from services.ingest.core.caat import is_caat_values, parse_caat_values
from services.ingest.core.feeds import parse_feed
from services.ingest.core.jsonl import parse_jsonl
from services.ingest.core.results import Parsed, Rejected

FEED_SUFFIXES = (".xml", ".rss", ".atom", ".rdf")
JSONL_SUFFIXES = (".jsonl", ".ndjson")


def is_ratings_table(name: str, data: bytes) -> bool:
    """A CAAT ``ratings.csv``: descriptions of control codes, read as reference data, not as events."""
    head = data[:200].decode("utf-8-sig", "replace").lower()
    return name.endswith(".csv") and head.startswith("rating,military,short_description")


def parse_source(
    name: str,
    data: bytes,
    now: dt.datetime,
    *,
    language: str | None = None,
    ratings: Mapping[str, str] | None = None,
    max_event_bytes: int = 1_000_000,
) -> Iterator[Parsed]:
    suffix = PurePath(name).suffix.lower()
    if suffix in JSONL_SUFFIXES:
        yield from parse_jsonl(data, name, max_event_bytes)
    elif suffix in FEED_SUFFIXES:
        yield from parse_feed(data, PurePath(name).stem, now, language)
    elif suffix == ".csv":
        header = data[:500].decode("utf-8-sig", "replace").split("\n", 1)[0]
        if is_caat_values(header):
            yield from parse_caat_values(data, name, ratings)
        else:
            yield Rejected(
                "unsupported_source", f"unknown CSV layout (header: {header[:120]!r})", data[:4096], name
            )
    else:
        yield Rejected(
            "unsupported_source", f"no parser for files ending in {suffix or '(none)'}", data[:4096], name
        )
