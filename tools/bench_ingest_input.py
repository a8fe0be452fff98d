"""The ingest benchmark's input: a synthetic CAAT ``values.csv`` made from the bundled sample, the
corrected release of a file, and parsing it alone (the parse-only baseline)."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import time
from importlib import resources

from services.ingest.core.caat import COLUMNS, parse_caat_values
from services.ingest.core.results import Rejected

DEFAULT_ROWS = 96_000
FIRST_DAY = dt.date(2008, 1, 1)
LAST_DAY = dt.date(2015, 12, 31)
SYNTHETIC_GROUP_BASE = 1_000_000  # above every real CAAT licence group (the 2008–2015 file ends near 76,000)
FILE_NAME = "values.csv"
CHANGED_EVERY = 100  # the corrected release changes one row in this many


def _sample_rows() -> list[list[str]]:
    text = (
        resources.files("services.ingest.samples")
        .joinpath("uk-caat-values-2014-sample.csv")
        .read_text(encoding="utf-8")
    )
    rows = list(csv.reader(io.StringIO(text)))
    header = [c.strip().lower() for c in rows[0]]
    order = [header.index(c) for c in COLUMNS]
    return [[row[i] for i in order] for row in rows[1:] if row]


def synthetic_values(rows: int = DEFAULT_ROWS) -> bytes:
    """A CAAT ``values.csv`` of ``rows`` rows: the bundled 2014 sample replicated in order, each row with
    a licence group of its own (so every row has its own id) and its date moved so that the dates rise
    evenly from 2008-01-01 to 2015-12-31. The same ``rows`` always gives the same bytes."""
    if rows < 0:
        raise ValueError("rows must be >= 0")
    sample = _sample_rows()
    span = (LAST_DAY - FIRST_DAY).days + 1
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for i in range(rows):
        _group, _date, rating, count, value, country, refused = sample[i % len(sample)]
        day = FIRST_DAY + dt.timedelta(days=i * span // rows)
        writer.writerow([SYNTHETIC_GROUP_BASE + i, day.isoformat(), rating, count, value, country, refused])
    return out.getvalue().encode("utf-8")


def corrected_release(data: bytes, every: int = CHANGED_EVERY) -> tuple[bytes, int]:
    """``data`` with the value of every ``every``-th data row raised by 1, as a corrected release would
    have it. Only the value's characters change: the rest of the file, quotes and line ends included,
    stays byte for byte. Returns the new bytes and the number of rows changed. A row spread over several
    lines (a quoted line break) is never changed."""
    lines = data.splitlines(keepends=True)
    if not lines or every <= 0:
        return data, 0
    header = [c.strip().lstrip("\ufeff").lower() for c in next(csv.reader([lines[0].decode("utf-8-sig")]))]
    value_i = header.index("value")
    changed = 0
    data_row = 0
    for n in range(1, len(lines)):
        if not lines[n].strip():
            continue
        data_row += 1
        if data_row % every:
            continue
        body = lines[n].rstrip(b"\r\n")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            continue
        spans = _field_spans(text)
        if text.count('"') % 2 or len(spans) <= value_i:
            continue
        start, end = spans[value_i]
        try:
            value = _plus_one(next(csv.reader([text[start:end]]), [""])[0] if end > start else "")
        except ValueError:
            continue
        lines[n] = (text[:start] + value + text[end:]).encode("utf-8") + lines[n][len(body) :]
        changed += 1
    return b"".join(lines), changed


def _field_spans(line: str) -> list[tuple[int, int]]:
    """(start, end) of each comma-separated field of one CSV line, commas inside quotes skipped."""
    spans: list[tuple[int, int]] = []
    start, quoted = 0, False
    for i, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            spans.append((start, i))
            start = i + 1
    spans.append((start, len(line)))
    return spans


def _plus_one(value: str) -> str:
    number = float(value.strip() or 0)
    return str(int(number) + 1) if number.is_integer() else repr(number + 1)


@dataclasses.dataclass(frozen=True)
class Parsed:
    """What the benchmark needs to know of the input: its rows, their ids, and parse-only time."""

    rows: int
    rejected: int
    ids: frozenset[str]
    seconds: float


def parse_only(data: bytes) -> Parsed:
    """Parse the whole file with the ingest parser and nothing else (no hashing, broker or database)."""
    ids: set[str] = set()
    rows = rejected = 0
    started = time.perf_counter()
    for item in parse_caat_values(data, FILE_NAME):
        rows += 1
        if isinstance(item, Rejected):
            rejected += 1
        else:
            ids.add(item.id)
    return Parsed(rows, rejected, frozenset(ids), time.perf_counter() - started)
