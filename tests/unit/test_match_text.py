"""Normalisation keeps a map back to the original offsets; sentences and snippets."""

from __future__ import annotations

import pytest

from services.match.core.text import Sentences, fold, normalise


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("Gesichtserkennung", "gesichtserkennung"),
        ("Émirats arabes unis", "emirats arabes unis"),
        ("Bahreïn", "bahrein"),
        ("Weißrussland", "weissrussland"),
        ("Ærø", "aero"),
        ("China’s “mass” surveillance", 'china\'s "mass" surveillance'),
        ("IMSI‐catcher – IMSI—catcher", "imsi-catcher - imsi-catcher"),
        ("Gesichts\u00aderkennung", "gesichtserkennung"),  # soft hyphen
        ("Cafe\u0301", "cafe"),  # decomposed accent
        ("İstanbul", "istanbul"),
        ("plain ascii", "plain ascii"),
    ],
)
def test_fold(original: str, expected: str) -> None:
    assert normalise(original).text == expected
    assert fold(original) == expected


@pytest.mark.parametrize(
    ("original", "needle", "expected_slice"),
    [
        ("Die Weißrussland-Exporte", "weissrussland", "Weißrussland"),
        ("x Gesichts\u00aderkennungssoftware y", "gesichtserkennung", "Gesichts\u00aderkennung"),
        ("Ærø and Straße", "strasse", "Straße"),
        ("Cafe\u0301 in Minsk", "minsk", "Minsk"),
        ("Cafe\u0301 in Minsk", "cafe", "Cafe\u0301"),
        ("Émirats arabes unis", "arabes", "arabes"),
        ("China’s plan", "china's", "China’s"),
        # HTML leftovers
        ("Sold: facial&nbsp;recognition.", "facial recognition", "facial&nbsp;recognition"),
        ("x Gesichts&shy;erkennung y", "gesichtserkennung", "Gesichts&shy;erkennung"),
        ("to &Eacute;gypte now", "egypte", "&Eacute;gypte"),
        ("<b>Gesichts</b>erkennung", "gesichtserkennung", "Gesichts</b>erkennung"),
    ],
)
def test_offset_map_points_back_to_the_original(original: str, needle: str, expected_slice: str) -> None:
    norm = normalise(original)
    start = norm.text.index(needle)
    o_start, o_end = norm.span(start, start + len(needle))
    assert original[o_start:o_end] == expected_slice


@pytest.mark.parametrize(
    ("text", "a", "b", "same"),
    [
        ("First about China. Second about spyware.", "China", "spyware", False),
        ("One, e.g. about China and spyware.", "China", "spyware", True),  # "e.g. about": no break
        ("Spyware sold to the\nEgyptian police.", "Spyware", "Egyptian", True),  # hard-wrapped line
        ("Spyware,\nEgypt", "Spyware", "Egypt", True),
        ("Heading about spyware\n\nBody about Egypt.", "spyware", "Egypt", False),  # blank line
        ("A caption.\nEgypt is next", "caption", "Egypt", False),
        ("• spyware\n• Egypt", "spyware", "Egypt", False),  # bullets
        ("Spyware? Egypt.", "Spyware", "Egypt", False),
    ],
)
def test_sentence_boundaries(text: str, a: str, b: str, same: bool) -> None:
    sentences = Sentences.of(text)
    assert (sentences.index(text.index(a)) == sentences.index(text.index(b))) is same


def test_snippet_is_the_sentence() -> None:
    text = "First sentence about China. Second one, e.g. about spyware! Third."
    start = text.index("spyware")
    assert Sentences.of(text).snippet(start, start + 7) == "Second one, e.g. about spyware!"


def test_long_sentence_snippet_is_a_window() -> None:
    text = "word " * 100 + "spyware " + "word " * 100
    start = text.index("spyware")
    snippet = Sentences.of(text).snippet(start, start + 7)
    assert "spyware" in snippet
    assert len(snippet) < 260
    assert snippet.startswith("…") and snippet.endswith("…")


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("facial&nbsp;recognition", "facial recognition"),
        ("Gesichts&shy;erkennung", "gesichtserkennung"),
        ("reconnaissance faciale &agrave; l&#39;&Eacute;gypte", "reconnaissance faciale a l'egypte"),
        ("&#xE9;mirats", "emirats"),
        ("<p>Spyware</p><p>Egypt</p>", " spyware  egypt "),
        ("<b>Gesichts</b>erkennung", "gesichtserkennung"),  # inline tags do not split words
        ("a <!-- comment --> b", "a   b"),
        ("AT&T and 3 < 4 > 2 &unknown;", "at&t and 3 < 4 > 2 &unknown;"),  # not HTML: unchanged
    ],
)
def test_html_leftovers(original: str, expected: str) -> None:
    assert normalise(original).text == expected
