"""The default rules: a news article naming a surveillance technology or vendor together with a
high-risk destination, and a licence for a watched control code (or a surveillance item) to a
high-risk destination. Each rule gives at most one alert per event, with its evidence explained."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from schemas.events import (
    Alert,
    Decision,
    Evidence,
    EvidenceKind,
    LicenceRecord,
    NewsArticle,
    Severity,
)
from services.match.core.codes import ControlCode, find_codes_at, find_field_code
from services.match.core.terms import Hit, TermIndex
from services.match.core.text import Sentences
from services.match.core.watchlists import (
    CatchAllEntry,
    CodeEntry,
    LicenceRule,
    Watchlists,
    english_name,
    territory_name,
)

NEWS_RULE = "news.technology_destination"
NEWS_ONLY_RULE = "news.technology_only"
NEWS_GENERIC_RULE = "news.surveillance_destination"
GENERIC_CONTEXT = "surveillance-technology"  # the context entry naming surveillance technology of no kind
TRADE_CONTEXT = "trade"  # the context entry of export, sale and licence words
LICENCE_RULE = "licence.controlled_item_destination"
CONTEXT_WINDOW = 200  # characters either side in which an ambiguous name finds its surveillance term
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

Level = Literal["exact", "parent", "catch_all", "term"]


def alert_id(event_type: str, event_id: str, rule: str, revision: int = 1) -> str:
    """Deterministic: a redelivered event never makes a second alert, while a corrected revision of an
    event (a new release of a licence row, say) makes a new one that notify will deliver."""
    key = f"{event_type}|{event_id}|{rule}" + (f"|r{revision}" if revision > 1 else "")
    return "alert-" + hashlib.sha256(key.encode()).hexdigest()[:24]


def _step(severity: Severity, steps: int) -> Severity:
    index = min(len(_ORDER) - 1, max(0, _ORDER.index(severity) + steps))
    return _ORDER[index]


def _score(severity: Severity, strength: float) -> float:
    """A score inside the severity's band; ``strength`` in [0, 1] places it within the band."""
    lo, hi = _SEVERITY_BAND[severity]
    return round(lo + (hi - lo) * max(0.0, min(1.0, strength)), 3)


def _join(words: Sequence[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _lower_first(name: str) -> str:
    return name[0].lower() + name[1:] if len(name) > 1 and name[1].islower() else name


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


@dataclass(frozen=True, slots=True)
class Mention:
    """A piece of evidence before it becomes an Evidence: where, what, and the categories it implies."""

    field: str
    start: int
    end: int
    kind: EvidenceKind
    ref: str
    technologies: tuple[str, ...] = ()
    level: Level = "term"
    label: str | None = None  # for control codes and catch-alls: what the code covers, in words


@dataclass
class Compiled:
    """Watchlists compiled for evaluation: the term index and the code table."""

    lists: Watchlists
    index: TermIndex
    _codes: list[tuple[ControlCode, CodeEntry]] = field(default_factory=list)
    _catch_all: list[tuple[re.Pattern[str], CatchAllEntry]] = field(default_factory=list)

    @classmethod
    def of(cls, lists: Watchlists, index: TermIndex) -> Compiled:
        codes = []
        for entry in lists.codes.values():
            code = ControlCode.parse(entry.code)
            if code is not None:
                codes.append((code, entry))
        codes.sort(key=lambda pair: len(pair[0].sub), reverse=True)  # longest prefix first
        catch_all = [
            (
                re.compile(
                    r"(?<![\w])(?:" + "|".join(re.escape(t) for t in entry.terms) + r")(?![\w])",
                    re.IGNORECASE,
                ),
                entry,
            )
            for entry in lists.catch_all.values()
        ]
        return cls(lists, index, codes, catch_all)

    def code_entry(self, code: ControlCode) -> CodeEntry | None:
        for prefix, entry in self._codes:
            if code.within(prefix):
                return entry
        return None

    def catch_all(self, text: str) -> tuple[int, int, CatchAllEntry] | None:
        for pattern, entry in self._catch_all:
            m = pattern.search(text)
            if m is not None:
                return m.start(), m.end(), entry
        return None


class _Fields:
    """Original field texts of one event, with sentences computed on demand."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.order = {name: i for i, name in enumerate(values)}  # the order evidence is listed in
        self._sentences: dict[str, Sentences] = {}

    def sentences(self, name: str) -> Sentences:
        got = self._sentences.get(name)
        if got is None:
            got = Sentences.of(self.values[name])
            self._sentences[name] = got
        return got

    def sentence_key(self, m: Mention | Hit) -> tuple[str, int]:
        return m.field, self.sentences(m.field).index(m.start)

    def evidence(self, m: Mention) -> Evidence:
        text = self.values[m.field]
        return Evidence(
            field=m.field,
            start=m.start,
            end=m.end,
            text=text[m.start : m.end],
            snippet=self.sentences(m.field).snippet(m.start, m.end),
            kind=m.kind,
            ref=m.ref,
        )


def _hit_mentions(c: Compiled, hits: Iterable[Hit]) -> list[Mention]:
    out = []
    for h in hits:
        if h.kind == "technology":
            out.append(Mention(h.field, h.start, h.end, EvidenceKind.TECHNOLOGY, h.ref, (h.ref,)))
        elif h.kind == "vendor":
            vendor = c.lists.vendors[h.ref]
            out.append(
                Mention(h.field, h.start, h.end, EvidenceKind.ENTITY, h.ref, tuple(vendor.technologies))
            )
        elif h.kind == "destination":
            out.append(Mention(h.field, h.start, h.end, EvidenceKind.DESTINATION, h.ref))
    return out


def _disambiguate(hits: list[Hit], fields: _Fields, extra_anchors: Sequence[Mention] = ()) -> list[Hit]:
    """Drop ambiguous names (Pegasus, Predator, DPI...) with no unambiguous surveillance term in the
    same sentence or within CONTEXT_WINDOW characters."""
    anchors = [(h.field, h.start, h.end) for h in hits if h.kind != "destination" and not h.info.ambiguous]
    anchors.extend((m.field, m.start, m.end) for m in extra_anchors)
    kept = []
    for h in hits:
        if not h.info.ambiguous or h.kind == "destination":
            kept.append(h)
            continue
        sentences = fields.sentences(h.field)
        sentence = sentences.index(h.start)
        for f, s, e in anchors:
            if f != h.field:
                continue
            if sentences.index(s) == sentence or (
                s < h.end + CONTEXT_WINDOW and e > h.start - CONTEXT_WINDOW
            ):
                kept.append(h)
                break
    return kept


def _code_mentions(
    c: Compiled, field_name: str, text: str, whole_field: bool, hits: Iterable[Hit] = ()
) -> list[Mention]:
    """Watched control codes in a whole code field, or in running text at the candidates the term
    scan found (``hits`` of kind "code"). Encryption codes are not watched alone: they give no
    mention."""
    found: list[tuple[int, int, ControlCode]] = []
    single = find_field_code(text) if whole_field else None
    if single is not None:
        found.append(single)
    else:
        found.extend(find_codes_at(text, (h.start for h in hits if h.kind == "code")))
    mentions: list[Mention] = []
    for start, end, code in found:
        entry = c.code_entry(code)
        if entry is None or entry.level == "encryption":
            continue
        level: Level = "exact" if entry.level == "exact" else "parent"
        mentions.append(
            Mention(
                field_name,
                start,
                end,
                EvidenceKind.CONTROL_CODE,
                code.canonical,
                tuple(entry.technologies),
                level,
                entry.label,
            )
        )
    return mentions


def _select_evidence(
    mentions: Sequence[Mention], preferred: set[tuple[str, int]], fields: _Fields
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


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def evaluate_news(c: Compiled, article: NewsArticle, now: dt.datetime, version: str) -> list[Alert]:
    settings = c.lists.rules.news
    if not settings.enabled:
        return []
    fields = _Fields({"title": article.title, "body": article.body})
    hits: list[Hit] = []
    code_mentions: list[Mention] = []
    for name, text in fields.values.items():
        found = c.index.scan(name, text, article.language, defer=("destination",))
        code_mentions.extend(_code_mentions(c, name, text, whole_field=False, hits=found))
        hits.extend(h for h in found if h.kind != "code")
    specific = bool(code_mentions) or any(h.kind in ("technology", "vendor") for h in hits)
    generic = settings.generic_technology is not None and any(
        h.kind == "context" and h.ref == GENERIC_CONTEXT for h in hits
    )
    if not specific and not generic:
        return []
    if settings.technology_only is None and not any(h.kind == "destination" for h in hits):
        return []  # the usual case once a term was found: stop before splitting sentences
    hits = [h for h in hits if h.kind != "destination" or not c.index.defused(h, fields.values[h.field])]
    hits = _disambiguate(hits, fields, code_mentions)
    mentions = sorted(
        _hit_mentions(c, hits) + code_mentions, key=lambda m: (fields.order[m.field], m.start, -m.end)
    )
    alerting = c.lists.alert_tiers
    destinations = [
        m
        for m in mentions
        if m.kind is EvidenceKind.DESTINATION and c.lists.destinations[m.ref].tier in alerting
    ]
    signals = [m for m in mentions if m.kind is not EvidenceKind.DESTINATION]
    if not signals:
        if generic and destinations and settings.generic_technology is not None:
            severity = Severity(settings.generic_technology)
            return _generic(c, article, hits, destinations, fields, severity, now, version)
        return []
    if not destinations:
        if settings.technology_only is None:
            return []
        return [
            _technology_only(c, article, signals, fields, Severity(settings.technology_only), now, version)
        ]

    signal_sentences = {fields.sentence_key(m) for m in signals}
    shared = {k for k in (fields.sentence_key(m) for m in destinations) if k in signal_sentences}
    severity = Severity(settings.same_sentence if shared else settings.same_article)

    tech_ids, vendor_ids = _signal_ids(signals)
    dest_ids = _unique(m.ref for m in destinations)
    vendor_home = {c.lists.vendors[v].country for v in vendor_ids}
    if settings.vendor_at_home_step_down and not tech_ids and set(dest_ids) <= vendor_home:
        # Only a vendor named beside its own home country: most likely about the vendor, not an export.
        severity = _step(severity, -1)
    core = any(c.lists.destinations[d].tier == "core" for d in dest_ids)
    strength = 0.3 * core + 0.15 * min(len(tech_ids), 3) + 0.2 * bool(vendor_ids) + 0.05 * len(shared)

    relevant = [m for m in mentions if m.kind is not EvidenceKind.DESTINATION or m.ref in dest_ids]
    evidence = _select_evidence(relevant, shared, fields)

    tech_names = [c.lists.technologies[t].name for t in tech_ids]
    vendor_names = [c.lists.vendors[v].name for v in vendor_ids]
    dest_names = [english_name(c.lists.destinations[d]) for d in dest_ids]
    if tech_names:
        subject = _join([tech_names[0], *(_lower_first(n) for n in tech_names[1:])])
        vendor_part = f"; vendor: {_join(vendor_names)}" if vendor_names else ""
    else:
        subject = ("Vendor " if len(vendor_names) == 1 else "Vendors ") + _join(vendor_names)
        vendor_part = ""
    if shared:
        summary = f"{subject} mentioned in the same sentence as {_join(dest_names)}{vendor_part}."
    else:
        summary = (
            f"{subject} mentioned in the same article as {_join(dest_names)}, "
            f"but not in the same sentence{vendor_part}."
        )
    return [
        _news_alert(
            article,
            NEWS_RULE,
            severity,
            strength,
            technologies=_with_vendor_technologies(c, tech_ids, vendor_ids),
            destinations=dest_ids,
            entities=vendor_ids,
            control_codes=_unique(m.ref for m in code_mentions),
            evidence=evidence,
            summary=_capitalise(summary),
            now=now,
            version=version,
        )
    ]


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


def _news_alert(
    article: NewsArticle,
    rule: str,
    severity: Severity,
    strength: float,
    *,
    technologies: list[str],
    destinations: list[str],
    entities: list[str],
    control_codes: list[str],
    evidence: list[Evidence],
    summary: str,
    now: dt.datetime,
    version: str,
) -> Alert:
    """An alert on a news article: what every news rule's alert shares."""
    return Alert(
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
        watchlist_version=version,
        created_at=now,
        event_ingested_at=article.ingested_at,
    )


def _generic(
    c: Compiled,
    article: NewsArticle,
    hits: list[Hit],
    destinations: list[Mention],
    fields: _Fields,
    severity: Severity,
    now: dt.datetime,
    version: str,
) -> list[Alert]:
    """Surveillance technology of no named kind, a word of trade and a high-risk destination in one
    sentence."""
    generic = [
        Mention(h.field, h.start, h.end, EvidenceKind.TECHNOLOGY, GENERIC_CONTEXT)
        for h in hits
        if h.kind == "context" and h.ref == GENERIC_CONTEXT
    ]
    trade = {fields.sentence_key(h) for h in hits if h.kind == "context" and h.ref == TRADE_CONTEXT}
    sentences = {k for k in (fields.sentence_key(m) for m in generic) if k in trade}
    shared = {k for k in (fields.sentence_key(m) for m in destinations) if k in sentences}
    if not shared:
        return []
    near = [m for m in destinations if fields.sentence_key(m) in shared]
    dest_ids = _unique(m.ref for m in near)
    core = any(c.lists.destinations[d].tier == "core" for d in dest_ids)
    dest_names = _join([english_name(c.lists.destinations[d]) for d in dest_ids])
    return [
        _news_alert(
            article,
            NEWS_GENERIC_RULE,
            severity,
            0.3 * core + 0.1 * len(shared),
            technologies=[],
            destinations=dest_ids,
            entities=[],
            control_codes=[],
            evidence=_select_evidence([*generic, *near], shared, fields),
            summary=f"Surveillance technology (kind not named) in the same sentence as {dest_names}.",
            now=now,
            version=version,
        )
    ]


def _technology_only(
    c: Compiled,
    article: NewsArticle,
    signals: list[Mention],
    fields: _Fields,
    severity: Severity,
    now: dt.datetime,
    version: str,
) -> Alert:
    """The optional alert for a technology or vendor with no high-risk destination."""
    tech_ids, vendor_ids = _signal_ids(signals)
    names = [c.lists.technologies[t].name for t in tech_ids]
    names += [c.lists.vendors[v].name for v in vendor_ids]
    subject = _join([names[0], *(_lower_first(n) for n in names[1:])])
    return _news_alert(
        article,
        NEWS_ONLY_RULE,
        severity,
        0.15 * min(len(tech_ids), 3) + 0.2 * bool(vendor_ids),
        technologies=_with_vendor_technologies(c, tech_ids, vendor_ids),
        destinations=[],
        entities=vendor_ids,
        control_codes=_unique(m.ref for m in signals if m.kind is EvidenceKind.CONTROL_CODE),
        evidence=_select_evidence(signals, set(), fields),
        summary=f"{_capitalise(subject)} mentioned, with no high-risk destination named.",
        now=now,
        version=version,
    )


def _licensor(code: str) -> str:
    return _LICENSOR.get(code) or territory_name(code)


def _licence_destinations(c: Compiled, record: LicenceRecord, fields: _Fields) -> list[Mention]:
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
        found.extend(m for m in _hit_mentions(c, name_hits) if m.ref == code)
        return found
    for m in _hit_mentions(c, name_hits):
        if c.lists.destinations[m.ref].tier in alerting:
            found.append(m)
    return found


def _licence_fields(record: LicenceRecord) -> _Fields:
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
    return _Fields(values)


def _licence_signals(c: Compiled, record: LicenceRecord, fields: _Fields) -> list[Mention]:
    """Watched codes, catch-alls, technology terms and vendors on a licence."""
    signals: list[Mention] = []
    for i, item in enumerate(record.items):
        code_field = f"items.{i}.control_code"
        if item.control_code:
            found = _code_mentions(c, code_field, item.control_code, whole_field=True)
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
            codes = _code_mentions(c, desc_field, item.description, whole_field=False, hits=scanned)
            hits = [h for h in scanned if h.kind != "code"]
            signals.extend(codes)
            signals.extend(_hit_mentions(c, _disambiguate(hits, fields, codes)))
    for name in ("exporter", "end_user"):
        if name in fields.values:
            hits = c.index.scan(name, fields.values[name], None, kinds=("vendor",))
            signals.extend(_hit_mentions(c, [h for h in hits if not h.info.ambiguous]))
    return signals


def _licence_severity(settings: LicenceRule, decision: Decision, levels: set[Level]) -> Severity:
    exact = "exact" in levels
    if decision is Decision.GRANTED:
        return Severity(settings.granted_exact if exact else settings.granted_other)
    if decision in (Decision.REFUSED, Decision.REVOKED):
        return Severity(settings.refused)
    return Severity(settings.pending_exact if exact else settings.pending_other)  # pending or unknown


def evaluate_licence(c: Compiled, record: LicenceRecord, now: dt.datetime, version: str) -> list[Alert]:
    settings = c.lists.rules.licence
    if not settings.enabled:
        return []
    fields = _licence_fields(record)
    destinations = _licence_destinations(c, record, fields)
    if not destinations:
        return []
    signals = _licence_signals(c, record, fields)
    if not signals:
        return []  # nothing watched, or encryption alone

    levels = {m.level for m in signals}
    severity = _licence_severity(settings, record.decision, levels)
    dest_ids = _unique(m.ref for m in destinations)
    core = any(c.lists.destinations[d].tier == "core" for d in dest_ids)
    strength = 0.5 * core + 0.3 * ("exact" in levels) + 0.2 * ("catch_all" not in levels or len(levels) > 1)

    tech_ids = _unique(t for m in signals for t in m.technologies)
    code_refs = _unique(m.ref for m in signals if m.kind is EvidenceKind.CONTROL_CODE)
    labels = {m.ref: m.label for m in signals if m.kind is EvidenceKind.CONTROL_CODE and m.label}
    vendor_ids = _unique(m.ref for m in signals if m.kind is EvidenceKind.ENTITY)
    dest_names = _join([english_name(c.lists.destinations[d]) for d in dest_ids])
    who = _licensor(record.licensing_country)
    decision = _DECISION_WORDS[record.decision]
    if code_refs:
        what_short = ", ".join(code_refs)
        what_long = _join([f"{ref} ({labels[ref]})" if ref in labels else ref for ref in code_refs])
    else:
        names = [c.lists.technologies[t].name for t in tech_ids] or [
            c.lists.vendors[v].name for v in vendor_ids
        ]
        what_short = ", ".join(names)
        what_long = "goods described as " + _join([_lower_first(n) for n in names])
    value = ""
    if record.value:
        value = f", value {record.value:,.0f}" + (f" {record.currency}" if record.currency else "")
    return [
        Alert(
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
            summary=f"{who} licence {decision} for {what_long} to {dest_names}{value}.",
            watchlist_version=version,
            created_at=now,
            event_ingested_at=record.ingested_at,
        )
    ]
