"""Evasion by hostile text at volume (moved from tests/unit/test_match_evasion.py): 1,500 random strings
of invisibles and look-alikes keep their offsets, and 300,000 characters of mixed scripts normalise
quickly."""

from __future__ import annotations

import random
import re

from services.match.core.text import DEFAULT_IGNORABLE, fold, normalise
from tests.unit.test_match_evasion import INVISIBLE


def test_offsets_point_back_to_the_original_with_invisibles_and_lookalikes() -> None:
    pieces = [*"spyware Iran", *INVISIBLE, *"\u0430\u0435\u0440\u03bf\u0399\u0436ß-"]
    rng = random.Random(17)
    for _ in range(1500):
        original = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 30)))
        norm = normalise(original)
        assert not any(DEFAULT_IGNORABLE.match(c) for c in norm.text), original
        for m in re.finditer(r"[a-z]+", norm.text):
            start, end = norm.span(m.start(), m.end())
            assert m.group() in normalise(original[start:end]).text, (original, m.group())


def test_a_long_run_of_cyrillic_with_one_latin_letter_is_fast() -> None:
    import time

    text = "ж" * 200_000 + " а" + "x" * 100_000 + "\u0430"
    began = time.perf_counter()
    normalise(text)
    fold(text)
    assert time.perf_counter() - began < 1.0
