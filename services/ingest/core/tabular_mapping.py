"""The column mapping of a licence spreadsheet (``mapping:`` of a csv source): which column holds
which field of a LicenceRecord, how dates, numbers and decisions are written, and which columns make
a row's identity. Checked when the sources file is loaded; used by :mod:`tabular` to read rows."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Annotated, Any, Literal, Self

from pydantic import BeforeValidator, Field, field_validator, model_validator

from schemas import Decision, LicenceRecord
from services.common.config import StrictConfig
from services.ingest.core.countries import country_code
from services.ingest.core.decoding import text_codec

RecordField = Literal[
    "licence_number",
    "exporter",
    "end_user",
    "destination",
    "destination_code",
    "control_code",
    "description",
    "value",
    "currency",
    "decided_on",
    "decision",
]
DEFAULT_DECISIONS: dict[str, Decision] = {
    "granted": Decision.GRANTED,
    "approved": Decision.GRANTED,
    "issued": Decision.GRANTED,
    "refused": Decision.REFUSED,
    "denied": Decision.REFUSED,
    "rejected": Decision.REFUSED,
    "revoked": Decision.REVOKED,
    "pending": Decision.PENDING,
}
_NOT_IN_DEFAULT_IDENTITY = frozenset({"value", "currency", "decision", "description"})
_SLUG = re.compile(r"[^a-z0-9]+")


def normalise(text: str) -> str:
    """Header names and identity cells: NFKC, case-folded, whitespace collapsed, BOM dropped."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text.replace("\ufeff", ""))
    return " ".join(text.split()).casefold()


def _upper(value: object) -> object:
    if isinstance(value, bool):  # YAML 1.1 reads an unquoted NO (Norway) as false
        raise ValueError(f'{value!r} was read as a boolean: quote the code ("NO" for Norway)')
    return value.strip().upper() if isinstance(value, str) else value


class ColumnMap(StrictConfig):
    """Header names, as in the file, of the columns that hold each LicenceRecord field."""

    licence_number: str | None = Field(default=None, description="Licence or case number.")
    exporter: str | None = Field(default=None, description="Exporting company.")
    end_user: str | None = Field(default=None, description="End user.")
    destination: str | None = Field(default=None, description="Destination country as a name.")
    destination_code: str | None = Field(
        default=None, description="Destination as an ISO alpha-2 code; wins over the name when valid."
    )
    control_code: str | None = Field(default=None, description="Control-list code(s) of the goods.")
    description: str | None = Field(default=None, description="Description of the goods.")
    value: str | None = Field(default=None, description="Declared value.")
    currency: str | None = Field(default=None, description="ISO 4217 currency of the value.")
    decided_on: str | None = Field(default=None, description="Date of the decision.")
    decision: str | None = Field(default=None, description="Granted, refused... (see `decisions`).")

    @model_validator(mode="after")
    def _enough(self) -> Self:
        if not (self.destination or self.destination_code or self.control_code):
            raise ValueError("map at least one of destination, destination_code and control_code")
        return self

    def mapped(self) -> dict[str, str]:
        """Field name -> header name, for the mapped fields, in field order."""
        return {name: header for name, header in self.model_dump().items() if header}


class CsvMapping(StrictConfig):
    """How to read one authority's CSV: which columns hold what, and how values are written."""

    authority: str = Field(min_length=1, description="Authority or data set, as shown in alerts.")
    licensing_country: Annotated[str, BeforeValidator(_upper)] = Field(
        pattern=r"^[A-Z]{2}$", description="ISO alpha-2 code of the licensing state."
    )
    id_prefix: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9-]{0,47}$",
        description="Prefix of record ids; default: the authority as a slug. Set it explicitly so that "
        "renaming the authority does not change every id.",
    )
    delimiter: Literal[",", ";", "\t", "|"] | None = Field(
        default=None, description="Cell delimiter; default: sniffed among , ; tab and |."
    )
    encoding: str | None = Field(
        default=None, description="Text encoding; default: UTF-8, line by line cp1252 where not UTF-8."
    )
    header_row: int = Field(
        default=1, ge=1, description="1-based line of the header; lines above it (titles) are ignored."
    )
    columns: ColumnMap
    identity: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Header names of the columns that identify a row (its id); default: see module doc.",
    )
    required: list[RecordField] | None = Field(
        default=None,
        description="Fields whose empty cell rejects the row (missing_field); default: those mapped among "
        "licence_number, destination (name or code), control_code and decided_on.",
    )
    date_formats: list[str] = Field(
        default_factory=lambda: ["%Y-%m-%d", "%Y-%m-%d %H:%M:%S"],
        min_length=1,
        description="strptime formats tried in order.",
    )
    decimal_separator: Literal[".", ","] = "."
    thousands_separator: Literal[",", ".", " ", "'", ""] | None = Field(
        default=None,
        description="Digit grouping; default: the other of . and , as well as spaces and apostrophes. "
        "Empty: no grouping allowed. Groups must have three digits.",
    )
    currency: Annotated[str | None, BeforeValidator(_upper)] = Field(
        default=None, pattern=r"^[A-Z]{3}$", description="Currency when no column or cell gives one."
    )
    decisions: dict[str, Decision] = Field(
        default_factory=lambda: dict(DEFAULT_DECISIONS),
        description="Published decision (case and spacing ignored) -> decision; replaces the English "
        "default (granted/approved/issued, refused/denied/rejected, revoked, pending).",
    )
    default_decision: Decision = Field(
        default=Decision.UNKNOWN,
        description="Decision when there is no decision column or its cell is empty: `granted` for a list "
        "of granted licences. Default unknown: never claims what the file does not say.",
    )
    code_separator: str | None = Field(
        default=None, min_length=1, description="Separator of several codes in one cell, e.g. ; or /."
    )
    extra_columns: dict[str, str] = Field(
        default_factory=dict, description="Extra record field name -> header name of a column to keep."
    )
    source_url: str | None = Field(default=None, description="Where the authority publishes the data.")
    max_row_chars: int = Field(default=100_000, ge=100, description="Longer rows are rejected: too_large.")

    @field_validator("licensing_country")
    @classmethod
    def _iso_country(cls, value: str) -> str:
        if country_code(value) != value:
            raise ValueError(f"{value!r} is not an ISO alpha-2 country code")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                text_codec(value)  # what decode_lines accepts: base64 or zlib would fail every file
            except LookupError:
                raise ValueError(f"{value[:60]!r} is not a known text encoding") from None
        return value

    @field_validator("decisions", mode="before")
    @classmethod
    def _decision_keys(cls, value: Any) -> Any:
        """YAML reads ``1: refused`` with an int key and ``yes: granted`` with a boolean one."""
        if not isinstance(value, dict):
            return value
        for key in value:
            if isinstance(key, bool):
                raise ValueError(f"key {key!r} was read as a boolean: quote it")
        return {str(k) if isinstance(k, int | float) else k: v for k, v in value.items()}

    @field_validator("decisions")
    @classmethod
    def _normalised_decisions(cls, value: dict[str, Decision]) -> dict[str, Decision]:
        decisions: dict[str, Decision] = {}
        for key, decision in value.items():
            norm = normalise(key)
            if decisions.get(norm, decision) is not decision:
                raise ValueError(f"{key!r} is given twice with different decisions")
            decisions[norm] = decision
        return decisions

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.thousands_separator == self.decimal_separator:
            raise ValueError("thousands_separator and decimal_separator must differ")
        for fmt in self.date_formats:
            if "%Y" not in fmt and "%y" not in fmt:
                raise ValueError(f"date format {fmt!r} has no year (%Y or %y)")
            sample = dt.datetime(2001, 12, 31, 23, 59, 58)
            try:
                dt.datetime.strptime(sample.strftime(fmt), fmt)
            except ValueError:
                raise ValueError(f"date format {fmt!r} does not read back what it writes") from None
        mapped = self.columns.mapped()
        for name in self.required or []:
            if name not in mapped and not (name == "destination" and "destination_code" in mapped):
                raise ValueError(f"required: {name!r} is not mapped in columns")
        for extra in self.extra_columns:
            taken = extra in LicenceRecord.model_fields or extra == "licence_number"
            if taken or not re.fullmatch(r"[a-z][a-z0-9_]*", extra):
                raise ValueError(f"extra_columns: {extra!r} must be a new lower_case field name")
        return self

    @property
    def prefix(self) -> str:
        """``id_prefix``, or the authority as a slug ("NL CDIU" -> ``nl-cdiu``)."""
        if self.id_prefix:
            return self.id_prefix
        ascii_name = unicodedata.normalize("NFKD", self.authority).encode("ascii", "ignore").decode()
        slug = _SLUG.sub("-", ascii_name.lower()).strip("-")[:48].strip("-")
        return slug or f"{self.licensing_country.lower()}-csv"

    def identity_headers(self) -> list[str]:
        if self.identity:
            return list(self.identity)
        mapped = self.columns.mapped()
        if "licence_number" in mapped:
            keys = ("licence_number", "control_code", "destination", "destination_code")
            return [mapped[k] for k in keys if k in mapped]
        return [header for name, header in mapped.items() if name not in _NOT_IN_DEFAULT_IDENTITY]

    def required_fields(self) -> list[str]:
        if self.required is not None:
            return list(self.required)
        mapped = self.columns.mapped()
        defaults = ("licence_number", "destination", "control_code", "decided_on")
        return [
            name
            for name in defaults
            if name in mapped or (name == "destination" and "destination_code" in mapped)
        ]
