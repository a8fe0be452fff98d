"""Country names as published (English and four other languages) to ISO 3166-1 alpha-2 codes.

CLDR names come from Babel; the aliases below are the spellings export authorities actually use that
CLDR does not list. An unknown name resolves to None: it is never guessed.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

from babel import Locale

_ALIASES = {
    "weissrussland": "BY",
    "wit-rusland": "BY",
    "byelorussia": "BY",
    "korea, south": "KR",
    "south korea": "KR",
    "republic of korea": "KR",
    "korea, north": "KP",
    "north korea": "KP",
    "democratic people's republic of korea": "KP",
    "hong kong special administrative region": "HK",
    "hong kong sar": "HK",
    "macao special administrative region": "MO",
    "macau": "MO",
    "united states of america": "US",
    "usa": "US",
    "united states": "US",
    "uk": "GB",
    "great britain": "GB",
    "czech republic": "CZ",
    "democratic republic of congo": "CD",
    "democratic republic of the congo": "CD",
    "congo, democratic republic": "CD",
    "republic of congo": "CG",
    "congo, republic": "CG",
    "congo": "CG",
    "ivory coast": "CI",
    "cote d'ivoire": "CI",
    "east timor": "TL",
    "timor-leste": "TL",
    "macedonia": "MK",
    "north macedonia": "MK",
    "former yugoslav republic of macedonia": "MK",
    "republic of guinea": "GN",
    "turkey": "TR",
    "turkiye": "TR",
    "burma": "MM",
    "myanmar (burma)": "MM",
    "russian federation": "RU",
    "russia": "RU",
    "iran, islamic republic of": "IR",
    "islamic republic of iran": "IR",
    "syrian arab republic": "SY",
    "lao people's democratic republic": "LA",
    "laos": "LA",
    "viet nam": "VN",
    "vietnam": "VN",
    "occupied palestinian territories": "PS",
    "palestinian territories": "PS",
    "palestine": "PS",
    "swaziland": "SZ",
    "eswatini": "SZ",
    "cape verde": "CV",
    "vatican city": "VA",
    "holy see": "VA",
    "st kitts and nevis": "KN",
    "st lucia": "LC",
    "st vincent and the grenadines": "VC",
    "bahamas, the": "BS",
    "gambia, the": "GM",
    "the gambia": "GM",
    "brunei darussalam": "BN",
    "micronesia": "FM",
    "moldova, republic of": "MD",
    "taiwan, province of china": "TW",
    "uae": "AE",
    "ksa": "SA",
}
_LANGUAGES = ("en", "nl", "fr", "de", "es")
_PUNCT = re.compile(r"[^\w\s,'-]")
_SPACE = re.compile(r"\s+")


def normalise_name(name: str) -> str:
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = text.replace("&", " and ").replace("’", "'").replace("st.", "st")
    text = _PUNCT.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


@cache
def _table() -> dict[str, str]:
    table: dict[str, str] = {}
    for lang in _LANGUAGES:
        for code, name in Locale(lang).territories.items():
            if len(code) == 2 and code.isalpha() and code not in ("EU", "EZ", "UN", "QO", "ZZ"):
                table.setdefault(normalise_name(name), code)
    for alias, code in _ALIASES.items():
        table[normalise_name(alias)] = code
    return table


def resolve_country(name: str | None) -> str | None:
    """ISO alpha-2 code for a published country name, or None when unknown (never a guess)."""
    if not name or not name.strip():
        return None
    key = normalise_name(name)
    table = _table()
    if key in table:
        return table[key]
    if key.startswith("the "):
        return table.get(key[4:])
    return None
