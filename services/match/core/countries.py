"""The role of every country mention in a news article (a buyer, a user, the supplier's home, a
victim's nationality...) and, from the roles, whether each country is a destination of the article."""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from schemas.events import NewsArticle
from services.match.core.mentions import TRADE_CONTEXT, Compiled, Fields, Mention, hit_mentions
from services.match.core.roles import COUNTING, Verdict
from services.match.core.terms import Hit
from services.match.core.text import fold
from services.match.core.watchlists import VendorEntry, english_name

_CONTEXT_CHARS = 160  # characters either side of a country mention that role detection reads

# Words that join the items of a list of countries: "to Egypt, Bahrain and the UAE".
_COORDINATION = re.compile(
    r"^\W*(?:,|and|or|as well as|en|of|alsook|et|ou|ainsi que|und|oder|sowie|y|e|o|u|asi como)?\W*"
    r"(?:(?:the|de|het|la|le|les|l'|el|los|las|die|der|den)\s+)?$"
)


@dataclass(frozen=True, slots=True)
class CountryMention:
    """A country mention in a news article with the role its sentence gives it."""

    mention: Mention
    form: str  # name, adjective or place
    verdict: Verdict
    linked: bool  # in a sentence (or title) with a technology, vendor, code, surveillance or trade word
    technical: bool = False  # in a sentence with a technology, vendor, code or surveillance word
    sentence: tuple[str, int] = ("", 0)  # (field, sentence index)

    @property
    def user(self) -> bool:
        """Shown to buy or use the technology: a sale to it, a use by it, or its state beside the
        technology itself."""
        return self.verdict.deal or (self.verdict.source == "noun:authority" and self.technical)

    @property
    def targeted(self) -> bool:
        """Its people named as the targets ("against journalists in Egypt", "Bahraini activists")."""
        return self.verdict.source in ("noun:victim", "frame:target")

    @property
    def counts(self) -> bool:
        """A sale to the country or a use by it counts wherever it stands; its state, its people or
        its name with no cue count beside a technology, surveillance or trade word."""
        if self.verdict.deal:
            return True
        return self.verdict.role in ("destination", "neutral") and self.linked


@dataclass(frozen=True, slots=True)
class DestinationDecision:
    """Whether one country is a destination of the article, and why."""

    ref: str
    tier: str
    alerting: bool  # its tier raises alerts
    mentions: tuple[CountryMention, ...]
    strict: str | None = None  # why this article asks for more than a mention (see strictness)
    mode: str = ""  # "ban": only a sale or use counts; "focus": only a user; "": see counted
    users: frozenset[str] = frozenset()  # countries shown to use or buy the technology
    user_sentences: Mapping[tuple[str, int], frozenset[str]] = field(default_factory=dict)
    # named less often than a country off the lists that the story is about (see minor_countries)
    minor: bool = False
    unattributed: bool = False  # the article says it is not known who used it

    def _victims_count(self, m: CountryMention, key: tuple[str, int]) -> bool:
        """Its people as targets make it a destination unless another state is shown to be the user
        ("Rwanda spied on Congolese officials", "the UAE targeted a Qatari citizen"); and a country
        with no cue in a sentence that names another user is where the targets are, not the user
        ("Saudi Arabia used Pegasus against dissidents in Turkey")."""
        if self.ref in self.users:
            return True
        if m.targeted and (self.users or self.unattributed):
            return False
        others = self.user_sentences.get(key, frozenset()) - {self.ref}
        return not (m.verdict.role == "neutral" and others)

    @property
    def supplier_side(self) -> bool:
        """Also named as the supplier's home, its owner, its lender, or in background about it."""
        return any(m.verdict.role in ("origin", "owner", "lender", "background") for m in self.mentions)

    @property
    def counted(self) -> tuple[CountryMention, ...]:
        """The mentions that make it a destination:

        - in a story about a ban, only a sale to it or a use by it ("sold to", "used by", "Egypt
          bought");
        - in a story about a country off the lists, or where one is the user, or where this country is
          incidental (see ``minor_countries``), or where its people were targeted by someone the article
          cannot name, only a sale, a use or its state beside the technology (not a victim's
          nationality, not a mention with no cue); and if it is also the supplier's side (its
          firms, money or owners), only a sale or a use; an incidental country whose people were
          the targets in the sentence with the technology counts too, when no user is shown;
        - otherwise its state, people or name beside the technology too, unless another state is the
          user of what was used against its people."""
        if self.mode == "ban":
            return tuple(m for m in self.mentions if m.verdict.deal)
        targeted = any(m.targeted for m in self.mentions)
        if self.strict is not None or self.minor or (self.unattributed and targeted):
            if self.supplier_side:
                return tuple(m for m in self.mentions if m.verdict.deal)
            if self.minor and not (self.strict or self.users or self.unattributed):
                # incidental, but its people targeted in the sentence with the technology, and no
                # other user shown: "spyware was used against journalists in Saudi Arabia"
                return tuple(m for m in self.mentions if m.user or (m.technical and m.targeted))
            return tuple(m for m in self.mentions if m.user)
        return tuple(m for m in self.mentions if m.counts and self._victims_count(m, m.sentence))

    @property
    def is_destination(self) -> bool:
        return self.alerting and bool(self.counted)

    @property
    def named_as_user(self) -> tuple[CountryMention, ...]:
        """Mentions of its state or people away from the technology ("operators in Saudi Arabia",
        "recipients: the UAE and Egypt"): what makes it a destination when nothing else does. In a
        story that shows another state as the user (see ``strict``), only in a sentence about the
        technology, surveillance or trade ("threatened by Russian security services" is not)."""
        if not self.alerting or self.mode:
            return ()
        return tuple(
            m
            for m in self.mentions
            if m.verdict.role == "destination"
            and (self.strict is None or m.linked)
            and self._victims_count(m, m.sentence)
        )

    @property
    def reason(self) -> str:
        if not self.alerting:
            return f"tier {self.tier} does not alert"
        counted = self.counted
        if counted:
            strong = [m for m in counted if m.verdict.role == "destination"]
            if strong:
                return f"a destination: {strong[0].verdict.cue}"
            return "named beside the technology, a surveillance or a trade word, with no cue against it"
        if self.strict is not None:
            return f"not shown to buy or use it, in {self.strict}"
        if self.minor:
            return "incidental to a story about a country off the lists: not shown to buy or use it"
        roles = sorted({m.verdict.role for m in self.mentions} - {"neutral"})
        if not roles:
            return "named only away from the technology, surveillance and trade words"
        if "destination" in roles:
            if any(m.counts for m in self.mentions if m.verdict.role == "destination"):
                who = "says the user is not known" if self.unattributed else "names another state as the user"
                return f"its people were the targets, and the article {who}"
            roles.remove("destination")
            away = "its state or people named only away from the technology, surveillance and trade words"
            return away + ("" if not roles else "; otherwise only as " + ", ".join(roles))
        return "not a destination: only as " + ", ".join(roles)


# What may stand between a country and its own vendor's name: "China's Huawei", "Chinese Hikvision",
# "Huawei of China", "Hikvision (China)", "NSO Group, Israel".
_BEFORE_VENDOR = re.compile(r"^(?:'s)?\s*$")
_AFTER_VENDOR = re.compile(r"^\s*(?:\(|,|of|from|in|de|van|aus|uit|du|del)?\s*(?:the\s+)?$")


class _VendorsBeside:
    """The vendors named in an event, indexed by field and home country, so that finding the one named
    right beside a country is a lookup (an article naming a vendor and a country thousands of times
    once made this quadratic: 18 s for one 400 KB article)."""

    def __init__(self, vendors: Sequence[tuple[Hit, VendorEntry]]) -> None:
        by_start: dict[tuple[str, str], list[tuple[int, int, Hit, VendorEntry]]] = {}
        by_end: dict[tuple[str, str], list[tuple[int, int, Hit, VendorEntry]]] = {}
        for i, (vh, vendor) in enumerate(vendors):
            if vendor.country:
                by_start.setdefault((vh.field, vendor.country), []).append((vh.start, i, vh, vendor))
                by_end.setdefault((vh.field, vendor.country), []).append((vh.end, i, vh, vendor))
        self._by_start = {k: sorted(v, key=lambda t: t[:2]) for k, v in by_start.items()}
        self._by_end = {k: sorted(v, key=lambda t: t[:2]) for k, v in by_end.items()}

    @staticmethod
    def _between(items: list[tuple[int, int, Hit, VendorEntry]], low: int, high: int) -> list[int]:
        """Positions in ``items`` (sorted by their first value) whose first value is in [low, high]."""
        first = bisect.bisect_left(items, low, key=lambda t: t[0])
        last = bisect.bisect_right(items, high, key=lambda t: t[0])
        return list(range(first, last))

    def at_home(self, h: Hit, text: str) -> str | None:
        """The name of a vendor whose home is the country of ``h``, named right beside it (the first
        such vendor in the order they were found)."""
        if h.info.form not in ("name", "adjective"):
            return None
        key = (h.field, h.ref)
        found: list[tuple[int, str]] = []
        after = self._by_start.get(key, [])
        for pos in self._between(after, h.end, h.end + 4):
            _, i, vh, vendor = after[pos]
            if _BEFORE_VENDOR.match(fold(text[h.end : vh.start])):
                found.append((i, vendor.name))
        before = self._by_end.get(key, [])
        for pos in self._between(before, h.start - 12, h.start):
            _, i, vh, vendor = before[pos]
            if _AFTER_VENDOR.match(fold(text[vh.end : h.start])):
                found.append((i, vendor.name))
        return min(found)[1] if found else None


def country_mentions(
    c: Compiled,
    article: NewsArticle,
    fields: Fields,
    hits: list[Hit],
    signals: list[Mention],
    named_vendors: Sequence[Hit],
) -> list[CountryMention]:
    technical_sentences = {fields.sentence_key(m) for m in signals}
    technical_sentences.update(
        fields.sentence_key(h) for h in hits if h.kind == "context" and h.ref != TRADE_CONTEXT
    )
    linked_sentences = technical_sentences | {fields.sentence_key(h) for h in hits if h.kind == "context"}
    trade_sentences = {fields.sentence_key(h) for h in hits if h.kind == "context" and h.ref == TRADE_CONTEXT}
    vendors = [(h, c.lists.vendors[h.ref]) for h in named_vendors]
    homes = {v.country: v.name for _, v in vendors if v.country}
    beside = _VendorsBeside(vendors)
    banned: dict[tuple[str, int], str | None] = {}
    background: dict[tuple[str, int], str | None] = {}
    out: list[CountryMention] = []
    previous: CountryMention | None = None
    for h in sorted(
        (h for h in hits if h.kind == "destination"), key=lambda h: (fields.order[h.field], h.start)
    ):
        key = fields.sentence_key(h)
        text = fields.values[h.field]
        s_start, s_end = fields.sentences(h.field).bounds(key[1])
        # the cues read a dozen words either side: fold no more than that
        left = fold(text[max(s_start, h.start - _CONTEXT_CHARS) : h.start])
        right = fold(text[h.end : min(s_end, h.end + _CONTEXT_CHARS)])
        home = beside.at_home(h, text)
        verdict = c.roles.judge(
            left,
            right,
            form=h.info.form,
            language=article.language,
            trade=key in trade_sentences,
            vendor_home=home,
            capitalised=text[h.start : h.start + 1].isupper(),
        )
        if (
            verdict.role == "neutral"
            and previous is not None
            and previous.mention.field == h.field
            and fields.sentence_key(previous.mention) == key
            and _COORDINATION.match(fold(text[previous.mention.end : h.start])) is not None
        ):
            verdict = Verdict(
                previous.verdict.role, f"listed with {previous.mention.ref}: {previous.verdict.cue}"
            )
        if h.ref in homes:
            if key not in background:
                background[key] = c.roles.background_sentence(fields.sentence_text(key), article.language)
            cue = background[key]
            if cue is not None:
                verdict = Verdict(
                    "background", f'background on {homes[h.ref]}, a vendor from there ("{cue}")', "sentence"
                )
        if verdict.role in COUNTING:
            if key not in banned:
                text_of = fields.sentence_text(key)
                cue = c.roles.banned_sentence(text_of, article.language)
                banned[key] = f'the sentence reports a ban or refusal ("{cue}")' if cue else None
                if cue is None:
                    cue = c.roles.speculation_sentence(text_of, article.language)
                    banned[key] = f'the sentence only speculates ("{cue}")' if cue else None
            why = banned[key]
            if why is not None:
                verdict = Verdict("banned" if "ban" in why else "speculation", why, "sentence")
        mention = hit_mentions(c, [h])[0]
        country = CountryMention(
            mention,
            h.info.form,
            verdict,
            linked=key in linked_sentences or h.field == "title",
            technical=key in technical_sentences,
            sentence=key,
        )
        out.append(country)
        previous = country
    return out


def minor_countries(c: Compiled, by_country: Mapping[str, Sequence[CountryMention]]) -> frozenset[str]:
    """High-risk countries that are incidental to a story about a country off the lists (tier none,
    named at least twice and at least as often): a country that also appears as the supplier's home
    or a person's nationality ("Chinese cameras in Dutch ministries", "an Afghan woman's ID card in
    a German court case"), or one named once, alone ("Bund setzt auf Gesichtserkennung" names
    Switzerland four times and China once, as a comparison). There a mention with no cue does not
    make a destination, and the supplier's home counts only as a buyer or user."""

    def weight(ms: Sequence[CountryMention]) -> int:
        return sum(1 for m in ms if m.verdict.role in COUNTING)

    home = max(
        (weight(ms) for ref, ms in by_country.items() if c.lists.destinations[ref].tier == "none"), default=0
    )
    if home < 2:
        return frozenset()
    alerting = c.lists.alert_tiers
    risky_sentences: dict[tuple[str, int], set[str]] = {}
    for ref, ms in by_country.items():
        if c.lists.destinations[ref].tier in alerting:
            for m in ms:
                if m.verdict.role in COUNTING:
                    risky_sentences.setdefault(m.sentence, set()).add(ref)
    minor = set()
    for ref, ms in by_country.items():
        if c.lists.destinations[ref].tier not in alerting or weight(ms) > home:
            continue
        side = any(m.verdict.role in ("origin", "owner", "background", "person") for m in ms)
        counting = [m for m in ms if m.verdict.role in COUNTING]
        alone = len(counting) == 1 and risky_sentences.get(counting[0].sentence, set()) == {ref}
        if side or alone:
            minor.add(ref)
    return frozenset(minor)


def strictness(c: Compiled, fields: Fields, mentions: Sequence[CountryMention]) -> tuple[str | None, str]:
    """Whether this article asks more of a destination than a mention, why, and whether only a
    reported sale or use counts:

    - a story about a ban: its title reports a ban or refusal, or most sentences naming a country do
      (there, "Egyptian authorities" or "the Chinese state" is who the ban is about): only a sale
      or use counts;
    - a story about a country that is not high-risk: its title names one (not as a supplier's home)
      and no high-risk country ("L'Italie dans l'embarras après l'alerte de WhatsApp",
      "Gezichtsherkenning op Nederlandse straten"): only a sale, a use, or the state beside the
      technology counts, so a comparison with China or the nationality of a victim does not;
    - a story where such a country buys or uses the technology ("Italian intelligence used
      Graphite", "British councils bought Hikvision cameras"): a victim's nationality or the
      supplier's home named beside it is not a destination."""
    with_country = {fields.sentence_key(cm.mention) for cm in mentions}
    banned = {fields.sentence_key(cm.mention) for cm in mentions if cm.verdict.role == "banned"}
    title_banned = any(key[0] == "title" for key in banned)
    if with_country and (title_banned or 2 * len(banned) > len(with_country)):
        return "a story about a ban or refusal", "ban"
    alerting = c.lists.alert_tiers
    title = [cm for cm in mentions if cm.mention.field == "title"]
    home = [  # the country by name or adjective: a city in a title is more often where a victim lives
        cm
        for cm in title
        if c.lists.destinations[cm.mention.ref].tier == "none"
        and cm.verdict.role in COUNTING
        and cm.form != "place"
    ]
    risky = [
        cm
        for cm in title
        if c.lists.destinations[cm.mention.ref].tier in alerting and cm.verdict.role in COUNTING
    ]
    if home and not risky:
        name = english_name(c.lists.destinations[home[0].mention.ref])
        return f"a story about {name}, as its title says", "focus"
    for cm in mentions:
        entry = c.lists.destinations[cm.mention.ref]
        if entry.tier != "none" or cm.verdict.role != "destination":
            continue
        if cm.verdict.deal:
            return f"a story where {english_name(entry)} buys or uses it", ""
    return None, ""
