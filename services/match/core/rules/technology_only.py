"""news.technology_only: the optional alert for a technology or vendor with no high-risk destination
(off unless ``rules.yaml`` gives it a severity)."""

from __future__ import annotations

from schemas.events import EvidenceKind, Severity
from services.match.core.news_mentions import NewsAnalysis
from services.match.core.rules.base import Finding, Outcome, select_evidence, unique
from services.match.core.rules.severity import score
from services.match.core.rules.signals import signal_ids, with_vendor_technologies
from services.match.core.summaries import technology_only_summary
from services.match.core.watchlists import Watchlists

NEWS_ONLY_RULE = "news.technology_only"


class TechnologyOnly:
    """The optional alert for a technology or vendor with no high-risk destination."""

    name = NEWS_ONLY_RULE

    def evaluate(self, a: NewsAnalysis, lists: Watchlists) -> Outcome:
        setting = lists.rules.news.technology_only
        if setting is None:
            return Outcome(self.name, None, "switched off (rules.yaml: technology_only)")
        if not a.signals:
            return Outcome(self.name, None, "no technology, watched code or vendor named")
        if a.destinations:
            return Outcome(self.name, None, "a destination is named: the destination rules decide")
        tech_ids, vendor_ids = signal_ids(a.signals)
        names = [lists.technologies[t].name for t in tech_ids]
        names += [lists.vendors[v].name for v in vendor_ids]
        severity = Severity(setting)
        finding = Finding(
            rule=self.name,
            severity=severity,
            score=score(severity, 0.15 * min(len(tech_ids), 3) + 0.2 * bool(vendor_ids)),
            technologies=with_vendor_technologies(lists, tech_ids, vendor_ids),
            destinations=[],
            entities=vendor_ids,
            control_codes=unique(m.ref for m in a.signals if m.kind is EvidenceKind.CONTROL_CODE),
            evidence=select_evidence(a.signals, set(), a.fields),
            summary=technology_only_summary(names),
        )
        return Outcome(self.name, finding, f"{severity.value}: no high-risk destination")
