"""The role a country mention plays in its sentence, read from the words around it: the buyer or
user of the technology (a destination), or only the supplier's origin, a person's nationality, an
owner, a lender, a comparison, a banned destination or a venue (shared domain.md section 4: "a
nationality is not a destination").

The cue words are data (``roles.yaml``, compiled once by ``role_cues``; the closed word classes
are in ``role_words``); this module judges one mention at a time from its folded left and right
context in the sentence. Cues are tried from the most specific to the least: a hyphenated ending
("Chinese-made"), a phrase just before ("sold to", "owned by", "like the one in"), the supplier's
own name beside its home country ("China's Huawei"), the noun the country qualifies ("Chinese
firm", "la police égyptienne", "authorities of Uganda"), a verb with the country as subject ("China
sold", "Egypt bought"), then a bare preposition ("to", "naar", "nach") when the sentence speaks of
trade. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.match.core.role_cues import CompiledCues, compile_cues, cue_in
from services.match.core.role_words import (
    CLIENT,
    CONJUNCTIONS,
    CONNECTORS,
    COUNTING,
    DETERMINERS,
    INNER,
    INTRODUCERS,
    LOCATIVE,
    NOUN_ROLE,
    OF,
    PREPOSITIONS,
    Role,
    tokens,
)
from services.match.core.text import fold
from services.match.core.watchlists import LANGUAGES, RolesFile

__all__ = ["COUNTING", "Role", "RoleCues", "Verdict", "tokens"]

_WINDOW = 14  # words either side of a mention that the cues read
_ADJECTIVE_REACH = 4  # words after an adjective in which its noun may stand ("Chinese telecom giant")
_NAME_REACH = 3  # words after "China's" ("China's biggest camera maker")
_LEFT_REACH = 3  # words before a French or Spanish adjective ("les caméras de surveillance chinoises")
_SUFFIX = re.compile(r"-([a-z]+)")


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
        self._by_language = {lang: compile_cues(roles, lang) for lang in (*LANGUAGES, None)}
        self._suffix: dict[str, Role] = {}
        for role, words in roles.after.suffix.items():
            for word in words:
                self._suffix[fold(word)] = role

    def _for(self, language: str | None) -> CompiledCues:
        return self._by_language.get(language) or self._by_language[None]

    def _noun(self, c: CompiledCues, words: list[str], at: int) -> tuple[str, str] | None:
        """The noun class of the noun starting at token ``at``, and the noun."""
        if c.nouns is None:
            return None
        m = c.nouns.match(" ".join(words[at:]))
        if m is None or m.lastgroup is None:
            return None
        return m.lastgroup, m.group(m.lastgroup)

    def _noun_after(
        self, c: CompiledCues, right: list[str], reach: int, name: bool, attributive: bool = False
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

    def _noun_before(self, c: CompiledCues, left: list[str], adjective: bool) -> tuple[str, str] | None:
        """See _noun_before_listed; without whether the noun introduced a list."""
        found = self._noun_before_listed(c, left, adjective)
        return found[:2] if found is not None else None

    def _noun_before_listed(
        self, c: CompiledCues, left: list[str], adjective: bool
    ) -> tuple[str, str, bool] | None:
        """For a name: the noun right before "of", "in", "from" ("authorities of Uganda", "police in
        Xinjiang", "cameras from China"), and whether words that introduce a list stood between
        ("clients include Egypt"). For a French or Spanish adjective: the noun it follows, within
        its noun phrase ("la police égyptienne", "caméras de surveillance chinoises")."""
        i = len(left)
        while i > 0 and left[i - 1] in DETERMINERS:
            i -= 1
        if adjective:
            return self._noun_before_adjective(c, left, i)
        return self._noun_before_name(c, left, i)

    @staticmethod
    def _noun_before_name(c: CompiledCues, left: list[str], i: int) -> tuple[str, str, bool] | None:
        """The noun a name follows through a connector or the words that introduce a list, ending
        at token ``i`` (determiners before the name already skipped)."""
        joined = _joined_by(left, i)
        if joined is None or c.nouns is None:
            return None
        connector, i, stripped = joined
        for at in range(i - 1, max(-1, i - 1 - _LEFT_REACH), -1):  # the noun ends right there
            m = c.nouns.fullmatch(" ".join(left[at:i]))
            if m is not None and m.lastgroup is not None:
                if m.lastgroup == "goods" and connector in LOCATIVE:
                    return None  # "cameras in Xinjiang" are used there, not made there
                return m.lastgroup, m.group(m.lastgroup), bool(stripped)
        return None

    def _noun_before_adjective(
        self, c: CompiledCues, left: list[str], i: int
    ) -> tuple[str, str, bool] | None:
        """The noun a French or Spanish adjective follows, ending at token ``i``."""
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
            if left[at] in PREPOSITIONS and left[at] not in INNER:
                return None
        return None

    def _by_suffix(self, c: CompiledCues, suffix: str, language: str | None) -> Verdict | None:
        """The role a hyphenated ending gives: "Chinese-made", "Dubai-based", "China-style"; in Dutch
        and German also the noun at the end of a compound: "China-kenners", "Iran-Experte"."""
        if suffix in self._suffix:
            return Verdict(self._suffix[suffix], f'"-{suffix}" after it', "suffix")
        if language in ("nl", "de") and c.nouns is not None:
            head = c.nouns.fullmatch(suffix)
            if head is not None and head.lastgroup is not None:
                cls = head.lastgroup
                return Verdict(NOUN_ROLE[cls], f'{cls} noun "-{suffix}" after it', f"noun:{cls}")
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
        a capitalised adjective is a people: "les Ouïghours", "los Uigures").

        The cues are tried in this order, the first that speaks deciding: a hyphenated ending, a
        phrase before the mention, a vendor at home beside it, the noun it goes with, a verb with
        it as the subject, a weak phrase before it (a bare preposition only when ``trade``)."""
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
        verdict = _frame_cue(c, joined_left)
        if verdict is None and vendor_home is not None:
            verdict = Verdict("origin", f"the home country of {vendor_home}, named beside it", "vendor")
        if verdict is None:
            head_final = language in ("fr", "es")
            adjective = form == "adjective" and not (head_final and capitalised)
            verdict = self._noun_cue(c, left_words, right_words, adjective=adjective, language=language)
        if verdict is None:
            verdict = _verb_cue(c, left_words, right_words, language)
        if verdict is None:
            verdict = _weak_cue(c, joined_left, trade)
        return verdict if verdict is not None else _NO_CUE

    def _noun_cue(
        self,
        c: CompiledCues,
        left_words: list[str],
        right_words: list[str],
        *,
        adjective: bool,
        language: str | None,
    ) -> Verdict | None:
        """The role the noun a mention goes with gives it ("Chinese firm", "la police égyptienne",
        "authorities of Uganda")."""
        found: tuple[str, str, bool] | Verdict | None
        if adjective:
            found = self._adjective_noun(c, left_words, right_words, language)
        else:
            found = self._name_noun(c, left_words, right_words, language)
        if found is None or isinstance(found, Verdict):
            return found
        cls, noun, possessive = found
        if cls == "goods" and possessive:
            # "Hanoi's cameras", "Egypt's DPI boxes": what the place has, not where it was made
            return Verdict("neutral", f'goods noun "{noun}" after its possessive', "noun:possessed")
        return Verdict(NOUN_ROLE[cls], f'{cls} noun "{noun}" with it', f"noun:{cls}")

    def _adjective_noun(
        self, c: CompiledCues, left_words: list[str], right_words: list[str], language: str | None
    ) -> tuple[str, str, bool] | None:
        """The noun class of an adjective's noun, the noun, and whether a possessive came first."""
        if language in ("fr", "es"):
            found = self._noun_before(c, left_words, adjective=True)
            if found is not None:
                return (*found, False)
        after = self._noun_after(c, right_words, _ADJECTIVE_REACH, name=False)
        if after is not None:
            return after
        if language is None:
            found = self._noun_before(c, left_words, adjective=True)
            if found is not None:
                return (*found, False)
        return None

    def _name_noun(
        self, c: CompiledCues, left_words: list[str], right_words: list[str], language: str | None
    ) -> tuple[str, str, bool] | Verdict | None:
        """The noun class of a name's noun, the noun, and whether a possessive came first; or the
        verdict of a list of buyers or users the name stands in."""
        if language not in ("fr", "es"):
            # a French or Spanish name takes no noun after it ("vender a Irán equipos": the goods)
            after = self._noun_after(c, right_words, _ADJECTIVE_REACH, name=True)
            if after is not None:
                return after
        listed = self._noun_before_listed(c, left_words, adjective=False)
        if listed is not None and listed[2] and listed[0] in ("authority", "victim"):
            # "Empfänger waren Ägypten, ...", "clients include Egypt": a list of buyers or users
            return Verdict("destination", f'listed after "{listed[1]}"', "frame:user")
        if listed is not None:
            return (*listed[:2], False)
        if language == "en":
            # an English name before a whole noun phrase: "US biometric kits" (after
            # "authorities of Uganda", whose next words are not its noun phrase)
            return self._noun_after(c, right_words, _NAME_REACH, name=True, attributive=True)
        return None

    def background_sentence(self, sentence: str, language: str | None) -> str | None:
        """The cue when the sentence gives background on a supplier (alleged links, owners)."""
        return cue_in(self._for(language).background, sentence)

    def unattributed_text(self, text: str, language: str | None) -> str | None:
        """The cue when the text says it is not known who used the technology."""
        return cue_in(self._for(language).unattributed, text)

    def speculation_sentence(self, sentence: str, language: str | None) -> str | None:
        """The cue when the sentence only speculates about the user or denies evidence of one."""
        return cue_in(self._for(language).speculation, sentence)

    def banned_sentence(self, sentence: str, language: str | None) -> str | None:
        """The cue when the sentence reports a licence refused or a sale banned or stopped, and does
        not concede that the deal went ahead anyway; else None."""
        c = self._for(language)
        cue = cue_in(c.banned, sentence)
        return None if cue is None or cue_in(c.concession, sentence) is not None else cue


def _joined_by(left: list[str], i: int) -> tuple[str, int, int] | None:
    """How a name is joined to the noun before it, with the words before it up to token ``i``: the
    connector ("of", "in", "from"; "" when none), the token where the noun must end, and how many
    words that introduce a list were skipped ("clients include Egypt"); None when neither stands
    there."""
    connector = left[i - 1] if i > 0 else ""
    stripped = 0
    if connector not in CONNECTORS and connector not in INTRODUCERS:
        # "de", "des", "du" are articles in one language and "of" in another: in
        # "policía de Venezuela" the "de" stripped as an article was the connector
        for at in range(i, len(left)):
            if left[at] in CONNECTORS:
                connector, i = left[at], at + 1
                break
    if connector in CONNECTORS:
        i -= 1
    else:
        while i > 0 and stripped < 3 and left[i - 1] in INTRODUCERS:
            i -= 1
            stripped += 1
        if not stripped:
            return None
    while i > 0 and left[i - 1] in DETERMINERS:
        i -= 1
    return connector, i, stripped


def _frame_cue(c: CompiledCues, joined_left: str) -> Verdict | None:
    """The role a phrase right before the mention gives ("sold to", "owned by", "like the one in")."""
    for name, role, pattern in c.before:
        m = pattern.search(joined_left)
        if m is not None and not (
            m.group("cue") in CLIENT and OF.intersection(joined_left[m.end("cue") :].split())
        ):  # "a client of the Israeli company": the supplier, not the client
            return Verdict(role, f'{name} phrase "{m.group("cue")}" before it', f"frame:{name}")
    return None


def _verb_cue(
    c: CompiledCues, left_words: list[str], right_words: list[str], language: str | None
) -> Verdict | None:
    """The role a verb gives a mention that is its subject ("China sold", "Egypt bought")."""
    bare = [w for w in left_words if w not in DETERMINERS]
    if bare and bare[-1] in PREPOSITIONS:
        return None  # "nach China verkauft": a country after a preposition is not the subject
    joined_right = " ".join(right_words)
    verbs: tuple[tuple[re.Pattern[str] | None, Role], ...] = (
        (c.origin_verb, "origin"),
        (c.user_verb, "destination"),
    )
    for verb, verb_role in verbs:
        m = verb.match(joined_right) if verb is not None else None
        if m is not None:
            return Verdict(verb_role, f'verb "{m.group("cue")}" after it', "verb")
    if language in ("nl", "de", None) and bare:
        # the subject after its verb: "Naast Saoedi-Arabië kochten de Emiraten het pakket"
        for verb, verb_role in verbs:
            m = verb.match(bare[-1]) if verb is not None else None
            if m is not None:
                return Verdict(verb_role, f'verb "{m.group("cue")}" before it', "verb")
    return None


def _weak_cue(c: CompiledCues, joined_left: str, trade: bool) -> Verdict | None:
    """The role a weak phrase before the mention gives: a source ("from"), or a bare preposition
    ("to", "naar", "nach") in a sentence about a sale."""
    for name, role, pattern in c.weak:
        if name == "preposition" and not trade:
            continue
        m = pattern.search(joined_left)
        if m is not None and not CONJUNCTIONS.intersection(joined_left[m.end("cue") :].split()):
            why = " in a sentence about a sale" if name == "preposition" else ""
            return Verdict(role, f'"{m.group("cue")}" before it{why}', name)
    return None
