"""The evaluation's report as a table for people: ``format_report``."""

from __future__ import annotations

from collections.abc import Sequence

from tools.evaluation_scoring import Report, Score


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
