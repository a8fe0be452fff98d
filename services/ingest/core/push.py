"""A pushed body (``POST /v1/events``) read into events, or into the reasons it is refused: one JSON
object, a JSON array or JSON Lines, bounded in items, in bytes per item and in problems reported.

The bounds are what keep one request from costing the service more than its body: a 5 MB body of
2.4 million tiny items once took 17 s to judge and over a GiB of memory to answer. The number of items is
counted before anything is parsed, and stops at the limit; only the first problems are described.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass

import pydantic_core

from schemas import DeadLetterReason, InvalidEvent, parse_event
from services.ingest.core.results import Event

Item = bytes | dict[str, object]

# A non-blank line, as bytes.splitlines() and bytes.strip() see them (\s in a bytes pattern is the same
# six characters strip() removes).
_NON_BLANK_LINE = re.compile(rb"[^\r\n]*\S[^\r\n]*")
# What the depth of a JSON text changes with: strings (whose brackets and commas do not count),
# brackets and commas.
_JSON_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]', re.DOTALL)


@dataclass(frozen=True)
class PushLimits:
    """``max_items`` events per request, ``max_event_bytes`` per event, ``max_problems`` described."""

    max_items: int
    max_event_bytes: int
    max_problems: int = 100


@dataclass(frozen=True)
class Problem:
    """An invalid item: its line (JSON Lines) or position from 1 (JSON array), reason and detail."""

    line: int
    reason: str
    detail: str


@dataclass(frozen=True)
class TooManyItems:
    """The body holds more than ``limit`` items: refused before they are parsed."""

    limit: int


@dataclass(frozen=True)
class Invalid:
    """Some items are invalid: ``problems`` describes the first of them, ``count`` is all of them."""

    problems: list[Problem]
    count: int


def _lines_over(data: bytes, limit: int) -> bool:
    """Whether ``data`` has more than ``limit`` non-blank lines; reads no further than the one past it."""
    return sum(1 for _ in itertools.islice(_NON_BLANK_LINE.finditer(data), limit + 1)) > limit


def _array_over(data: bytes, limit: int) -> bool:
    """Whether the JSON array ``data`` has more than ``limit`` items, counted as its top-level commas
    without building any of them; stops at the limit. (On text that is no valid JSON the count may be
    off; such a body is refused either way.)"""
    depth = 0
    commas = 0
    for token in _JSON_TOKEN.finditer(data):
        char = data[token.start()]
        if char in b"[{":
            depth += 1
        elif char in b"]}":
            depth -= 1
        elif char == ord(",") and depth == 1:
            commas += 1
            if commas >= limit:  # limit commas separate limit + 1 items
                return True
    return False


def _load_json(data: bytes) -> object:
    """``data`` read by the parser the events themselves are read with (pydantic's): it refuses what
    json.loads would let through or crash on (lone surrogates, nesting too deep for the recursion limit,
    integers too long to convert), so a whole body is judged exactly like one line. Raises ValueError."""
    return pydantic_core.from_json(data)


def split_body(body: bytes, max_items: int | None = None) -> list[tuple[int, Item]] | TooManyItems:
    """A pushed body as (line number, item): one JSON object, a JSON array (numbered from 1), or JSON
    Lines; TooManyItems, before any item is parsed, when it holds more than ``max_items``. Raises
    InvalidEvent when a JSON array is itself unreadable."""
    stripped = body.strip()
    if stripped.startswith(b"["):
        if max_items is not None and _array_over(stripped, max_items):
            return TooManyItems(max_items)
        try:
            items = _load_json(stripped)
        except ValueError as exc:
            raise InvalidEvent(
                DeadLetterReason.INVALID_JSON, f"the JSON array is not valid JSON: {exc}"
            ) from None
        if not isinstance(items, list):  # pragma: no cover - a body opening with "[" is an array
            raise InvalidEvent(DeadLetterReason.INVALID_JSON, "the body is not a JSON array")
        if max_items is not None and len(items) > max_items:  # pragma: no cover - counted above
            return TooManyItems(max_items)
        return [
            (i, item if isinstance(item, dict) else json.dumps(item).encode())
            for i, item in enumerate(items, start=1)
        ]
    if stripped.startswith(b"{") and b"\n" in stripped:
        # One pretty-printed object spans lines; JSON Lines has one object per line.
        try:
            whole = _load_json(stripped)
        except ValueError:
            whole = None
        if isinstance(whole, dict):
            return [(1, whole)]
    if max_items is not None and _lines_over(stripped, max_items):
        return TooManyItems(max_items)
    return [(n, line) for n, line in enumerate(stripped.splitlines(), start=1) if line.strip()]


def item_size(item: Item) -> int:
    """Bytes of an item: a line as sent, an object of a JSON array as compact JSON (the array's layout is
    the sender's; the compact size is about what is published)."""
    return len(item) if isinstance(item, bytes) else len(pydantic_core.to_json(item))


def _check_event(event: Event) -> None:
    """What the schema allows but ingest cannot keep: an id with a NUL character (PostgreSQL text and
    most Kafka tools cannot hold one). Raises InvalidEvent."""
    if "\x00" in event.id:
        raise InvalidEvent(DeadLetterReason.INVALID_EVENT, "id: must not contain a NUL character (\\u0000)")


def read_item(item: Item, max_event_bytes: int) -> Event:
    """One item as an event. Raises InvalidEvent: too_large above ``max_event_bytes``, a line of JSON
    Lines and an object of a JSON array alike (before it is validated, and before anything of its
    request is published: the broker would refuse it, or every consumer would), or the reason
    parse_event gives."""
    if (size := item_size(item)) > max_event_bytes:
        raise InvalidEvent(
            DeadLetterReason.TOO_LARGE, f"event of {size} bytes exceeds the limit of {max_event_bytes}"
        )
    event = parse_event(item)
    _check_event(event)
    return event


def read_push(body: bytes, limits: PushLimits) -> list[Event] | TooManyItems | Invalid:
    """Every event of ``body``; or TooManyItems; or Invalid when any item is (all or nothing: the caller
    fixes the items named and sends the body again). Raises InvalidEvent when the body is a JSON array
    that cannot be read."""
    items = split_body(body, limits.max_items)
    if isinstance(items, TooManyItems):
        return items
    events: list[Event] = []
    problems: list[Problem] = []
    count = 0
    for line, item in items:
        try:
            events.append(read_item(item, limits.max_event_bytes))
        except InvalidEvent as exc:
            count += 1
            if len(problems) < limits.max_problems:
                problems.append(Problem(line, exc.reason, exc.detail))
    if count:
        return Invalid(problems, count)
    return events
