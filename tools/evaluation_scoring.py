"""The evaluation's scoring: ``evaluate`` runs a Matcher over the loaded cases and returns a
:class:`Report` (precision and recall of the alert decision overall, per language, per event kind, per
pattern and per technology category, and what went wrong in each case)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from schemas.events import Alert
from services.match.core.engine import Matcher
from tools.evaluation_cases import CATEGORIES, EVAL_NOW, LANGUAGES, PATTERNS, Case, LoadedCase, load_cases


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
