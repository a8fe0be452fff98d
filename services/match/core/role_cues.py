"""The cues of ``roles.yaml`` compiled into regular expressions, once per language: the noun
classes, the phrases before a mention, the verbs after it and the sentence-wide cues."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from services.match.core.role_words import (
    AUXILIARIES,
    CLAUSE,
    FRAMES,
    PREPOSITIONS,
    RELATIVE,
    WEAK_FRAMES,
    Role,
    tokens,
)
from services.match.core.text import fold
from services.match.core.watchlists import LANGUAGES, RolesFile

_GAP = r"(?: [^ ,]+){0,2}"  # up to two words between a phrase and the mention


def _sentence_words(sentence: str) -> str:
    """A sentence as words for the sentence-wide cues, compounds split at hyphens ("EU-Embargos")."""
    return " ".join(tokens(fold(sentence).replace("-", " ")))


def cue_in(pattern: re.Pattern[str] | None, text: str) -> str | None:
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
class CompiledCues:
    """The cues of one language, compiled."""

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


def compile_cues(roles: RolesFile, language: str | None) -> CompiledCues:
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
        aux = "|".join(sorted(AUXILIARIES | RELATIVE))
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
    return CompiledCues(
        stops=frozenset(verb_words | AUXILIARIES | PREPOSITIONS | CLAUSE),
        nouns=nouns,
        before=frames(FRAMES),
        weak=frames(WEAK_FRAMES),
        origin_verb=verbs(roles.after.origin_verb),
        user_verb=verbs(roles.after.user_verb),
        banned=anywhere(roles.sentence.banned),
        speculation=anywhere(roles.sentence.speculation),
        unattributed=anywhere(roles.sentence.unattributed),
        background=anywhere(roles.sentence.background),
        concession=anywhere(roles.sentence.concession),
    )
