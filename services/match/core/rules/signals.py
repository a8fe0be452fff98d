"""What the news rules read off the signals of an article (its technologies, codes and vendors): the
categories and vendors they name, and how each is named in a summary."""

from __future__ import annotations

from collections.abc import Sequence

from schemas.events import EvidenceKind
from services.match.core.mentions import Mention
from services.match.core.rules.base import unique
from services.match.core.watchlists import Watchlists


def signal_ids(signals: Sequence[Mention]) -> tuple[list[str], list[str]]:
    """The technology categories (from terms and codes) and the vendors that the signals name."""
    tech_ids = unique(
        t
        for m in signals
        if m.kind in (EvidenceKind.TECHNOLOGY, EvidenceKind.CONTROL_CODE)
        for t in m.technologies
    )
    return tech_ids, unique(m.ref for m in signals if m.kind is EvidenceKind.ENTITY)


def with_vendor_technologies(lists: Watchlists, tech_ids: list[str], vendor_ids: list[str]) -> list[str]:
    return unique([*tech_ids, *(t for v in vendor_ids for t in lists.vendors[v].technologies)])


def signal_labels(lists: Watchlists, m: Mention) -> list[str]:
    """How a signal is named in a summary: its technology categories, or "vendor X"."""
    if m.kind is EvidenceKind.ENTITY:
        return [f"vendor {lists.vendors[m.ref].name}"]
    return [lists.technologies[t].name for t in m.technologies if t in lists.technologies]


def vendors_last(labels: list[str]) -> list[str]:
    return sorted(labels, key=lambda label: label.startswith("vendor "))


def core_tier(lists: Watchlists, dest_ids: Sequence[str]) -> bool:
    """Whether any of the destinations is of the core tier."""
    return any(lists.destinations[d].tier == "core" for d in dest_ids)
