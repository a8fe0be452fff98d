"""The vectorised shingle hashing and MinHash (issue 20): one normalisation per article, estimates that track
the exact Jaccard similarity, and band tables that forget what they are told to."""

from __future__ import annotations

import datetime as dt
import random
import statistics
import unicodedata

import numpy as np
import pytest

from schemas import NewsArticle
from services.ingest.core.dedup import (
    _CHARS,
    NearDuplicateIndex,
    NormalisedArticle,
    Sketcher,
    normalise_text,
)
from services.ingest.core.identity import content_hash
from services.ingest.core.shingles import shingle_hashes, word_hashes
from tests.unit.test_ingest_dedup import ALL_STORIES, DISTINCT, NEAR_DUPLICATES, T0, Story, _jaccard, _sketch

SKETCHER = Sketcher()


@pytest.mark.parametrize(
    ("title", "body"),
    [
        ("Surveillance :", "l’Union européenne"),
        ("", "Die Straße nach MÜNCHEN"),
        ("Title only", ""),
        ("", ""),
        ("ends with e", "\u0301 starts with a combining mark"),
        ("Ελλάδα!", "Москва — 4,2 millones"),
        *((s.title, s.body) for s in ALL_STORIES),
    ],
)
def test_title_and_body_normalised_apart_join_to_the_whole(title: str, body: str) -> None:
    # The ingestor normalises an article once, as title and body; the content hash and the fingerprint read
    # the two joined, which must be exactly what normalising the whole article gives.
    assert NormalisedArticle.of(title, body).text == normalise_text(title, body)


def test_content_hash_with_the_normalised_text_is_the_same() -> None:
    story = ALL_STORIES[3]
    event = NewsArticle(
        id="news-1",
        source="anp",
        url="https://example.org/news/1",
        title=story.title,
        body=story.body,
        published_at=T0,
    )
    text = NormalisedArticle.of(event.title, event.body).text
    assert content_hash(event, text) == content_hash(event)


def test_a_word_hashes_the_same_wherever_it_stands() -> None:
    hashes = word_hashes("the cat saw the other cat").tolist()
    assert hashes[0] == hashes[3] and hashes[1] == hashes[5]
    assert len(set(hashes)) == 4
    # Words that differ only in order or length of the same bytes differ.
    assert len(set(word_hashes("ab ba a b aa abab").tolist())) == 6
    assert word_hashes("").size == 0


def test_shingles_are_ordered_and_distinct() -> None:
    words = word_hashes("a b c a b c c b a")
    assert shingle_hashes(words, 3).size == 6  # abc, bca, cab, bcc, ccb, cba (abc again is the same)
    assert shingle_hashes(words[:2], 3).size == 0


@pytest.mark.parametrize(("a", "b"), NEAR_DUPLICATES + DISTINCT, ids=lambda s: s.name)
def test_estimate_tracks_the_exact_jaccard_of_real_looking_pairs(a: Story, b: Story) -> None:
    """English, Dutch, French, German and Spanish copies and non-copies: the estimate from 128 values has a
    standard error of at most 0.044, so 0.15 is over three of them."""
    estimated = _sketch(a).similarity(_sketch(b))
    exact = _jaccard(a, b)
    assert abs(estimated - exact) <= 0.15, (a.name, b.name, estimated, exact)


@pytest.mark.parametrize("jaccard", [0.2, 0.5, 0.8])
def test_estimates_are_unbiased(jaccard: float) -> None:
    # Many pairs with a known Jaccard similarity: the mean estimate must sit on it (a weak hash or permutation
    # family shows up as a bias here long before it shows on a single pair).
    rng = random.Random(7)
    sketcher = Sketcher(shingle_words=1, min_words=1)
    shared = round(800 * jaccard / (1 + jaccard))  # two sets of 400 sharing this many
    exact = shared / (800 - shared)
    estimates = []
    for trial in range(60):
        words = [f"w{rng.getrandbits(40)}x{trial}" for _ in range(400 + (400 - shared))]
        a = sketcher.sketch("", " ".join(words[:400]))
        b = sketcher.sketch("", " ".join(words[400 - shared :]))
        assert a is not None and b is not None
        estimates.append(a.similarity(b))
    assert abs(statistics.fmean(estimates) - exact) < 0.02, statistics.fmean(estimates)


def test_band_tables_forget_discarded_replaced_and_evicted_originals() -> None:
    index = NearDuplicateIndex(max_originals=2)
    a, b, c = (_sketch(s) for s in ALL_STORIES[:3])
    index.add("a", a, T0)
    index.add("b", b, T0 + dt.timedelta(minutes=1))
    assert index.find(a, T0) == "a"
    index.discard("a")
    assert index.find(a, T0) != "a"
    index.add("a", a, T0 + dt.timedelta(minutes=2))
    index.add("c", c, T0 + dt.timedelta(minutes=3))  # over the cap: "b" was published first
    assert "b" not in index and index.find(b, T0) != "b"
    index.add("c", a, T0 + dt.timedelta(minutes=4))  # replaced: c's old bands are gone
    assert index.find(c, T0 + dt.timedelta(minutes=4)) in (None, "a")
    index.discard("a")
    index.discard("c")
    assert len(index) == 0 and not index._bands  # every band entry went with its original


def test_identical_sketches_share_every_band() -> None:
    # Two originals with the same text (a redelivery under two ids): both are held, the earlier wins.
    index = NearDuplicateIndex()
    sketch = _sketch(ALL_STORIES[0])
    index.add("second", sketch, T0 + dt.timedelta(minutes=1))
    index.add("first", sketch, T0)
    assert index.find(sketch, T0) == "first"
    index.discard("first")
    assert index.find(sketch, T0) == "second"
    assert np.array_equal(sketch.hashvalues, _sketch(ALL_STORIES[0]).hashvalues)


def test_band_keys_of_a_chunk_are_each_sketchs_own() -> None:
    # The ingestor keys a whole chunk in one call outside the lock; find and add must see the same keys.
    index = NearDuplicateIndex()
    sketches = [_sketch(s) for s in ALL_STORIES[:4]]
    keys = index.band_keys(sketches)
    assert keys == [index.band_keys([s])[0] for s in sketches]
    assert all(len(k) == index.bands for k in keys)
    index.add("a", sketches[0], T0, keys[0])
    assert index.find(sketches[1], T0, keys[1]) == index.find(sketches[1], T0) == "a"  # en/site ~ en/reuters
    assert index.band_keys([]) == []


def _normalise_by_the_table_alone(title: str, body: str) -> str:
    """The definition ``normalise_text`` speeds up: every character through the character table."""
    text = unicodedata.normalize("NFKD", f"{title}\n{body}").casefold()
    return " ".join(text.translate(_CHARS).split())


def test_normalising_gives_the_table_s_words_over_the_basic_plane_and_mixed_text() -> None:
    # Every BMP character (surrogates aside) next to ASCII letters, marks and punctuation on both sides,
    # then random mixes of ASCII, Latin with accents, other scripts and astral characters.
    points = [c for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF]
    for start in range(0, len(points), 512):
        text = "".join(f"a{chr(c)}\u0301b-" for c in points[start : start + 512])
        assert normalise_text("", text) == _normalise_by_the_table_alone("", text)
    rng = random.Random(20)
    ranges = [(0x20, 0x7F), (0xC0, 0x250), (0x300, 0x370), (0x370, 0x3000), (0x1D400, 0x1D800)]
    for _ in range(300):
        text = "".join(chr(rng.randrange(*rng.choice(ranges))) for _ in range(60))
        assert normalise_text(text[:9], text[9:]) == _normalise_by_the_table_alone(text[:9], text[9:])
