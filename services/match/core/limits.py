"""How much of an event is matched, so that one huge event cannot hold a match replica for long.

Ingest accepts events of up to 1 MB; matching costs time in proportion to the text and to the mentions
in it, and an article that is one watchlist term after another for a megabyte once took 24 s of CPU.
Real articles, even long investigations, are far below these limits; what lies beyond them is not read,
and every alert made from a cut event says so in its summary, so a researcher knows to open the source.

A cut keeps a prefix of each field, so every evidence offset still points into the original event.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.bounds import SUMMARY_MAX_CHARS, bound_title, shorten
from schemas.events import Alert, LicenceRecord, NewsArticle

MAX_BODY_CHARS = 200_000  # characters of an article's body: about 30,000 words, a long report
MAX_TITLE_CHARS = 2_000  # a title ten times longer than any real one
MAX_ITEMS = 1_000  # goods on one licence record; grouped real records carry tens
_BACK_TO_SPACE = 200  # a cut moves back this far at most to end between words


def _prefix(text: str, limit: int) -> str:
    """The first ``limit`` characters, ending between words when a space is near the limit."""
    head = text[:limit]
    space = head.rfind(" ", limit - _BACK_TO_SPACE)
    return head[:space] if space > 0 else head


@dataclass(frozen=True)
class Cut:
    """An event as it is matched, and what was left out of it (empty when nothing was)."""

    event: NewsArticle | LicenceRecord
    left_out: tuple[str, ...] = ()

    @property
    def note(self) -> str:
        """The sentence added to each alert's summary, or "" when the whole event was read."""
        if not self.left_out:
            return ""
        kind = "article" if isinstance(self.event, NewsArticle) else "licence record"
        return f" Only part of this {kind} was read: {'; '.join(self.left_out)}."

    def apply(self, alert: Alert, original: NewsArticle | LicenceRecord) -> Alert:
        """The alert with the note at the end of its summary (within the summary's bound) and, for a
        news article whose title was cut, the original title (bounded as every alert title is)."""
        if not self.left_out:
            return alert
        note = self.note
        update: dict[str, str] = {"summary": shorten(alert.summary, SUMMARY_MAX_CHARS - len(note)) + note}
        read = self.event
        # The rules title a news alert with the article's title, bounded: the title read, here.
        if (
            isinstance(read, NewsArticle)
            and isinstance(original, NewsArticle)
            and read.title != original.title
            and alert.title == bound_title(read.title.strip())
        ):
            update["title"] = bound_title(original.title.strip())
        return alert.model_copy(update=update)


@dataclass(frozen=True)
class MatchLimits:
    """The most of an event that is matched (see the module's docstring)."""

    body_chars: int = MAX_BODY_CHARS
    title_chars: int = MAX_TITLE_CHARS
    items: int = MAX_ITEMS

    def exceeded_by(self, event: NewsArticle | LicenceRecord) -> bool:
        """Whether ``event`` is longer than these limits (and would be cut)."""
        if isinstance(event, NewsArticle):
            return len(event.body) > self.body_chars or len(event.title) > self.title_chars
        return len(event.items) > self.items

    def cut(self, event: NewsArticle | LicenceRecord) -> Cut:
        if isinstance(event, NewsArticle):
            return self._cut_news(event)
        if len(event.items) <= self.items:
            return Cut(event)
        kept = event.model_copy(update={"items": event.items[: self.items]})
        return Cut(kept, (f"the first {self.items:,} of its {len(event.items):,} items",))

    def _cut_news(self, article: NewsArticle) -> Cut:
        update: dict[str, str] = {}
        left_out: list[str] = []
        if len(article.title) > self.title_chars:
            update["title"] = _prefix(article.title, self.title_chars)
            left_out.append(
                f"the first {self.title_chars:,} of the title's {len(article.title):,} characters"
            )
        if len(article.body) > self.body_chars:
            update["body"] = _prefix(article.body, self.body_chars)
            left_out.append(f"the first {self.body_chars:,} of the body's {len(article.body):,} characters")
        if not update:
            return Cut(article)
        return Cut(article.model_copy(update=update), tuple(left_out))


DEFAULT_LIMITS = MatchLimits()
