"""The archive as CSV: one row per alert, in the order given, with cells a spreadsheet would run as a
formula made inert (a leading apostrophe), so opening an export never executes an article's text."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from schemas import Alert

COLUMNS = (
    "created_at",
    "severity",
    "title",
    "summary",
    "destinations",
    "technologies",
    "vendors",
    "control_codes",
    "rule",
    "event_type",
    "source",
    "language",
    "url",
    "id",
)
MEDIA_TYPE = "text/csv; charset=utf-8"
# What a spreadsheet reads as the start of a formula (or, for tab and carriage return, of a cell it may
# shift into one).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(cell: str) -> str:
    """``cell``, prefixed with an apostrophe when a spreadsheet would run it as a formula."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def row(alert: Alert) -> list[str]:
    cells = [
        alert.created_at.isoformat(),
        alert.severity.value,
        alert.title,
        alert.summary,
        " ".join(alert.destinations),
        " ".join(alert.technologies),
        " ".join(alert.entities),
        " ".join(alert.control_codes),
        alert.rule,
        alert.event_type,
        alert.source or "",
        alert.language or "",
        alert.url or "",
        alert.id,
    ]
    return [inert(c) for c in cells]


def _line(cells: Iterable[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(list(cells))
    return buffer.getvalue()


def header() -> str:
    return _line(COLUMNS)


def line(alert: Alert) -> str:
    """The alert's CSV line, with its CRLF."""
    return _line(row(alert))


def lines(alerts: Iterable[Alert]) -> Iterator[str]:
    """One CSV line per alert."""
    for alert in alerts:
        yield line(alert)


def truncated_note(cap: int) -> str:
    """The last line of an export cut at ``cap`` rows, saying so in its first cell."""
    return _line([f"# export stopped at {cap} rows; narrow the filters (dates, destination) for the rest"])
