"""licence.controlled_item_destination: a licence for a watched control code, a catch-all or a
surveillance item to a high-risk destination."""

from __future__ import annotations

from schemas.events import EvidenceKind
from services.match.core.licence_mentions import LicenceMentions
from services.match.core.rules.base import Finding, Outcome, select_evidence, unique
from services.match.core.rules.severity import licence_severity, score
from services.match.core.rules.signals import core_tier
from services.match.core.summaries import licence_words
from services.match.core.watchlists import Watchlists, english_name

LICENCE_RULE = "licence.controlled_item_destination"


class ControlledItemDestination:
    """A licence for a watched control code, a catch-all or a surveillance item to a high-risk
    destination."""

    name = LICENCE_RULE

    def evaluate(self, found: LicenceMentions, lists: Watchlists) -> Outcome:
        settings = lists.rules.licence
        if not settings.enabled:
            return Outcome(self.name, None, "the licence rule is switched off (rules.yaml: licence.enabled)")
        if not found.destinations:
            return Outcome(self.name, None, "the destination is not a high-risk country of an alerting tier")
        signals = found.signals
        if not signals:
            return Outcome(
                self.name, None, "no watched code, catch-all, technology or vendor (or encryption alone)"
            )
        record = found.record
        levels = {m.level for m in signals}
        described = any(m.kind in (EvidenceKind.TECHNOLOGY, EvidenceKind.ENTITY) for m in signals)
        graded = licence_severity(settings, record.decision, levels, described, record.value or None)
        severity = graded.severity
        dest_ids = unique(m.ref for m in found.destinations)
        strength = (
            0.5 * core_tier(lists, dest_ids)
            + 0.3 * ("exact" in levels)
            + 0.2 * ("catch_all" not in levels or len(levels) > 1)
        )
        tech_ids = unique(t for m in signals for t in m.technologies)
        code_refs = unique(m.ref for m in signals if m.kind is EvidenceKind.CONTROL_CODE)
        labels = {m.ref: m.label for m in signals if m.kind is EvidenceKind.CONTROL_CODE and m.label}
        vendor_ids = unique(m.ref for m in signals if m.kind is EvidenceKind.ENTITY)
        goods = [lists.technologies[t].name for t in tech_ids] or [lists.vendors[v].name for v in vendor_ids]
        words = licence_words(
            record,
            [english_name(lists.destinations[d]) for d in dest_ids],
            [(ref, labels.get(ref)) for ref in code_refs],
            goods,
            unnamed=not described and "exact" not in levels,
        )
        finding = Finding(
            rule=self.name,
            severity=severity,
            score=score(severity, strength),
            technologies=tech_ids,
            destinations=dest_ids,
            entities=vendor_ids,
            control_codes=code_refs,
            evidence=select_evidence([*signals, *found.destinations], set(), found.fields),
            summary=words.summary,
            title=words.title,
        )
        return Outcome(self.name, finding, f"{severity.value}: {graded.reason}")
