"""Building the term index: every enabled watchlist term (technologies, context words, destinations'
names, adjectives and places, vendors' aliases and products) with its rules and generated inflected
forms, and the negative contexts of each entry."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace

from services.match.core.morphology import variants
from services.match.core.terms import PRIMARY_CONTEXT, SEPARATORS, Form, Kind, TermIndex, TermInfo
from services.match.core.text import fold
from services.match.core.watchlists import (
    Case,
    ContextEntry,
    Tail,
    TechnologyEntry,
    TermItem,
    TermSpec,
    WatchlistError,
    Watchlists,
    cldr_names,
)


def _is_acronym(term: str) -> bool:
    letters = [c for c in term if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


class _Builder:
    def __init__(self, inflect: bool = True) -> None:
        self.infos: dict[str, list[TermInfo]] = {}
        self.listed: set[str] = set()  # keys of terms as the watchlists write them
        self.inflect = inflect  # add the generated inflected forms of each term

    def add(
        self,
        kind: Kind,
        ref: str,
        item: TermItem,
        *,
        case: Case,
        tail: Tail,
        ambiguous: bool = False,
        where: str,
        form: Form = "term",
        language: str | None = None,
        secondary: bool = False,
    ) -> None:
        spec = item if isinstance(item, TermSpec) else TermSpec(term=item)
        written = " ".join(spec.term.split())
        key = SEPARATORS.sub(" ", fold(written)).strip()
        if not key or not re.search(r"\w", key):
            raise WatchlistError(f"{where}: term {spec.term!r} is empty once normalised")
        default_case: Case = "upper" if _is_acronym(written) and case != "exact" else case
        info = TermInfo(
            kind=kind,
            ref=ref,
            key=key,
            written=written,
            case=spec.case or default_case,
            tail=spec.tail or tail,
            languages=frozenset(spec.languages) if spec.languages else None,
            ambiguous=spec.ambiguous if spec.ambiguous is not None else ambiguous,
            form=form,
            language=language,
            near=_near_pattern(spec.near),
            within=spec.within,
            secondary=secondary,
        )
        self._put(key, info, where, spec.term, listed=True)
        if info.case == "any" and self.inflect:  # a term whose case matters is written as it must appear
            for other in variants(key, language):
                self._put(other, replace(info, key=other), where, spec.term, listed=False)

    def _put(self, key: str, info: TermInfo, where: str, term: str, *, listed: bool) -> None:
        if listed:
            self.listed.add(key)
        existing = self.infos.setdefault(key, [])
        for other in existing:
            if other.kind == info.kind and other.ref != info.ref and info.kind != "context":
                if not listed:
                    return  # a generated form another entry lists itself: the listed one wins
                raise WatchlistError(f"{where}: term {term!r} is already a term of {info.kind} {other.ref!r}")
            if other == info:
                return
        existing.append(info)


def _near_pattern(words: list[str]) -> re.Pattern[str] | None:
    """One expression for the words a term needs nearby (folded; ``*`` allows any ending)."""
    if not words:
        return None
    parts = []
    for word in words:
        folded = " ".join(fold(word).split())
        stem = re.escape(folded.rstrip("*")).replace("\\ ", "[\\s-]+")
        parts.append(stem + ("[a-z]*" if folded.endswith("*") else ""))
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(parts) + r")(?![a-z0-9])")


def _technology_tail(lang: str) -> Tail:
    return "compound" if lang in ("nl", "de") else "plural"


def build(lists: Watchlists, inflect: bool = True) -> TermIndex:
    """Compile every enabled watchlist term into one index, with the inflected forms of each
    (``inflect=False`` leaves them out: only the benchmark measures what they cost)."""
    b = _Builder(inflect)
    termed: tuple[tuple[Kind, str, Iterable[TechnologyEntry | ContextEntry]], ...] = (
        ("technology", "technologies", lists.technologies.values()),
        ("context", "context", lists.context.values()),
    )
    negatives: dict[tuple[Kind, str], re.Pattern[str]] = {}
    for kind, section, entries in termed:
        for entry in entries:
            if isinstance(entry, TechnologyEntry) and entry.negative:
                negatives[(kind, entry.id)] = _combine(entry.negative)
            for lang, items in entry.terms.items():
                for item in items:
                    b.add(
                        kind,
                        entry.id,
                        item,
                        case="any",
                        tail=_technology_tail(lang),
                        where=f"{lists.origin(section, entry.id)}: {section}: {entry.id}",
                        language=lang,
                        secondary=kind == "context" and entry.id not in PRIMARY_CONTEXT,
                    )
    for dest in lists.destinations.values():
        where = f"{lists.origin('destinations', dest.id)}: destinations: {dest.id}"
        names: list[TermItem] = [*dest.names]
        if dest.cldr:
            names.extend(cldr_names(dest.id))
        later = dest.tier == "none"
        forms: tuple[tuple[Form, Sequence[TermItem], Case, Tail], ...] = (
            ("name", names, "title", "plural"),
            ("adjective", dest.adjectives, "any", "inflect"),
            ("place", dest.places, "title", "plural"),
        )
        for form, written, case, tail in forms:
            for item in written:
                b.add(
                    "destination",
                    dest.id,
                    item,
                    case=case,
                    tail=tail,
                    where=where,
                    form=form,
                    secondary=later,
                )
        patterns = [*dest.negative, *lists.destination_negative]
        if patterns:
            negatives[("destination", dest.id)] = _combine(patterns)
    for vendor in lists.vendors.values():
        where = f"{lists.origin('vendors', vendor.id)}: vendors: {vendor.id}"
        for item in [*vendor.aliases, *vendor.products]:
            ambiguous = isinstance(item, TermSpec) and bool(item.ambiguous)
            b.add(
                "vendor",
                vendor.id,
                item,
                case="title" if ambiguous else "any",
                tail="none",
                where=where,
            )
        if vendor.negative:
            negatives[("vendor", vendor.id)] = _combine(vendor.negative)
    return TermIndex(b.infos, negatives, len(b.listed))


def _combine(patterns: list[str]) -> re.Pattern[str]:
    """One expression for several negative patterns; a leading (?i) becomes a scoped flag."""
    parts = []
    for p in patterns:
        m = re.match(r"\(\?([aiLmsux]+)\)", p)
        parts.append(f"(?{m.group(1)}:{p[m.end() :]})" if m else f"(?:{p})")
    return re.compile("|".join(parts))
