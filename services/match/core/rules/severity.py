"""Severity policy, in one place: the score band of each severity, stepping and capping a severity,
and the grading of a licence alert. The levels themselves are settings (``rules.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.events import Decision, Severity
from services.match.core.mentions import Level
from services.match.core.watchlists import LicenceRule

_SEVERITY_BAND: dict[Severity, tuple[float, float]] = {
    Severity.LOW: (0.2, 0.39),
    Severity.MEDIUM: (0.4, 0.64),
    Severity.HIGH: (0.65, 0.84),
    Severity.CRITICAL: (0.85, 1.0),
}
_ORDER = [Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]


def step(severity: Severity, steps: int) -> Severity:
    """``steps`` levels higher (or lower, when negative), within LOW..CRITICAL."""
    index = min(len(_ORDER) - 1, max(0, _ORDER.index(severity) + steps))
    return _ORDER[index]


def cap(severity: Severity, highest: Severity) -> Severity:
    return severity if severity.rank <= highest.rank else highest


def score(severity: Severity, strength: float) -> float:
    """A score inside the severity's band; ``strength`` in [0, 1] places it within the band."""
    lo, hi = _SEVERITY_BAND[severity]
    return round(lo + (hi - lo) * max(0.0, min(1.0, strength)), 3)


@dataclass(frozen=True, slots=True)
class LicenceSeverity:
    severity: Severity
    reason: str  # for people: why this level


def _licence_base(settings: LicenceRule, levels: set[Level], described: bool) -> tuple[Severity, str]:
    if "exact" in levels:
        return Severity(settings.granted_exact), "an exact surveillance sub-item"
    if described:
        return Severity(settings.granted_other), "surveillance named in the goods description"
    if "parent" in levels:
        return Severity(settings.granted_parent), "a parent code that covers ordinary goods too"
    return Severity(settings.granted_catch_all), "a catch-all with no surveillance item named"


def _by_value(
    settings: LicenceRule, severity: Severity, levels: set[Level], described: bool, value: float | None
) -> tuple[Severity, str | None]:
    if value is not None and settings.small_value is not None and value < settings.small_value:
        return step(severity, -1), f"value below {settings.small_value:,.0f}"
    if value is not None and settings.large_value is not None and value >= settings.large_value:
        raised = step(severity, 1)
        if "exact" not in levels and not described:
            raised = cap(raised, Severity.MEDIUM)
        return raised, (f"value of {settings.large_value:,.0f} or more" if raised != severity else None)
    return severity, None


def _by_decision(
    settings: LicenceRule, severity: Severity, levels: set[Level], decision: Decision
) -> tuple[Severity, str | None]:
    if decision in (Decision.REFUSED, Decision.REVOKED):
        capped = cap(severity, Severity(settings.refused))
        return capped, (f"{decision.value}, so nothing was delivered" if capped != severity else None)
    if decision is not Decision.GRANTED:
        highest = Severity(settings.pending_exact if "exact" in levels else settings.pending_other)
        capped = cap(severity, highest)
        return capped, ("not (yet) granted" if capped != severity else None)
    return severity, None


def licence_severity(
    settings: LicenceRule, decision: Decision, levels: set[Level], described: bool, value: float | None
) -> LicenceSeverity:
    """The severity of a licence alert and why: what the licence is known to cover (an exact
    surveillance sub-item; surveillance named in words; a parent-only code; a catch-all), then its
    value, then its decision. ``described`` says that a technology or vendor is named in the goods."""
    severity, what = _licence_base(settings, levels, described)
    reasons = [what]
    severity, why = _by_value(settings, severity, levels, described, value)
    reasons += [why] if why else []
    severity, why = _by_decision(settings, severity, levels, decision)
    reasons += [why] if why else []
    return LicenceSeverity(severity, "; ".join(reasons))
