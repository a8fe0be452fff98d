"""Mentions, found once per event: technologies, vendors, control codes and countries with their
offsets in the original text. This module holds what every event's mentions share (the compiled
watchlists, the fields of an event, the term and code scan); ``news_mentions`` and ``licence_mentions``
find the mentions of each kind of event, and ``countries`` the role of every country mention in news.
The rules read only what these find; ``--explain`` prints it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from schemas.events import Evidence, EvidenceKind, NewsArticle
from services.match.core.codes import ControlCode, find_codes_at, find_field_code
from services.match.core.roles import RoleCues
from services.match.core.terms import Hit, TermIndex
from services.match.core.text import Sentences
from services.match.core.watchlists import CatchAllEntry, CodeEntry, Watchlists

GENERIC_CONTEXT = "surveillance-technology"  # the context entry naming surveillance technology of no kind
SURVEILLANCE_CONTEXT = "surveillance"  # the context entry of surveillance words (spying, hacked...)
TRADE_CONTEXT = "trade"  # the context entry of export, sale and licence words
CONTEXT_WINDOW = 200  # characters either side in which an ambiguous name finds its surveillance term

Level = Literal["exact", "parent", "catch_all", "term"]


@dataclass(frozen=True, slots=True)
class Mention:
    """A piece of evidence before it becomes an Evidence: where, what, and the categories it implies."""

    field: str
    start: int
    end: int
    kind: EvidenceKind
    ref: str
    technologies: tuple[str, ...] = ()
    level: Level = "term"
    label: str | None = None  # for control codes and catch-alls: what the code covers, in words
    term: str | None = None  # the watchlist term it was found as (the lemma of an inflected form)


@dataclass
class Compiled:
    """Watchlists compiled for evaluation: the term index, the code table and the role cues."""

    lists: Watchlists
    index: TermIndex
    roles: RoleCues
    _codes: list[tuple[ControlCode, CodeEntry]] = field(default_factory=list)
    _catch_all: list[tuple[re.Pattern[str], CatchAllEntry]] = field(default_factory=list)

    @classmethod
    def of(cls, lists: Watchlists, index: TermIndex) -> Compiled:
        codes = []
        for entry in lists.codes.values():
            code = ControlCode.parse(entry.code)
            if code is not None:
                codes.append((code, entry))
        codes.sort(key=lambda pair: len(pair[0].sub), reverse=True)  # longest prefix first
        catch_all = [
            (
                re.compile(
                    r"(?<![\w])(?:" + "|".join(re.escape(t) for t in entry.terms) + r")(?![\w])",
                    re.IGNORECASE,
                ),
                entry,
            )
            for entry in lists.catch_all.values()
        ]
        return cls(lists, index, RoleCues(lists.roles), codes, catch_all)

    def code_entry(self, code: ControlCode) -> CodeEntry | None:
        for prefix, entry in self._codes:
            if code.within(prefix):
                return entry
        return None

    def catch_all(self, text: str) -> tuple[int, int, CatchAllEntry] | None:
        for pattern, entry in self._catch_all:
            m = pattern.search(text)
            if m is not None:
                return m.start(), m.end(), entry
        return None


class Fields:
    """Original field texts of one event, with sentences computed on demand."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.order = {name: i for i, name in enumerate(values)}  # the order evidence is listed in
        self._sentences: dict[str, Sentences] = {}

    def sentences(self, name: str) -> Sentences:
        got = self._sentences.get(name)
        if got is None:
            got = Sentences.of(self.values[name])
            self._sentences[name] = got
        return got

    def sentence_key(self, m: Mention | Hit) -> tuple[str, int]:
        return m.field, self.sentences(m.field).index(m.start)

    def sentence_text(self, key: tuple[str, int]) -> str:
        start, end = self.sentences(key[0]).bounds(key[1])
        return self.values[key[0]][start:end]

    def evidence(self, m: Mention) -> Evidence:
        text = self.values[m.field]
        return Evidence(
            field=m.field,
            start=m.start,
            end=m.end,
            text=text[m.start : m.end],
            snippet=self.sentences(m.field).snippet(m.start, m.end),
            kind=m.kind,
            ref=m.ref,
        )


def hit_mentions(c: Compiled, hits: Iterable[Hit]) -> list[Mention]:
    out = []
    for h in hits:
        if h.kind == "technology":
            out.append(
                Mention(
                    h.field, h.start, h.end, EvidenceKind.TECHNOLOGY, h.ref, (h.ref,), term=h.info.written
                )
            )
        elif h.kind == "vendor":
            vendor = c.lists.vendors[h.ref]
            out.append(
                Mention(
                    h.field,
                    h.start,
                    h.end,
                    EvidenceKind.ENTITY,
                    h.ref,
                    tuple(vendor.technologies),
                    term=h.info.written,
                )
            )
        elif h.kind == "destination":
            out.append(Mention(h.field, h.start, h.end, EvidenceKind.DESTINATION, h.ref, term=h.info.written))
    return out


def disambiguate(hits: list[Hit], fields: Fields, extra_anchors: Sequence[Mention] = ()) -> list[Hit]:
    """Drop ambiguous names (Pegasus, Predator, DPI...) with no unambiguous surveillance term, or no
    other ambiguous name, in the same sentence or within CONTEXT_WINDOW characters."""
    anchors = [(h.field, h.start, h.end) for h in hits if h.kind != "destination" and not h.info.ambiguous]
    anchors.extend((m.field, m.start, m.end) for m in extra_anchors)
    # two different ambiguous names in one sentence vouch for each other ("Huawei's 'Safe City'")
    weak: dict[tuple[str, int], set[str]] = {}
    for h in hits:
        if h.info.ambiguous and h.kind != "destination":
            weak.setdefault(fields.sentence_key(h), set()).add(h.ref)
    anchors.extend(
        (h.field, h.start, h.end)
        for h in hits
        if h.info.ambiguous and h.kind != "destination" and len(weak[fields.sentence_key(h)]) > 1
    )
    kept = []
    for h in hits:
        if not h.info.ambiguous or h.kind == "destination":
            kept.append(h)
            continue
        sentences = fields.sentences(h.field)
        sentence = sentences.index(h.start)
        for f, s, e in anchors:
            if f != h.field:
                continue
            if sentences.index(s) == sentence or (
                s < h.end + CONTEXT_WINDOW and e > h.start - CONTEXT_WINDOW
            ):
                kept.append(h)
                break
    return kept


def code_mentions(
    c: Compiled, field_name: str, text: str, whole_field: bool, hits: Iterable[Hit] = ()
) -> list[Mention]:
    """Watched control codes in a whole code field, or in running text at the candidates the term
    scan found (``hits`` of kind "code"). Encryption codes are not watched alone: they give no
    mention."""
    found: list[tuple[int, int, ControlCode]] = []
    single = find_field_code(text) if whole_field else None
    if single is not None:
        found.append(single)
    else:
        found.extend(find_codes_at(text, (h.start for h in hits if h.kind == "code")))
    mentions: list[Mention] = []
    for start, end, code in found:
        entry = c.code_entry(code)
        if entry is None or entry.level == "encryption":
            continue
        level: Level = "exact" if entry.level == "exact" else "parent"
        mentions.append(
            Mention(
                field_name,
                start,
                end,
                EvidenceKind.CONTROL_CODE,
                code.canonical,
                tuple(entry.technologies),
                level,
                entry.label,
            )
        )
    return mentions


def scan_news(
    c: Compiled, article: NewsArticle, first_pass: bool = False
) -> tuple[Fields, list[Hit], list[Mention]]:
    """Every term and code in the title and body (destinations' own negative contexts not yet
    applied: ``analyse_news`` does that only for articles that could alert). The ``first_pass``
    finds only what can make an article alert, which is enough to drop most articles."""
    fields = Fields({"title": article.title, "body": article.body})
    hits: list[Hit] = []
    codes: list[Mention] = []
    for name, text in fields.values.items():
        found = c.index.scan(name, text, article.language, defer=("destination",), first_pass=first_pass)
        codes.extend(code_mentions(c, name, text, whole_field=False, hits=found))
        hits.extend(h for h in found if h.kind != "code")
    return fields, hits, codes
