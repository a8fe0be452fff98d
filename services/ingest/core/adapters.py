"""The input formats ingest reads, one :class:`Adapter` each, in the order auto-detection tries them.

An adapter names its ``format`` (the value of ``format:`` in the sources file), the file endings it
claims when a source says ``format: auto`` (and, where one ending is shared, how it recognises its
own header line), the parser, and the reasons its parser rejects items with. Adding a format means a
parser module in ``core/`` and one entry in :data:`ADAPTERS` (CONTRIBUTING.md, "Adding a licence
adapter").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePath

from schemas import DeadLetterReason
from schemas.reasons import EVENT_REASONS
from services.ingest.core import feeds, tabular
from services.ingest.core.caat import is_caat_values, parse_caat_values
from services.ingest.core.feeds import parse_feed
from services.ingest.core.jsonl import parse_jsonl
from services.ingest.core.results import Parsed
from services.ingest.core.tabular import parse_csv
from services.ingest.core.tabular_mapping import CsvMapping


@dataclass(frozen=True)
class Input:
    """One file or fetched body, and what its source's configuration says about it."""

    name: str  # a file name or the last part of a URL: its ending picks the format under auto
    data: bytes
    now: dt.datetime
    language: str | None = None
    mapping: CsvMapping | None = None
    ratings: Mapping[str, str] | None = None
    max_item_bytes: int = 1_000_000
    feed_name: str | None = None  # the outlet named in a feed's articles


@dataclass(frozen=True)
class Adapter:
    format: str
    parse: Callable[[Input], Iterator[Parsed]]
    reasons: tuple[
        DeadLetterReason, ...
    ]  # every reason `parse` rejects an item with (metric labels start at zero)
    suffixes: tuple[str, ...] = ()  # file endings it reads under format: auto (none: only when named)
    recognises: Callable[[str], bool] | None = None  # the first line, when an ending is not enough
    needs_mapping: bool = False  # a column mapping in the source is required (and only allowed) here


def first_line(data: bytes) -> str:
    """The first line of a file, as a header is recognised by (and named in a rejection)."""
    return data[:500].decode("utf-8-sig", "replace").split("\n", 1)[0]


def _feed(source: Input) -> Iterator[Parsed]:
    name = source.feed_name or PurePath(source.name).stem
    return parse_feed(source.data, name, source.now, source.language, max_item_bytes=source.max_item_bytes)


def _csv(source: Input) -> Iterator[Parsed]:
    assert source.mapping is not None  # checked when the sources file is loaded
    return parse_csv(source.data, source.mapping, source.name)


JSONL_REASONS = (*EVENT_REASONS, DeadLetterReason.TOO_LARGE)

ADAPTERS: tuple[Adapter, ...] = (
    Adapter("feed", _feed, feeds.REASONS, suffixes=(".xml", ".rss", ".atom", ".rdf")),
    Adapter(
        "caat",
        lambda s: parse_caat_values(s.data, s.name, s.ratings),
        tabular.REASONS,
        suffixes=(".csv",),
        recognises=is_caat_values,
    ),
    Adapter("csv", _csv, tabular.REASONS, needs_mapping=True),
    Adapter(
        "jsonl",
        lambda s: parse_jsonl(s.data, s.name, s.max_item_bytes),
        JSONL_REASONS,
        suffixes=(".jsonl", ".ndjson"),
    ),
)
BY_FORMAT: dict[str, Adapter] = {adapter.format: adapter for adapter in ADAPTERS}
FORMATS: tuple[str, ...] = ("auto", *BY_FORMAT)


def detect(name: str, data: bytes) -> Adapter | None:
    """The adapter that claims a file under ``format: auto``: by its ending, then its first line."""
    suffix = PurePath(name).suffix.lower()
    for adapter in ADAPTERS:
        if suffix in adapter.suffixes and (
            adapter.recognises is None or adapter.recognises(first_line(data))
        ):
            return adapter
    return None
