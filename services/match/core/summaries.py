"""The one-sentence English summaries of alerts, built only from what the matcher established: a
summary says "in the same sentence" only of the items that share a sentence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


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
