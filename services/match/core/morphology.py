"""Inflected and re-spelled forms of watchlist terms, generated when the watchlists are compiled, so
that one Aho-Corasick pass over the text finds "reconnaissances faciales", "systèmes d'interception
légale" or "biometrischen Überwachung" from the listed "reconnaissance faciale", "système
d'interception légal" and "biometrische Überwachung".

Why not lemmatise the text instead: a lemmatiser works word by word in Python (simplemma: some
tens of microseconds per word, cached), which would cost the matcher most of its speed on every
article, while the terms are a few hundred phrases known in advance. Expanding the terms once keeps
the scan a single pass in C; the listed term stays the lemma that evidence and explanations name.

Only the words of a phrase before its last one are varied here: the last word's ending is the
term's ``tail`` (plural, inflection, compound glue), checked during the scan.
"""

from __future__ import annotations

from itertools import product

# Endings a word of a listed phrase may take, per language: plural, gender and case agreement.
_ENDINGS: dict[str, tuple[str, ...]] = {
    "en": ("s", "es"),
    "fr": ("s", "e", "es"),
    "es": ("s", "es"),
    "de": ("e", "en", "er", "es", "em", "n", "s"),
    "nl": ("e", "en", "s"),
}
# Endings replaced rather than added (folded spelling: no accents).
_REPLACED: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "en": (("y", ("ies",)),),
    "fr": (
        ("al", ("aux", "ale", "ales")),
        ("ale", ("al", "aux", "ales")),
        ("aux", ("al", "ale", "ales")),
        ("if", ("ive", "ives", "ifs")),
        ("eur", ("euse", "euses", "eurs")),
        ("eau", ("eaux",)),
        ("e", ("es", "")),
        ("s", ("",)),
    ),
    "es": (
        ("o", ("a", "os", "as")),
        ("a", ("as", "o", "os")),
        ("ion", ("iones",)),
        ("iones", ("ion",)),
        ("s", ("",)),
        ("z", ("ces",)),
        ("l", ("les",)),
        ("e", ("es",)),
    ),
    "de": (("e", ("en", "er", "es", "em")),),
    "nl": (("e", ("en",)),),
}
# Function words inside a phrase that journalists swap freely: "reconnaissance des émotions",
# "reconnaissance d'émotions", "reconnaissance de l'émotion".
_ARTICLES: dict[str, tuple[frozenset[str], ...]] = {
    "en": (frozenset({"of", "of the"}),),
    "fr": (frozenset({"de", "des", "du", "d'", "de la", "de l'"}),),
    "es": (frozenset({"de", "del", "de la", "de las", "de los"}),),
    "nl": (frozenset({"van", "van de", "van het"}),),
    "de": (frozenset({"der", "des", "von", "von der", "vom"}),),
}
_MIN_STEM = 4  # shorter words (articles, prepositions) take no endings
# Languages whose adjectives follow the noun and agree with it: the last word of a phrase varies
# too ("système d'interception légal" for "interception légale"). Elsewhere the last word's ending
# is the term's tail.
_AGREEING = frozenset({"fr", "es"})
# Heads of Dutch and German compounds that the press also writes apart or hyphenated:
# "Spionage-Software" for "Spionagesoftware", "gezichtsherkennings-systeem".
_HEADS: dict[str, tuple[str, ...]] = {
    "de": (
        "software",
        "technologie",
        "technik",
        "system",
        "systeme",
        "programm",
        "programme",
        "kamera",
        "kameras",
        "anlage",
        "anlagen",
        "gerat",
        "gerate",
        "ausrustung",
        "zentrum",
        "zentren",
        "app",
        "apps",
        "netz",
        "uberwachung",
        "erkennung",
        "werkzeug",
        "trojaner",
    ),
    "nl": (
        "software",
        "technologie",
        "techniek",
        "systeem",
        "systemen",
        "programma",
        "camera",
        "apparatuur",
        "app",
        "apps",
        "centrale",
        "netwerk",
        "herkenning",
        "bewaking",
    ),
}
MAX_VARIANTS = 96  # per listed phrase: a bound on what one watchlist line can add to the index


def _word_forms(word: str, language: str) -> list[str]:
    if len(word) < _MIN_STEM or not word.isalpha():
        return [word]
    forms = [word]
    forms.extend(word + e for e in _ENDINGS.get(language, ()))
    for old, news in _REPLACED.get(language, ()):
        if word.endswith(old) and len(word) - len(old) >= 3:
            forms.extend(word[: -len(old)] + n for n in news)
    return list(dict.fromkeys(forms))


def _split_compound(key: str, language: str) -> list[str]:
    """A Dutch or German compound written apart at its head: "spionage software"."""
    for head in _HEADS.get(language, ()):
        if key.endswith(head) and len(key) - len(head) >= 4:
            return [key[: -len(head)] + " " + head]
    return []


def _tokens(key: str) -> list[str]:
    """Words of a folded key, with elided articles ("d'", "l'") as words of their own."""
    out: list[str] = []
    for word in key.split(" "):
        rest = word
        while len(rest) > 2 and rest[1] == "'" and rest[0] in "dlj":
            out.append(rest[:2])
            rest = rest[2:]
        out.append(rest)
    return out


def _join(words: tuple[str, ...]) -> str:
    text = ""
    for w in words:
        if not w:
            continue
        if text and not text.endswith("'"):
            text += " "
        text += w
    return text


def _article_forms(phrase: tuple[str, ...], start: int, language: str) -> tuple[list[str], int] | None:
    """The interchangeable forms of an article phrase starting at ``start``, and its length in words."""
    for group in _ARTICLES.get(language, ()):
        for size in (2, 1):
            chunk = " ".join(phrase[start : start + size]).replace("' ", "'")
            if len(phrase) - start > size and chunk in group:
                return sorted(group), size
    return None


def variants(key: str, language: str | None) -> list[str]:
    """Other spellings of the folded term ``key`` in ``language`` (the key itself not included), at
    most MAX_VARIANTS. Single words have none: their endings are the term's tail."""
    if language is None:
        return []
    if " " not in key and "'" not in key:
        return _split_compound(key, language)
    words = _tokens(key)
    slots: list[list[str]] = []
    i = 0
    while i < len(words):
        found = _article_forms(tuple(words), i, language)
        if found is not None:
            forms, size = found
            slots.append(forms)
            i += size
            continue
        last = i == len(words) - 1 and language not in _AGREEING
        slots.append([words[i]] if last else _word_forms(words[i], language))
        i += 1
    out: list[str] = []
    for combo in product(*slots):
        text = _join(combo)
        if text != key:
            out.append(text)
        if len(out) >= MAX_VARIANTS:
            break
    return list(dict.fromkeys(out))
