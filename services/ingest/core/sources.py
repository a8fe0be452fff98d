"""Picking the adapter for an input: by the configured format, or by the file name and first bytes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from pathlib import PurePath

from schemas import DeadLetterReason
from services.ingest.core.adapters import ADAPTERS, BY_FORMAT, Input, detect, first_line
from services.ingest.core.results import Parsed, Rejected
from services.ingest.core.tabular_mapping import CsvMapping

# Endings whose format auto-detection knows (a fetched body gets one from its content type otherwise).
SUFFIXES = (*dict.fromkeys(s for adapter in ADAPTERS for s in adapter.suffixes),)


def rejection_reasons() -> tuple[DeadLetterReason, ...]:
    """Every reason a parser can reject an item with (metric labels that start at zero)."""
    reasons = (r for adapter in ADAPTERS for r in adapter.reasons)
    return tuple(dict.fromkeys((*reasons, DeadLetterReason.UNSUPPORTED_SOURCE)))


def is_ratings_table(name: str, data: bytes) -> bool:
    """A CAAT ``ratings.csv``: descriptions of control codes, read as reference data, not as events."""
    head = data[:200].decode("utf-8-sig", "replace").lower()
    return name.lower().endswith(".csv") and head.startswith("rating,military,short_description")


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
    """Items of one file or fetched body, read by the adapter its source names (or that claims it under
    ``format: auto``). ``name`` is where it came from (a file name or the last part of a URL);
    ``feed_name`` names the outlet in the articles of a feed."""
    adapter = detect(name, data) if format == "auto" else BY_FORMAT.get(format)
    if adapter is not None and not (adapter.needs_mapping and mapping is None):
        source = Input(name, data, now, language, mapping, ratings, max_item_bytes, feed_name)
        yield from adapter.parse(source)
    elif PurePath(name).suffix.lower() == ".csv":
        header = first_line(data)
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
