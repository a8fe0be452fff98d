"""The matcher: loads and compiles the watchlists once, then evaluates events against the rules.

Pure: no clock (``now`` is passed in), no I/O after ``load``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from schemas.events import Alert, LicenceRecord, NewsArticle
from services.match.core import terms, watchlists
from services.match.core.explain import Explanation, explain_licence, explain_news
from services.match.core.limits import DEFAULT_LIMITS, MatchLimits
from services.match.core.mentions import Compiled
from services.match.core.rules import Stamp, evaluate_licence, evaluate_news
from services.match.core.watchlists import WatchlistError, Watchlists

__all__ = ["Matcher", "WatchlistError"]


class Matcher:
    """Compiled watchlists and the default rules."""

    version: str

    def __init__(self, lists: Watchlists, *, inflect: bool = True) -> None:
        """``inflect=False`` compiles without the generated inflected forms (for the benchmark)."""
        self.lists = lists
        self.version = lists.version
        self._compiled = Compiled.of(lists, terms.build(lists, inflect))

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
        """Alerts for one event (at most one per rule); ``now`` becomes ``created_at``. Only the part of
        the event within ``limits`` is read, and the alerts of a cut event say so."""
        cut = limits.cut(event)
        read = cut.event
        if isinstance(read, NewsArticle):
            alerts = evaluate_news(self._compiled, read, now, self.version)
        else:
            alerts = evaluate_licence(self._compiled, read, now, self.version)
        return [cut.apply(a, event) for a in alerts]

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
