"""news.surveillance_destination: surveillance technology of no named kind, a word of trade and a
high-risk destination in one sentence, when nothing more specific is named."""

from __future__ import annotations

from schemas.events import EvidenceKind, Severity
from services.match.core.mentions import GENERIC_CONTEXT, TRADE_CONTEXT, Mention
from services.match.core.news_mentions import NewsAnalysis
from services.match.core.rules.base import Finding, Outcome, select_evidence, unique
from services.match.core.rules.severity import score
from services.match.core.rules.signals import core_tier
from services.match.core.summaries import generic_summary
from services.match.core.watchlists import Watchlists, english_name

NEWS_GENERIC_RULE = "news.surveillance_destination"


class SurveillanceDestination:
    """Surveillance technology of no named kind, a word of trade and a high-risk destination in one
    sentence, when nothing more specific is named."""

    name = NEWS_GENERIC_RULE

    def evaluate(self, a: NewsAnalysis, lists: Watchlists) -> Outcome:
        setting = lists.rules.news.generic_technology
        if setting is None:
            return Outcome(self.name, None, "switched off (rules.yaml: generic_technology)")
        if a.signals:
            return Outcome(
                self.name, None, "a technology, code or vendor is named: the specific rule decides"
            )
        fields = a.fields
        generic = [
            Mention(h.field, h.start, h.end, EvidenceKind.TECHNOLOGY, GENERIC_CONTEXT, term=h.info.written)
            for h in a.context(GENERIC_CONTEXT)
        ]
        if not generic:
            return Outcome(self.name, None, "no surveillance technology named")
        trade = {fields.sentence_key(h) for h in a.context(TRADE_CONTEXT)}
        sentences = {k for k in (fields.sentence_key(m) for m in generic) if k in trade}
        near = [
            cm.mention
            for d in a.destinations
            for cm in d.counted
            if fields.sentence_key(cm.mention) in sentences
        ]
        if not near:
            return Outcome(
                self.name, None, "no destination in a sentence with both surveillance technology and trade"
            )
        shared = {fields.sentence_key(m) for m in near}
        dest_ids = unique(m.ref for m in near)
        severity = Severity(setting)
        finding = Finding(
            rule=self.name,
            severity=severity,
            score=score(severity, 0.3 * core_tier(lists, dest_ids) + 0.1 * len(shared)),
            technologies=[],
            destinations=dest_ids,
            entities=[],
            control_codes=[],
            evidence=select_evidence([*generic, *near], shared, fields),
            summary=generic_summary([english_name(lists.destinations[d]) for d in dest_ids]),
        )
        return Outcome(
            self.name, finding, f"{severity.value}: surveillance technology, trade and destination"
        )
