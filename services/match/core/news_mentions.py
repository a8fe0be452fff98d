"""The mentions of one news article, found once: its technologies, vendors and codes, its countries
with their roles, and the destinations they make. The news rules read this."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from schemas.events import EvidenceKind, NewsArticle
from services.match.core.countries import (
    CountryMention,
    DestinationDecision,
    country_mentions,
    minor_countries,
    strictness,
)
from services.match.core.mentions import Compiled, Fields, Mention, disambiguate, hit_mentions, scan_news
from services.match.core.terms import Hit


@dataclass
class NewsAnalysis:
    """Everything the news rules read about one article."""

    fields: Fields
    hits: list[Hit]
    signals: list[Mention]  # technologies, vendors and codes
    countries: list[DestinationDecision]
    code_mentions: list[Mention]
    defused: list[Hit] = field(default_factory=list)  # country names a negative context cancelled
    vendor_homes: frozenset[str] = frozenset()  # home countries of the vendors named: the supplier's side

    @cached_property
    def destinations(self) -> list[DestinationDecision]:
        """The countries the technology goes to or is used in. When none is named beside it, a
        country whose state or people the article names elsewhere, if it is the only one (and
        neither the supplier's side nor incidental to the story). Worked out once: the rules and
        the explanation all read it."""
        found = [d for d in self.countries if d.is_destination]
        if found:
            return found
        fallback = [
            d
            for d in self.countries
            if d.named_as_user and d.ref not in self.vendor_homes and not (d.supplier_side or d.minor)
        ]
        return fallback if len(fallback) == 1 or _one_list(fallback) else []

    def context(self, ref: str) -> list[Hit]:
        return [h for h in self.hits if h.kind == "context" and h.ref == ref]


def _one_list(decisions: Sequence[DestinationDecision]) -> bool:
    """All named in one sentence ("operators in Saudi Arabia and the United Arab Emirates")."""
    keys = {m.sentence for d in decisions for m in d.named_as_user}
    return len(keys) == 1


def analyse_news(
    c: Compiled, article: NewsArticle, scanned: tuple[Fields, list[Hit], list[Mention]] | None = None
) -> NewsAnalysis:
    """Mentions, their roles and the destinations they make, for one article."""
    fields, hits, codes = scanned if scanned is not None else scan_news(c, article)
    defused = [h for h in hits if h.kind == "destination" and c.index.defused(h, fields.values[h.field])]
    hits = [h for h in hits if h not in defused]
    # every vendor named, ambiguous or not, says where the supplier is from ("la china Huawei")
    named_vendors = [h for h in hits if h.kind == "vendor"]
    hits = disambiguate(hits, fields, codes)
    signals = sorted(
        [m for m in hit_mentions(c, hits) if m.kind is not EvidenceKind.DESTINATION] + codes,
        key=lambda m: (fields.order[m.field], m.start, -m.end),
    )
    mentions = country_mentions(c, article, fields, hits, signals, named_vendors)
    by_country: dict[str, list[CountryMention]] = {}
    for cm in mentions:
        by_country.setdefault(cm.mention.ref, []).append(cm)
    alerting = c.lists.alert_tiers
    strict, mode = strictness(c, fields, mentions)
    minor = minor_countries(c, by_country)
    # whether the user is unknown matters only for a country whose people were the targets
    unattributed = any(cm.targeted for cm in mentions) and any(
        c.roles.unattributed_text(text, article.language) is not None for text in fields.values.values()
    )
    users = frozenset(cm.mention.ref for cm in mentions if cm.user)
    user_sentences: dict[tuple[str, int], frozenset[str]] = {}
    for cm in mentions:
        if cm.user:
            user_sentences[cm.sentence] = user_sentences.get(cm.sentence, frozenset()) | {cm.mention.ref}
    countries = [
        DestinationDecision(
            ref,
            c.lists.destinations[ref].tier,
            c.lists.destinations[ref].tier in alerting,
            tuple(ms),
            strict if c.lists.destinations[ref].tier in alerting else None,
            mode,
            users,
            user_sentences,
            ref in minor,
            unattributed,
        )
        for ref, ms in by_country.items()
    ]
    homes = frozenset(home for h in named_vendors if (home := c.lists.vendors[h.ref].country) is not None)
    return NewsAnalysis(fields, hits, signals, countries, codes, defused, homes)
