"""Which subscriptions want an alert, and which silence mutes it. Pure: no I/O, no clock."""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Iterable

from schemas import Alert
from services.notify.core.model import Filters, Silence, Subscription

# Punctuation that NFKD leaves alone but that people type either way.
_LOOKALIKES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u02bc": "'",
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
    }
)


def fold(text: str) -> str:
    """``text`` with case and accents removed: casefold, NFKD, drop combining marks ("Défense" -> "defense",
    "Straße" -> "strasse"), and typographic apostrophes and dashes made plain."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_LOOKALIKES))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@functools.lru_cache(maxsize=1024)
def _keyword_pattern(keyword: str) -> re.Pattern[str] | None:
    words = fold(keyword).split()
    if not words:
        return None
    # Whole words: "stingray" matches "Stingray's" but "ai" does not match "said"; the words of a phrase
    # may be separated by any whitespace (line breaks in a snippet).
    return re.compile(r"(?<!\w)" + r"\s+".join(re.escape(w) for w in words) + r"(?!\w)")


class _Texts:
    """The folded texts of an alert a keyword is looked for in, computed once per alert."""

    def __init__(self, alert: Alert) -> None:
        self._alert = alert
        self._folded: list[str] | None = None

    def get(self) -> list[str]:
        if self._folded is None:
            alert = self._alert
            raw = [alert.title, alert.summary, *(e.snippet for e in alert.evidence)]
            self._folded = [fold(t) for t in raw if t]
        return self._folded


def keyword_matches(keyword: str, texts: Iterable[str]) -> bool:
    """Whether ``keyword`` (a word or phrase) occurs as whole words in one of ``texts``, ignoring case
    and accents."""
    pattern = _keyword_pattern(keyword)
    if pattern is None:
        return True
    return any(pattern.search(fold(t)) for t in texts)


def _wants(filters: Filters, alert: Alert, texts: _Texts) -> bool:
    if alert.severity.rank < filters.min_severity.rank:
        return False
    if filters.event_types and alert.event_type not in filters.event_types:
        return False
    if filters.technologies and not set(filters.technologies) & {t.lower() for t in alert.technologies}:
        return False
    if filters.destinations and not set(filters.destinations) & {d.upper() for d in alert.destinations}:
        return False
    if filters.entities and not set(filters.entities) & {e.lower() for e in alert.entities}:
        return False
    if filters.keyword:
        pattern = _keyword_pattern(filters.keyword)
        if pattern is not None and not any(pattern.search(t) for t in texts.get()):
            return False
    return True


def wants(filters: Filters, alert: Alert) -> bool:
    """Whether ``filters`` want ``alert``: every kind of filter that is set must match (AND), and one
    value of a kind is enough (OR); empty lists mean "any". Severity is at least ``min_severity``. The
    keyword is a whole word or phrase in the title, the summary or an evidence snippet, case and
    accents ignored."""
    return _wants(filters, alert, _Texts(alert))


def story_key(alert: Alert) -> str:
    """What groups alerts about one story: the first copy's event id for near duplicates."""
    return alert.duplicate_of or alert.event_id


def routes(subscriptions: Iterable[Subscription], alert: Alert) -> list[Subscription]:
    """The enabled subscriptions whose filters want ``alert``, in the order given."""
    texts = _Texts(alert)
    return [s for s in subscriptions if s.enabled and _wants(s.filters, alert, texts)]


def silencing(
    silences: Iterable[Silence], subscription: Subscription, alert: Alert, now: dt.datetime
) -> Silence | None:
    """The first silence that mutes ``alert`` for ``subscription`` at ``now``, or None.

    A silence applies when it is active, belongs to the subscription's owner (or is an admin's global
    silence, owner ``*``), covers every subscription of the owner or this one, and its filters want the
    alert."""
    texts = _Texts(alert)
    for silence in silences:
        if not silence.active(now):
            continue
        if silence.owner not in (subscription.owner, "*"):
            continue
        if silence.subscription_id is not None and silence.subscription_id != subscription.id:
            continue
        if _wants(silence.filters, alert, texts):
            return silence
    return None
