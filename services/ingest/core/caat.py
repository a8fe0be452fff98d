"""UK export-licence data as published by Campaign Against Arms Trade (``values.csv``).

Columns: ``licence_group,date,rating,count,value,country,refused``. One row is one rating (control
code) of one licence group to one destination; the id is built from exactly those, so re-reading a
file publishes nothing new while a corrected value in a new release keeps the id (an update).
Bytes are decoded by :func:`decode_lines` (UTF-8, cp1252 line by line where a line is not UTF-8).
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from schemas import DeadLetterReason, Decision, LicenceItem, LicenceRecord
from services.common.config import quoted
from services.ingest.core.countries import resolve_country
from services.ingest.core.decoding import DecodedText, decode_lines, numbered_rows
from services.ingest.core.results import Parsed, Rejected
from services.ingest.core.urls import stable_id

if TYPE_CHECKING:
    from _csv import Reader

COLUMNS = ("licence_group", "date", "rating", "count", "value", "country", "refused")
AUTHORITY = "UK Export Control Joint Unit (via CAAT)"
SOURCE_URL = "https://github.com/caatdata/uk-arms-export-data"


def is_caat_values(header: str) -> bool:
    return [c.strip().lower() for c in header.split(",")][: len(COLUMNS)] == list(COLUMNS)


def load_ratings(data: bytes) -> dict[str, str]:
    """``ratings.csv`` (rating,military,short_description,full_description) -> rating: short description.

    Reference data, never an error: a row that is not CSV (a stray carriage return, a cell over the
    csv module's size limit) is skipped, and a header that is not CSV gives no descriptions."""
    reader = csv.DictReader(decode_lines(data).lines)
    ratings: dict[str, str] = {}
    try:
        reader.fieldnames  # noqa: B018 - reads the header now, so that its error is told from a row's
    except csv.Error:
        return ratings
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return ratings
        except csv.Error:
            continue
        if row.get("rating"):
            ratings[row["rating"].strip()] = (row.get("short_description") or "").strip()


def _cell(row: list[str], index: int) -> str:
    return row[index].strip() if index < len(row) else ""


def _count(text: str) -> int | None:
    """The licence count, or None when the cell is not a plain number: "²" is a digit to isdigit() but
    not to int(), and a count of more digits than a 64-bit integer has is no count (int() refuses
    thousands, and the JSON readers downstream refuse such a number)."""
    return int(text) if text.isdecimal() and len(text) <= 18 else None


def parse_caat_values(data: bytes, source: str, ratings: Mapping[str, str] | None = None) -> Iterator[Parsed]:
    """Yield a LicenceRecord per row, or a rejection with the row's line number and reason.

    The file is decoded by :func:`decode_lines`: a file that is partly UTF-8 and partly cp1252 keeps
    its UTF-8 rows intact; a row with bytes that decode in neither is rejected as ``invalid_encoding``.
    """
    decoded = decode_lines(data)
    reader = csv.reader(decoded.lines)
    try:
        header = [c.strip().lstrip("\ufeff").lower() for c in next(reader, [])]
    except csv.Error as exc:
        yield Rejected(DeadLetterReason.INVALID_CSV, f"the header is not CSV: {exc}", data[:4096], source, 1)
        return
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        yield Rejected(
            DeadLetterReason.INVALID_CSV, f"missing columns: {', '.join(missing)}", data[:4096], source, 1
        )
        return
    group_i, date_i, rating_i, count_i, value_i, country_i, refused_i = (header.index(c) for c in COLUMNS)
    ratings = ratings or {}
    for item in _rows(reader, decoded, source):
        if isinstance(item, Rejected):
            yield item
            continue
        first, end, row = item
        group = _cell(row, group_i)
        rating = _cell(row, rating_i)
        country = _cell(row, country_i)
        date = _cell(row, date_i)
        try:
            decided = dt.date.fromisoformat(date)
        except ValueError:
            raw = _raw(decoded, first, end)
            yield Rejected(
                DeadLetterReason.INVALID_DATE, f"date {quoted(date)} is not YYYY-MM-DD", raw, source, end
            )
            continue
        value_text = _cell(row, value_i)
        try:
            value = float(value_text or 0)
            if not math.isfinite(value) or value < 0:
                raise ValueError(value_text)
        except ValueError:
            raw = _raw(decoded, first, end)
            detail = f"value {quoted(value_text)} is not a number >= 0"
            yield Rejected(DeadLetterReason.INVALID_VALUE, detail, raw, source, end)
            continue
        refused = _cell(row, refused_i)
        if refused not in ("0", "1"):
            raw = _raw(decoded, first, end)
            detail = f"refused must be 0 or 1, not {quoted(refused)}"
            yield Rejected(DeadLetterReason.INVALID_DECISION, detail, raw, source, end)
            continue
        if not group or not country:
            raw = _raw(decoded, first, end)
            yield Rejected(
                DeadLetterReason.MISSING_FIELD, "licence_group and country are required", raw, source, end
            )
            continue
        count = _cell(row, count_i)
        yield LicenceRecord(
            id=stable_id("uk-caat", group, decided.isoformat(), rating, country),
            authority=AUTHORITY,
            licensing_country="GB",
            destination_country=resolve_country(country),
            destination_name=country,
            items=[LicenceItem(control_code=rating or None, description=ratings.get(rating))],
            value=value,
            currency="GBP",
            decision=Decision.REFUSED if refused == "1" else Decision.GRANTED,
            decided_on=decided,
            source_url=SOURCE_URL,
            licence_count=_count(count),
            licence_group=group,
        )


Row = tuple[int, int, list[str]]


def _rows(reader: Reader, decoded: DecodedText, source: str) -> Iterator[Row | Rejected]:
    """Each non-empty row with its first and last line; or a rejection for a row the csv module cannot
    read or with bytes that decode in no encoding tried."""
    replaced = decoded.replaced_lines
    for first, end, row in numbered_rows(reader):
        if isinstance(row, csv.Error):
            reason = (
                DeadLetterReason.TOO_LARGE
                if "field larger than field limit" in str(row)
                else DeadLetterReason.INVALID_CSV
            )
            yield Rejected(reason, f"not a CSV row: {row}", _raw(decoded, first, end)[:4096], source, end)
            continue
        if not row:
            continue
        if replaced and not replaced.isdisjoint(range(first, end + 1)):
            yield Rejected(
                DeadLetterReason.INVALID_ENCODING,
                "bytes that are neither UTF-8 nor cp1252 (shown as \ufffd)",
                _raw(decoded, first, end),
                source,
                end,
            )
            continue
        yield first, end, row


def _raw(decoded: DecodedText, first: int, last: int) -> bytes:
    """The row as it was in the file (its original bytes when it needed the fallback decoding)."""
    return decoded.raw(first, last).rstrip(b"\r\n")
