"""The English words of alerts: the one-sentence summaries, built only from what the matcher
established (a summary says "in the same sentence" only of the items that share a sentence), and the
generated title of a licence alert."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from schemas.events import Decision, LicenceRecord
from services.match.core.watchlists import territory_name


def join(words: Sequence[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def lower_first(name: str) -> str:
    """Lower-case a label's first letter unless it starts an acronym ("IP network surveillance")."""
    return name[0].lower() + name[1:] if len(name) > 1 and name[1].islower() else name


def capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _items(names: Sequence[str]) -> str:
    """Technology and vendor labels inside a sentence; the sentence is capitalised once it is whole."""
    return join([lower_first(n) for n in names])


@dataclass(frozen=True, slots=True)
class Pairing:
    """Signals (technology names, "vendor X") that each share a sentence with every one of
    ``destinations``."""

    signals: tuple[str, ...]
    destinations: tuple[str, ...]


def news_summary(pairings: Sequence[Pairing], signals: Sequence[str], destinations: Sequence[str]) -> str:
    """The summary of a technology-and-destination alert.

    ``pairings`` group what shares a sentence; ``signals`` and ``destinations`` are everything the
    alert names, so that what shares no sentence is said to be elsewhere in the article."""
    if not pairings:
        return capitalise(
            f"{_items(signals)} mentioned in the same article as {join(destinations)}, "
            "but not in the same sentence."
        )
    parts = []
    for i, p in enumerate(pairings):
        verb = " mentioned" if i == 0 else ""
        parts.append(f"{_items(p.signals)}{verb} in the same sentence as {join(p.destinations)}")
    paired_signals = {s for p in pairings for s in p.signals}
    paired_destinations = {d for p in pairings for d in p.destinations}
    apart = [s for s in signals if s not in paired_signals]
    apart_dest = [d for d in destinations if d not in paired_destinations]
    if apart or apart_dest:
        parts.append(f"{join([*(lower_first(s) for s in apart), *apart_dest])} elsewhere in the article")
    return capitalise("; ".join(parts) + ".")


def generic_summary(destinations: Sequence[str]) -> str:
    return f"Surveillance technology (kind not named) in the same sentence as {join(destinations)}."


def technology_only_summary(signals: Sequence[str]) -> str:
    return capitalise(f"{_items(signals)} mentioned, with no high-risk destination named.")


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


@dataclass(frozen=True, slots=True)
class LicenceWords:
    """A licence alert's title and summary."""

    title: str
    summary: str


def licence_words(
    record: LicenceRecord,
    destinations: Sequence[str],
    codes: Sequence[tuple[str, str | None]],
    goods: Sequence[str],
    unnamed: bool,
) -> LicenceWords:
    """The title and summary of a licence alert: who licensed what to where. ``codes`` are the
    watched codes and catch-alls with what they cover in words (or None); when there are none,
    ``goods`` names the technologies or vendors described. ``unnamed`` says that no surveillance
    item is named."""
    who = _LICENSOR.get(record.licensing_country) or territory_name(record.licensing_country)
    decision = _DECISION_WORDS[record.decision]
    dest_names = join(destinations)
    if codes:
        what_short = ", ".join(ref for ref, _ in codes)
        what_long = join([f"{ref} ({label})" if label else ref for ref, label in codes])
    else:
        what_short = ", ".join(goods)
        what_long = "goods described as " + join([lower_first(n) for n in goods])
    value = ""
    if record.value:
        value = f", value {record.value:,.0f}" + (f" {record.currency}" if record.currency else "")
    if unnamed:
        value += "; no surveillance item is named"
    return LicenceWords(
        f"{who} licence {decision}: {what_short} to {dest_names}",
        capitalise(f"{who} licence {decision} for {what_long} to {dest_names}{value}."),
    )
