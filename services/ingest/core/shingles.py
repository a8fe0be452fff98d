"""Vectorised hashing of word shingles and MinHash signatures: every word, n-gram and permutation of an
article is hashed in a handful of numpy operations instead of one Python call per shingle.

The hashes are fixed functions of the text (no per-process salt, no library default), because sketches are
stored and compared across processes and releases; ``Sketch`` records the scheme's version.

- A word's hash is a polynomial over its UTF-8 bytes, ``sum(b[i] * P**i) mod 2**64``, read off prefix sums
  of the whole text at once (a word's sum is the difference of two prefix sums, brought back to its own
  start by the inverse power of ``P``, which exists because ``P`` is odd), mixed with its length and then
  by the MurmurHash3 finaliser so every output bit depends on every input bit.
- An n-gram's hash combines its words' hashes with a different odd multiplier per position (so word order
  counts), finalised again.
- The MinHash of ``num_perm`` permutations takes, per permutation, the least ``a * h + b mod 2**64`` over
  the distinct shingle hashes; ``a`` is odd, so each is a bijection of the 64-bit values, and the
  finalised input makes the top bits, which decide the minimum, well spread.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

U64 = np.dtype("<u8")
_MASK = (1 << 64) - 1
_P = 0x9E3779B97F4A7C15  # odd: invertible modulo 2**64
_P_INVERSE = pow(_P, -1, 1 << 64)
_LENGTH = 0xC2B2AE3D27D4EB4F
_FMIX1 = np.uint64(0xFF51AFD7ED558CCD)
_FMIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_SHIFT = np.uint64(33)
_SPACE = 0x20  # the only separator in normalised text; UTF-8 never uses this byte inside a character


def _fmix(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """MurmurHash3's 64-bit finaliser, in place on ``x`` (which the caller owns)."""
    x ^= x >> _SHIFT
    x *= _FMIX1
    x ^= x >> _SHIFT
    x *= _FMIX2
    x ^= x >> _SHIFT
    return x


def _splitmix(state: int, count: int) -> list[int]:
    """``count`` pseudo-random 64-bit integers from ``state`` (SplitMix64: fixed, not numpy's generators,
    whose streams may change between releases)."""
    out = []
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & _MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        out.append(z ^ (z >> 31))
    return out


def _powers_of(base: int, size: int) -> NDArray[np.uint64]:
    values = np.full(size, base, dtype=U64)
    values[0] = 1
    return np.cumprod(values, dtype=U64)


class _Powers:
    """``P**i`` and ``P**-i`` modulo 2**64 for i up to the longest text seen, grown by doubling (the texts
    are bounded by the schema's body size, so this is too). The pair is swapped in as one tuple, so a
    thread reading it never sees one array grown and the other not."""

    def __init__(self) -> None:
        self.pair = (_powers_of(_P, 4096), _powers_of(_P_INVERSE, 4096))

    def at_least(self, n: int) -> tuple[NDArray[np.uint64], NDArray[np.uint64]]:
        pair = self.pair
        if n < len(pair[0]):
            return pair
        size = max(n + 1, 2 * len(pair[0]))
        self.pair = pair = (_powers_of(_P, size), _powers_of(_P_INVERSE, size))
        return pair


_POWERS = _Powers()


def word_hashes(text: str) -> NDArray[np.uint64]:
    """The 64-bit hash of every word of normalised ``text`` (single spaces between words), in order."""
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    n = len(data)
    if n == 0:
        return np.empty(0, dtype=U64)
    up, down = _POWERS.at_least(n)
    prefix = np.empty(n + 1, dtype=U64)
    prefix[0] = 0
    np.cumsum(data.astype(U64) * up[:n], out=prefix[1:])
    spaces = np.flatnonzero(data == _SPACE)
    starts = np.concatenate(([0], spaces + 1))
    ends = np.concatenate((spaces, [n]))
    hashes = (prefix[ends] - prefix[starts]) * down[starts]
    hashes += (ends - starts).astype(U64) * np.uint64(_LENGTH)
    return _fmix(hashes)


@cache
def _position_multipliers(shingle_words: int) -> NDArray[np.uint64]:
    values = np.array([v | 1 for v in _splitmix(0x5EED_0F_5417, shingle_words)], dtype=U64)
    values.setflags(write=False)
    return values


def shingle_hashes(
    words: NDArray[np.uint64], shingle_words: int, *, distinct: bool = True
) -> NDArray[np.uint64]:
    """The hashes of the word n-grams, from the words' hashes in text order: distinct and sorted, or (with
    ``distinct=False``) one per position, repeats included, which is all a minimum needs."""
    count = len(words) - shingle_words + 1
    if count <= 0:
        return np.empty(0, dtype=U64)
    multipliers = _position_multipliers(shingle_words)
    combined = words[:count] * multipliers[0]
    for i in range(1, shingle_words):
        combined += words[i : i + count] * multipliers[i]
    combined = _fmix(combined)
    return np.unique(combined) if distinct else combined


@cache
def permutations(num_perm: int, seed: int) -> tuple[NDArray[np.uint64], NDArray[np.uint64]]:
    """The ``(a, b)`` columns of the ``num_perm`` affine permutations of a seed, ``a`` odd."""
    raw = _splitmix(seed, 2 * num_perm)
    a = np.array([v | 1 for v in raw[:num_perm]], dtype=U64).reshape(-1, 1)
    b = np.array(raw[num_perm:], dtype=U64).reshape(-1, 1)
    a.setflags(write=False)
    b.setflags(write=False)
    return a, b


def minhash(shingles: NDArray[np.uint64], num_perm: int, seed: int) -> NDArray[np.uint64]:
    """The least permuted value of ``shingles`` (non-empty; repeats change nothing) under each of the seed's
    permutations."""
    a, b = permutations(num_perm, seed)
    values = shingles * a  # (num_perm, shingles)
    values += b
    result: NDArray[np.uint64] = values.min(axis=1)
    return result


def band_keys(values: NDArray[np.uint64], bands: int, rows: int) -> list[list[int]]:
    """One 64-bit key per band of each signature (a row of ``values``, or ``values`` itself when 1-D): the
    band's ``rows`` values and its index hashed together, so one table can hold every band and two bands
    match only when all their rows are equal (up to a 64-bit collision, which the caller's full similarity
    check absorbs). A whole chunk's signatures are keyed in one call."""
    grid = values.reshape(-1, values.shape[-1])[:, : bands * rows].reshape(-1, bands, rows)
    multipliers = _position_multipliers(rows)
    keys = grid[:, :, 0] * multipliers[0]
    for i in range(1, rows):
        keys += grid[:, :, i] * multipliers[i]
    keys += np.arange(bands, dtype=U64) * np.uint64(_LENGTH)
    result: list[list[int]] = _fmix(keys).tolist()
    return result
