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
from html import unescape

# Characters whose folding is not what NFKD + casefold give (the invisible ones that must disappear
# are DEFAULT_IGNORABLE, below).
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
}

# Default_Ignorable_Code_Point, as Unicode's DerivedCoreProperties.txt defines it: format characters
# (Cf) + Other_Default_Ignorable_Code_Point + Variation_Selector, minus White_Space, the interlinear
# annotation characters (FFF9..FFFB), the Egyptian hieroglyph format controls (13430..1343F) and the
# prepended concatenation marks (0600..0605, 06DD, 070F, 0890..0891, 08E2, 110BD, 110CD), which are
# visible. Written out as ranges (Python's unicodedata has no such property); a unit test checks it
# against the Cf category. They render as nothing, so they are dropped: zero-width spaces and joiners,
# soft hyphen, word joiner and invisible operators, LRM/RLM/ALM and the bidi embeddings, overrides and
# isolates, the Mongolian vowel separator and free variation selectors, the combining grapheme
# joiner, variation selectors, Hangul fillers, BOM, tag characters.
_IGNORABLE_RANGES = (
    "\\u00ad\\u034f\\u061c\\u115f\\u1160\\u17b4\\u17b5\\u180b-\\u180f\\u200b-\\u200f\\u202a-\\u202e"
    "\\u2060-\\u206f\\u3164\\ufe00-\\ufe0f\\ufeff\\uffa0\\ufff0-\\ufff8\\U0001bca0-\\U0001bca3"
    "\\U0001d173-\\U0001d17a\\U000e0000-\\U000e0fff"
)
DEFAULT_IGNORABLE = re.compile(f"[{_IGNORABLE_RANGES}]")

# Cyrillic and Greek letters drawn like a Latin letter (in the spirit of the skeletons of Unicode
# TR39, for the scripts news text mixes with Latin), case kept: capital Cyrillic Н is H, small н is not
# like any Latin letter. Their accented forms follow (ё -> ë, ό -> ó), derived below.
_LOOKALIKE_BASE = {
    # Cyrillic
    "а": "a", "с": "c", "ԁ": "d", "е": "e", "һ": "h", "і": "i", "ј": "j", "ӏ": "l", "о": "o", "р": "p",
    "ԛ": "q", "ѕ": "s", "ѵ": "v", "ԝ": "w", "х": "x", "у": "y",
    "А": "A", "В": "B", "С": "C", "Е": "E", "Н": "H", "І": "I", "Ӏ": "I", "Ј": "J", "К": "K", "М": "M",
    "О": "O", "Р": "P", "Ԛ": "Q", "Ѕ": "S", "Т": "T", "Ѵ": "V", "Ԝ": "W", "Х": "X", "У": "Y", "Ү": "Y",
    # Greek
    "α": "a", "ϲ": "c", "ι": "i", "ϳ": "j", "ο": "o", "ρ": "p", "υ": "u", "ν": "v", "χ": "x", "γ": "y",
    "Α": "A", "Β": "B", "Ϲ": "C", "Ε": "E", "Η": "H", "Ι": "I", "Ϳ": "J", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Χ": "X", "Υ": "Y", "Ζ": "Z",
}  # fmt: skip


def _lookalikes() -> dict[str, str]:
    table = dict(_LOOKALIKE_BASE)
    for cp in range(0x0370, 0x0530):  # the Greek, Cyrillic and Cyrillic Supplement blocks
        c = chr(cp)
        decomposed = unicodedata.normalize("NFD", c)
        latin = _LOOKALIKE_BASE.get(decomposed[0])
        if len(decomposed) > 1 and latin is not None:
            composed = unicodedata.normalize("NFC", latin + decomposed[1:])
            if len(composed) == 1:
                table[c] = composed
    return table


_LOOKALIKE = _lookalikes()
_LOOKALIKE_TABLE = str.maketrans(_LOOKALIKE)
_LOOKALIKE_CHARS = re.escape("".join(_LOOKALIKE))
_ANY_LOOKALIKE = re.compile(f"[{_LOOKALIKE_CHARS}]")
# A word: letters, digits, combining accents and the invisible characters that may sit inside it.
_W = f"[\\w\\u0300-\\u036f{_IGNORABLE_RANGES}]"
_LATIN = "A-Za-z\\u00c0-\\u00d6\\u00d8-\\u00f6\\u00f8-\\u024f\\u1e00-\\u1eff\\uff21-\\uff3a\\uff41-\\uff5a"
# A Latin word in disguise: it has a Latin letter, a look-alike, and nothing else that is a letter of
# another script ("ѕруwаrе", "Іran"). A word of Cyrillic or Greek stays as it is, even when every
# letter has a look-alike ("орех"), and so does a Latin name with a Cyrillic ending ("Pegasusом").
# Each word is tried from its start only, so the search is linear.
_DISGUISED = re.compile(
    f"(?<!{_W})(?={_W}*?[{_LATIN}])(?={_W}*?[{_LOOKALIKE_CHARS}])"
    f"[{_LATIN}{_LOOKALIKE_CHARS}0-9_\\u0300-\\u036f{_IGNORABLE_RANGES}]++(?!{_W})"
)


def _undisguise(text: str) -> str:
    """``text`` with the look-alike letters of Latin words in disguise made Latin: one to one, so
    offsets do not move."""
    return _DISGUISED.sub(lambda m: m.group().translate(_LOOKALIKE_TABLE), text)


def visible(text: str) -> str:
    """``text`` as a reader sees it: without default-ignorable characters, and with Latin words in
    disguise made Latin (case kept). What a term's case is judged on."""
    if text.isascii():
        return text
    if _ANY_LOOKALIKE.search(text) is not None:
        text = _undisguise(text)
    return DEFAULT_IGNORABLE.sub("", text)


# Memo of the folding of every character seen so far, shaped for str.translate.
_TABLE: dict[int, str] = {}


def _fold_char(c: str) -> str:
    if DEFAULT_IGNORABLE.match(c):
        return ""
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


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(text: str) -> str:
    """The normalised form of ``text`` (no offsets): what watchlist terms are compiled from, and what
    role detection reads. One pass in C for ASCII text; otherwise each distinct character is
    replaced once (see ``_fold_one_to_one``)."""
    if text.isascii():
        return text.lower()
    folded, specials = _fold_non_ascii(text)
    for c in specials:
        folded = folded.replace(c, _folded(c))
    return folded.translate(_ASCII_LOWER)  # what is left unfolded is ASCII


@dataclass(frozen=True, slots=True)
class Normalised:
    """A normalised text and the map back to the original offsets.

    Folding is one character to one character for almost every text, so the map is kept as
    segments rather than per character: segment i starts at ``seg_norm[i]`` in ``text`` and at
    ``seg_orig[i]`` in ``original``. Inside a segment offsets move together, except in an expanded
    segment (ß -> ss, ``&eacute;`` -> e), whose characters all come from one original source. A
    dropped character (soft hyphen, combining accent, inline tag) leaves a gap in the original
    offsets; it belongs to the character before it. No segments: the identity.
    """

    original: str
    text: str
    seg_norm: tuple[int, ...] = ()
    seg_orig: tuple[int, ...] = ()
    expanded: dict[int, int] = field(default_factory=dict)  # segment -> original end of its source

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original [start, end) of the normalised [start, end) (end > start)."""
        if not self.seg_norm:
            return start, end
        i = bisect.bisect_right(self.seg_norm, start) - 1
        o_start = self.seg_orig[i] + (0 if i in self.expanded else start - self.seg_norm[i])
        j = bisect.bisect_right(self.seg_norm, end - 1) - 1
        o_end = self.expanded[j] if j in self.expanded else self.seg_orig[j] + end - self.seg_norm[j]
        if j + 1 < len(self.seg_norm) and self.seg_norm[j + 1] == end:
            o_end = self.seg_orig[j + 1]  # characters dropped right after belong to this one
        return o_start, o_end


_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_MAX_KEPT = 8  # more distinct non-ASCII characters that stay: a text in another script


@cache
def _non_ascii_except(kept: str) -> re.Pattern[str]:
    return re.compile("[^\\x00-\\x7f" + re.escape(kept) + "]")


def _fold_non_ascii(original: str) -> tuple[str, list[str]]:
    """``_fold_one_to_one`` of ``original``, or of it with the Latin words in disguise undone when it
    has a look-alike letter (a second pass only then: Cyrillic or Greek text)."""
    text, specials, lookalikes = _fold_one_to_one(original)
    if lookalikes:
        source = _undisguise(original)
        if source != original:
            text, specials, _ = _fold_one_to_one(source)
    return text, specials


def _fold_one_to_one(original: str) -> tuple[str, list[str], bool]:
    """``original`` with every character that folds to exactly one character folded, the characters
    that fold to more or fewer, and whether any is a look-alike of a Latin letter.

    Each distinct character is replaced throughout with one ``str.replace`` (a pass in C): a French
    or German article has a dozen distinct accented letters, not hundreds of accented characters.
    """
    text = original
    specials: list[str] = []
    kept = ""  # non-ASCII characters that stay in the text; the search skips them
    lookalikes = False
    pattern = _NON_ASCII
    pos = 0
    while True:
        m = pattern.search(text, pos)
        if m is None:
            return text, specials, lookalikes
        c = m.group()
        pos = m.start()
        lookalikes = lookalikes or c in _LOOKALIKE
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
    distinct = set(_NON_ASCII.findall(original))
    for c in distinct:
        folded = _folded(c)
        if len(folded) == 1:
            table[ord(c)] = folded
        else:
            specials.append(c)
    lookalikes = not distinct.isdisjoint(_LOOKALIKE)
    return original.translate(table), list(dict.fromkeys(specials)), lookalikes


def normalise(original: str) -> Normalised:
    """Case-fold, strip accents, unify quotes and dashes, drop soft hyphens, decode HTML leftovers
    (entities, tags); keep the offset map.

    This runs over every byte of every event, so: ASCII text is only lower-cased; other text has
    its distinct non-ASCII characters replaced (see ``_fold_one_to_one``); only what changes length
    (ß, æ, soft hyphens, combining accents, ``&nbsp;``, ``<br>``) makes offset segments.
    """
    specials: list[str] = []
    if original.isascii():
        text = original.lower()
    else:
        text, specials = _fold_non_ascii(original)
        text = text.lower()  # the same length: what is left of non-ASCII is folded already
    html = ("&" in text or "<" in text) and _HTML.search(text) is not None
    if not specials and not html:
        return Normalised(original, text)
    alternatives = [_HTML.pattern] if html else []
    if specials:
        alternatives.append("[" + re.escape("".join(dict.fromkeys(c.lower() for c in specials))) + "]")
    seg_norm = [0]
    seg_orig = [0]
    expanded: dict[int, int] = {}  # segment index -> original end of its one source
    pieces: list[str] = []
    last = 0
    n = 0

    def segment(norm_at: int, orig_at: int) -> None:
        if seg_norm[-1] == norm_at:  # the previous segment is empty: replace it
            seg_orig[-1] = orig_at
            expanded.pop(len(seg_norm) - 1, None)
        else:
            seg_norm.append(norm_at)
            seg_orig.append(orig_at)

    for m in re.finditer("|".join(alternatives), text, re.DOTALL):
        found = m.group()
        if len(found) == 1:
            replacement = _folded(found)
        elif found[0] == "&":
            decoded = unescape(found)
            if decoded == found:  # not an entity after all
                continue
            replacement = fold(decoded)
        else:
            replacement = "" if _INLINE_TAG.match(found) else " "
        piece = text[last : m.start()]
        pieces.append(piece)
        n += len(piece)
        if replacement:
            segment(n, m.start())
            expanded[len(seg_norm) - 1] = m.end()
            pieces.append(replacement)
            n += len(replacement)
        last = m.end()
        segment(n, last)
    pieces.append(text[last:])
    return Normalised(original, "".join(pieces), tuple(seg_norm), tuple(seg_orig), expanded)


# HTML left in a text: character references, tags and comments (on lower-cased text).
_HTML = re.compile(
    r"&(?:#[0-9]{1,7}|#x[0-9a-f]{1,6}|[a-z][a-z0-9]{1,31});|</?[a-z][a-z0-9]*(?:\s[^<>]{0,300})?/?>"
    r"|<!--.{0,2000}?-->"
)
# Tags inside a line of text that do not separate words: "<b>Gesichts</b>erkennung".
_INLINE_TAG = re.compile(r"</?(?:a|abbr|b|bdi|em|font|i|mark|small|span|strong|sub|sup|u|wbr)\b")


# A sentence ends at . ! ? … (plus closing quotes) before an upper-case start (not after a lone
# letter or digit: initials, "5. A. 1. j."), at a blank line, at a
# line break before a bullet, or at a line break before an upper-case start unless the line ends with
# a lower-case letter or a comma (a hard-wrapped sentence). One character class comes first, so the
# regex engine skips quickly to candidate positions.
_SENTENCE_BREAK = re.compile(
    r"[.!?…\n](?<![\s(]\w.)(?<!^\w.)(?:(?<=\n)(?:[ \t]*\n\s*|[ \t]*(?=[•*·–-])"
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
