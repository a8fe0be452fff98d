"""The default rules, as units tried in order over the mentions of one event: a news article naming
a surveillance technology or vendor with a high-risk destination (or surveillance technology of no
named kind with a destination and a word of trade, or optionally a technology alone), and a licence
for a watched control code or a surveillance item to a high-risk destination. Each rule gives at
most one alert per event, with its evidence; every rule also says why it did or did not fire, for
``exportwatch match --explain``."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from schemas.bounds import bound_alert
from schemas.events import (
    Alert,
    Decision,
    Evidence,
    EvidenceKind,
    LicenceRecord,
    NewsArticle,
    Severity,
)
from services.match.core.codes import ControlCode
from services.match.core.mentions import (
    GENERIC_CONTEXT,
    TRADE_CONTEXT,
    Compiled,
    Fields,
    Level,
    Mention,
    NewsAnalysis,
    analyse_news,
    code_mentions,
    disambiguate,
    hit_mentions,
    scan_news,
)
from services.match.core.summaries import (
    Pairing,
    capitalise,
    generic_summary,
    join,
    lower_first,
    news_summary,
    technology_only_summary,
)
from services.match.core.terms import Hit
from services.match.core.watchlists import LicenceRule, english_name, territory_name

NEWS_RULE = "news.technology_destination"
NEWS_ONLY_RULE = "news.technology_only"
NEWS_GENERIC_RULE = "news.surveillance_destination"
LICENCE_RULE = "licence.controlled_item_destination"
EVIDENCE_PER_REF = 3

_SEVERITY_BAND: dict[Severity, tuple[float, float]] = {
    Severity.LOW: (0.2, 0.39),
    Severity.MEDIUM: (0.4, 0.64),
    Severity.HIGH: (0.65, 0.84),
    Severity.CRITICAL: (0.85, 1.0),
}
_ORDER = [Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]
_LICENSOR = {
    "GB": "UK",
    "US": "US",
    "NL": "Dutch",
    "DE": "German",
    "FR": "French",
    "ES": "Spanish",
    "IT": "Italian",
    "BE": "Belgian",
    "SE": "Swedish",
    "DK": "Danish",
    "FI": "Finnish",
    "IE": "Irish",
    "AT": "Austrian",
    "CH": "Swiss",
}
_DECISION_WORDS = {
    Decision.GRANTED: "granted",
    Decision.REFUSED: "refused",
    Decision.REVOKED: "revoked",
    Decision.PENDING: "pending",
    Decision.UNKNOWN: "(decision unknown)",
}


def alert_id(event_type: str, event_id: str, rule: str, revision: int = 1) -> str:
    """Deterministic: a redelivered event never makes a second alert, while a corrected revision of an
    event (a new release of a licence row, say) makes a new one that notify will deliver."""
    key = f"{event_type}|{event_id}|{rule}" + (f"|r{revision}" if revision > 1 else "")
    return "alert-" + hashlib.sha256(key.encode()).hexdigest()[:24]


def _step(severity: Severity, steps: int) -> Severity:
    index = min(len(_ORDER) - 1, max(0, _ORDER.index(severity) + steps))
    return _ORDER[index]


def _cap(severity: Severity, highest: Severity) -> Severity:
    return severity if severity.rank <= highest.rank else highest


def _score(severity: Severity, strength: float) -> float:
    """A score inside the severity's band; ``strength`` in [0, 1] places it within the band."""
    lo, hi = _SEVERITY_BAND[severity]
    return round(lo + (hi - lo) * max(0.0, min(1.0, strength)), 3)


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _select_evidence(
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


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one rule made of an event: its alert, or None, and why, in words."""

    rule: str
    alert: Alert | None
    reason: str


@dataclass(frozen=True, slots=True)
class Stamp:
    """What every alert of one evaluation carries besides its content."""

    now: dt.datetime
    version: str


# ---- news -------------------------------------------------------------------------------------


def _signal_ids(signals: Sequence[Mention]) -> tuple[list[str], list[str]]:
    """The technology categories (from terms and codes) and the vendors that the signals name."""
    tech_ids = _unique(
        t
        for m in signals
        if m.kind in (EvidenceKind.TECHNOLOGY, EvidenceKind.CONTROL_CODE)
        for t in m.technologies
    )
    return tech_ids, _unique(m.ref for m in signals if m.kind is EvidenceKind.ENTITY)


def _with_vendor_technologies(c: Compiled, tech_ids: list[str], vendor_ids: list[str]) -> list[str]:
    return _unique([*tech_ids, *(t for v in vendor_ids for t in c.lists.vendors[v].technologies)])


def _signal_labels(c: Compiled, m: Mention) -> list[str]:
    """How a signal is named in a summary: its technology categories, or "vendor X"."""
    if m.kind is EvidenceKind.ENTITY:
        return [f"vendor {c.lists.vendors[m.ref].name}"]
    return [c.lists.technologies[t].name for t in m.technologies if t in c.lists.technologies]


def _vendors_last(labels: list[str]) -> list[str]:
    return sorted(labels, key=lambda label: label.startswith("vendor "))


def _news_alert(
    article: NewsArticle,
    rule: str,
    severity: Severity,
    strength: float,
    stamp: Stamp,
    *,
    technologies: list[str],
    destinations: list[str],
    entities: list[str],
    control_codes: list[str],
    evidence: list[Evidence],
    summary: str,
) -> Alert:
    """An alert on a news article: what every news rule's alert shares, bounded in size."""
    alert = Alert(
        id=alert_id(article.type, article.id, rule, article.revision),
        event_type=article.type,
        event_id=article.id,
        event_revision=article.revision,
        duplicate_of=article.duplicate_of,
        title=article.title.strip() or article.url,
        url=article.url,
        severity=severity,
        score=_score(severity, strength),
        technologies=technologies,
        destinations=destinations,
        entities=entities,
        control_codes=control_codes,
        evidence=evidence,
        rule=rule,
        summary=summary,
        watchlist_version=stamp.version,
        created_at=stamp.now,
        event_ingested_at=article.ingested_at,
    )
    return bound_alert(alert)


class TechnologyDestination:
    """A technology, watched control code or vendor named with a high-risk destination."""

    name = NEWS_RULE

    def evaluate(self, c: Compiled, article: NewsArticle, a: NewsAnalysis, stamp: Stamp) -> Outcome:
        settings = c.lists.rules.news
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

        tech_ids, vendor_ids = _signal_ids(a.signals)
        dest_ids = _unique(d.ref for d in destinations)
        vendor_home = {c.lists.vendors[v].country for v in vendor_ids}
        why = "same sentence" if shared else "same article, not the same sentence"
        if settings.vendor_at_home_step_down and not tech_ids and set(dest_ids) <= vendor_home:
            # Only a vendor named beside its own home country: most likely about the vendor, not an export.
            severity = _step(severity, -1)
            why += "; only a vendor at home, one step lower"
        core = any(c.lists.destinations[d].tier == "core" for d in dest_ids)
        strength = 0.3 * core + 0.15 * min(len(tech_ids), 3) + 0.2 * bool(vendor_ids) + 0.05 * len(shared)

        evidence = _select_evidence([*a.signals, *counted], shared, fields)
        names = {d: english_name(c.lists.destinations[d]) for d in dest_ids}
        # what shares a sentence with what, for a summary that is true of every item it names
        together: dict[str, list[str]] = {}
        for m in counted:
            for s in signal_sentences.get(fields.sentence_key(m), []):
                together.setdefault(m.ref, []).extend(_signal_labels(c, s))
        groups: dict[tuple[str, ...], list[str]] = {}
        for d in dest_ids:
            labels = tuple(_vendors_last(_unique(together.get(d, []))))
            if labels:
                groups.setdefault(labels, []).append(names[d])
        pairings = [Pairing(labels, tuple(ds)) for labels, ds in groups.items()]
        all_labels = _vendors_last(_unique(label for m in a.signals for label in _signal_labels(c, m)))
        summary = news_summary(pairings, all_labels, [names[d] for d in dest_ids])
        alert = _news_alert(
            article,
            self.name,
            severity,
            strength,
            stamp,
            technologies=_with_vendor_technologies(c, tech_ids, vendor_ids),
            destinations=dest_ids,
            entities=vendor_ids,
            control_codes=_unique(m.ref for m in a.code_mentions),
            evidence=evidence,
            summary=summary,
        )
        return Outcome(self.name, alert, f"{severity.value}: {why}")


class SurveillanceDestination:
    """Surveillance technology of no named kind, a word of trade and a high-risk destination in one
    sentence, when nothing more specific is named."""

    name = NEWS_GENERIC_RULE

    def evaluate(self, c: Compiled, article: NewsArticle, a: NewsAnalysis, stamp: Stamp) -> Outcome:
        setting = c.lists.rules.news.generic_technology
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
        dest_ids = _unique(m.ref for m in near)
        core = any(c.lists.destinations[d].tier == "core" for d in dest_ids)
        severity = Severity(setting)
        alert = _news_alert(
            article,
            self.name,
            severity,
            0.3 * core + 0.1 * len(shared),
            stamp,
            technologies=[],
            destinations=dest_ids,
            entities=[],
            control_codes=[],
            evidence=_select_evidence([*generic, *near], shared, fields),
            summary=generic_summary([english_name(c.lists.destinations[d]) for d in dest_ids]),
        )
        return Outcome(self.name, alert, f"{severity.value}: surveillance technology, trade and destination")


class TechnologyOnly:
    """The optional alert for a technology or vendor with no high-risk destination."""

    name = NEWS_ONLY_RULE

    def evaluate(self, c: Compiled, article: NewsArticle, a: NewsAnalysis, stamp: Stamp) -> Outcome:
        setting = c.lists.rules.news.technology_only
        if setting is None:
            return Outcome(self.name, None, "switched off (rules.yaml: technology_only)")
        if not a.signals:
            return Outcome(self.name, None, "no technology, watched code or vendor named")
        if a.destinations:
            return Outcome(self.name, None, "a destination is named: the destination rules decide")
        tech_ids, vendor_ids = _signal_ids(a.signals)
        names = [c.lists.technologies[t].name for t in tech_ids]
        names += [c.lists.vendors[v].name for v in vendor_ids]
        severity = Severity(setting)
        alert = _news_alert(
            article,
            self.name,
            severity,
            0.15 * min(len(tech_ids), 3) + 0.2 * bool(vendor_ids),
            stamp,
            technologies=_with_vendor_technologies(c, tech_ids, vendor_ids),
            destinations=[],
            entities=vendor_ids,
            control_codes=_unique(m.ref for m in a.signals if m.kind is EvidenceKind.CONTROL_CODE),
            evidence=_select_evidence(a.signals, set(), a.fields),
            summary=technology_only_summary(names),
        )
        return Outcome(self.name, alert, f"{severity.value}: no high-risk destination")


NEWS_RULES = (TechnologyDestination(), SurveillanceDestination(), TechnologyOnly())


def could_alert(c: Compiled, hits: Sequence[Hit], codes: Sequence[Mention]) -> str | None:
    """Why no news rule can fire, from the scan alone (the common case: most articles stop here
    before their sentences are split); None when the rules must look closer."""
    settings = c.lists.rules.news
    if not settings.enabled:
        return "the news rules are switched off (rules.yaml: news.enabled)"
    specific = bool(codes) or any(h.kind in ("technology", "vendor") for h in hits)
    generic = settings.generic_technology is not None and any(
        h.kind == "context" and h.ref == GENERIC_CONTEXT for h in hits
    )
    if not specific and not generic:
        return "no technology, watched code, vendor or surveillance technology named"
    if settings.technology_only is None and not any(h.kind == "destination" for h in hits):
        return "no high-risk country named"
    return None


def news_outcomes(c: Compiled, article: NewsArticle, a: NewsAnalysis, stamp: Stamp) -> list[Outcome]:
    """Every news rule's outcome, in order; the first alert wins."""
    outcomes: list[Outcome] = []
    fired = False
    for rule in NEWS_RULES:
        if fired:
            outcomes.append(Outcome(rule.name, None, "not tried: an earlier rule fired"))
            continue
        outcome = rule.evaluate(c, article, a, stamp)
        fired = outcome.alert is not None
        outcomes.append(outcome)
    return outcomes


def evaluate_news(c: Compiled, article: NewsArticle, now: dt.datetime, version: str) -> list[Alert]:
    first = scan_news(c, article, first_pass=True)
    if could_alert(c, first[1], first[2]) is not None:
        return []
    analysis = analyse_news(c, article)  # the whole scan, words of trade and context included
    for outcome in news_outcomes(c, article, analysis, Stamp(now, version)):
        if outcome.alert is not None:
            return [outcome.alert]
    return []


# ---- licences ---------------------------------------------------------------------------------


def _licensor(code: str) -> str:
    return _LICENSOR.get(code) or territory_name(code)


def _licence_destinations(c: Compiled, record: LicenceRecord) -> list[Mention]:
    alerting = c.lists.alert_tiers
    found: list[Mention] = []
    name_hits: list[Hit] = []
    if record.destination_name:
        name_hits = c.index.scan("destination_name", record.destination_name, None, kinds=("destination",))
    if record.destination_country:
        code = record.destination_country
        entry = c.lists.destinations.get(code)
        if entry is None or entry.tier not in alerting:
            return []
        found.append(Mention("destination_country", 0, len(code), EvidenceKind.DESTINATION, code))
        found.extend(m for m in hit_mentions(c, name_hits) if m.ref == code)
        return found
    for m in hit_mentions(c, name_hits):
        if c.lists.destinations[m.ref].tier in alerting:
            found.append(m)
    return found


def _licence_fields(record: LicenceRecord) -> Fields:
    """The licence's text fields by path, goods first (the order evidence is listed in)."""
    values: dict[str, str] = {}
    for i, item in enumerate(record.items):
        if item.control_code:
            values[f"items.{i}.control_code"] = item.control_code
        if item.description:
            values[f"items.{i}.description"] = item.description
    if record.destination_country:
        values["destination_country"] = record.destination_country
    if record.destination_name:
        values["destination_name"] = record.destination_name
    for name in ("exporter", "end_user"):
        value = getattr(record, name)
        if value:
            values[name] = value
    return Fields(values)


def _licence_signals(c: Compiled, record: LicenceRecord, fields: Fields) -> list[Mention]:
    """Watched codes, catch-alls, technology terms and vendors on a licence."""
    signals: list[Mention] = []
    for i, item in enumerate(record.items):
        code_field = f"items.{i}.control_code"
        if item.control_code:
            found = code_mentions(c, code_field, item.control_code, whole_field=True)
            if not found and ControlCode.parse(item.control_code) is None:
                catch = c.catch_all(item.control_code)
                if catch is not None:
                    start, end, catch_entry = catch
                    found = [
                        Mention(
                            code_field,
                            start,
                            end,
                            EvidenceKind.CONTROL_CODE,
                            catch_entry.id,
                            (),
                            "catch_all",
                            catch_entry.label,
                        )
                    ]
            signals.extend(found)
        desc_field = f"items.{i}.description"
        if item.description:
            scanned = c.index.scan(
                desc_field, item.description, None, kinds=("technology", "vendor", "context", "code")
            )
            codes = code_mentions(c, desc_field, item.description, whole_field=False, hits=scanned)
            hits = [h for h in scanned if h.kind != "code"]
            signals.extend(codes)
            signals.extend(hit_mentions(c, disambiguate(hits, fields, codes)))
    for name in ("exporter", "end_user"):
        if name in fields.values:
            hits = c.index.scan(name, fields.values[name], None, kinds=("vendor",))
            signals.extend(hit_mentions(c, [h for h in hits if not h.info.ambiguous]))
    return signals


@dataclass(frozen=True, slots=True)
class LicenceSeverity:
    severity: Severity
    reason: str  # for people: why this level


def licence_severity(
    settings: LicenceRule, decision: Decision, levels: set[Level], described: bool, value: float | None
) -> LicenceSeverity:
    """The severity of a licence alert and why: what the licence is known to cover (an exact
    surveillance sub-item; surveillance named in words; a parent-only code; a catch-all), then its
    value, then its decision. ``described`` says that a technology or vendor is named in the goods."""
    if "exact" in levels:
        base, what = Severity(settings.granted_exact), "an exact surveillance sub-item"
    elif described:
        base, what = Severity(settings.granted_other), "surveillance named in the goods description"
    elif "parent" in levels:
        base, what = Severity(settings.granted_parent), "a parent code that covers ordinary goods too"
    else:
        base, what = Severity(settings.granted_catch_all), "a catch-all with no surveillance item named"
    reasons = [what]
    severity = base
    if value is not None and settings.small_value is not None and value < settings.small_value:
        severity = _step(severity, -1)
        reasons.append(f"value below {settings.small_value:,.0f}")
    elif value is not None and settings.large_value is not None and value >= settings.large_value:
        raised = _step(severity, 1)
        if "exact" not in levels and not described:
            raised = _cap(raised, Severity.MEDIUM)
        if raised != severity:
            reasons.append(f"value of {settings.large_value:,.0f} or more")
        severity = raised
    if decision in (Decision.REFUSED, Decision.REVOKED):
        capped = _cap(severity, Severity(settings.refused))
        if capped != severity:
            reasons.append(f"{decision.value}, so nothing was delivered")
        severity = capped
    elif decision is not Decision.GRANTED:
        highest = Severity(settings.pending_exact if "exact" in levels else settings.pending_other)
        capped = _cap(severity, highest)
        if capped != severity:
            reasons.append("not (yet) granted")
        severity = capped
    return LicenceSeverity(severity, "; ".join(reasons))


def licence_outcome(c: Compiled, record: LicenceRecord, stamp: Stamp) -> Outcome:
    settings = c.lists.rules.licence
    if not settings.enabled:
        return Outcome(LICENCE_RULE, None, "the licence rule is switched off (rules.yaml: licence.enabled)")
    fields = _licence_fields(record)
    destinations = _licence_destinations(c, record)
    if not destinations:
        return Outcome(LICENCE_RULE, None, "the destination is not a high-risk country of an alerting tier")
    signals = _licence_signals(c, record, fields)
    if not signals:
        return Outcome(
            LICENCE_RULE, None, "no watched code, catch-all, technology or vendor (or encryption alone)"
        )

    levels = {m.level for m in signals}
    described = any(m.kind in (EvidenceKind.TECHNOLOGY, EvidenceKind.ENTITY) for m in signals)
    graded = licence_severity(settings, record.decision, levels, described, record.value or None)
    severity = graded.severity
    dest_ids = _unique(m.ref for m in destinations)
    core = any(c.lists.destinations[d].tier == "core" for d in dest_ids)
    strength = 0.5 * core + 0.3 * ("exact" in levels) + 0.2 * ("catch_all" not in levels or len(levels) > 1)

    tech_ids = _unique(t for m in signals for t in m.technologies)
    code_refs = _unique(m.ref for m in signals if m.kind is EvidenceKind.CONTROL_CODE)
    labels = {m.ref: m.label for m in signals if m.kind is EvidenceKind.CONTROL_CODE and m.label}
    vendor_ids = _unique(m.ref for m in signals if m.kind is EvidenceKind.ENTITY)
    dest_names = join([english_name(c.lists.destinations[d]) for d in dest_ids])
    who = _licensor(record.licensing_country)
    decision = _DECISION_WORDS[record.decision]
    if code_refs:
        what_short = ", ".join(code_refs)
        what_long = join([f"{ref} ({labels[ref]})" if ref in labels else ref for ref in code_refs])
    else:
        names = [c.lists.technologies[t].name for t in tech_ids] or [
            c.lists.vendors[v].name for v in vendor_ids
        ]
        what_short = ", ".join(names)
        what_long = "goods described as " + join([lower_first(n) for n in names])
    value = ""
    if record.value:
        value = f", value {record.value:,.0f}" + (f" {record.currency}" if record.currency else "")
    if not described and "exact" not in levels:
        value += "; no surveillance item is named"
    alert = Alert(
        id=alert_id(record.type, record.id, LICENCE_RULE, record.revision),
        event_type=record.type,
        event_id=record.id,
        event_revision=record.revision,
        title=f"{who} licence {decision}: {what_short} to {dest_names}",
        url=record.source_url,
        severity=severity,
        score=_score(severity, strength),
        technologies=tech_ids,
        destinations=dest_ids,
        entities=vendor_ids,
        control_codes=code_refs,
        evidence=_select_evidence([*signals, *destinations], set(), fields),
        rule=LICENCE_RULE,
        summary=capitalise(f"{who} licence {decision} for {what_long} to {dest_names}{value}."),
        watchlist_version=stamp.version,
        created_at=stamp.now,
        event_ingested_at=record.ingested_at,
    )
    alert = bound_alert(alert)
    return Outcome(LICENCE_RULE, alert, f"{severity.value}: {graded.reason}")


def evaluate_licence(c: Compiled, record: LicenceRecord, now: dt.datetime, version: str) -> list[Alert]:
    outcome = licence_outcome(c, record, Stamp(now, version))
    return [outcome.alert] if outcome.alert is not None else []
