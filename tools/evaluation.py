"""Evaluation of the matcher against a labelled set of cases (``tests/eval/*.yaml``).

A case is one news article or licence, written in the YAML file or pointing at a real sample bundled
in ``services/ingest/samples`` (``sample: {file: news.jsonl, id: sample-003}`` or a row of the CAAT CSV), with
the outcome a watchdog researcher expects: alert or not, and for an alert the technology categories
(shared domain.md section 2) and high-risk destinations (ISO alpha-2) it must name.

``load_cases`` validates the files (errors name the file and the case id), ``evaluate`` runs a
Matcher over them and returns a :class:`Report` (precision and recall of the alert decision overall,
per language, per event kind and per technology category, and the cases that went wrong),
``format_report`` prints it as a table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas.events import Alert, LicenceRecord, NewsArticle, Severity, parse_event
from services.match.core.engine import Matcher

__all__ = [
    "CATEGORIES",
    "LANGUAGES",
    "Case",
    "CaseFileError",
    "CaseResult",
    "Report",
    "Score",
    "default_cases_path",
    "default_samples_dir",
    "evaluate",
    "format_report",
    "load_cases",
    "run",
]

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


# ---- scoring ----------------------------------------------------------------------------------


@dataclass
class Score:
    """Counts of a binary decision; precision/recall are None when undefined (nothing to divide)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, expected: bool, predicted: bool) -> None:
        if expected and predicted:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif expected:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None


@dataclass(frozen=True)
class CaseResult:
    case: Case
    file: Path
    alert: Alert | None
    problems: tuple[str, ...]

    @property
    def decision_ok(self) -> bool:
        return self.case.expect.alert == (self.alert is not None)

    @property
    def pending(self) -> bool:
        """Known to be wrong because of the engine (``engine_issue``): counted, listed apart."""
        return self.case.engine_issue is not None

    @property
    def ok(self) -> bool:
        """Right, or (for a pending case) still wrong as documented."""
        return not self.problems if not self.pending else bool(self.problems)


@dataclass
class Report:
    """Figures on every case; those with a documented engine issue count like the others (a known
    false alarm is still a false alarm) and are listed apart. ``all_cases`` equals ``overall``."""

    results: list[CaseResult]
    overall: Score = field(default_factory=Score)
    all_cases: Score = field(default_factory=Score)
    by_language: dict[str, Score] = field(default_factory=dict)
    by_kind: dict[str, Score] = field(default_factory=dict)
    by_pattern: dict[str, Score] = field(default_factory=dict)
    by_category: dict[str, Score] = field(default_factory=dict)

    @property
    def extra_country(self) -> tuple[int, int]:
        """Alerts right overall (expected, every expected destination named) that still name a country
        that is neither expected nor acceptable, and the number of such right alerts."""
        right = [
            r
            for r in self.results
            if r.alert is not None
            and r.case.expect.alert
            and all(d in r.alert.destinations for d in r.case.expect.destinations)
        ]
        extra = [r for r in right if any("unexpected destinations" in p for p in r.problems)]
        return len(extra), len(right)

    @property
    def failures(self) -> list[CaseResult]:
        """Gated cases that went wrong, and pending cases that now pass (their note must go)."""
        return [r for r in self.results if not r.ok]

    @property
    def pending(self) -> list[CaseResult]:
        """Cases wrong because of a documented engine issue."""
        return [r for r in self.results if r.pending and r.ok]

    def below(self, minimum: float, pattern_minimum: float | None = None) -> list[str]:
        """The gated figures below their minimum, as readable labels: overall and per language below
        ``minimum``, per pattern below ``pattern_minimum`` (the same when not given). An undefined
        figure (no positives, no predictions) is not below."""
        low = []
        floor = minimum if pattern_minimum is None else pattern_minimum
        gated = [
            ("overall", self.overall, minimum),
            *((name, score, minimum) for name, score in self.by_language.items()),
            *((f"pattern {name}", score, floor) for name, score in self.by_pattern.items()),
        ]
        for name, score, least in gated:
            for metric in ("precision", "recall"):
                value: float | None = getattr(score, metric)
                if value is not None and value < least:
                    low.append(f"{name} {metric} {value:.3f} < {least}")
        return low


def _problems(case: Case, alert: Alert | None) -> list[str]:
    exp = case.expect
    if alert is None:
        return ["expected an alert, got none"] if exp.alert else []
    if not exp.alert:
        return [
            f"unexpected alert: technologies {alert.technologies or '-'}, destinations "
            f"{alert.destinations}, severity {alert.severity.value} ({alert.summary})"
        ]
    out = []
    missing_t = [t for t in exp.technologies if t not in alert.technologies]
    if missing_t:
        out.append(f"technologies missing {missing_t} (got {alert.technologies})")
    missing_d = [d for d in exp.destinations if d not in alert.destinations]
    if missing_d:
        out.append(f"destinations missing {missing_d} (got {alert.destinations})")
    extra_d = [
        d for d in alert.destinations if d not in exp.destinations and d not in exp.acceptable_destinations
    ]
    if extra_d:
        out.append(f"unexpected destinations {extra_d}")
    extra_t = [
        t for t in alert.technologies if t not in exp.technologies and t not in exp.acceptable_technologies
    ]
    if extra_t:
        out.append(f"unexpected technologies {extra_t}")
    if exp.min_severity is not None and alert.severity.rank < exp.min_severity.rank:
        out.append(f"severity {alert.severity.value} below {exp.min_severity.value}")
    return out


def evaluate(matcher: Matcher, cases: Iterable[LoadedCase], now: dt.datetime = EVAL_NOW) -> Report:
    """Run the matcher over the cases and score the alert decision and the categories named."""
    report = Report(results=[])
    for category in CATEGORIES:
        report.by_category[category] = Score()
    for loaded in cases:
        case = loaded.case
        alerts = matcher.evaluate(loaded.event, now)
        alert = max(alerts, key=lambda a: (a.severity.rank, a.score)) if alerts else None
        problems = _problems(case, alert)
        if len(alerts) > 1:
            problems.append(f"{len(alerts)} alerts for one event")
        result = CaseResult(case, loaded.file, alert, tuple(problems))
        report.results.append(result)
        expected, predicted = case.expect.alert, alert is not None
        report.all_cases.add(expected, predicted)
        report.overall.add(expected, predicted)
        report.by_language.setdefault(case.language, Score()).add(expected, predicted)
        report.by_kind.setdefault(case.kind, Score()).add(expected, predicted)
        report.by_pattern.setdefault(case.pattern or "untagged", Score()).add(expected, predicted)
        for category in CATEGORIES:
            exp_c = expected and category in case.expect.technologies
            pred_c = alert is not None and category in alert.technologies
            if not exp_c and category in case.expect.acceptable_technologies:
                continue
            report.by_category[category].add(exp_c, pred_c)
    report.by_language = {lang: report.by_language[lang] for lang in LANGUAGES if lang in report.by_language}
    order = [*PATTERNS, "untagged"]
    report.by_pattern = {p: report.by_pattern[p] for p in order if p in report.by_pattern}
    return report


def run(
    paths: Path | Sequence[Path] | None = None,
    samples_dir: Path | None = None,
    matcher: Matcher | None = None,
) -> Report:
    """Load the cases and the default matcher (or the given one) and evaluate."""
    cases = load_cases(paths, samples_dir)
    return evaluate(matcher or Matcher.load(), cases)


# ---- formatting -------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def format_report(report: Report, show_failures: bool = True) -> str:
    """A readable table: precision/recall overall, per language, per kind, per category; then the
    cases that went wrong and what differed."""
    head = f"{'':<30} {'cases':>5} {'TP':>4} {'FP':>4} {'FN':>4} {'TN':>4} {'precision':>9} {'recall':>7}"
    lines = [head, "-" * len(head)]

    def row(name: str, s: Score) -> str:
        return (
            f"{name:<30} {s.total:>5} {s.tp:>4} {s.fp:>4} {s.fn:>4} {s.tn:>4} "
            f"{_pct(s.precision):>9} {_pct(s.recall):>7}"
        )

    lines.append(row("overall (alert decision)", report.overall))
    lines.append("")
    lines.extend(row(f"language {name}", s) for name, s in report.by_language.items())
    lines.append("")
    lines.extend(row(f"kind {name}", s) for name, s in report.by_kind.items())
    lines.append("")
    lines.extend(row(f"pattern {name}", s) for name, s in report.by_pattern.items())
    lines.append("")
    lines.extend(row(name, s) for name, s in report.by_category.items())
    failures = report.failures
    pending = report.pending
    plain = [r for r in report.results if not r.pending]
    wrong = sum(1 for r in failures if not r.pending and not r.decision_ok)
    detail = sum(1 for r in failures if not r.pending and r.decision_ok)
    fixed = [r for r in failures if r.pending]
    extra, right = report.extra_country
    lines.append("")
    lines.append(
        f"alerts right overall that still name an extra country: {extra} of {right}"
        + (f" ({extra / right:.1%})" if right else "")
    )
    lines.append(
        f"{len(report.results)} cases: {len(plain) - wrong - detail} fully right, "
        f"{wrong} with the wrong alert decision, {detail} with a detail wrong; "
        f"{len(pending) + len(fixed)} with a documented engine issue (counted in the figures above)"
    )
    if show_failures and failures:
        lines.append("")
        lines.append("Cases that went wrong:")
        for r in failures:
            if r.pending:
                mark = "ENGINE FIXED"
                problems: Sequence[str] = ["passes now: remove its `engine_issue` note"]
            else:
                mark = "DECISION" if not r.decision_ok else "detail"
                problems = r.problems
            lines.append(f"  [{mark}] {r.case.id} ({r.case.language}, {r.case.kind}; {r.file.name})")
            lines.append(f"      why: {r.case.why}")
            lines.extend(f"      - {p}" for p in problems)
    if show_failures and pending:
        lines.append("")
        lines.append("Known engine issues (counted in the figures; for the engine owner):")
        for r in pending:
            lines.append(f"  [ENGINE] {r.case.id} ({r.case.language}, {r.case.kind}; {r.file.name})")
            lines.append(f"      issue: {r.case.engine_issue}")
            lines.extend(f"      - {p}" for p in r.problems)
    return "\n".join(lines)
