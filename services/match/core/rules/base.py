"""What every rule shares: the finding a rule makes, its outcome (a finding or why not), the rule's
shape, and how the rules of one kind of event are tried in order."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from schemas.events import Evidence, EvidenceKind, Severity
from services.match.core.mentions import Fields, Mention
from services.match.core.watchlists import Watchlists

EVIDENCE_PER_REF = 3

M_contra = TypeVar("M_contra", contravariant=True)


@dataclass(frozen=True, slots=True)
class Finding:
    """What a rule establishes about one event: everything of its alert but what the Matcher stamps
    (the alert's id, time and watchlist version, and the event's own id, link and dates)."""

    rule: str
    severity: Severity
    score: float
    technologies: list[str]
    destinations: list[str]
    entities: list[str]
    control_codes: list[str]
    evidence: list[Evidence]
    summary: str
    title: str | None = None  # None: the article's own title; a licence rule must set it (a licence has none)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one rule made of an event: its finding, or None, and why, in words."""

    rule: str
    finding: Finding | None
    reason: str


class Rule(Protocol[M_contra]):
    """A rule: a name (the alert's ``rule``) and a verdict on the mentions of one event, given the
    watchlists (their ``rules`` section holds the rule's settings). Pure: it reads nothing else."""

    @property
    def name(self) -> str: ...

    def evaluate(self, mentions: M_contra, lists: Watchlists) -> Outcome: ...


def run(rules: Sequence[Rule[M_contra]], mentions: M_contra, lists: Watchlists) -> list[Outcome]:
    """Every rule's outcome, in the order of ``rules``: the first finding wins, and the rules after
    it are not tried."""
    outcomes: list[Outcome] = []
    fired = False
    for rule in rules:
        if fired:
            outcomes.append(Outcome(rule.name, None, "not tried: an earlier rule fired"))
            continue
        outcome = rule.evaluate(mentions, lists)
        fired = outcome.finding is not None
        outcomes.append(outcome)
    return outcomes


def first_finding(outcomes: Iterable[Outcome]) -> Finding | None:
    return next((o.finding for o in outcomes if o.finding is not None), None)


def unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def select_evidence(
    mentions: Sequence[Mention], preferred: set[tuple[str, int]], fields: Fields
) -> list[Evidence]:
    """At most EVIDENCE_PER_REF pieces per (kind, ref), those in the co-occurrence sentence first."""
    by_ref: dict[tuple[EvidenceKind, str], list[Mention]] = {}
    for m in mentions:
        by_ref.setdefault((m.kind, m.ref), []).append(m)
    chosen: list[Mention] = []
    for group in by_ref.values():
        group.sort(key=lambda m: (fields.sentence_key(m) not in preferred, m.field != "title", m.start))
        chosen.extend(group[:EVIDENCE_PER_REF])
    chosen.sort(key=lambda m: (fields.order.get(m.field, 99), m.start, m.end))
    return [fields.evidence(m) for m in dict.fromkeys(chosen)]
