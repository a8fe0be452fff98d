"""UK export-licence data as published by Campaign Against Arms Trade (``values.csv``).

Columns: ``licence_group,date,rating,count,value,country,refused``. One row is one rating (control
code) of one licence group to one destination; the id is built from exactly those, so re-reading a
file publishes nothing new while a corrected value in a new release keeps the id (an update).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator, Mapping

from schemas import Decision, LicenceItem, LicenceRecord
from services.ingest.core.countries import resolve_country
from services.ingest.core.results import Parsed, Rejected
from services.ingest.core.urls import stable_id

COLUMNS = ("licence_group", "date", "rating", "count", "value", "country", "refused")
AUTHORITY = "UK Export Control Joint Unit (via CAAT)"
SOURCE_URL = "https://github.com/caatdata/uk-arms-export-data"


def is_caat_values(header: str) -> bool:
    return [c.strip().lower() for c in header.split(",")][: len(COLUMNS)] == list(COLUMNS)


def load_ratings(data: bytes) -> dict[str, str]:
    """``ratings.csv`` (rating,military,short_description,full_description) -> rating: short description."""
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
    return {
        row["rating"].strip(): (row.get("short_description") or "").strip()
        for row in reader
        if row.get("rating")
    }


def _row_bytes(row: Mapping[str, str | None]) -> bytes:
    return ",".join(str(row.get(c) or "") for c in COLUMNS).encode("utf-8")


def parse_caat_values(data: bytes, source: str, ratings: Mapping[str, str] | None = None) -> Iterator[Parsed]:
    """Yield a LicenceRecord per row, or a rejection with the row's line number and reason."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", "replace")
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        yield Rejected("invalid_csv", f"missing columns: {', '.join(missing)}", data[:4096], source, 1)
        return
    for row in reader:
        line = reader.line_num
        raw = _row_bytes(row)
        group = (row["licence_group"] or "").strip()
        rating = (row["rating"] or "").strip()
        country = (row["country"] or "").strip()
        try:
            decided = dt.date.fromisoformat((row["date"] or "").strip())
        except ValueError:
            yield Rejected("invalid_date", f"date {row['date']!r} is not YYYY-MM-DD", raw, source, line)
            continue
        try:
            value = float((row["value"] or "0").strip() or 0)
        except ValueError:
            yield Rejected("invalid_value", f"value {row['value']!r} is not a number", raw, source, line)
            continue
        refused = (row["refused"] or "").strip()
        if refused not in ("0", "1"):
            yield Rejected("invalid_decision", f"refused must be 0 or 1, not {refused!r}", raw, source, line)
            continue
        if not group or not country:
            yield Rejected("missing_field", "licence_group and country are required", raw, source, line)
            continue
        yield LicenceRecord(
            id=stable_id("uk-caat", group, decided.isoformat(), rating, country),
            authority=AUTHORITY,
            licensing_country="GB",
            destination_country=resolve_country(country),
            destination_name=country,
            items=[LicenceItem(control_code=rating or None, description=(ratings or {}).get(rating))],
            value=value,
            currency="GBP",
            decision=Decision.REFUSED if refused == "1" else Decision.GRANTED,
            decided_on=decided,
            source_url=SOURCE_URL,
            licence_count=int(row["count"]) if (row["count"] or "").strip().isdigit() else None,
            licence_group=group,
        )
