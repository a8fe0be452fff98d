"""Licence data published as a spreadsheet (CSV) by any export authority, read through a configured
mapping of its columns: a new authority needs configuration, not code.

An operator describes the file in the sources file, for example a Dutch monthly list::

    mapping:
      authority: "NL Centrale Dienst voor In- en Uitvoer"
      licensing_country: NL
      id_prefix: nl-cdiu
      delimiter: ";"
      date_formats: ["%d-%m-%Y"]
      decimal_separator: ","
      currency: EUR
      columns:
        licence_number: Vergunningnummer
        decided_on: Datum
        destination: Land van bestemming
        control_code: Rubriek
        description: Omschrijving goederen
        value: Waarde (EUR)
        decision: Besluit
      decisions: {Verleend: granted, Afgewezen: refused, Ingetrokken: revoked}
      code_separator: "/"
      extra_columns: {end_use: Eindgebruik}

Each data row becomes one LicenceRecord (one LicenceItem per control code in the row), or a
Rejected with the row's first physical line and one of :data:`REASONS`. One bad row never stops the
file; only a header without the configured columns does (one ``invalid_csv``).

Ids: ``stable_id(id_prefix, *identity)`` over the cells of the identity columns, normalised (NFKC,
case-folded, whitespace collapsed, accents kept; a date as an ISO date; a list of codes in any order). By
default the identity is the licence number, control code and destination when a licence number is
mapped, else every mapped column except value, currency, decision and description: so re-reading a
file gives the same ids, and a release that corrects a value or a decision keeps the id and is
published as an update. Rows with the same identity in one file (two licences on one day for the same
code and country, in a list without licence numbers) are told apart by their order: the second gets
``#2`` in its id.

Destinations: a valid code in the ``destination_code`` column wins; otherwise the name is resolved
with :func:`resolve_country`, and an unknown name is kept in ``destination_name`` with no code: never
guessed. Unmapped columns are not copied into records (the record is a contract; a column becomes a
field only when ``extra_columns`` names it); a rejection carries the row's original bytes.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import (
    ValidationError,
)

from schemas import DeadLetterReason, LicenceRecord
from services.common.config import quoted
from services.ingest.core.countries import country_code, resolve_country
from services.ingest.core.decoding import DecodedText, decode_lines, numbered_rows
from services.ingest.core.results import Parsed, Rejected
from services.ingest.core.tabular_mapping import CsvMapping, normalise
from services.ingest.core.urls import stable_id

REASONS = (
    # the header lacks a configured column (then the file stops), or a row is not CSV
    DeadLetterReason.INVALID_CSV,
    DeadLetterReason.INVALID_DATE,  # a date matching none of date_formats
    # a value that is not a number >= 0, or a currency that is not ISO 4217
    DeadLetterReason.INVALID_VALUE,
    DeadLetterReason.INVALID_DECISION,  # a decision not in `decisions`
    DeadLetterReason.MISSING_FIELD,  # a required cell is empty
    DeadLetterReason.TOO_LARGE,  # a row longer than max_row_chars (typically an unclosed quote)
    DeadLetterReason.INVALID_ENCODING,  # a row with bytes that decode in no encoding tried
)
_CURRENCY_SIGNS = {"€": "EUR", "£": "GBP", "euro": "EUR", "euros": "EUR"}
_SPACES = " \u00a0\u202f\u2009"
_AMOUNT = re.compile(r"(?:(?P<pre>[A-Z]{3}|[€£])\s*)?(?P<number>.*?)(?:\s*(?P<post>[A-Z]{3}|[€£]))?")
_MAX_AMOUNT = 100  # characters of a value cell, currency included: "€ 1.234.567.890,12" has 18


@dataclass(frozen=True)
class _Layout:
    """Where each configured column is in this file's header."""

    fields: dict[str, int]
    identity: tuple[tuple[int, str | None], ...]
    extras: dict[str, int]
    width: int


class _RowError(Exception):
    def __init__(self, reason: DeadLetterReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def parse_csv(data: bytes, mapping: CsvMapping, source: str) -> Iterator[Parsed]:
    """Yield a LicenceRecord per data row, or a Rejected with the row's first line and reason."""
    decoded = decode_lines(data, mapping.encoding)
    lines = decoded.lines
    top = mapping.header_row - 1
    if len(lines) <= top:
        detail = f"header_row is {mapping.header_row} but the file has {len(lines)} lines"
        yield Rejected(DeadLetterReason.INVALID_CSV, detail, data[:4096], source, None)
        return
    delimiter = mapping.delimiter or sniff_delimiter(lines[top : top + 21], _wanted(mapping))
    reader = csv.reader(lines[top:], delimiter=delimiter)
    try:
        header = next(reader, [])
    except csv.Error as exc:
        yield Rejected(
            DeadLetterReason.INVALID_CSV, f"header: {exc}", decoded.raw(top + 1, top + 1), source, top + 1
        )
        return
    layout = _layout(header, mapping)
    if isinstance(layout, str):
        hint = _header_hint(lines, delimiter, mapping)
        raw = decoded.raw(top + 1, top + reader.line_num)
        yield Rejected(DeadLetterReason.INVALID_CSV, layout + hint, raw, source, mapping.header_row)
        return
    rows = _RowReader(mapping, layout, delimiter)
    replaced = decoded.replaced_lines
    seen: dict[tuple[str, ...], int] = {}
    for first, end, row in numbered_rows(reader, top):
        if isinstance(row, csv.Error):
            yield _csv_error(decoded, first, end, mapping, source, str(row))
            continue
        cells = rows.cells(row)
        if cells is None:
            continue  # a blank line, or an empty spreadsheet row (";;;;")
        size = len(lines[first - 1]) if end == first else sum(map(len, lines[first - 1 : end]))
        if size > mapping.max_row_chars:
            detail = f"row of {size} characters exceeds the limit of {mapping.max_row_chars}"
            yield Rejected(DeadLetterReason.TOO_LARGE, detail, decoded.raw(first, end)[:4096], source, first)
            continue
        # Counted before validation, so fixing a rejected row does not renumber its later twins.
        identity = rows.identity(cells)
        seen[identity] = occurrence = seen.get(identity, 0) + 1
        try:
            if replaced and not replaced.isdisjoint(range(first, end + 1)):
                raise _RowError(
                    DeadLetterReason.INVALID_ENCODING,
                    "bytes that decode in no encoding tried (shown as \ufffd)",
                )
            yield rows.record(cells, identity if occurrence == 1 else (*identity, f"#{occurrence}"))
        except _RowError as exc:
            raw = decoded.raw(first, end).rstrip(b"\r\n")
            yield Rejected(exc.reason, exc.detail, raw, source, first)


def sniff_delimiter(sample: Sequence[str], wanted: set[str]) -> str:
    """The delimiter among , ; tab | that finds the most configured header names, then gives the most
    rows of the header's width."""
    best, best_score = ",", (-1, -1, -1)
    for delimiter in (",", ";", "\t", "|"):
        try:
            rows = list(csv.reader(sample, delimiter=delimiter))
        except csv.Error:
            continue
        if not rows:
            continue
        header = rows[0]
        found = len(wanted & {normalise(cell) for cell in header})
        consistent = sum(1 for row in rows[1:] if row and len(row) == len(header))
        score = (found, consistent, len(header))
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _wanted(mapping: CsvMapping) -> set[str]:
    headers = [*mapping.columns.mapped().values(), *mapping.identity_headers()]
    return {normalise(h) for h in [*headers, *mapping.extra_columns.values()]}


def _layout(header: list[str], mapping: CsvMapping) -> _Layout | str:
    """Column positions, or what is missing from the header."""
    positions: dict[str, int] = {}
    ambiguous: set[str] = set()
    for index, name in enumerate(header):
        key = normalise(name)
        if key in positions:
            ambiguous.add(key)
        positions.setdefault(key, index)
    mapped = mapping.columns.mapped()
    wanted = [*mapped.values(), *mapping.identity_headers(), *mapping.extra_columns.values()]
    missing = list(dict.fromkeys(h for h in wanted if normalise(h) not in positions))
    twice = list(dict.fromkeys(h for h in wanted if normalise(h) in ambiguous))
    if missing or twice:
        problems = []
        if missing:
            problems.append(f"missing columns: {', '.join(map(repr, missing))}")
        if twice:
            problems.append(f"columns named twice: {', '.join(map(repr, twice))}")
        names = [h.strip() for h in header if h.strip()]
        found = ", ".join(quoted(h, 30) for h in names[:10])
        if len(names) > 10:
            found += f" and {len(names) - 10:,} more"
        return f"{'; '.join(problems)} (the header has {found or 'no names'})"
    fields = {name: positions[normalise(h)] for name, h in mapped.items()}
    kinds = {positions[normalise(h)]: name for name, h in mapped.items()}
    identity = tuple(
        (positions[normalise(h)], kinds.get(positions[normalise(h)])) for h in mapping.identity_headers()
    )
    extras = {name: positions[normalise(h)] for name, h in mapping.extra_columns.items()}
    return _Layout(fields, identity, extras, len(header))


def _header_hint(lines: Sequence[str], delimiter: str, mapping: CsvMapping) -> str:
    """Point at the line that does have the configured columns, when one of the first 30 does."""
    wanted = _wanted(mapping)
    for number, line in enumerate(lines[:30], 1):
        try:
            cells = next(csv.reader([line], delimiter=delimiter), [])
        except csv.Error:
            continue
        if number != mapping.header_row and wanted <= {normalise(c) for c in cells}:
            return f"; line {number} has them all: set header_row: {number}"
    return ""


def _csv_error(
    decoded: DecodedText, first: int, end: int, mapping: CsvMapping, source: str, message: str
) -> Rejected:
    raw = decoded.raw(first, end)
    if "field larger than field limit" in message or len(raw) > mapping.max_row_chars:
        detail = f"a cell of more than {csv.field_size_limit()} characters: an unclosed quote?"
        return Rejected(DeadLetterReason.TOO_LARGE, detail, raw[:4096], source, first)
    return Rejected(DeadLetterReason.INVALID_CSV, message, raw.rstrip(b"\r\n")[:4096], source, first)


def _codes(text: str, separator: str | None) -> list[str]:
    parts = text.split(separator) if separator else [text]
    return list(dict.fromkeys(p.strip() for p in parts if p.strip()))


def _number_pattern(decimal: str, thousands: str | None) -> re.Pattern[str]:
    if thousands is None:
        grouping = ("," if decimal == "." else ".") + _SPACES + "'’"
    else:
        grouping = thousands + (_SPACES if thousands == " " else "")
    integer = rf"\d{{1,3}}(?:[{re.escape(grouping)}]\d{{3}})+|\d+" if grouping else r"\d+"
    return re.compile(rf"(?P<sign>[-+\u2212]?)(?P<int>{integer})?(?:{re.escape(decimal)}(?P<frac>\d+))?")


def _currency(text: str) -> str:
    code = _CURRENCY_SIGNS.get(text.casefold(), _CURRENCY_SIGNS.get(text, text.upper()))
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise _RowError(DeadLetterReason.INVALID_VALUE, f"currency {quoted(text)} is not an ISO 4217 code")
    return code


class _RowReader:
    """One file's rows to records: the mapping resolved against the file's header once; dates parsed
    once per distinct cell (a file has a few hundred dates for a hundred thousand rows)."""

    def __init__(self, mapping: CsvMapping, layout: _Layout, delimiter: str) -> None:
        self.mapping = mapping
        self.layout = layout
        self.delimiter = delimiter
        self.prefix = mapping.prefix
        # An unmapped field reads the empty cell that cells() appends after the last column.
        width = layout.width
        index = layout.fields.get
        self.i_number, self.i_exporter, self.i_end_user = (
            index("licence_number", width),
            index("exporter", width),
            index("end_user", width),
        )
        self.i_destination, self.i_code = index("destination", width), index("destination_code", width)
        self.i_control, self.i_description = index("control_code", width), index("description", width)
        self.i_value, self.i_currency = index("value", width), index("currency", width)
        self.i_date, self.i_decision = index("decided_on", width), index("decision", width)
        mapped = mapping.columns.mapped()
        # (label, column, alternative column or the empty cell): destination is name or code.
        self.required: list[tuple[str, int, int]] = []
        for name in mapping.required_fields():
            columns = [n for n in (name, "destination_code" if name == "destination" else "") if n in mapped]
            label = f"{name} ({' or '.join(repr(mapped[c]) for c in columns)})"
            indices = [layout.fields[c] for c in columns]
            self.required.append((label, indices[0], indices[-1]))
        self.number = _number_pattern(mapping.decimal_separator, mapping.thousands_separator)
        self.ungroup = str.maketrans("", "", ",.'’" + _SPACES)
        self.dates: dict[str, dt.date | None] = {}

    def cells(self, row: list[str]) -> list[str] | None:
        """The row's cells stripped, padded to the header's width and one more empty cell; None for a
        row with nothing in it. Cells beyond the header are kept (and rejected when not empty)."""
        cells = [cell.strip() for cell in row]
        if not any(cells):
            return None
        missing = self.layout.width + 1 - len(cells)
        if missing > 0:
            cells.extend([""] * missing)
        else:
            cells.append("")
        return cells

    def identity(self, cells: list[str]) -> tuple[str, ...]:
        """The identity cells normalised: text folded; a date as an ISO date; a set of codes sorted."""
        parts = []
        for index, kind in self.layout.identity:
            text = cells[index]
            if kind == "decided_on" and (date := self.date(text)) is not None:
                parts.append(date.isoformat())
            elif kind == "control_code" and self.mapping.code_separator:
                codes = _codes(text, self.mapping.code_separator)
                parts.append("|".join(sorted(normalise(c) for c in codes)))
            else:
                parts.append(normalise(text))
        return tuple(parts)

    def date(self, text: str) -> dt.date | None:
        """The date in a cell, or None when it matches none of the formats."""
        if text not in self.dates:
            self.dates[text] = _date(text, self.mapping.date_formats)
        return self.dates[text]

    def record(self, cells: list[str], identity: tuple[str, ...]) -> LicenceRecord:
        """The row as a record, or _RowError with the first problem found."""
        mapping, width = self.mapping, self.layout.width
        if len(cells) > width + 1 and any(cells[width:]):
            where = f"an unquoted {self.delimiter!r} inside a value?"
            raise _RowError(
                DeadLetterReason.INVALID_CSV, f"{len(cells) - 1} cells for {width} columns: {where}"
            )
        if not all(cells[i] or cells[j] for _, i, j in self.required):
            empty = [label for label, i, j in self.required if not (cells[i] or cells[j])]
            raise _RowError(DeadLetterReason.MISSING_FIELD, f"empty: {', '.join(empty)}")
        decided_on = None
        if text := cells[self.i_date]:
            decided_on = self.date(text)
            if decided_on is None:
                formats = " or ".join(mapping.date_formats)
                raise _RowError(
                    DeadLetterReason.INVALID_DATE, f"date {quoted(text)} does not match {formats}"
                )
        value, written = self.amount(cells[self.i_value])
        currency = None
        if value is not None:
            given = cells[self.i_currency] or written
            currency = _currency(given) if given else mapping.currency
        decision = mapping.default_decision
        if published := cells[self.i_decision]:
            found = mapping.decisions.get(normalise(published))
            if found is None:
                known = ", ".join(repr(k) for k in mapping.decisions)
                detail = f"decision {quoted(published)} is not one of {known}"
                raise _RowError(DeadLetterReason.INVALID_DECISION, detail)
            decision = found
        name = cells[self.i_destination] or None
        code = cells[self.i_code]
        description = cells[self.i_description] or None
        codes = _codes(cells[self.i_control], mapping.code_separator)
        items = [{"control_code": c, "description": description} for c in codes]
        if not items and description:
            items = [{"description": description}]
        fields: dict[str, Any] = {
            "id": stable_id(self.prefix, *identity),
            "authority": mapping.authority,
            "licensing_country": mapping.licensing_country,
            "destination_country": country_code(code) or resolve_country(name),
            "destination_name": name or code or None,
            "exporter": cells[self.i_exporter] or None,
            "end_user": cells[self.i_end_user] or None,
            "items": items,
            "value": value,
            "currency": currency,
            "decision": decision,
            "decided_on": decided_on,
            "source_url": mapping.source_url,
        }
        for field, index in self.layout.extras.items():
            if extra := cells[index]:
                fields[field] = extra
        if number := cells[self.i_number]:
            fields["licence_number"] = number
        try:
            return LicenceRecord.model_validate(fields)
        except ValidationError as exc:  # every field is checked above; this is the safety net
            raise _RowError(
                DeadLetterReason.INVALID_VALUE, str(exc.errors(include_url=False)[0]["msg"])
            ) from None

    def amount(self, text: str) -> tuple[float | None, str | None]:
        """``1.234,56``, ``€ 1 234,56``, ``1,234.56 EUR`` -> (value, currency written beside it)."""
        if not text:
            return None, None
        if len(text) > _MAX_AMOUNT:
            # No one writes a value this long, and _AMOUNT's lazy number before an optional currency
            # is quadratic in runs of spaces (a 32,000-character cell took 23 s).
            raise _RowError(DeadLetterReason.INVALID_VALUE, f"value {quoted(text)} is not a number")
        if text.isdecimal():  # not isdigit: "²" is a digit that float() refuses
            return float(text), None
        currency = None
        number = text
        if not (text[0].isdigit() and text[-1].isdigit()):
            match = _AMOUNT.fullmatch(text)
            affixes = [a for a in (match["pre"], match["post"]) if a] if match else []
            if len(affixes) > 1:
                raise _RowError(DeadLetterReason.INVALID_VALUE, f"value {quoted(text)} names two currencies")
            currency = _CURRENCY_SIGNS.get(affixes[0], affixes[0]) if affixes else None
            number = match["number"] if match else text
        parsed = self.number.fullmatch(number)
        if parsed is None or not (parsed["int"] or parsed["frac"]):
            decimal = self.mapping.decimal_separator
            detail = f"value {quoted(text)} is not a number with decimal separator {decimal!r}"
            raise _RowError(DeadLetterReason.INVALID_VALUE, detail)
        integer = parsed["int"] or "0"
        digits = integer.translate(self.ungroup)
        value = float(f"{digits}.{parsed['frac'] or '0'}")
        if parsed["sign"] not in ("", "+") and value:
            raise _RowError(DeadLetterReason.INVALID_VALUE, f"value {quoted(text)} is negative")
        if not math.isfinite(value):
            raise _RowError(DeadLetterReason.INVALID_VALUE, f"value {quoted(text)} is out of range")
        return value, currency


def _date(text: str, formats: Sequence[str]) -> dt.date | None:
    for fmt in formats:
        if fmt == "%Y-%m-%d" and len(text) == 10 and text[4] == text[7] == "-":
            try:
                return dt.date.fromisoformat(text)  # the common case, five times faster than strptime
            except ValueError:
                continue
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None
