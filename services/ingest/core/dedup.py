"""Duplicate detection for news articles: exact copies by a fingerprint of the normalised text, syndicated
near copies (the same wire story, lightly edited by each outlet) by MinHash sketches and band tables (LSH).

An article's text is normalised once (:class:`NormalisedArticle`) and that one result feeds the content hash,
the text fingerprint and the sketch."""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import re
import struct
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from services.ingest.core.shingles import band_keys, minhash, shingle_hashes, word_hashes

if TYPE_CHECKING:
    from numpy.typing import NDArray

# Sketches live in a database across restarts and releases: every parameter that changes the hash values is in
# the stored header, so a sketch made with other settings is refused instead of silently compared.
_MAGIC = b"EWSK"
# Version 1 was datasketch's SHA-1 per shingle with its "affine64" permutations; version 2 is the vectorised
# scheme of services/ingest/core/shingles.py. The two give unrelated values, so they are never compared.
SKETCH_VERSION = 2
_VERSION = SKETCH_VERSION
_HEADER = struct.Struct("<4sBBHI")  # magic, version, shingle_words, num_perm, seed
# 64-bit values cost 8 bytes per permutation (1 KiB a sketch) and make accidental equal minima of unrelated
# articles practically impossible.
_VALUE = np.dtype("<u8")


class _CharTable(dict[int, int | None]):
    """``str.translate`` table that decides each code point once, on first sight: combining marks are dropped,
    letters and digits are kept, everything else becomes a space.

    Filling it lazily keeps import cheap (a full scan of Unicode takes ~0.1 s) while the lookups for
    characters already seen stay in C. Only the Basic Multilingual Plane is remembered, so hostile input
    cannot grow the table past 65,536 entries; rarer characters are decided again each time.
    """

    def __missing__(self, code: int) -> int | None:
        char = chr(code)
        value: int | None
        if unicodedata.category(char).startswith("M"):
            value = None
        elif char.isalnum():
            value = code
        else:
            value = 0x20
        if code <= 0xFFFF:
            self[code] = value
        return value


_CHARS = _CharTable()
# Past the non-ASCII runs, the ASCII bytes are decided by one bytes.translate: letters and digits kept, every
# other ASCII byte a space. Bytes from 0x80 up (UTF-8 of the letters kept from the runs) pass unchanged.
_ASCII = bytes(b if b >= 0x80 or chr(b).isalnum() else 0x20 for b in range(256))
_NON_ASCII_RUN = re.compile("[^\x00-\x7f]+")


def _translate_run(match: re.Match[str]) -> str:
    return match.group().translate(_CHARS)


def normalise_text(title: str, body: str) -> str:
    """Casefolded words of the title and body, accents stripped, separated by single spaces.

    Punctuation, quotes and dashes are separators, so ``l'Union`` and ``l’Union`` give the same words, and
    ``Etat`` matches ``État``.
    """
    # Decompose before casefolding: decomposition can yield capitals (mathematical 𝐒 becomes S), while
    # casefolding decomposed text never yields anything NFKD would change (checked over all of Unicode).
    text = unicodedata.normalize("NFKD", f"{title}\n{body}").casefold()
    # The character table decides the few non-ASCII characters (about 2 % of a European article after
    # NFKD: mostly the accents it split off); the ASCII rest goes through bytes.translate, three times faster
    # than the table over the whole text. The words are the same as the table alone gives.
    if not text.isascii():
        text = _NON_ASCII_RUN.sub(_translate_run, text)
    return b" ".join(text.encode("utf-8").translate(_ASCII).split()).decode("utf-8")


def text_fingerprint(title: str, body: str, min_chars: int = 200) -> str | None:
    """Hex SHA-256 of the normalised title and body, or None when that text is shorter than ``min_chars``.

    A short text (a teaser, a headline-only feed item) can appear unchanged under two different stories, so it
    is too weak to call two URLs the same article.
    """
    return fingerprint(normalise_text(title, body), min_chars)


def fingerprint(text: str, min_chars: int = 200) -> str | None:
    """:func:`text_fingerprint` of text already normalised (``NormalisedArticle.text``)."""
    if len(text) < min_chars:
        return None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NormalisedArticle:
    """An article's title and body, each normalised once, for every hash that reads them.

    Normalising the title and the body apart and joining them gives exactly ``normalise_text(title, body)``:
    the newline between them is a separator, and neither NFKD, casefolding nor the character table looks
    across a separator.
    """

    title: str
    body: str

    @classmethod
    def of(cls, title: str, body: str) -> NormalisedArticle:
        return cls(normalise_text(title, ""), normalise_text("", body))

    @property
    def text(self) -> str:
        """The normalised title and body together, as ``normalise_text(title, body)`` gives them."""
        if self.title and self.body:
            return f"{self.title} {self.body}"
        return self.title or self.body


@dataclass(frozen=True)
class Sketch:
    """The MinHash of an article's word shingles: ``num_perm`` uint64 values, little-endian in ``values``.

    ``seed`` and ``shingle_words`` say how the values were made; sketches made differently are not comparable.
    """

    values: bytes
    seed: int
    shingle_words: int

    def __post_init__(self) -> None:
        if not self.values or len(self.values) % _VALUE.itemsize:
            raise ValueError(f"sketch values must be a non-empty multiple of 8 bytes, got {len(self.values)}")

    @property
    def num_perm(self) -> int:
        return len(self.values) // _VALUE.itemsize

    @property
    def hashvalues(self) -> NDArray[np.uint64]:
        """The hash values as a read-only array (a view on ``values``, no copy)."""
        return np.frombuffer(self.values, dtype=_VALUE)

    def similarity(self, other: Sketch) -> float:
        """Estimated Jaccard similarity of the two articles' shingle sets, in [0, 1]."""
        if (self.seed, self.shingle_words, self.num_perm) != (
            other.seed,
            other.shingle_words,
            other.num_perm,
        ):
            raise ValueError(
                "sketches are not comparable: "
                f"seed/shingle_words/num_perm {self.seed}/{self.shingle_words}/{self.num_perm} "
                f"vs {other.seed}/{other.shingle_words}/{other.num_perm}"
            )
        equal = int(np.count_nonzero(self.hashvalues == other.hashvalues))
        return equal / self.num_perm

    def to_bytes(self) -> bytes:
        return _HEADER.pack(_MAGIC, _VERSION, self.shingle_words, self.num_perm, self.seed) + self.values

    @classmethod
    def from_bytes(cls, data: bytes) -> Sketch:
        """The sketch ``to_bytes`` wrote; ValueError on any other format or version, or on truncation."""
        if len(data) < _HEADER.size:
            raise ValueError(f"sketch too short: {len(data)} bytes")
        magic, version, shingle_words, num_perm, seed = _HEADER.unpack_from(data)
        if magic != _MAGIC or version != _VERSION:
            raise ValueError(f"not a version {_VERSION} sketch: magic {magic!r}, version {version}")
        values = bytes(data[_HEADER.size :])
        if len(values) != num_perm * _VALUE.itemsize:
            raise ValueError(f"sketch holds {len(values)} bytes of values, header says {num_perm} values")
        return cls(values=values, seed=seed, shingle_words=shingle_words)


class Sketcher:
    """Turns an article into a :class:`Sketch` of its body's word n-grams ("shingles").

    The title is left out: syndicating outlets rewrite headlines far more than bodies, and a headline is too
    short to tell two stories apart anyway. Hashing is the fixed vectorised scheme of
    :mod:`services.ingest.core.shingles`, so the same text gives the same sketch in every process (Python's
    ``hash()`` is salted per process).
    """

    def __init__(
        self, num_perm: int = 128, shingle_words: int = 3, min_words: int = 40, seed: int = 1
    ) -> None:
        if num_perm < 2 or num_perm > 0xFFFF:
            raise ValueError(f"num_perm must be in [2, 65535], got {num_perm}")
        if not 1 <= shingle_words <= 0xFF:
            raise ValueError(f"shingle_words must be in [1, 255], got {shingle_words}")
        if min_words < shingle_words:
            raise ValueError(f"min_words ({min_words}) must be at least shingle_words ({shingle_words})")
        if not 0 <= seed <= 0xFFFFFFFF:
            raise ValueError(f"seed must fit in 32 bits, got {seed}")
        self.num_perm = num_perm
        self.shingle_words = shingle_words
        self.min_words = min_words
        self.seed = seed

    def shingles(self, body: str) -> set[bytes]:
        """The distinct word n-grams of the normalised body, UTF-8 encoded: the set the sketch estimates."""
        return self._shingles(normalise_text("", body).split())

    def _shingles(self, words: list[str]) -> set[bytes]:
        # Shifted views zipped together: one pass, no list slice per position.
        grams = zip(*(words[i:] for i in range(self.shingle_words)), strict=False)
        return {" ".join(gram).encode("utf-8") for gram in grams}

    def sketch(self, title: str, body: str) -> Sketch | None:
        """The sketch of the body, or None when it has fewer than ``min_words`` words: too little to compare.

        ``title`` is taken so callers pass the whole article and need not know it is ignored (see the class
        docstring for why).
        """
        del title
        return self.sketch_normalised(normalise_text("", body))

    def sketch_normalised(self, body: str) -> Sketch | None:
        """:meth:`sketch` of a body already normalised (``NormalisedArticle.body``)."""
        words = word_hashes(body)
        if len(words) < self.min_words:
            return None
        values = minhash(shingle_hashes(words, self.shingle_words, distinct=False), self.num_perm, self.seed)
        return Sketch(
            values=values.astype(_VALUE).tobytes(), seed=self.seed, shingle_words=self.shingle_words
        )


def band_params(threshold: float, num_perm: int, recall: float = 0.99) -> tuple[int, int]:
    """LSH ``(bands, rows)`` that find a pair of similarity ``threshold`` with probability >= ``recall``.

    A pair with similarity s shares at least one band with probability 1 - (1 - s**rows)**bands. The banding
    that minimises false positives plus false negatives over the whole range (datasketch's default) finds
    pairs at the threshold only about half the time (0.5 and 128 permutations gives 25 bands of 5 rows:
    55 %), and every pair it misses becomes a second, ungrouped alert. A false positive costs one similarity
    check, so this takes the most rows per band (fewest false positives) that still reaches ``recall`` at the
    threshold. For the default threshold 0.5 and 128 permutations that is 42 bands of 3 rows (126 of the 128
    values used): a pair at 0.5 is found with probability 1 - (7/8)**42 = 99.6 %, a pair at 0.2 (unrelated
    stories sharing stock phrases) becomes a candidate 29 % of the time and is then dropped by the full
    estimate, and 4 rows (32 bands) would find only 87 % of the pairs at the threshold.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    for rows in range(num_perm // 2, 0, -1):
        bands = num_perm // rows
        if 1.0 - (1.0 - threshold**rows) ** bands >= recall:
            return bands, rows
    raise ValueError(
        f"no banding of {num_perm} permutations reaches recall {recall} at threshold {threshold}"
    )


@dataclass(frozen=True)
class _Original:
    sketch: Sketch
    published_at: dt.datetime


class NearDuplicateIndex:
    """Sketches of recent original articles, to find the original a new article is a near copy of.

    Only originals are added: a copy of a copy then still points at the first article, and the index stays the
    size of the distinct stories in the window. It holds at most ``max_originals`` of them: past that, the
    earliest published are forgotten first, so a flood of articles bounds the memory instead of growing it
    until the window passes.

    The LSH is one dict from band key to the ids of the originals having that band (see
    :func:`~services.ingest.core.shingles.band_keys`, which mixes the band's index into its key, so one dict
    serves every band). A key held by one original maps to its id, by several to a list of ids: almost every
    key is unique, and a bare string costs nothing beyond the dict slot. With the default 128 permutations an
    original costs about 5 KB (42 keys, its 1 KiB sketch, its entries here).
    """

    def __init__(
        self,
        threshold: float = 0.5,
        window: dt.timedelta = dt.timedelta(hours=72),
        num_perm: int = 128,
        max_originals: int = 30_000,
    ) -> None:
        if window <= dt.timedelta(0):
            raise ValueError(f"window must be positive, got {window}")
        if max_originals < 1:
            raise ValueError(f"max_originals must be at least 1, got {max_originals}")
        self.threshold = threshold
        self.window = window
        self.max_originals = max_originals
        self.num_perm = num_perm
        self.bands, self.rows = band_params(threshold, num_perm)
        self._bands: dict[int, str | list[str]] = {}
        self._originals: dict[str, _Original] = {}
        # (published_at, id) in publication order, so prune pops only what expires; entries replaced by a
        # second add of the same id stay here and are skipped when popped.
        self._expiry: list[tuple[dt.datetime, str]] = []

    def __len__(self) -> int:
        return len(self._originals)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._originals

    def _check_size(self, sketch: Sketch) -> None:
        if sketch.num_perm != self.num_perm:
            raise ValueError(f"sketch has {sketch.num_perm} permutations, the index {self.num_perm}")

    def _check(self, sketch: Sketch, published_at: dt.datetime) -> None:
        self._check_size(sketch)
        if published_at.tzinfo is None:
            raise ValueError("published_at must be timezone-aware")

    def band_keys(self, sketches: list[Sketch]) -> list[list[int]]:
        """The band keys of each sketch, in one vectorised call (a chunk's worth, computed outside any lock:
        they depend only on the sketch and this index's fixed banding). Pass them to ``find`` and ``add``."""
        if not sketches:
            return []
        for sketch in sketches:
            self._check_size(sketch)
        values = np.frombuffer(b"".join(s.values for s in sketches), dtype=_VALUE)
        return band_keys(values.reshape(len(sketches), self.num_perm), self.bands, self.rows)

    def find(self, sketch: Sketch, published_at: dt.datetime, keys: list[int] | None = None) -> str | None:
        """Id of the original this article is a near copy of, or None.

        The best match wins: highest estimated similarity, then the earliest published, then the smallest id.
        An article already in the index finds itself; the caller checks ``event_id in index`` first when a
        redelivered original must not be called a copy of itself.
        """
        self._check(sketch, published_at)
        best: tuple[float, dt.datetime, str] | None = None  # (-similarity, published_at, id): smallest wins
        for event_id in self._candidates(self._keys(sketch) if keys is None else keys):
            original = self._originals[event_id]
            if abs(original.published_at - published_at) > self.window:
                continue
            # LSH candidates include pairs that merely share one band: confirm with the full estimate.
            similarity = sketch.similarity(original.sketch)
            if similarity < self.threshold:
                continue
            key = (-similarity, original.published_at, event_id)
            if best is None or key < best:
                best = key
        return None if best is None else best[2]

    def add(
        self, event_id: str, sketch: Sketch, published_at: dt.datetime, keys: list[int] | None = None
    ) -> int:
        """Index an original article; adding an id again replaces its sketch and time (a redelivery).
        Returns how many of the earliest published originals were forgotten to stay within
        ``max_originals`` (the new one itself, when it is the earliest)."""
        self._check(sketch, published_at)
        previous = self._originals.get(event_id)
        if previous is not None:
            self._unband(event_id, previous.sketch)
        self._band(event_id, self._keys(sketch) if keys is None else keys)
        self._originals[event_id] = _Original(sketch, published_at)
        heapq.heappush(self._expiry, (published_at, event_id))
        evicted = 0
        while len(self._originals) > self.max_originals:  # the heap holds every live original
            evicted += self._forget_earliest()
        return evicted

    def discard(self, event_id: str) -> None:
        """Remove an original if present (its publication failed); its expiry entry is skipped later."""
        original = self._originals.pop(event_id, None)
        if original is not None:
            self._unband(event_id, original.sketch)

    def prune(self, now: dt.datetime) -> int:
        """Forget the originals published before ``now - window``; returns how many were removed."""
        cutoff = now - self.window
        removed = 0
        while self._expiry and self._expiry[0][0] < cutoff:
            removed += self._forget_earliest()
        return removed

    def _forget_earliest(self) -> bool:
        """Pop the earliest expiry entry; True if it was a live original (now forgotten), False if it was
        stale (its id discarded, or added again later) or there was none."""
        if not self._expiry:
            return False
        published_at, event_id = heapq.heappop(self._expiry)
        original = self._originals.get(event_id)
        if original is None or original.published_at != published_at:
            return False
        self._unband(event_id, original.sketch)
        del self._originals[event_id]
        return True

    def _keys(self, sketch: Sketch) -> list[int]:
        return band_keys(sketch.hashvalues, self.bands, self.rows)[0]

    def _candidates(self, keys: list[int]) -> set[str]:
        """Ids of the originals sharing at least one band key."""
        found: set[str] = set()
        get = self._bands.get
        for key in keys:
            held = get(key)
            if held is None:
                continue
            if isinstance(held, str):
                found.add(held)
            else:
                found.update(held)
        return found

    def _band(self, event_id: str, keys: list[int]) -> None:
        bands = self._bands
        for key in keys:
            held = bands.setdefault(key, event_id)
            if held is event_id or held == event_id:
                continue
            if isinstance(held, str):
                bands[key] = [held, event_id]
            elif event_id not in held:
                held.append(event_id)

    def _unband(self, event_id: str, sketch: Sketch) -> None:
        bands = self._bands
        for key in self._keys(sketch):
            held = bands.get(key)
            if held is None:
                continue
            if isinstance(held, str):
                if held == event_id:
                    del bands[key]
            elif event_id in held:
                held.remove(event_id)
                if len(held) == 1:
                    bands[key] = held[0]
