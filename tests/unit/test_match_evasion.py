"""Matching cannot be evaded with invisible characters or look-alike letters (issue 17 item 8): the
alert is the one the clean text gives, and its evidence still quotes the original exactly."""

from __future__ import annotations

import re
import sys
import unicodedata

import pytest

from schemas.events import Alert, EvidenceKind
from services.match.core.engine import Matcher
from services.match.core.text import DEFAULT_IGNORABLE, fold, normalise
from tests.unit.test_match_rules import news, only_alert


def essence(alert: Alert) -> tuple[object, ...]:
    """What must not change when invisible characters or look-alikes are added."""
    return (
        alert.rule,
        alert.severity,
        alert.score,
        alert.technologies,
        alert.destinations,
        alert.entities,
        [(ev.kind, ev.ref, ev.field) for ev in alert.evidence],
    )


CLEAN = "A European firm sold spyware to the police in Iran."

# One of each kind the issue names: Mongolian vowel separator, invisible times, tag characters,
# variation selectors, combining grapheme joiner, LRM/RLM and the bidi embeddings and isolates; then
# those already handled before, which must stay handled.
INVISIBLE = [
    "\u180e",
    "\u2062",
    "\U000e0020",
    "\U000e0001",
    "\U000e007f",
    "\ufe0f",
    "\ufe00",
    "\U000e0100",
    "\U000e01ef",
    "\u034f",
    "\u200e",
    "\u200f",
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u061c",
    "\u2061",
    "\u2063",
    "\u2064",
    "\u200b",
    "\u200d",
    "\u00ad",
    "\ufeff",
]


def _name(c: str) -> str:
    return f"U+{ord(c):04X}"


def _evidence_text(alert: Alert, kind: EvidenceKind) -> str:
    return next(ev.text for ev in alert.evidence if ev.kind == kind)


@pytest.mark.parametrize("x", INVISIBLE, ids=_name)
def test_an_invisible_character_inside_a_technology_changes_nothing(matcher: Matcher, x: str) -> None:
    clean = only_alert(matcher, news(CLEAN))
    body = CLEAN.replace("spyware", f"sp{x}yware")
    alert = only_alert(matcher, news(body))  # also checks evidence == the original slice
    assert clean is not None and alert is not None
    assert essence(alert) == essence(clean)
    assert _evidence_text(alert, EvidenceKind.TECHNOLOGY) == f"sp{x}yware"


@pytest.mark.parametrize("x", INVISIBLE, ids=_name)
def test_an_invisible_character_inside_a_country_changes_nothing(matcher: Matcher, x: str) -> None:
    clean = only_alert(matcher, news(CLEAN))
    body = CLEAN.replace("Iran", f"Ir{x}an")
    alert = only_alert(matcher, news(body))
    assert clean is not None and alert is not None
    assert essence(alert) == essence(clean)
    assert _evidence_text(alert, EvidenceKind.DESTINATION) == f"Ir{x}an"


@pytest.mark.parametrize("x", INVISIBLE, ids=_name)
def test_invisible_characters_everywhere_change_nothing(matcher: Matcher, x: str) -> None:
    """In every word, and before the capital that the country name needs."""
    clean = only_alert(matcher, news(CLEAN))
    body = " ".join(x + word[:2] + x + word[2:] + x for word in CLEAN.split())
    alert = only_alert(matcher, news(body))
    assert clean is not None and alert is not None
    assert essence(alert) == essence(clean)


@pytest.mark.parametrize(
    "body",
    [
        "The company sold spyware to\u200f Iran.",
        "The company sold spyware to \u200fIran.",
        "The company sold spyware to\u200e Iran.",
        "The company sold\u200f spyware\u200f to\u200f Iran\u200f.",
        "The company sold spyware to \u2067Iran\u2069.",
        "The company sold spyware to \u202bIran\u202c.",
        "The company sold spyware to\u200f \u200fIran.",
    ],
)
def test_direction_marks_between_words_change_nothing(matcher: Matcher, body: str) -> None:
    clean = only_alert(matcher, news("The company sold spyware to Iran."))
    alert = only_alert(matcher, news(body))
    assert clean is not None and alert is not None
    assert essence(alert) == essence(clean)
    marks = "\u200e\u200f\u2067\u2069\u202b\u202c"
    assert _evidence_text(alert, EvidenceKind.DESTINATION).strip(marks) == "Iran"


# Latin words written partly with Cyrillic or Greek letters that look the same: (spelled, clean, the
# evidence kind whose text must be the spelled word).
LOOKALIKES = [
    # ѕруwаrе: Cyrillic dze, er, u, a, ie
    ("\u0455\u0440\u0443w\u0430r\u0435", "spyware", EvidenceKind.TECHNOLOGY),
    ("sp\u0443w\u0430r\u0435", "spyware", EvidenceKind.TECHNOLOGY),  # Cyrillic у а е
    ("spyw\u03b1re", "spyware", EvidenceKind.TECHNOLOGY),  # Greek alpha
    ("SPYW\u0391RE", "SPYWARE", EvidenceKind.TECHNOLOGY),  # Greek capital alpha
    ("SPYW\u0410R\u0415", "SPYWARE", EvidenceKind.TECHNOLOGY),  # Cyrillic capital A and IE
    ("sp\u0443\u200bw\u0430re", "spyware", EvidenceKind.TECHNOLOGY),  # and an invisible one in the word
    ("\u0406ran", "Iran", EvidenceKind.DESTINATION),  # Cyrillic capital byelorussian-ukrainian i
    ("\u0399ran", "Iran", EvidenceKind.DESTINATION),  # Greek capital iota
    ("Ir\u0430n", "Iran", EvidenceKind.DESTINATION),  # Cyrillic a
    ("\u0406r\u0430n", "Iran", EvidenceKind.DESTINATION),
    ("IMS\u0406 catchers", "IMSI catchers", EvidenceKind.TECHNOLOGY),  # a term that must be upper case
    ("Peg\u0430sus", "Pegasus", EvidenceKind.ENTITY),  # a name that must be capitalised
    ("\u0420eg\u03b1sus", "Pegasus", EvidenceKind.ENTITY),
]


@pytest.mark.parametrize(("spelled", "word", "kind"), LOOKALIKES)
def test_lookalike_letters_in_a_latin_word_change_nothing(
    matcher: Matcher, spelled: str, word: str, kind: EvidenceKind
) -> None:
    tech, country = ("spyware", word) if kind == EvidenceKind.DESTINATION else (word, "Iran")
    clean_body = f"A European firm sold {tech} to the police in {country}."
    clean = only_alert(matcher, news(clean_body))
    alert = only_alert(matcher, news(clean_body.replace(word, spelled)))
    assert clean is not None and alert is not None
    assert essence(alert) == essence(clean)
    assert _evidence_text(alert, kind) == spelled


def test_lookalikes_fold_to_latin_only_in_mixed_words() -> None:
    assert fold("\u0455\u0440\u0443w\u0430r\u0435") == "spyware"
    assert normalise("to \u0406ran").text == "to iran"
    # the same letters in words of their own script stay as they are
    for word in ("орех", "сор", "рос", "ορος"):
        assert fold(word) == word.casefold()
        assert fold(word.upper()) == word.casefold()
    assert fold("Pegasusом") == "pegasusом"  # a Latin name with a Russian ending


GENUINE = [
    # Russian: "The company sold spying software to Iran, the resource OREKH reports" (орех, сор, рос
    # are made only of letters that have Latin look-alikes).
    "Компания продала шпионское ПО Ирану, сообщает ресурс ОРЕХ; сор и рос.",
    # Ukrainian, with і and ї
    "Компанія продала шпигунське програмне забезпечення Ірану.",
    # Greek (accents are folded away, as for Latin letters)
    "Η εταιρεία πούλησε κατασκοπευτικό λογισμικό στο Ιράν.",
]


@pytest.mark.parametrize("text", GENUINE)
def test_genuine_cyrillic_and_greek_text_is_not_mangled(text: str) -> None:
    folded = normalise(text).text
    assert not re.search(r"[a-z]", folded), folded  # not a letter turned Latin
    assert len(folded) == len(text)
    plain = "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))
    assert folded == plain


def test_a_russian_sentence_around_a_latin_name_still_alerts_as_before(matcher: Matcher) -> None:
    """The Latin words of a Russian article still match, and the Cyrillic words next to them are
    not read as Latin."""
    body = "Израильская NSO Group продала Pegasus спецслужбам Ирана: spyware sold to Iran. Сор, рос и орех."
    alert = only_alert(matcher, news(body))
    assert alert is not None and alert.destinations == ["IR"]
    assert "\u0441\u043e\u0440, \u0440\u043e\u0441 \u0438 \u043e\u0440\u0435\u0445" in normalise(body).text


def test_an_operator_watchlist_in_cyrillic_is_not_changed_by_folding() -> None:
    """Terms are folded like texts: a Cyrillic term stays Cyrillic, a mixed one becomes Latin."""
    assert fold("шпионское ПО") == "шпионское по"
    assert fold("Pegasus-\u0441\u043f\u0443\u0442\u043d\u0438\u043a") == "pegasus-спутник"


def test_the_default_ignorable_table_is_the_unicode_definition() -> None:
    """Default_Ignorable_Code_Point (DerivedCoreProperties.txt) is Other_Default_Ignorable_Code_Point
    + Cf + Variation_Selector - White_Space - FFF9..FFFB - 13430..1343F - Prepended_Concatenation_Mark.
    The table is written out; here it is checked against the categories Python knows."""
    not_ignorable = {
        *range(0x0600, 0x0606),  # prepended concatenation marks
        0x06DD,
        0x070F,
        0x0890,
        0x0891,
        0x08E2,
        0x110BD,
        0x110CD,
        *range(0xFFF9, 0xFFFC),  # interlinear annotation
        *range(0x13430, 0x13440),  # Egyptian hieroglyph format controls
    }
    other = {
        0x034F,
        0x115F,
        0x1160,
        0x17B4,
        0x17B5,
        0x2065,
        0x3164,
        0xFFA0,
        *range(0xFFF0, 0xFFF9),
        *range(0xE0000, 0xE1000),
    }
    selectors = {*range(0x180B, 0x180E), 0x180F, *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)}
    every = range(sys.maxunicode + 1)
    derived = {cp for cp in every if unicodedata.category(chr(cp)) == "Cf" and cp not in not_ignorable}
    derived |= other | selectors
    table = {cp for cp in every if DEFAULT_IGNORABLE.match(chr(cp))}
    assert table == derived


@pytest.mark.parametrize("spelled", ["Da\u200bca", "D\u0430ca", "\u202aDaca\u202c"])
def test_a_terms_case_is_judged_on_the_text_as_it_reads(matcher: Matcher, spelled: str) -> None:
    """Daca (Dhaka in Spanish) must be written exactly so; an invisible or look-alike letter inside
    it does not change how it reads, and a small letter stays small."""
    clean = only_alert(matcher, news("A European firm sold spyware to the police in Daca."))
    alert = only_alert(matcher, news(f"A European firm sold spyware to the police in {spelled}."))
    assert clean is not None and alert is not None
    assert essence(alert) == essence(clean)
    assert only_alert(matcher, news("A European firm sold spyware to the police in da\u200bca.")) is None
