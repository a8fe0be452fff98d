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
    """A normalised text and, when folding changed lengths, the original offsets of each character."""

    original: str
    text: str
    starts: list[int] | None = None  # original start of each normalised char; None: identity
    ends: list[int] | None = None

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original [start, end) of the normalised [start, end) (end > start)."""
        if self.starts is None or self.ends is None:
            return start, end
        return self.starts[start], self.ends[end - 1]


def normalise(original: str) -> Normalised:
    """Case-fold, strip accents, unify quotes and dashes, drop soft hyphens; keep the offset map.

    Most texts fold one character to one character: then the offsets are the identity and the work
    is a ``lower()`` plus a substitution of the few non-ASCII characters.
    """
    if original.isascii():
        return Normalised(original, original.lower())
    others = set(_NON_ASCII.findall(original))
    if all(len(c.lower()) == 1 and len(_folded(c.lower())) == 1 for c in others):
        lowered = original.lower()
        return Normalised(original, _NON_ASCII.sub(_fold_match, lowered))
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for i, c in enumerate(original):
        folded = _folded(c)
        if not folded:
            if ends:  # a dropped mark belongs to the character before it
                ends[-1] = i + 1
            continue
        for ch in folded:
            out.append(ch)
            starts.append(i)
            ends.append(i + 1)
    return Normalised(original, "".join(out), starts, ends)


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _fold_match(m: re.Match[str]) -> str:
    return _folded(m.group())


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
