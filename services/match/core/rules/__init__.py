"""The default rules, as units tried in order over the mentions of one event.

Each rule is a class in a module of its own with ``name`` (the alert's ``rule``) and
``evaluate(mentions, lists) -> Outcome``: a ``Finding`` (the alert's content) or None, and why, in
words, for ``exportwatch match --explain``. The Matcher stamps a finding into an alert (id, time,
watchlist version) in ``core.alerts``.

Precedence is the order of the lists below: the first rule with a finding wins, and the rules after
it are not tried, so an event gives at most one alert.

News articles (``NEWS_RULES``):

1. ``news.technology_destination``: a technology, watched code or vendor with a high-risk
   destination;
2. ``news.surveillance_destination``: surveillance technology of no named kind, a word of trade and
   a destination in one sentence (it gives way to 1: it fires only when nothing specific is named);
3. ``news.technology_only``: optionally, a technology or vendor with no high-risk destination.

Licence records (``LICENCE_RULES``):

1. ``licence.controlled_item_destination``: a watched code, catch-all or surveillance item licensed
   to a high-risk destination.

Before the news rules see an article, ``could_alert`` drops the articles none of them can fire on
from a first, cheaper scan: a new news rule that fires on other mentions must be allowed there too.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.events import LicenceRecord, NewsArticle
from services.match.core.licence_mentions import LicenceMentions, analyse_licence
from services.match.core.mentions import GENERIC_CONTEXT, Compiled, Mention, scan_news
from services.match.core.news_mentions import NewsAnalysis, analyse_news
from services.match.core.rules.base import Finding, Outcome, Rule, first_finding, run
from services.match.core.rules.controlled_item_destination import LICENCE_RULE, ControlledItemDestination
from services.match.core.rules.severity import LicenceSeverity, licence_severity
from services.match.core.rules.surveillance_destination import NEWS_GENERIC_RULE, SurveillanceDestination
from services.match.core.rules.technology_destination import NEWS_RULE, TechnologyDestination
from services.match.core.rules.technology_only import NEWS_ONLY_RULE, TechnologyOnly
from services.match.core.terms import Hit
from services.match.core.watchlists import Watchlists

__all__ = [
    "LICENCE_RULE",
    "LICENCE_RULES",
    "NEWS_GENERIC_RULE",
    "NEWS_ONLY_RULE",
    "NEWS_RULE",
    "NEWS_RULES",
    "Finding",
    "LicenceSeverity",
    "Outcome",
    "Rule",
    "could_alert",
    "licence_finding",
    "licence_outcomes",
    "licence_severity",
    "news_finding",
    "news_outcomes",
]

NEWS_RULES: Sequence[Rule[NewsAnalysis]] = (
    TechnologyDestination(),
    SurveillanceDestination(),
    TechnologyOnly(),
)
LICENCE_RULES: Sequence[Rule[LicenceMentions]] = (ControlledItemDestination(),)


def could_alert(lists: Watchlists, hits: Sequence[Hit], codes: Sequence[Mention]) -> str | None:
    """Why no news rule can fire, from the scan alone (the common case: most articles stop here
    before their sentences are split); None when the rules must look closer."""
    settings = lists.rules.news
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


def news_outcomes(c: Compiled, analysis: NewsAnalysis) -> list[Outcome]:
    """Every news rule's outcome on an article's mentions, in order; the first finding wins."""
    return run(NEWS_RULES, analysis, c.lists)


def news_finding(c: Compiled, article: NewsArticle) -> Finding | None:
    """The finding of the first news rule that fires on ``article``, if any."""
    _, hits, codes = scan_news(c, article, first_pass=True)
    if could_alert(c.lists, hits, codes) is not None:
        return None
    analysis = analyse_news(c, article)  # the whole scan, words of trade and context included
    return first_finding(news_outcomes(c, analysis))


def licence_outcomes(c: Compiled, record: LicenceRecord) -> list[Outcome]:
    """Every licence rule's outcome on a record, in order; the first finding wins."""
    return run(LICENCE_RULES, analyse_licence(c, record), c.lists)


def licence_finding(c: Compiled, record: LicenceRecord) -> Finding | None:
    return first_finding(licence_outcomes(c, record))
