"""news.technology_destination: a technology, watched control code or vendor named with a high-risk
destination."""

from __future__ import annotations

from schemas.events import Severity
from services.match.core.mentions import Fields, Mention
from services.match.core.news_mentions import NewsAnalysis
from services.match.core.rules.base import Finding, Outcome, select_evidence, unique
from services.match.core.rules.severity import score, step
from services.match.core.rules.signals import (
    core_tier,
    signal_ids,
    signal_labels,
    vendors_last,
    with_vendor_technologies,
)
from services.match.core.summaries import Pairing, news_summary
from services.match.core.watchlists import Watchlists, english_name

NEWS_RULE = "news.technology_destination"


class TechnologyDestination:
    """A technology, watched control code or vendor named with a high-risk destination."""

    name = NEWS_RULE

    def evaluate(self, a: NewsAnalysis, lists: Watchlists) -> Outcome:
        settings = lists.rules.news
        if not a.signals:
            return Outcome(self.name, None, "no technology, watched code or vendor named")
        destinations = a.destinations
        if not destinations:
            return Outcome(self.name, None, "no country in a destination role")
        fields = a.fields
        counted = [cm.mention for d in destinations for cm in d.counted]
        signal_sentences: dict[tuple[str, int], list[Mention]] = {}
        for m in a.signals:
            signal_sentences.setdefault(fields.sentence_key(m), []).append(m)
        shared = {k for k in (fields.sentence_key(m) for m in counted) if k in signal_sentences}
        severity = Severity(settings.same_sentence if shared else settings.same_article)

        tech_ids, vendor_ids = signal_ids(a.signals)
        dest_ids = unique(d.ref for d in destinations)
        vendor_home = {lists.vendors[v].country for v in vendor_ids}
        why = "same sentence" if shared else "same article, not the same sentence"
        if settings.vendor_at_home_step_down and not tech_ids and set(dest_ids) <= vendor_home:
            # Only a vendor named beside its own home country: most likely about the vendor, not an export.
            severity = step(severity, -1)
            why += "; only a vendor at home, one step lower"
        core = core_tier(lists, dest_ids)
        strength = 0.3 * core + 0.15 * min(len(tech_ids), 3) + 0.2 * bool(vendor_ids) + 0.05 * len(shared)

        names = {d: english_name(lists.destinations[d]) for d in dest_ids}
        pairings = _pairings(lists, fields, counted, signal_sentences, dest_ids, names)
        all_labels = vendors_last(unique(label for m in a.signals for label in signal_labels(lists, m)))
        finding = Finding(
            rule=self.name,
            severity=severity,
            score=score(severity, strength),
            technologies=with_vendor_technologies(lists, tech_ids, vendor_ids),
            destinations=dest_ids,
            entities=vendor_ids,
            control_codes=unique(m.ref for m in a.code_mentions),
            evidence=select_evidence([*a.signals, *counted], shared, fields),
            summary=news_summary(pairings, all_labels, [names[d] for d in dest_ids]),
        )
        return Outcome(self.name, finding, f"{severity.value}: {why}")


def _pairings(
    lists: Watchlists,
    fields: Fields,
    counted: list[Mention],
    signal_sentences: dict[tuple[str, int], list[Mention]],
    dest_ids: list[str],
    names: dict[str, str],
) -> list[Pairing]:
    """What shares a sentence with what, for a summary that is true of every item it names."""
    together: dict[str, list[str]] = {}
    for m in counted:
        for s in signal_sentences.get(fields.sentence_key(m), []):
            together.setdefault(m.ref, []).extend(signal_labels(lists, s))
    groups: dict[tuple[str, ...], list[str]] = {}
    for d in dest_ids:
        labels = tuple(vendors_last(unique(together.get(d, []))))
        if labels:
            groups.setdefault(labels, []).append(names[d])
    return [Pairing(labels, tuple(ds)) for labels, ds in groups.items()]
