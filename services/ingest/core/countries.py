"""Country names as published (English and four other languages) to ISO 3166-1 alpha-2 codes.

CLDR names come from Babel (English, Dutch, French, German, Spanish); the aliases below are the
spellings export authorities actually use that CLDR does not list: the UK data's "Korea, South" and
"Hong Kong Special Administrative Region", ISO and German register long forms ("Iran, Islamische
Republik"), older names ("Swaziland", "Burma"). A name written "Name, qualifier" is also tried as
"qualifier Name" ("Sudan, South" -> "South Sudan"). An unknown name resolves to None: it is never
guessed, and neither is a name that covers several countries or none.

Decisions a reader may want to revisit:

- Kosovo is ``XK``. ISO 3166 has not assigned a code; XK is a user-assigned code, used by the
  European Commission, the IMF, SWIFT and CLDR. Mapping Kosovo to Serbia (as CAAT's own files do)
  would be a political statement and would make a Kosovo licence match watchlist entries for Serbia.
- Names with no current ISO code stay None: "Serbia and Montenegro" (CS, deleted 2006),
  "Netherlands Antilles" and the UK's "Bonaire, Curacao, Saba, Sint Eustatius and Sint Maarten" (AN,
  deleted 2010; now BQ, CW and SX), "Channel Islands" (JE and GG), "French Overseas Territory" (which
  one?), continental-shelf sectors and vessels in international waters (no state's territory).
- CLDR names some places with codes ISO 3166-1 does not have (Canary Islands IC, Ceuta & Melilla EA,
  Ascension AC, Tristan da Cunha TA, Diego Garcia DG, Sark CQ, Clipperton CP): they resolve to the ISO
  code whose territory includes them (ES, SH, IO, GG, FR), so a watchlist of ISO codes sees them.
- A region that implies one country resolves to it: "Sarawak" (MY), "British Antarctic Territory"
  (AQ: ISO 3166-1 covers all land south of 60°S with AQ).
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache

from babel import Locale

_ALIASES = {
    # English forms used by the UK (SPIRE / CAAT), ISO and UN lists that CLDR does not give.
    "weissrussland": "BY",
    "byelorussia": "BY",
    "korea, south": "KR",
    "south korea": "KR",
    "republic of korea": "KR",
    "korea, republic of": "KR",
    "korea, north": "KP",
    "north korea": "KP",
    "democratic people's republic of korea": "KP",
    "korea, democratic people's republic of": "KP",
    "hong kong special administrative region": "HK",
    "hong kong sar": "HK",
    "hong kong": "HK",
    "macao special administrative region": "MO",
    "macao": "MO",
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
    "congo, democratic republic of": "CD",
    "congo, democratic republic of the": "CD",
    "congo, the democratic republic of the": "CD",
    "republic of congo": "CG",
    "republic of the congo": "CG",
    "congo, republic": "CG",
    "congo, republic of": "CG",
    "congo, republic of the": "CG",
    "congo": "CG",
    "ivory coast": "CI",
    "cote d'ivoire": "CI",
    "east timor": "TL",
    "timor-leste": "TL",
    "macedonia": "MK",
    "north macedonia": "MK",
    "former yugoslav republic of macedonia": "MK",
    "the former yugoslav republic of macedonia": "MK",
    "republic of guinea": "GN",
    "guinea, republic of": "GN",
    "republic of ireland": "IE",
    "ireland, republic of": "IE",
    "republic of moldova": "MD",
    "moldova, republic of": "MD",
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
    "occupied palestinian territory": "PS",
    "palestinian territories": "PS",
    "palestine": "PS",
    "state of palestine": "PS",
    "palestine, state of": "PS",
    "swaziland": "SZ",
    "eswatini": "SZ",
    "cape verde": "CV",
    "cabo verde": "CV",
    "vatican city": "VA",
    "holy see": "VA",
    "st kitts and nevis": "KN",
    "st lucia": "LC",
    "st vincent and the grenadines": "VC",
    "st vincent (including the grenadines)": "VC",
    "st helena, ascension and tristan da cunha": "SH",
    "bahamas, the": "BS",
    "gambia, the": "GM",
    "the gambia": "GM",
    "brunei darussalam": "BN",
    "micronesia": "FM",
    "micronesia, federated states of": "FM",
    "federated states of micronesia": "FM",
    "taiwan, province of china": "TW",
    "republic of china": "TW",
    "people's republic of china": "CN",
    "chinese taipei": "TW",
    "tanzania, united republic of": "TZ",
    "united republic of tanzania": "TZ",
    "bolivia, plurinational state of": "BO",
    "venezuela, bolivarian republic of": "VE",
    "burkina": "BF",
    "surinam": "SR",
    "svalbard": "SJ",
    "svelbard archipelago": "SJ",  # sic, as in the UK data
    "svalbard archipelago": "SJ",
    "mayotte (grand terre and pamanzi)": "YT",
    "sarawak": "MY",
    "british antarctic territory": "AQ",
    "uae": "AE",
    "ksa": "SA",
    # Dutch, French, German and Spanish forms that registers use and CLDR does not.
    "volksrepublik china": "CN",
    "republik china": "TW",
    "republique populaire de chine": "CN",
    "volksrepubliek china": "CN",
    "republica popular china": "CN",
    "russische federatie": "RU",
    "russische foderation": "RU",
    "federation de russie": "RU",
    "federacion de rusia": "RU",
    "korea, republik": "KR",
    "republik korea": "KR",
    "korea, demokratische volksrepublik": "KP",
    "iran, islamische republik": "IR",
    "islamische republik iran": "IR",
    "kongo, demokratische republik": "CD",
    "demokratische republik kongo": "CD",
    "kongo, republik": "CG",
    "republik kongo": "CG",
    "democratische republiek congo": "CD",
    "republiek congo": "CG",
    "republique du congo": "CG",
    "republica del congo": "CG",
    "wit-rusland": "BY",
    "macedonie": "MK",
    "republique democratique du congo": "CD",
    "costa de marfil": "CI",
    "islas canarias": "ES",
    "vereinigte staaten von amerika": "US",
    "verenigde staten van amerika": "US",
    "etats-unis d'amerique": "US",
    "estados unidos de america": "US",
    "hongkong": "HK",
    "elfenbeinkuste": "CI",
    "arabia saudita": "SA",
    "turkei": "TR",
    "palastinensische gebiete": "PS",
    "palestijnse gebieden": "PS",
    "territoires palestiniens": "PS",
    "territorios palestinos": "PS",
}
# CLDR codes that are not ISO 3166-1 codes, mapped to the ISO entry that includes them; None: not a
# country at all (groupings, pseudo-locales, "Unknown Region").
_CLDR_CODES: dict[str, str | None] = {
    "EA": "ES",
    "IC": "ES",
    "AC": "SH",
    "TA": "SH",
    "DG": "IO",
    "CQ": "GG",
    "CP": "FR",
    "EU": None,
    "EZ": None,
    "UN": None,
    "QO": None,
    "XA": None,
    "XB": None,
    "ZZ": None,
}
# Codes that appear in published data although they are not ISO alpha-2: EU usage (EL Greece, UK).
_CODE_ALIASES = {"EL": "GR", "UK": "GB"}
_LANGUAGES = ("en", "nl", "fr", "de", "es")
_SAINT = re.compile(r"\bsaint\b")
_PUNCT = re.compile(r"[^\w\s,']")
_SPACE = re.compile(r"\s+")


def normalise_name(name: str) -> str:
    """Fold case, accents, punctuation, hyphens and ``Saint``/``St.`` so spellings compare equal."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = _PUNCT.sub(" ", text.replace("&", " and ").replace("’", "'"))
    text = _SAINT.sub("st", text)
    return _SPACE.sub(" ", text).strip(" ,")


@cache
def _table() -> dict[str, str]:
    table: dict[str, str] = {}
    for lang in _LANGUAGES:
        for code, name in Locale(lang).territories.items():
            if len(code) != 2 or not code.isalpha():
                continue
            iso = _CLDR_CODES.get(code, code)
            if iso is not None:
                table.setdefault(normalise_name(name), iso)
    for alias, code in _ALIASES.items():
        table[normalise_name(alias)] = code
    return table


@cache
def _codes() -> frozenset[str]:
    return frozenset(_table().values())


@lru_cache(maxsize=16384)
def resolve_country(name: str | None) -> str | None:
    """ISO alpha-2 code for a published country name, or None when unknown (never a guess)."""
    if not name or not name.strip():
        return None
    key = normalise_name(name)
    table = _table()
    for candidate in _candidates(key):
        code = table.get(candidate)
        if code is not None:
            return code
    return None


def _candidates(key: str) -> list[str]:
    """The name, without a leading "the", and "qualifier name" for a "name, qualifier" form."""
    keys = [key]
    if key.count(",") == 1:
        head, qualifier = (part.strip() for part in key.split(","))
        if head and qualifier:
            keys.append(f"{qualifier} {head}")
    return keys + [k[4:] for k in keys if k.startswith("the ")]


def country_code(code: str | None) -> str | None:
    """A published country code as an ISO alpha-2 code: upper-cased, ``EL``/``UK`` as GR/GB; None
    when it is not a country code (``XX``, ``EU``, an alpha-3 code)."""
    if not code:
        return None
    key = code.strip().upper()
    key = _CODE_ALIASES.get(key, key)
    return key if key in _codes() else None
