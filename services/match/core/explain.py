"""Why the matcher said what it said about one event: every mention found (the text, the watchlist
term it matched as, the role of a country and the cue that decided it), every country's verdict and
every rule's outcome. Researchers read it to trust an alert; watchlist owners to tune a list."""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.events import EvidenceKind, LicenceRecord, NewsArticle
from services.match.core.alerts import Stamp
from services.match.core.countries import CountryMention
from services.match.core.mentions import Compiled, Mention, scan_news
from services.match.core.news_mentions import analyse_news
from services.match.core.rules import NEWS_RULES, Outcome, could_alert, licence_outcomes, news_outcomes


@dataclass(frozen=True, slots=True)
class MentionLine:
    field: str
    start: int
    end: int
    kind: str
    ref: str
    text: str
    term: str | None = None
    form: str | None = None
    role: str | None = None
    cue: str | None = None


@dataclass(frozen=True, slots=True)
class CountryLine:
    ref: str
    tier: str
    destination: bool
    reason: str


@dataclass(frozen=True, slots=True)
class RuleLine:
    rule: str
    fired: bool
    reason: str
    severity: str | None = None
    summary: str | None = None


@dataclass
class Explanation:
    event_type: str
    event_id: str
    language: str | None
    title: str
    stopped: str | None = None  # why the matcher stopped after the scan, if it did
    mentions: list[MentionLine] = field(default_factory=list)
    countries: list[CountryLine] = field(default_factory=list)
    rules: list[RuleLine] = field(default_factory=list)


def _line(m: Mention, text: str, country: CountryMention | None = None) -> MentionLine:
    return MentionLine(
        field=m.field,
        start=m.start,
        end=m.end,
        kind=m.kind.value,
        ref=m.ref,
        text=text[m.start : m.end],
        term=m.term or m.label,
        form=country.form if country else None,
        role=country.verdict.role if country else None,
        cue=country.verdict.cue if country else None,
    )


def _rule_line(o: Outcome, event: NewsArticle | LicenceRecord, stamp: Stamp) -> RuleLine:
    if o.finding is None:
        return RuleLine(o.rule, False, o.reason)
    alert = stamp.alert(event, o.finding)
    return RuleLine(o.rule, True, o.reason, alert.severity.value, alert.summary)


def explain_news(c: Compiled, article: NewsArticle, stamp: Stamp) -> Explanation:
    out = Explanation(article.type, article.id, article.language, article.title)
    scanned = scan_news(c, article)
    a = analyse_news(c, article, scanned)
    values = a.fields.values
    lines = [_line(m, values[m.field]) for m in a.signals]
    chosen = {d.ref for d in a.destinations}
    for d in a.countries:
        lines.extend(_line(cm.mention, values[cm.mention.field], cm) for cm in d.mentions)
        reason = d.reason
        if d.ref in chosen and not d.is_destination:
            cue = d.named_as_user[0].verdict.cue
            reason = f"no country is named beside the technology; its state or people are elsewhere ({cue})"
        out.countries.append(CountryLine(d.ref, d.tier, d.ref in chosen, reason))
    for h in a.defused:
        m = Mention(h.field, h.start, h.end, EvidenceKind.DESTINATION, h.ref, term=h.info.written)
        line = _line(m, values[h.field])
        lines.append(
            MentionLine(
                line.field,
                line.start,
                line.end,
                line.kind,
                line.ref,
                line.text,
                line.term,
                h.info.form,
                "ignored",
                "a negative context of the destinations watchlist (a homonym, an origin or a comparison)",
            )
        )
    for h in a.hits:
        if h.kind == "context":
            m = Mention(h.field, h.start, h.end, EvidenceKind.TECHNOLOGY, h.ref, term=h.info.written)
            lines.append(_context_line(m, values[h.field]))
    out.mentions = sorted(lines, key=lambda m: (a.fields.order[m.field], m.start))
    out.stopped = could_alert(c.lists, scanned[1], scanned[2])
    if out.stopped is not None:
        out.rules = [RuleLine(rule.name, False, out.stopped) for rule in NEWS_RULES]
        return out
    out.rules = [_rule_line(o, article, stamp) for o in news_outcomes(c, a)]
    return out


def _context_line(m: Mention, text: str) -> MentionLine:
    return MentionLine(m.field, m.start, m.end, "context", m.ref, text[m.start : m.end], m.term)


def explain_licence(c: Compiled, record: LicenceRecord, stamp: Stamp) -> Explanation:
    out = Explanation(record.type, record.id, None, f"{record.authority} {record.id}")
    outcomes = licence_outcomes(c, record)
    for outcome in outcomes:
        if outcome.finding is None:
            continue
        alert = stamp.alert(record, outcome.finding)
        out.mentions = [
            MentionLine(e.field, e.start, e.end, e.kind.value, e.ref, e.text) for e in alert.evidence
        ]
        out.countries = [
            CountryLine(d, c.lists.destinations[d].tier, True, "the licence's destination")
            for d in alert.destinations
        ]
    out.rules = [_rule_line(o, record, stamp) for o in outcomes]
    return out


def format_explanation(e: Explanation) -> str:
    """The explanation as text for people."""
    lines = [f"{e.event_type} {e.event_id}" + (f" ({e.language})" if e.language else "") + f": {e.title}"]
    lines.append("mentions:" if e.mentions else "mentions: none")
    for m in e.mentions:
        term = f' as "{m.term}"' if m.term and m.term.casefold() != m.text.casefold() else ""
        head = f'  {m.field}[{m.start}:{m.end}] {m.kind} {m.ref}: "{m.text}"{term}'
        if m.role is not None:
            head += f" ({m.form}) -> {m.role}: {m.cue}"
        lines.append(head)
    if e.countries:
        lines.append("countries:")
        for ctry in e.countries:
            verdict = "DESTINATION" if ctry.destination else "not counted"
            lines.append(f"  {ctry.ref} ({ctry.tier} tier): {verdict}: {ctry.reason}")
    lines.append("rules:")
    for r in e.rules:
        if r.fired:
            lines.append(f"  {r.rule}: FIRED, {r.reason}")
            lines.append(f"    {r.summary}")
        else:
            lines.append(f"  {r.rule}: no alert: {r.reason}")
    return "\n".join(lines)
