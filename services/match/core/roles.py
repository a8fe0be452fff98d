"""The role a country mention plays in its sentence, read from the words around it: the buyer or
user of the technology (a destination), or only the supplier's origin, a person's nationality, an
owner, a lender, a comparison, a banned destination or a venue (shared domain.md section 4: "a
nationality is not a destination").

The cue words are data (``roles.yaml``); this module compiles them once and judges one mention at a
time from its folded left and right context in the sentence. Cues are tried from the most specific
to the least: a hyphenated ending ("Chinese-made"), a phrase just before ("sold to", "owned by",
"like the one in"), the supplier's own name beside its home country ("China's Huawei"), the noun the
country qualifies ("Chinese firm", "la police égyptienne", "authorities of Uganda"), a verb with the
country as subject ("China sold", "Egypt bought"), then a bare preposition ("to", "naar", "nach")
when the sentence speaks of trade. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from services.match.core.text import fold
from services.match.core.watchlists import LANGUAGES, RolesFile

Role = Literal[
    "destination",
    "neutral",
    "origin",
    "person",
    "owner",
    "lender",
    "comparison",
    "banned",
    "venue",
    "organisation",
    "background",
    "topic",
    "speculation",
]
# Roles through which a country can be where the technology goes or is used.
COUNTING: frozenset[Role] = frozenset({"destination", "neutral"})

_NOUN_ROLE: dict[str, Role] = {
    "authority": "destination",
    "victim": "destination",
    "company": "origin",
    "goods": "origin",
    "person": "person",
    "money": "lender",
    "model": "comparison",
    "organisation": "organisation",
    "owner": "owner",
    "topic": "topic",
    "ban": "banned",
    "document": "person",
}
# Phrases before the mention, in the order they are tried; "preposition" and "source" come last,
# after the noun and verb cues.
_FRAMES: tuple[tuple[str, Role], ...] = (
    ("comparison", "comparison"),
    ("banned", "banned"),
    ("lender", "lender"),
    ("owner", "owner"),
    ("venue", "venue"),
    ("topic", "topic"),
    ("origin", "origin"),
    ("target", "destination"),
    ("user", "destination"),
    ("recipient", "destination"),
)
_WEAK_FRAMES: tuple[tuple[str, Role], ...] = (("source", "origin"), ("preposition", "destination"))

# Words that may stand between a country and the noun or verb it goes with.
_DETERMINERS = frozenset(
    [
        "the",
        "a",
        "an",
        "its",
        "their",
        "his",
        "her",
        "this",
        "that",
        "these",
        "those",
        "de",
        "het",
        "een",
        "le",
        "la",
        "les",
        "l",
        "un",
        "une",
        "des",
        "du",
        "d",
        "el",
        "los",
        "las",
        "lo",
        "unos",
        "unas",
        "der",
        "die",
        "das",
        "den",
        "dem",
        "ein",
        "eine",
        "einen",
        "einem",
        "einer",
        "eines",
    ]
)
_CONNECTORS = frozenset(
    [
        "of",
        "in",
        "from",
        "at",
        "by",
        "de",
        "del",
        "du",
        "des",
        "d",
        "van",
        "uit",
        "bij",
        "von",
        "vom",
        "aus",
        "im",
        "bei",
        "en",
        "a",
        "au",
        "aux",
        "da",
    ]
)
_AUXILIARIES = frozenset(
    [
        "has",
        "have",
        "had",
        "is",
        "was",
        "were",
        "are",
        "been",
        "being",
        "also",
        "reportedly",
        "allegedly",
        "then",
        "now",
        "later",
        "first",
        "itself",
        "recently",
        "already",
        "quietly",
        "secretly",
        "heeft",
        "hebben",
        "had",
        "werd",
        "zijn",
        "is",
        "ook",
        "a",
        "ont",
        "avait",
        "avaient",
        "est",
        "etait",
        "aussi",
        "hat",
        "haben",
        "hatte",
        "hatten",
        "ist",
        "war",
        "waren",
        "auch",
        "ha",
        "han",
        "habia",
        "habian",
        "es",
        "era",
        "fue",
        "tambien",
    ]
)
# A relative clause about the country: "Vietnam, which bought it", "le Vietnam, qui l'a acquis".
_RELATIVE = frozenset(
    {",", "which", "who", "that", "it", "them", "qui", "que", "l", "les", "lui"}
    | {"die", "dat", "het", "der", "das", "welches", "el", "lo", "la", "le"}
)
# Prepositions: a country after one is not the subject of the verb that follows ("nach China
# verkauft"), and one ends the noun phrase an adjective belongs to ("Houthi rebels used spyware").
_PREPOSITIONS = frozenset(
    [
        "to",
        "for",
        "into",
        "from",
        "with",
        "by",
        "at",
        "in",
        "on",
        "of",
        "against",
        "about",
        "over",
        "under",
        "than",
        "naar",
        "aan",
        "voor",
        "uit",
        "met",
        "door",
        "bij",
        "van",
        "op",
        "tegen",
        "over",
        "a",
        "au",
        "aux",
        "vers",
        "pour",
        "du",
        "des",
        "en",
        "par",
        "avec",
        "chez",
        "contre",
        "sur",
        "dans",
        "sans",
        "nach",
        "an",
        "fur",
        "aus",
        "mit",
        "von",
        "bei",
        "zu",
        "auf",
        "gegen",
        "uber",
        "unter",
        "al",
        "hacia",
        "para",
        "del",
        "con",
        "por",
        "desde",
        "contra",
        "sobre",
        "entre",
    ]
)
# Words between a role noun and a list of countries: "clients include", "Empfänger waren",
# "gebruikers:", "customers such as", "clientes como".
_INTRODUCERS = frozenset(
    [
        ":",
        "include",
        "includes",
        "included",
        "including",
        "are",
        "were",
        "was",
        "is",
        "such",
        "as",
        "like",
        "among",
        "them",
        "zijn",
        "waren",
        "zoals",
        "waaronder",
        "onder",
        "meer",
        "sind",
        "stehen",
        "standen",
        "ist",
        "war",
        "darunter",
        "wie",
        "unter",
        "anderem",
        "sont",
        "etaient",
        "est",
        "comme",
        "dont",
        "notamment",
        "parmi",
        "lesquels",
        "son",
        "eran",
        "es",
        "fueron",
        "como",
        "entre",
        "ellos",
        "incluidos",
        "incluyendo",
    ]
)
# Words that open a new clause: a noun after them is not the one the country qualifies.
_CLAUSE = frozenset(
    [
        "which",
        "who",
        "whom",
        "whose",
        "that",
        "where",
        "when",
        "while",
        "waarin",
        "waarbij",
        "die",
        "dat",
        "waar",
        "welke",
        "wie",
        "toen",
        "terwijl",
        "der",
        "die",
        "das",
        "welche",
        "welcher",
        "wo",
        "als",
        "wahrend",
        "qui",
        "que",
        "dont",
        "ou",
        "lorsque",
        "tandis",
        "quien",
        "donde",
        "cuando",
        "cual",
        "mientras",
        "after",
        "before",
        "since",
        "until",
        "because",
        "although",
        "nadat",
        "omdat",
        "nachdem",
        "weil",
        "apres",
        "avant",
        "depuis",
        "parce",
        "despues",
        "antes",
        "porque",
    ]
)
# Conjunctions that start a clause: a bare preposition before one is not the country's
# ("para que Teherán aclare", "pour que l'Iran", "dafür, dass China")
_CONJUNCTIONS = frozenset(["que", "qu", "dass", "that", "if", "whether", "ob", "si", "porque"])
# A client of something: "klant van het Israëlische bedrijf" names the supplier after "of"
_CLIENT = frozenset(
    [
        "client",
        "customer",
        "klant",
        "kunde",
        "cliente",
        "clients",
        "customers",
        "klanten",
        "kunden",
        "clientes",
    ]
)
_OF = frozenset(["of", "van", "de", "du", "des", "del", "von", "vom", "der"])
# Connectors of place: "cameras in Xinjiang" are where they are used.
_LOCATIVE = frozenset(["in", "at", "inside", "bij", "op", "im", "bei", "a", "au", "aux", "en", "dans"])
# Prepositions inside a French or Spanish noun phrase: "caméras de surveillance chinoises".
_INNER = frozenset(["de", "d", "du", "des", "del"])
_WINDOW = 14  # words either side of a mention that the cues read
_ADJECTIVE_REACH = 4  # words after an adjective in which its noun may stand ("Chinese telecom giant")
_NAME_REACH = 3  # words after "China's" ("China's biggest camera maker")
_LEFT_REACH = 3  # words before a French or Spanish adjective ("les caméras de surveillance chinoises")
_GAP = r"(?: [^ ,]+){0,2}"  # up to two words between a phrase and the mention

_ELIDED = re.compile(r"\b(qu|[cdjlmnst])'(?=[a-z])")
_TOKEN = re.compile(r"'s\b|[a-z0-9]+(?:-[a-z0-9]+)*|[,:]")
_SUFFIX = re.compile(r"-([a-z]+)")


def tokens(folded: str) -> list[str]:
    """Words of a folded text, elided articles apart ("l'entreprise" -> "l", "entreprise"), commas kept
    (a comma or a semicolon, kept as a comma, ends the reach of a cue), possessive "'s" as a word of
    its own."""
    return _TOKEN.findall(_ELIDED.sub(r"\1' ", folded).replace(";", ","))


def _sentence_words(sentence: str) -> str:
    """A sentence as words for the sentence-wide cues, compounds split at hyphens ("EU-Embargos")."""
    return " ".join(tokens(fold(sentence).replace("-", " ")))


def _cue_in(pattern: re.Pattern[str] | None, text: str) -> str | None:
    """The sentence-wide cue ``pattern`` finds in ``text``, if any."""
    if pattern is None:
        return None
    m = pattern.search(_sentence_words(text))
    return None if m is None else m.group().strip()


def _phrase(cue: str, gap_words: int = 3, sentence: bool = False, star_pattern: str = "[a-z0-9-]*") -> str:
    """A cue as a regular expression over space-joined tokens: ``*`` ends a word with any ending,
    ``…`` stands for up to ``gap_words`` words."""
    out = ""
    gap = False
    for piece in cue.split():
        if piece in ("…", "..."):
            gap = True
            continue
        star, ending = piece.endswith("*"), star_pattern
        folded = fold(piece.rstrip("*"))
        words = tokens(folded.replace("-", " ") if sentence else folded)
        if not words:
            continue
        pattern = " ".join(re.escape(w) for w in words) + (ending if star else "")
        if out:
            skip = r"\S+" if sentence else "[^ ,]+"
            out += f"(?: {skip}){{0,{gap_words}}} " if gap else " "
        out += pattern
        gap = False
    return out


def _alternation(
    cues: Iterable[str], gap: int = 3, sentence: bool = False, star_pattern: str = "[a-z0-9-]*"
) -> str:
    phrases = (_phrase(c, gap, sentence, star_pattern) for c in cues)
    parts = sorted({p for p in phrases if p}, key=len, reverse=True)
    return "|".join(parts)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A mention's role and the cue that decided it, in words for ``--explain``; ``source`` says which
    kind of cue it was (frame:NAME, noun:CLASS, verb, suffix, vendor, preposition, none, sentence)."""

    role: Role
    cue: str
    source: str = "none"

    @property
    def deal(self) -> bool:
        """Says the technology went to or was used by this country: a phrase of sale or use, or the
        country as the subject of a verb of use (not merely its state or its people named)."""
        return self.role == "destination" and self.source in ("frame:user", "frame:recipient", "verb")


_NO_CUE = Verdict("neutral", "no cue around it")


@dataclass(frozen=True, slots=True)
class _Compiled:
    nouns: re.Pattern[str] | None  # named groups by noun class, matched at a token start
    before: tuple[tuple[str, Role, re.Pattern[str]], ...]
    weak: tuple[tuple[str, Role, re.Pattern[str]], ...]
    origin_verb: re.Pattern[str] | None
    user_verb: re.Pattern[str] | None
    stops: frozenset[str]  # words that end the noun phrase after an adjective: verbs, prepositions
    banned: re.Pattern[str] | None
    speculation: re.Pattern[str] | None
    unattributed: re.Pattern[str] | None
    background: re.Pattern[str] | None
    concession: re.Pattern[str] | None


def _lists(cues: Mapping[str, list[str]], language: str | None) -> list[str]:
    """The cues for ``language``; for an unknown language, those of every language."""
    if language is None:
        return [c for lang in LANGUAGES for c in cues.get(lang, [])]
    return list(cues.get(language, []))


def _compile(roles: RolesFile, language: str | None) -> _Compiled:
    # At a word start; in Dutch and German also at the end of a compound ("Sicherheitsbehörden"),
    # where a noun's ending is an inflection, not another word: "regeringscriticus" is a critic, not
    # "regering*" with a long ending, and "Empfänger" stays one word
    compounds = language in ("nl", "de", None)
    star = "[a-z]{0,5}" if compounds else "[a-z0-9-]*"
    groups = []
    for name, cues in roles.nouns.items():
        alternation = _alternation(_lists(cues, language), star_pattern=star)
        if alternation:
            groups.append(f"(?P<{name}>{alternation})")
    glue = "[a-z]*?" if compounds else ""
    nouns = re.compile(glue + "(?:" + "|".join(groups) + ")(?= |$)") if groups else None

    def frames(pairs: tuple[tuple[str, Role], ...]) -> tuple[tuple[str, Role, re.Pattern[str]], ...]:
        out = []
        for name, role in pairs:
            alternation = _alternation(_lists(roles.before.get(name, {}), language))  # type: ignore[call-overload]
            if alternation:
                out.append((name, role, re.compile(f"(?:^| )(?P<cue>{alternation}){_GAP}$")))
        return tuple(out)

    def verbs(cues: Mapping[str, list[str]]) -> re.Pattern[str] | None:
        alternation = _alternation(_lists(cues, language))
        if not alternation:
            return None
        aux = "|".join(sorted(_AUXILIARIES | _RELATIVE))
        return re.compile(f"^(?:(?:{aux}) )*(?P<cue>{alternation})(?= |$)")

    def anywhere(cues: Mapping[str, list[str]]) -> re.Pattern[str] | None:
        alternation = _alternation(_lists(cues, language), gap=6, sentence=True)
        return re.compile(f"(?:^| )(?:{alternation})(?= |$)") if alternation else None

    verb_words = {
        w
        for cues in (roles.after.origin_verb, roles.after.user_verb)
        for cue in _lists(cues, language)
        for w in tokens(fold(cue))
    }
    return _Compiled(
        stops=frozenset(verb_words | _AUXILIARIES | _PREPOSITIONS | _CLAUSE),
        nouns=nouns,
        before=frames(_FRAMES),
        weak=frames(_WEAK_FRAMES),
        origin_verb=verbs(roles.after.origin_verb),
        user_verb=verbs(roles.after.user_verb),
        banned=anywhere(roles.sentence.banned),
        speculation=anywhere(roles.sentence.speculation),
        unattributed=anywhere(roles.sentence.unattributed),
        background=anywhere(roles.sentence.background),
        concession=anywhere(roles.sentence.concession),
    )


_CREDIT = frozenset(["credit", "credits", "credito", "krediet", "kredit"])
_SOCIAL = frozenset(["social", "sociaal", "sociale", "sozial", "soziales"])


def _social_credit(words: list[str], start: int, end: int) -> bool:
    """True when the noun found is the "credit" of "social credit" (a technology, not a loan)."""
    if not any(w in _CREDIT for w in words[start:end]):
        return False
    around = words[max(0, start - 1) : end + 1]
    return any(w in _SOCIAL for w in around)


class RoleCues:
    """The cues of roles.yaml compiled per language."""

    def __init__(self, roles: RolesFile) -> None:
        self._by_language = {lang: _compile(roles, lang) for lang in (*LANGUAGES, None)}
        self._suffix: dict[str, Role] = {}
        for role, words in roles.after.suffix.items():
            for word in words:
                self._suffix[fold(word)] = role

    def _for(self, language: str | None) -> _Compiled:
        return self._by_language.get(language) or self._by_language[None]

    def _noun(self, c: _Compiled, words: list[str], at: int) -> tuple[str, str] | None:
        """The noun class of the noun starting at token ``at``, and the noun."""
        if c.nouns is None:
            return None
        m = c.nouns.match(" ".join(words[at:]))
        if m is None or m.lastgroup is None:
            return None
        return m.lastgroup, m.group(m.lastgroup)

    def _noun_after(
        self, c: _Compiled, right: list[str], reach: int, name: bool, attributive: bool = False
    ) -> tuple[str, str, bool] | None:
        """The class of the noun phrase after the mention (its last classified noun is its head:
        "Chinese state money" is money, "Chinese telecom giant" a company), and whether it came
        after a possessive ("Hanoi's cameras")."""
        start = 0
        possessive = bool(right) and right[0] == "'s"
        if possessive:
            start, reach = 1, _NAME_REACH
        elif name:
            # "Iran analyst", "Chinas Regierung": the noun right after a name; in English a name
            # stands before a whole noun phrase ("US biometric kits")
            reach = _NAME_REACH if attributive else 1
        head: tuple[str, str] | None = None
        for at in range(start, min(len(right), start + reach)):
            if right[at] == ",":
                if not name and head is None:
                    continue  # "Chinese, Russian and Iranian firms"
                break
            if right[at] in c.stops:
                break
            found = self._noun(c, right, at)
            if found is not None and found[0] == "organisation" and not name:
                found = None  # "China Telecom" is a company's name; "Chinese telecom giant" is not
            if found is not None and not _social_credit(right, at, at + 1):
                head = found
        return (*head, possessive) if head is not None else None

    def _noun_before(self, c: _Compiled, left: list[str], adjective: bool) -> tuple[str, str] | None:
        """See _noun_before_listed; without whether the noun introduced a list."""
        found = self._noun_before_listed(c, left, adjective)
        return found[:2] if found is not None else None

    def _noun_before_listed(
        self, c: _Compiled, left: list[str], adjective: bool
    ) -> tuple[str, str, bool] | None:
        """For a name: the noun right before "of", "in", "from" ("authorities of Uganda", "police in
        Xinjiang", "cameras from China"). For a French or Spanish adjective: the noun it follows,
        within its noun phrase ("la police égyptienne", "caméras de surveillance chinoises")."""
        i = len(left)
        while i > 0 and left[i - 1] in _DETERMINERS:
            i -= 1
        if not adjective:
            connector = left[i - 1] if i > 0 else ""
            stripped = 0
            if connector not in _CONNECTORS and connector not in _INTRODUCERS:
                # "de", "des", "du" are articles in one language and "of" in another: in
                # "policía de Venezuela" the "de" stripped as an article was the connector
                for at in range(i, len(left)):
                    if left[at] in _CONNECTORS:
                        connector, i = left[at], at + 1
                        break
            if connector in _CONNECTORS:
                i -= 1
            else:
                while i > 0 and stripped < 3 and left[i - 1] in _INTRODUCERS:
                    i -= 1
                    stripped += 1
                if not stripped:
                    return None
            while i > 0 and left[i - 1] in _DETERMINERS:
                i -= 1
            if c.nouns is None:
                return None
            for at in range(i - 1, max(-1, i - 1 - _LEFT_REACH), -1):  # the noun ends right there
                m = c.nouns.fullmatch(" ".join(left[at:i]))
                if m is not None and m.lastgroup is not None:
                    if m.lastgroup == "goods" and connector in _LOCATIVE:
                        return None  # "cameras in Xinjiang" are used there, not made there
                    return m.lastgroup, m.group(m.lastgroup), bool(stripped)
            return None
        if c.nouns is not None:
            for at in range(max(0, i - _LEFT_REACH), i):  # "industrie militaire russe": the longest
                m = c.nouns.fullmatch(" ".join(left[at:i]))
                if m is not None and m.lastgroup is not None and not _social_credit(left, at, i):
                    return m.lastgroup, m.group(m.lastgroup), False
        for at in range(i - 1, max(-1, i - 1 - _LEFT_REACH), -1):
            if left[at] == ",":
                return None
            found = self._noun(c, left, at)
            if found is not None and not _social_credit(left, at, at + 1):
                return (*found, False)
            if left[at] in _PREPOSITIONS and left[at] not in _INNER:
                return None
        return None

    def _by_suffix(self, c: _Compiled, suffix: str, language: str | None) -> Verdict | None:
        """The role a hyphenated ending gives: "Chinese-made", "Dubai-based", "China-style"; in Dutch
        and German also the noun at the end of a compound: "China-kenners", "Iran-Experte"."""
        if suffix in self._suffix:
            return Verdict(self._suffix[suffix], f'"-{suffix}" after it', "suffix")
        if language in ("nl", "de") and c.nouns is not None:
            head = c.nouns.fullmatch(suffix)
            if head is not None and head.lastgroup is not None:
                cls = head.lastgroup
                return Verdict(_NOUN_ROLE[cls], f'{cls} noun "-{suffix}" after it', f"noun:{cls}")
        return None

    def judge(
        self,
        left: str,
        right: str,
        *,
        form: str,
        language: str | None,
        trade: bool,
        vendor_home: str | None = None,
        capitalised: bool = False,
    ) -> Verdict:
        """The role of a mention from its folded left and right context within the sentence.

        ``form`` is the list it came from (name, adjective, place); ``trade`` says whether the
        sentence has a word of trade; ``vendor_home`` names a vendor beside the mention whose home
        country it is; ``capitalised`` says the mention starts with a capital (in French and Spanish
        a capitalised adjective is a people: "les Ouïghours", "los Uigures")."""
        c = self._for(language)
        suffix = _SUFFIX.match(right)
        if suffix is not None:
            by_suffix = self._by_suffix(c, suffix.group(1), language)
            if by_suffix is not None:
                return by_suffix
        # Only the words near the mention matter: the longest cue with its gap spans a dozen words,
        # and searching a whole long sentence for a phrase that must end at the mention is slow.
        left_words = tokens(left)[-_WINDOW:]
        right_words = tokens(right)[:_WINDOW]
        joined_left = " ".join(left_words)
        for name, role, pattern in c.before:
            m = pattern.search(joined_left)
            if m is not None and not (
                m.group("cue") in _CLIENT and _OF.intersection(joined_left[m.end("cue") :].split())
            ):  # "a client of the Israeli company": the supplier, not the client
                return Verdict(role, f'{name} phrase "{m.group("cue")}" before it', f"frame:{name}")
        if vendor_home is not None:
            return Verdict("origin", f"the home country of {vendor_home}, named beside it", "vendor")
        head_final = language in ("fr", "es")
        adjective = form == "adjective" and not (head_final and capitalised)
        found = None
        possessive = False
        if adjective and head_final:
            found = self._noun_before(c, left_words, adjective=True)
        if found is None and (adjective or not head_final):
            # a French or Spanish name takes no noun after it ("vender a Irán equipos": the goods)
            after = self._noun_after(c, right_words, _ADJECTIVE_REACH, name=not adjective)
            if after is not None:
                found, possessive = after[:2], after[2]
        if found is None and adjective and language is None:
            found = self._noun_before(c, left_words, adjective=True)
        if found is None and not adjective:
            listed = self._noun_before_listed(c, left_words, adjective=False)
            if listed is not None and listed[2] and listed[0] in ("authority", "victim"):
                # "Empfänger waren Ägypten, ...", "clients include Egypt": a list of buyers or users
                return Verdict("destination", f'listed after "{listed[1]}"', "frame:user")
            found = listed[:2] if listed is not None else None
        if found is None and not adjective and language == "en":
            # an English name before a whole noun phrase: "US biometric kits" (after
            # "authorities of Uganda", whose next words are not its noun phrase)
            after = self._noun_after(c, right_words, _NAME_REACH, name=True, attributive=True)
            if after is not None:
                found, possessive = after[:2], after[2]
        if found is not None:
            cls, noun = found
            if cls == "goods" and possessive:
                # "Hanoi's cameras", "Egypt's DPI boxes": what the place has, not where it was made
                return Verdict("neutral", f'goods noun "{noun}" after its possessive', "noun:possessed")
            return Verdict(_NOUN_ROLE[cls], f'{cls} noun "{noun}" with it', f"noun:{cls}")
        joined_right = " ".join(right_words)
        verbs: tuple[tuple[re.Pattern[str] | None, Role], ...] = (
            (c.origin_verb, "origin"),
            (c.user_verb, "destination"),
        )
        bare = [w for w in left_words if w not in _DETERMINERS]
        if bare and bare[-1] in _PREPOSITIONS:
            verbs = ()  # "nach China verkauft": a country after a preposition is not the subject
        for verb, verb_role in verbs:
            m = verb.match(joined_right) if verb is not None else None
            if m is not None:
                return Verdict(verb_role, f'verb "{m.group("cue")}" after it', "verb")
        if verbs and language in ("nl", "de", None) and bare:
            # the subject after its verb: "Naast Saoedi-Arabië kochten de Emiraten het pakket"
            for verb, verb_role in verbs:
                m = verb.match(bare[-1]) if verb is not None else None
                if m is not None:
                    return Verdict(verb_role, f'verb "{m.group("cue")}" before it', "verb")
        for name, role, pattern in c.weak:
            if name == "preposition" and not trade:
                continue
            m = pattern.search(joined_left)
            if m is not None and not _CONJUNCTIONS.intersection(joined_left[m.end("cue") :].split()):
                why = " in a sentence about a sale" if name == "preposition" else ""
                return Verdict(role, f'"{m.group("cue")}" before it{why}', name)
        return _NO_CUE

    def background_sentence(self, sentence: str, language: str | None) -> str | None:
        """The cue when the sentence gives background on a supplier (alleged links, owners)."""
        return _cue_in(self._for(language).background, sentence)

    def unattributed_text(self, text: str, language: str | None) -> str | None:
        """The cue when the text says it is not known who used the technology."""
        return _cue_in(self._for(language).unattributed, text)

    def speculation_sentence(self, sentence: str, language: str | None) -> str | None:
        """The cue when the sentence only speculates about the user or denies evidence of one."""
        return _cue_in(self._for(language).speculation, sentence)

    def banned_sentence(self, sentence: str, language: str | None) -> str | None:
        """The cue when the sentence reports a licence refused or a sale banned or stopped, and does
        not concede that the deal went ahead anyway; else None."""
        c = self._for(language)
        cue = _cue_in(c.banned, sentence)
        return None if cue is None or _cue_in(c.concession, sentence) is not None else cue
