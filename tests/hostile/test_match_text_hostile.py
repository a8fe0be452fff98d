"""Offsets back to the original in 1,500 random hostile texts (moved from tests/unit/test_match_text.py)."""

from __future__ import annotations

from services.match.core.text import normalise


def test_offsets_of_every_word_point_back_to_it_in_random_texts() -> None:
    """Mixed scripts, characters that fold to two or none, HTML leftovers: every word of the
    normalised text maps back to an original slice that normalises to that word again."""
    import random
    import re

    pieces = [
        *"abcdefgh ÄéßæÆøЖжς中-…İ\u00ad\u0301",
        "ẞ",
        "&nbsp;",
        "&eacute;",
        "<b>",
        "</p>",
        "&amp;",
        "&shy;",
    ]
    pieces += [*"абвгдеёжзийклмнопЯЮЭ"]  # more distinct characters than the fast path keeps
    rng = random.Random(3)
    for _ in range(1500):
        original = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 40)))
        norm = normalise(original)
        for m in re.finditer(r"[a-z]+", norm.text):
            start, end = norm.span(m.start(), m.end())
            assert m.group() in normalise(original[start:end]).text, (original, m.group())
