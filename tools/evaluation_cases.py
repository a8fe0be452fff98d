"""The evaluation's cases: the labelled case model (``tests/eval/*.yaml``), the samples a case may point
at, and ``load_cases``, which validates the files (errors name the file and the case id) and builds each
case's event."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas.events import LicenceRecord, NewsArticle, Severity, parse_event

Language = Literal["en", "nl", "fr", "de", "es"]
LANGUAGES: tuple[Language, ...] = ("en", "nl", "fr", "de", "es")
# Technology category ids: the product contract of shared/domain.md section 2.
CATEGORIES: tuple[str, ...] = (
    "facial-recognition",
    "emotion-recognition",
    "biometric-identification",
    "predictive-policing",
    "social-scoring",
    "spyware",
    "telecom-interception",
    "network-surveillance",
    "phone-forensics",
    "video-surveillance",
    "cryptanalysis",
)
EVAL_NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
_PUBLISHED = "2025-06-01T08:00:00+00:00"

CountryCode = str
# What a case tests: the linguistic or domain shape that decides it. Figures are reported per pattern.
Pattern = Literal[
    "plain",  # a technology sold to, delivered to or used by authorities in a destination, said plainly
    "role-origin",  # a supplier's, manufacturer's, brand's or vendor's nationality beside the buyer
    "role-person",  # a person's nationality: expert, analyst, relative, student, exile, victim abroad
    "role-owner-lender",  # a government owning a vendor, a lender or financier of the deal
    "role-comparison",  # a country named only as a comparison or model ("like the one in China")
    "role-banned",  # a ban, embargo or sanctions list, a refused or blocked licence, a cancelled deal
    "role-reverse",  # a supplier from one risky country helping the authorities of another
    "destination-coverage",  # further- and optional-tier countries, capitals, regions, peoples
    "morphology",  # verb forms, inflections, split or hyphenated compounds, spelling variants
    "concept",  # censorship, filtering and shutdowns, HTTPS interception, black boxes, social
    # control, biometric databases, city cameras, smart-city policing
    "homonym",  # Pegasus Airlines, the Bahrain Grand Prix, china porcelain, Jordan as a first name
    "domestic",  # surveillance inside the EU or another state off the lists, no export
    "unrelated",  # a high-risk country in an article about something else (trade, sport, travel)
    "licence",  # a licence record: codes, catch-alls, values, decisions
]
PATTERNS: tuple[str, ...] = Pattern.__args__  # type: ignore[attr-defined]


class CaseFileError(ValueError):
    """A case file that cannot be read or is invalid; the message names the file and the case."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expected(_Strict):
    """What a researcher expects the matcher to say about the event."""

    alert: bool
    technologies: list[str] = Field(
        default_factory=list, description="Categories the alert must list (domain.md section 2)."
    )
    destinations: list[CountryCode] = Field(
        default_factory=list, description="High-risk destinations the alert must list (ISO alpha-2)."
    )
    acceptable_technologies: list[str] = Field(
        default_factory=list,
        description="Categories the alert may list without being wrong (a parent code, a vendor's "
        "other products): neither counted for nor against that category.",
    )
    acceptable_destinations: list[CountryCode] = Field(
        default_factory=list, description="Destinations the alert may list besides the expected ones."
    )
    min_severity: Severity | None = None

    @model_validator(mode="after")
    def _check(self) -> Expected:
        for name in ("technologies", "acceptable_technologies"):
            unknown = [t for t in getattr(self, name) if t not in CATEGORIES]
            if unknown:
                raise ValueError(f"{name}: unknown category {', '.join(unknown)} (see domain.md section 2)")
        for name in ("destinations", "acceptable_destinations"):
            bad = [d for d in getattr(self, name) if not (len(d) == 2 and d.isascii() and d.isupper())]
            if bad:
                raise ValueError(f"{name}: not ISO alpha-2 codes: {', '.join(bad)}")
        if not self.alert and (self.technologies or self.destinations or self.min_severity):
            raise ValueError(
                "a case expected not to alert cannot expect technologies, destinations or severity"
            )
        if self.alert and not self.destinations:
            raise ValueError("a case expected to alert must name its destinations")
        return self


class Sample(_Strict):
    """A pointer to a real sample in the samples folder: a JSON Lines event by id, or a CAAT CSV row
    (every given column must equal the row's value)."""

    file: str = Field(min_length=1)
    id: str | None = None
    row: dict[str, str] | None = None

    @model_validator(mode="after")
    def _check(self) -> Sample:
        if (self.id is None) == (self.row is None):
            raise ValueError("a sample needs exactly one of `id` (JSON Lines) or `row` (CSV)")
        if "/" in self.file or "\\" in self.file or self.file.startswith("."):
            raise ValueError("sample file must be a plain file name in the samples folder")
        return self


class Case(_Strict):
    """One labelled case. Exactly one of ``news``, ``licence`` or ``sample`` gives the event; news and
    licence take the fields of NewsArticle / LicenceRecord, with defaults for id, url, dates."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=120)
    language: Language
    why: str = Field(min_length=8, description="Which real event or trap the case is modelled on.")
    pattern: Pattern | None = Field(default=None, description="The shape the case tests (see Pattern).")
    source: str | None = Field(
        default=None,
        pattern=r"^https?://\S+$",
        description="Public URL of the real article the case was modelled on (its text is not copied).",
    )
    engine_issue: str | None = Field(
        default=None,
        min_length=8,
        description="The matcher gets this case wrong because of the engine (not a watchlist): what the "
        "engine owner must fix. Such a case counts against every figure like any other and is listed "
        "apart as a known issue; once the engine gets it right it is reported as a failure until this "
        "note is removed (like a strict xfail).",
    )
    news: dict[str, Any] | None = None
    licence: dict[str, Any] | None = None
    sample: Sample | None = None
    expect: Expected

    @model_validator(mode="after")
    def _one_event(self) -> Case:
        given = [n for n in ("news", "licence", "sample") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"a case needs exactly one of news, licence, sample (got {given or 'none'})")
        return self

    @property
    def own(self) -> bool:
        """Written for the set, not a pointer to a shared sample."""
        return self.sample is None

    @property
    def kind(self) -> Literal["news", "licence"]:
        if self.news is not None:
            return "news"
        if self.licence is not None:
            return "licence"
        assert self.sample is not None
        return "licence" if self.sample.file.endswith(".csv") else "news"


class _CaseFile(_Strict):
    cases: list[dict[str, Any]]


@dataclass(frozen=True)
class LoadedCase:
    case: Case
    file: Path
    event: NewsArticle | LicenceRecord


def default_cases_path() -> Path:
    return Path(__file__).resolve().parents[1] / "tests" / "eval"


def default_samples_dir() -> Path:
    return Path(str(resources.files("services.ingest").joinpath("samples")))


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def _case_files(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")))
        elif path.is_file():
            files.append(path)
        else:
            raise CaseFileError(f"{path}: no such file or folder")
    if not files:
        raise CaseFileError(f"no case files (*.yaml) in {', '.join(map(str, paths))}")
    return files


def _read_cases(path: Path) -> list[Case]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CaseFileError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise CaseFileError(f"{path}{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    try:
        raw = _CaseFile.model_validate(data)
    except ValidationError as exc:
        raise CaseFileError(f"{path}: expected a mapping with a list `cases`: {_describe(exc)}") from None
    cases = []
    for number, item in enumerate(raw.cases, start=1):
        label = f"case {item.get('id')!r}" if isinstance(item.get("id"), str) else f"case #{number}"
        try:
            cases.append(Case.model_validate(item))
        except ValidationError as exc:
            raise CaseFileError(f"{path}: {label}: {_describe(exc)}") from None
    return cases


class _SampleStore:
    """Reads each sample file once."""

    def __init__(self, samples_dir: Path) -> None:
        self.dir = samples_dir
        self._news: dict[str, dict[str, NewsArticle | LicenceRecord]] = {}
        self._csv: dict[str, list[tuple[dict[str, str], LicenceRecord]]] = {}

    def _bytes(self, name: str) -> bytes:
        path = self.dir / name
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read sample {path}: {exc.strerror}") from None

    def event(self, sample: Sample) -> NewsArticle | LicenceRecord:
        if sample.id is not None:
            events = self._news.get(sample.file)
            if events is None:
                events = {}
                for line in self._bytes(sample.file).decode("utf-8").splitlines():
                    if line.strip():
                        event = parse_event(line)
                        events[event.id] = event
                self._news[sample.file] = events
            if sample.id not in events:
                raise ValueError(f"no event with id {sample.id!r} in {self.dir / sample.file}")
            return events[sample.id]
        assert sample.row is not None
        rows = self._csv.get(sample.file)
        if rows is None:
            rows = self._caat_rows(sample.file)
            self._csv[sample.file] = rows
        found = [rec for row, rec in rows if all(row.get(k) == v for k, v in sample.row.items())]
        if len(found) != 1:
            raise ValueError(f"{len(found)} rows of {self.dir / sample.file} match {sample.row} (need 1)")
        return found[0]

    def _caat_rows(self, name: str) -> list[tuple[dict[str, str], LicenceRecord]]:
        """CAAT rows through the real ingest adapter, with the ratings file as ingest uses it."""
        import csv
        import io

        from services.ingest.core.caat import load_ratings, parse_caat_values

        data = self._bytes(name)
        ratings_path = self.dir / "uk-caat-ratings.csv"
        ratings = load_ratings(ratings_path.read_bytes()) if ratings_path.is_file() else None
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
        records = [r for r in parse_caat_values(data, name, ratings) if isinstance(r, LicenceRecord)]
        if len(records) != len(rows):
            raise ValueError(f"{self.dir / name}: the CAAT adapter rejected some rows")
        return [
            ({k: (v or "").strip() for k, v in row.items()}, rec)
            for row, rec in zip(rows, records, strict=True)
        ]


def _build_event(case: Case, samples: _SampleStore) -> NewsArticle | LicenceRecord:
    if case.sample is not None:
        return samples.event(case.sample)
    if case.news is not None:
        doc: dict[str, Any] = {
            "type": "news_article",
            "id": f"eval-{case.id}",
            "source": "eval",
            "url": f"https://example.org/eval/{case.id}",
            "title": "",
            "language": case.language,
            "published_at": _PUBLISHED,
            **case.news,
        }
        return NewsArticle.model_validate(doc)
    assert case.licence is not None
    doc = {
        "type": "licence_record",
        "id": f"eval-{case.id}",
        "authority": "eval",
        "licensing_country": "GB",
        "decision": "granted",
        **case.licence,
    }
    return LicenceRecord.model_validate(doc)


def load_cases(
    paths: Path | Sequence[Path] | None = None, samples_dir: Path | None = None
) -> list[LoadedCase]:
    """Read and validate the case files (a file or a folder of *.yaml) and build their events.

    Raises CaseFileError naming the file and the case id on any problem.
    """
    if paths is None:
        paths = [default_cases_path()]
    elif isinstance(paths, Path):
        paths = [paths]
    store = _SampleStore(samples_dir or default_samples_dir())
    loaded: list[LoadedCase] = []
    seen: dict[str, Path] = {}
    for path in _case_files(paths):
        for case in _read_cases(path):
            if case.id in seen:
                raise CaseFileError(f"{path}: case {case.id!r}: duplicate id (also in {seen[case.id]})")
            seen[case.id] = path
            try:
                event = _build_event(case, store)
            except ValidationError as exc:
                raise CaseFileError(f"{path}: case {case.id!r}: invalid event: {_describe(exc)}") from None
            except ValueError as exc:
                raise CaseFileError(f"{path}: case {case.id!r}: {exc}") from None
            loaded.append(LoadedCase(case, path, event))
    return loaded
