"""Text normalisation for matching (case folding, accents, typography) that keeps a map back to the
original offsets, and sentence segmentation for co-occurrence and snippets.

Evidence must quote the event exactly, so matching runs on the normalised text and every span is
mapped back to the original string before it leaves this module's callers.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache

# Characters whose folding is not what NFKD + casefold give, or that must disappear.
_SPECIAL: dict[str, str] = {
    "ß": "ss",
    "ẞ": "ss",
    "æ": "ae",
    "Æ": "ae",
    "ø": "o",
    "Ø": "o",
    "œ": "oe",
    "Œ": "oe",
    "ł": "l",
    "Ł": "l",
    "đ": "d",
    "Đ": "d",
    "ð": "d",
    "Ð": "d",
    "þ": "th",
    "Þ": "th",
    "ı": "i",
    "‘": "'",
    "’": "'",
    "‚": "'",
    "‛": "'",
    "′": "'",
    "´": "'",
    "“": '"',
    "”": '"',
    "„": '"',
    "‟": '"',
    "«": '"',
    "»": '"',
    "‐": "-",
    "‑": "-",
    "‒": "-",
    "–": "-",
    "—": "-",
    "―": "-",
    "−": "-",
    "…": ".",  # one character: offsets stay the identity
    "\u00ad": "",  # soft hyphen
    "\u200b": "",  # zero-width space
    "\u200c": "",
    "\u200d": "",
    "\u2060": "",
    "\ufeff": "",
}

# Memo of the folding of every character seen so far, shaped for str.translate.
_TABLE: dict[int, str] = {}


def _fold_char(c: str) -> str:
    special = _SPECIAL.get(c)
    if special is not None:
        return special
    decomposed = unicodedata.normalize("NFKD", c.casefold())
    out = []
    for ch in decomposed:
        if unicodedata.combining(ch):
            continue
        out.append(_SPECIAL.get(ch, ch))
    return "".join(out)


def _folded(c: str) -> str:
    code = ord(c)
    got = _TABLE.get(code)
    if got is None:
        got = _fold_char(c)
        _TABLE[code] = got
    return got


def fold(text: str) -> str:
    """The normalised form of ``text`` (no offsets): what watchlist terms are compiled from."""
    return "".join(_folded(c) for c in text)


@dataclass(frozen=True, slots=True)
class Normalised:
    """A normalised text and the map back to the original offsets.

    Folding is one character to one character for almost every text, so the map is kept as
    segments rather than per character: segment i starts at ``seg_norm[i]`` in ``text`` and at
    ``seg_orig[i]`` in ``original``. Inside a segment offsets move together, except in an expanded
    segment (ß -> ss), whose characters all come from one original character. A dropped character
    (soft hyphen, combining accent) leaves a gap in the original offsets; it belongs to the
    character before it. No segments: the identity.
    """

    original: str
    text: str
    seg_norm: tuple[int, ...] = ()
    seg_orig: tuple[int, ...] = ()
    expanded: frozenset[int] = frozenset()

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original [start, end) of the normalised [start, end) (end > start)."""
        if not self.seg_norm:
            return start, end
        i = bisect.bisect_right(self.seg_norm, start) - 1
        o_start = self.seg_orig[i] + (0 if i in self.expanded else start - self.seg_norm[i])
        j = bisect.bisect_right(self.seg_norm, end - 1) - 1
        o_end = self.seg_orig[j] + (1 if j in self.expanded else end - self.seg_norm[j])
        if j + 1 < len(self.seg_norm) and self.seg_norm[j + 1] == end:
            o_end = self.seg_orig[j + 1]  # characters dropped right after belong to this one
        return o_start, o_end


_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_MAX_KEPT = 8  # more distinct non-ASCII characters that stay: a text in another script


@cache
def _non_ascii_except(kept: str) -> re.Pattern[str]:
    return re.compile("[^\\x00-\\x7f" + re.escape(kept) + "]")


def _fold_one_to_one(original: str) -> tuple[str, list[str]]:
    """``original`` with every character that folds to exactly one character folded, and the
    characters that fold to more or fewer.

    Each distinct character is replaced throughout with one ``str.replace`` (a pass in C): a French
    or German article has a dozen distinct accented letters, not hundreds of accented characters.
    """
    text = original
    specials: list[str] = []
    kept = ""  # non-ASCII characters that stay in the text; the search skips them
    pattern = _NON_ASCII
    pos = 0
    while True:
        m = pattern.search(text, pos)
        if m is None:
            return text, specials
        c = m.group()
        pos = m.start()
        folded = _folded(c)
        if len(folded) == 1:
            text = text.replace(c, folded)
            if not folded.isascii():
                kept += folded
        else:
            specials.append(c)
            kept += c
        if len(kept) > _MAX_KEPT:
            break
        if kept:
            pattern = _non_ascii_except(kept)
    table: dict[int, str] = {}
    for c in set(_NON_ASCII.findall(original)):
        folded = _folded(c)
        if len(folded) == 1:
            table[ord(c)] = folded
        else:
            specials.append(c)
    return original.translate(table), list(dict.fromkeys(specials))


def normalise(original: str) -> Normalised:
    """Case-fold, strip accents, unify quotes and dashes, drop soft hyphens; keep the offset map.

    This runs over every byte of every event, so: ASCII text is only lower-cased; other text has
    its distinct non-ASCII characters replaced (see ``_fold_one_to_one``); only the characters
    that change length (ß, æ, soft hyphens, combining accents) make offset segments.
    """
    if original.isascii():
        return Normalised(original, original.lower())
    text, specials = _fold_one_to_one(original)
    text = text.lower()  # the same length: what is left of non-ASCII is folded already
    if not specials:
        return Normalised(original, text)
    lowered = "".join(dict.fromkeys(c.lower() for c in specials))
    seg_norm = [0]
    seg_orig = [0]
    expanded: set[int] = set()
    pieces: list[str] = []
    last = 0
    n = 0

    def segment(norm_at: int, orig_at: int) -> None:
        if seg_norm[-1] == norm_at:  # the previous segment is empty: replace it
            seg_orig[-1] = orig_at
            expanded.discard(len(seg_norm) - 1)
        else:
            seg_norm.append(norm_at)
            seg_orig.append(orig_at)

    for m in re.finditer("[" + re.escape(lowered) + "]", text):
        piece = text[last : m.start()]
        pieces.append(piece)
        n += len(piece)
        folded = _folded(m.group())
        if folded:
            segment(n, m.start())
            expanded.add(len(seg_norm) - 1)
            pieces.append(folded)
            n += len(folded)
        last = m.end()
        segment(n, last)
    pieces.append(text[last:])
    return Normalised(original, "".join(pieces), tuple(seg_norm), tuple(seg_orig), frozenset(expanded))


# A sentence ends at . ! ? … (plus closing quotes) before an upper-case start, at a blank line, at a
# line break before a bullet, or at a line break before an upper-case start unless the line ends with
# a lower-case letter or a comma (a hard-wrapped sentence). One character class comes first, so the
# regex engine skips quickly to candidate positions.
_SENTENCE_BREAK = re.compile(
    r"[.!?…\n](?:(?<=\n)(?:[ \t]*\n\s*|[ \t]*(?=[•*·–-])"
    r"|(?<![a-zß-ÿ,]\n)[ \t]*(?=[\"'“‘«(\[¿¡]|[A-Z0-9\u00C0-\u00DE]))"
    r"|[.!?…]*[\"'”’»)\]]*\s+(?=[\"'“‘«(\[¿¡]?[A-Z0-9\u00C0-\u00DE]))"
)
SNIPPET_WINDOW = 120


@dataclass(slots=True)
class Sentences:
    """Sentence boundaries of one original text, computed once."""

    text: str
    starts: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, text: str) -> Sentences:
        starts = [0]
        starts.extend(m.end() for m in _SENTENCE_BREAK.finditer(text) if m.end() < len(text))
        return cls(text, starts)

    def index(self, pos: int) -> int:
        """Index of the sentence that contains original offset ``pos``."""
        return bisect.bisect_right(self.starts, pos) - 1

    def bounds(self, index: int) -> tuple[int, int]:
        start = self.starts[index]
        end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.text)
        return start, end

    def snippet(self, start: int, end: int) -> str:
        """The sentence around [start, end), or about SNIPPET_WINDOW characters either side of it."""
        s_start, s_end = self.bounds(self.index(start))
        s_end = max(s_end, end)
        if s_end - s_start > 2 * SNIPPET_WINDOW + (end - start):
            lo = max(s_start, start - SNIPPET_WINDOW)
            hi = min(s_end, end + SNIPPET_WINDOW)
            if lo > s_start:  # start on a word
                space = self.text.find(" ", lo, start)
                lo = space + 1 if space != -1 else lo
            if hi < s_end:
                space = self.text.rfind(" ", end, hi)
                hi = space if space != -1 else hi
            text = " ".join(self.text[lo:hi].split())
            return ("…" if lo > s_start else "") + text + ("…" if hi < s_end else "")
        return " ".join(self.text[s_start:s_end].split())
