"""The matcher: loads and compiles the watchlists once, then evaluates events against the rules.

Pure: no clock (``now`` is passed in), no I/O after ``load``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from schemas.events import Alert, LicenceRecord, NewsArticle
from services.match.core import term_build, terms, watchlists
from services.match.core.alerts import Stamp
from services.match.core.explain import Explanation, explain_licence, explain_news
from services.match.core.limits import DEFAULT_LIMITS, MatchLimits
from services.match.core.mentions import Compiled
from services.match.core.rules import licence_finding, news_finding
from services.match.core.watchlists import WatchlistError, Watchlists

__all__ = ["Matcher", "WatchlistError"]


class Matcher:
    """Compiled watchlists and the default rules."""

    version: str

    def __init__(self, lists: Watchlists, *, inflect: bool = True) -> None:
        """``inflect=False`` compiles without the generated inflected forms (for the benchmark)."""
        self.lists = lists
        self.version = lists.version
        self._compiled = Compiled.of(lists, term_build.build(lists, inflect))

    @property
    def index(self) -> terms.TermIndex:
        """The compiled term index (its size is the watchlist size in terms)."""
        return self._compiled.index

    @classmethod
    def load(cls, extra_dirs: Sequence[Path] = ()) -> Matcher:
        """Bundled defaults, then operator folders that add or override entries by id.

        Raises WatchlistError (naming the file and the problem) when a file is invalid.
        """
        return cls(watchlists.load([Path(d) for d in extra_dirs]))

    def evaluate(
        self, event: NewsArticle | LicenceRecord, now: dt.datetime, limits: MatchLimits = DEFAULT_LIMITS
    ) -> list[Alert]:
        """The alert of the first rule that fires on one event, if any (see ``core.rules`` for the
        rules and their order); ``now`` becomes ``created_at``. Only the part of the event within
        ``limits`` is read, and the alert of a cut event says so. The rules find; the alert's id,
        time and watchlist version are stamped here, once."""
        cut = limits.cut(event)
        read = cut.event
        if isinstance(read, NewsArticle):
            finding = news_finding(self._compiled, read)
        else:
            finding = licence_finding(self._compiled, read)
        if finding is None:
            return []
        return [cut.apply(Stamp(now, self.version).alert(read, finding), event)]

    def explain(
        self, event: NewsArticle | LicenceRecord, now: dt.datetime, limits: MatchLimits = DEFAULT_LIMITS
    ) -> Explanation:
        """Every mention, role, country verdict and rule outcome behind ``evaluate``'s answer (on the
        part of the event ``evaluate`` reads)."""
        stamp = Stamp(now, self.version)
        read = limits.cut(event).event
        if isinstance(read, NewsArticle):
            return explain_news(self._compiled, read, stamp)
        return explain_licence(self._compiled, read, stamp)
