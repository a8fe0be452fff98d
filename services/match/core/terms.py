"""The term index: every watchlist term (technologies, destinations, vendors, context words) compiled
once (by ``term_build``) into one Aho-Corasick automaton over normalised text, and the scan that
turns its matches into hits with original offsets, after case, language, negative-context and
elision rules."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from html import unescape
from typing import Literal

import ahocorasick

from services.match.core.text import Normalised, normalise, visible
from services.match.core.watchlists import (
    Case,
    Tail,
)

Kind = Literal["technology", "destination", "vendor", "context", "code"]
# Which list of a destination entry a term comes from: what role detection reads around it.
Form = Literal["name", "adjective", "place", "term"]
# Where a control code may start: a digit then a product-group letter ("5A001", "5.A.1", "5. A. 1").
# The automaton finds these in the same pass as the terms; codes.find_codes_at reads the code.
_CODE_KEYS = tuple(f"{d}{sep}{g}" for d in "0123456789" for g in "abcde" for sep in ("", ".", ". "))
_CODE_INFO_KEY = "\x00code"

SEPARATORS = re.compile(r"[\s\-]+")
# A coordinated fragment before a term: "facial and| emotion recognition", "Gesichts- und| Emotions…".
_ELISION = re.compile(
    r"(?<![\w-])([a-z]+)(-?)(?:\s*,\s*|\s+(?:and|or|&|en|of|und|oder|sowie|et|ou|y|e|o|u)\s+)$"
)
# A coordinated modifier after a head-first term: "reconnaissance faciale |et émotionnelle",
# "reconocimiento facial |y de emociones".
_TRAILING_ELISION = re.compile(
    r"(?:\s*,\s*|\s+(?:and|or|&|en|of|und|oder|et|ou|y|e|o|u)\s+)"
    r"((?:(?:de\s+la|de|des|du|del|d')\s*)?[a-z]+)(?![\w-])"
)
_NEGATIVE_WINDOW = 48
# Context entries the first pass needs: surveillance technology of no named kind can alert by itself.
PRIMARY_CONTEXT = frozenset({"surveillance-technology"})


@dataclass(frozen=True, slots=True)
class TermInfo:
    """One watchlist term as compiled: what it refers to and the rules a match must pass."""

    kind: Kind
    ref: str
    key: str
    written: str
    case: Case
    tail: Tail
    languages: frozenset[str] | None
    ambiguous: bool
    form: Form = "term"
    language: str | None = None  # the language the term is listed under (technologies, context)
    # Read only once an article could alert (words of trade and surveillance, countries of tier
    # none): most articles stop after the first pass, which need not stop at every "sale" or "Paris".
    secondary: bool = False
    near: re.Pattern[str] | None = None
    within: int = 6


@dataclass(frozen=True, slots=True)
class Hit:
    """A term found in one field of an event, with original offsets."""

    field: str
    start: int
    end: int
    info: TermInfo

    @property
    def kind(self) -> Kind:
        return self.info.kind

    @property
    def ref(self) -> str:
        return self.info.ref


_CODE_CANDIDATE = TermInfo("code", "", "", "", "any", "none", None, False)


def _tail_allows(tail: Tail, rest: str) -> bool:
    if tail == "none":
        return rest == ""
    if tail == "plural":
        return rest in ("", "s", "es")
    if tail == "inflect":
        return len(rest) <= 3 and (rest == "" or rest.isalpha())
    return rest == "" or rest.isalpha()


_TAGS = re.compile(r"<[^<>]*>")


def _case_allows(info: TermInfo, original: str) -> bool:
    if info.case == "any":
        return True
    if "&" in original or "<" in original:  # HTML leftovers: judge the text as it reads
        original = unescape(_TAGS.sub("", original))
    original = visible(original)  # nor invisible characters and look-alike letters ("IMSІ", Cyrillic І)
    if info.case == "title":
        return original[:1].isupper()
    if info.case == "upper":
        letters = [c for c in original[: len(info.written)] if c.isalpha()]
        return all(c.isupper() for c in letters)
    return " ".join(original.split()).startswith(info.written)


_WORD_CHARS = 16  # a generous average word length, to cut the window before counting words


def _has_near(info: TermInfo, text: str, start: int, end: int) -> bool:
    """True when one of the words ``info`` needs is within ``info.within`` words of [start, end)."""
    assert info.near is not None
    reach = info.within * _WORD_CHARS
    before = text[max(0, start - reach) : start].split()[-info.within :]
    after = text[end : end + reach].split()[: info.within + 1]  # the term's own tail is the first
    return info.near.search(" ".join(before)) is not None or info.near.search(" ".join(after)) is not None


def _any_language(info: TermInfo, language: str) -> bool:
    """A common word of context counts in its own language only: French "interceptés" is not the
    English "intercept" plus an ending. Names (Citizen Lab, Amnesty Tech) count in any language."""
    return info.language in (None, language) or not info.written.islower()


# The scan text: the normalised text with separators between the words of a term (white space,
# hyphens) made one space, and punctuation made \x00, so that a term (stored after a space and after
# a \x00) can only start at the beginning of a word. ``+ & @ #`` stay: they occur inside names.
# Characters outside ASCII (other scripts) become \x00 too: they never belong to a term.
_SCAN_TABLE = bytes.maketrans(
    b"\t\n\v\f\r-_" + bytes(c for c in range(33, 127) if not chr(c).isalnum() and chr(c) not in "+&@#-_"),
    b"       " + b"\x00" * sum(1 for c in range(33, 127) if not chr(c).isalnum() and chr(c) not in "+&@#-_"),
)
_SPACES = re.compile(r"  +")
_LETTERS = re.compile(r"[a-z]*")
_STARTS = (" ", "\x00")


def scan_key(key: str) -> str:
    """A term's key as it appears in the scan text."""
    text = key.encode("ascii", "replace").translate(_SCAN_TABLE).decode("ascii")
    return " ".join(text.split()).strip("\x00 ")


class _ScanText:
    """The scan text of a normalised text, with runs of spaces collapsed, and its map back. The
    collapse is one regex substitution in C; the map back is built only when a match needs it
    (most texts have none)."""

    __slots__ = ("_cut_at", "_raw", "_shift", "text")

    def __init__(self, raw: str, text: str) -> None:
        self._raw = raw  # before collapsing
        self.text = text
        self._cut_at: list[int] | None = None if raw is not text else []
        self._shift: list[int] = []

    @classmethod
    def of(cls, normalised: str) -> _ScanText:
        raw = " " + normalised.encode("ascii", "replace").translate(_SCAN_TABLE).decode("ascii")
        if "  " not in raw:
            return cls(raw, raw)
        return cls(raw, _SPACES.sub(" ", raw))

    def _map(self) -> list[int]:
        cut_at: list[int] = []
        removed = 0
        for m in _SPACES.finditer(self._raw):
            cut_at.append(m.start() + 1 - removed)  # in the collapsed text, after the kept space
            removed += m.end() - m.start() - 1
            self._shift.append(removed)
        self._cut_at = cut_at
        return cut_at

    def normalised(self, pos: int) -> int:
        """The normalised offset of scan position ``pos`` (not a collapsed space)."""
        cut_at = self._cut_at if self._cut_at is not None else self._map()
        i = bisect.bisect_right(cut_at, pos) - 1
        return pos - 1 + (self._shift[i] if i >= 0 else 0)


def _automaton(keys: dict[str, tuple[str, ...]]) -> ahocorasick.Automaton | None:
    if not keys:
        return None
    automaton = ahocorasick.Automaton()
    for skey, payload_keys in keys.items():
        for start in _STARTS:
            automaton.add_word(start + skey, (len(skey), payload_keys))
    automaton.make_automaton()
    return automaton


@dataclass(frozen=True, slots=True)
class _Pass:
    """What one call of ``TermIndex.scan`` looks for, and in what text."""

    field: str
    text: str
    norm: Normalised
    language: str | None
    wanted: frozenset[Kind] | None  # None: every kind
    deferred: frozenset[Kind]  # kinds whose negative contexts the caller checks later

    def admits(self, info: TermInfo) -> bool:
        """Whether a term of this kind and language is looked for here."""
        if self.wanted is not None and info.kind not in self.wanted:
            return False
        if info.languages is not None and self.language not in info.languages:
            return False
        return not (
            info.kind == "context" and self.language is not None and not _any_language(info, self.language)
        )


class TermIndex:
    """All terms in one Aho-Corasick automaton: ``scan`` is one pass over the text whatever the
    number of terms; only the few matches then go through the rules of their terms in Python."""

    def __init__(
        self,
        infos: dict[str, list[TermInfo]],
        negatives: dict[tuple[Kind, str], re.Pattern[str]],
        listed: int | None = None,
    ) -> None:
        self._infos = infos
        self._listed = len(infos) if listed is None else listed
        self._negatives = negatives
        by_scan_key: dict[str, list[str]] = {}
        for key in infos:
            by_scan_key.setdefault(scan_key(key), []).append(key)
        primary: dict[str, tuple[str, ...]] = {scan_key(k): (_CODE_INFO_KEY,) for k in _CODE_KEYS}
        secondary: dict[str, tuple[str, ...]] = {}
        for skey, keys in by_scan_key.items():
            later = all(info.secondary for k in keys for info in infos[k])
            (secondary if later else primary)[skey] = tuple(sorted(keys, key=len, reverse=True))
        self._automaton = _automaton(primary)
        self._secondary = _automaton(secondary)

    def __len__(self) -> int:
        """Terms as the watchlists list them (the watchlist size)."""
        return self._listed

    @property
    def keys(self) -> int:
        """Keys in the automaton: listed terms and their generated inflected forms."""
        return len(self._infos)

    def infos(self, key: str) -> list[TermInfo]:
        return self._infos.get(key, [])

    def defused(self, hit: Hit, text: str) -> bool:
        """True when a negative context of the hit's entry overlaps or touches it ("Pegasus Airlines",
        "Chinese| model")."""
        return self._defused(hit.info, text, hit.start, hit.end)

    def _defused(self, info: TermInfo, text: str, start: int, end: int) -> bool:
        pattern = self._negatives.get((info.kind, info.ref))
        if pattern is None:
            return False
        lo = max(0, start - _NEGATIVE_WINDOW)
        hi = min(len(text), end + _NEGATIVE_WINDOW)
        return any(m.start() <= end and m.end() >= start for m in pattern.finditer(text, lo, hi))

    def raw_scan(self, text: str) -> int:
        """Only the first-pass automaton over ``text`` (lower-cased): the ceiling the benchmark compares
        to (the pass every article gets; the second pass runs only for articles that could alert)."""
        if self._automaton is None:
            return 0
        return sum(1 for _ in self._automaton.iter(text))

    def _found(self, text: str, first_pass: bool) -> list[tuple[int, int, int, tuple[str, ...]]]:
        """Every key the automata find in the scan text, as (start, -size, end, keys)."""
        found: list[tuple[int, int, int, tuple[str, ...]]] = []
        automata = (self._automaton,) if first_pass else (self._automaton, self._secondary)
        for automaton in automata:
            if automaton is not None:
                for last, (size, keys) in automaton.iter(text):
                    found.append((last - size + 1, -size, last + 1, keys))
        return found

    def scan(
        self,
        field: str,
        text: str,
        language: str | None,
        kinds: Iterable[Kind] | None = None,
        defer: Iterable[Kind] = (),
        first_pass: bool = False,
    ) -> list[Hit]:
        """Every term in ``text`` that passes its rules, as hits on ``field`` (original offsets);
        with ``first_pass``, only the terms that can make an article alert (not the words of trade or
        surveillance, nor countries of tier none).

        At each position the longest term wins, and hits do not overlap. Negative contexts of the
        ``defer`` kinds are not checked: the caller checks them with ``defused`` only when the event
        could alert (most events stop earlier)."""
        if not text:
            return []
        norm = normalise(text)
        scan = _ScanText.of(norm.text)
        found = self._found(scan.text, first_pass)
        if not found:
            return []
        found.sort()
        wanted = frozenset(kinds) if kinds is not None else None
        p = _Pass(field, text, norm, language, wanted, frozenset(defer))
        hits: list[Hit] = []
        covered = 0  # scan offset up to which accepted hits reach
        for start, _size, after, keys in found:
            if start < covered:
                continue
            if keys[0] == _CODE_INFO_KEY:
                if wanted is None or "code" in wanted:
                    at = norm.span(scan.normalised(start), scan.normalised(start) + 1)[0]
                    hits.append(Hit(field, at, at, _CODE_CANDIDATE))
                continue
            stop = _LETTERS.match(scan.text, after).end()  # type: ignore[union-attr]  # [a-z]* always matches
            if stop < len(scan.text) and scan.text[stop].isdigit():
                continue
            if self._term_hits(p, scan, start, after, stop, keys, hits):
                covered = stop
        return hits

    def _term_hits(
        self,
        p: _Pass,
        scan: _ScanText,
        start: int,
        after: int,
        stop: int,
        keys: tuple[str, ...],
        hits: list[Hit],
    ) -> bool:
        """Add to ``hits`` the terms of ``keys`` found at scan offsets [start, after) whose rules the
        match passes (with the terms elided beside a technology); True when any did."""
        rest = scan.text[after:stop]
        n_start = scan.normalised(start)
        n_end = scan.normalised(stop - 1) + 1
        o_start, o_end = p.norm.span(n_start, n_end)
        original = p.text[o_start:o_end]
        seen: set[tuple[str, str]] = set()
        for key in keys:
            for info in self._infos[key]:
                if (info.kind, info.ref) in seen or not _tail_allows(info.tail, rest):
                    continue
                if not p.admits(info) or not _case_allows(info, original):
                    continue
                if info.kind not in p.deferred and self._defused(info, p.text, o_start, o_end):
                    continue
                if info.near is not None and not _has_near(info, p.norm.text, n_start, n_end):
                    continue
                seen.add((info.kind, info.ref))
                hits.append(Hit(p.field, o_start, o_end, info))
                if info.kind == "technology":
                    hits.extend(self._elided(p.field, p.norm, n_start, info, o_end, seen))
                    hits.extend(self._elided_after(p.field, p.norm, n_end, info, o_start, seen))
        return bool(seen)

    def _elided(
        self, field: str, norm: Normalised, pos: int, head: TermInfo, end: int, seen: set[tuple[str, str]]
    ) -> Iterator[Hit]:
        """Terms whose head noun is shared with the next one: "facial and emotion recognition",
        "gezichts- en emotieherkenning", "Gesichts- und Emotionserkennungstechnologie"."""
        key = head.key
        while True:
            m = _ELISION.search(norm.text, max(0, pos - 60), pos)
            if m is None:
                return
            fragment, hyphen = m.group(1), m.group(2)
            if hyphen:
                candidates = [fragment + key[i:] for i in range(1, len(key)) if key[i] != " "]
            else:
                candidates = [fragment + key[i:] for i, ch in enumerate(key) if ch == " "]
            info = next(
                (
                    i
                    for c in candidates
                    for i in self._infos.get(c, [])
                    if i.kind == "technology" and not i.ambiguous
                ),
                None,
            )
            if info is None:
                return
            if (info.kind, info.ref) not in seen:
                seen.add((info.kind, info.ref))
                start, _ = norm.span(m.start(1), m.end(1))
                yield Hit(field, start, end, info)
            pos = m.start(1)

    def _elided_after(
        self, field: str, norm: Normalised, pos: int, head: TermInfo, start: int, seen: set[tuple[str, str]]
    ) -> Iterator[Hit]:
        """Head-first terms sharing their head with a following modifier (French, Spanish):
        "reconnaissance faciale et émotionnelle", "reconocimiento facial y de emociones"."""
        m = _TRAILING_ELISION.match(norm.text, pos)
        if m is None or " " not in head.key:
            return
        fragment = SEPARATORS.sub(" ", m.group(1))
        candidates = [head.key[:i] + " " + fragment for i, ch in enumerate(head.key) if ch == " "]
        for c in candidates:
            for info in self._infos.get(c, []):
                if info.kind == "technology" and not info.ambiguous and (info.kind, info.ref) not in seen:
                    seen.add((info.kind, info.ref))
                    _, end = norm.span(m.start(1), m.end(1))
                    yield Hit(field, start, end, info)
                    return
