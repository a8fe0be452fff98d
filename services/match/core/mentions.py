"""Mentions, found once per event: technologies, vendors, control codes and countries with their
offsets in the original text, and for a news article the role of every country mention and which
countries it makes destinations. The rules read this; ``--explain`` prints it."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from schemas.events import Evidence, EvidenceKind, NewsArticle
from services.match.core.codes import ControlCode, find_codes_at, find_field_code
from services.match.core.roles import COUNTING, RoleCues, Verdict
from services.match.core.terms import Hit, TermIndex
from services.match.core.text import Sentences, fold
from services.match.core.watchlists import CatchAllEntry, CodeEntry, VendorEntry, Watchlists, english_name

GENERIC_CONTEXT = "surveillance-technology"  # the context entry naming surveillance technology of no kind
SURVEILLANCE_CONTEXT = "surveillance"  # the context entry of surveillance words (spying, hacked...)
TRADE_CONTEXT = "trade"  # the context entry of export, sale and licence words
CONTEXT_WINDOW = 200  # characters either side in which an ambiguous name finds its surveillance term
_CONTEXT_CHARS = 160  # characters either side of a country mention that role detection reads

Level = Literal["exact", "parent", "catch_all", "term"]

# Words that join the items of a list of countries: "to Egypt, Bahrain and the UAE".
_COORDINATION = re.compile(
    r"^\W*(?:,|and|or|as well as|en|of|alsook|et|ou|ainsi que|und|oder|sowie|y|e|o|u|asi como)?\W*"
    r"(?:(?:the|de|het|la|le|les|l'|el|los|las|die|der|den)\s+)?$"
)


@dataclass(frozen=True, slots=True)
class Mention:
    """A piece of evidence before it becomes an Evidence: where, what, and the categories it implies."""

    field: str
    start: int
    end: int
    kind: EvidenceKind
    ref: str
    technologies: tuple[str, ...] = ()
    level: Level = "term"
    label: str | None = None  # for control codes and catch-alls: what the code covers, in words
    term: str | None = None  # the watchlist term it was found as (the lemma of an inflected form)


@dataclass
class Compiled:
    """Watchlists compiled for evaluation: the term index, the code table and the role cues."""

    lists: Watchlists
    index: TermIndex
    roles: RoleCues
    _codes: list[tuple[ControlCode, CodeEntry]] = field(default_factory=list)
    _catch_all: list[tuple[re.Pattern[str], CatchAllEntry]] = field(default_factory=list)

    @classmethod
    def of(cls, lists: Watchlists, index: TermIndex) -> Compiled:
        codes = []
        for entry in lists.codes.values():
            code = ControlCode.parse(entry.code)
            if code is not None:
                codes.append((code, entry))
        codes.sort(key=lambda pair: len(pair[0].sub), reverse=True)  # longest prefix first
        catch_all = [
            (
                re.compile(
                    r"(?<![\w])(?:" + "|".join(re.escape(t) for t in entry.terms) + r")(?![\w])",
                    re.IGNORECASE,
                ),
                entry,
            )
            for entry in lists.catch_all.values()
        ]
        return cls(lists, index, RoleCues(lists.roles), codes, catch_all)

    def code_entry(self, code: ControlCode) -> CodeEntry | None:
        for prefix, entry in self._codes:
            if code.within(prefix):
                return entry
        return None

    def catch_all(self, text: str) -> tuple[int, int, CatchAllEntry] | None:
        for pattern, entry in self._catch_all:
            m = pattern.search(text)
            if m is not None:
                return m.start(), m.end(), entry
        return None


class Fields:
    """Original field texts of one event, with sentences computed on demand."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.order = {name: i for i, name in enumerate(values)}  # the order evidence is listed in
        self._sentences: dict[str, Sentences] = {}

    def sentences(self, name: str) -> Sentences:
        got = self._sentences.get(name)
        if got is None:
            got = Sentences.of(self.values[name])
            self._sentences[name] = got
        return got

    def sentence_key(self, m: Mention | Hit) -> tuple[str, int]:
        return m.field, self.sentences(m.field).index(m.start)

    def sentence_text(self, key: tuple[str, int]) -> str:
        start, end = self.sentences(key[0]).bounds(key[1])
        return self.values[key[0]][start:end]

    def evidence(self, m: Mention) -> Evidence:
        text = self.values[m.field]
        return Evidence(
            field=m.field,
            start=m.start,
            end=m.end,
            text=text[m.start : m.end],
            snippet=self.sentences(m.field).snippet(m.start, m.end),
            kind=m.kind,
            ref=m.ref,
        )


def hit_mentions(c: Compiled, hits: Iterable[Hit]) -> list[Mention]:
    out = []
    for h in hits:
        if h.kind == "technology":
            out.append(
                Mention(
                    h.field, h.start, h.end, EvidenceKind.TECHNOLOGY, h.ref, (h.ref,), term=h.info.written
                )
            )
        elif h.kind == "vendor":
            vendor = c.lists.vendors[h.ref]
            out.append(
                Mention(
                    h.field,
                    h.start,
                    h.end,
                    EvidenceKind.ENTITY,
                    h.ref,
                    tuple(vendor.technologies),
                    term=h.info.written,
                )
            )
        elif h.kind == "destination":
            out.append(Mention(h.field, h.start, h.end, EvidenceKind.DESTINATION, h.ref, term=h.info.written))
    return out


def disambiguate(hits: list[Hit], fields: Fields, extra_anchors: Sequence[Mention] = ()) -> list[Hit]:
    """Drop ambiguous names (Pegasus, Predator, DPI...) with no unambiguous surveillance term, or no
    other ambiguous name, in the same sentence or within CONTEXT_WINDOW characters."""
    anchors = [(h.field, h.start, h.end) for h in hits if h.kind != "destination" and not h.info.ambiguous]
    anchors.extend((m.field, m.start, m.end) for m in extra_anchors)
    # two different ambiguous names in one sentence vouch for each other ("Huawei's 'Safe City'")
    weak: dict[tuple[str, int], set[str]] = {}
    for h in hits:
        if h.info.ambiguous and h.kind != "destination":
            weak.setdefault(fields.sentence_key(h), set()).add(h.ref)
    anchors.extend(
        (h.field, h.start, h.end)
        for h in hits
        if h.info.ambiguous and h.kind != "destination" and len(weak[fields.sentence_key(h)]) > 1
    )
    kept = []
    for h in hits:
        if not h.info.ambiguous or h.kind == "destination":
            kept.append(h)
            continue
        sentences = fields.sentences(h.field)
        sentence = sentences.index(h.start)
        for f, s, e in anchors:
            if f != h.field:
                continue
            if sentences.index(s) == sentence or (
                s < h.end + CONTEXT_WINDOW and e > h.start - CONTEXT_WINDOW
            ):
                kept.append(h)
                break
    return kept


def code_mentions(
    c: Compiled, field_name: str, text: str, whole_field: bool, hits: Iterable[Hit] = ()
) -> list[Mention]:
    """Watched control codes in a whole code field, or in running text at the candidates the term
    scan found (``hits`` of kind "code"). Encryption codes are not watched alone: they give no
    mention."""
    found: list[tuple[int, int, ControlCode]] = []
    single = find_field_code(text) if whole_field else None
    if single is not None:
        found.append(single)
    else:
        found.extend(find_codes_at(text, (h.start for h in hits if h.kind == "code")))
    mentions: list[Mention] = []
    for start, end, code in found:
        entry = c.code_entry(code)
        if entry is None or entry.level == "encryption":
            continue
        level: Level = "exact" if entry.level == "exact" else "parent"
        mentions.append(
            Mention(
                field_name,
                start,
                end,
                EvidenceKind.CONTROL_CODE,
                code.canonical,
                tuple(entry.technologies),
                level,
                entry.label,
            )
        )
    return mentions


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
    strict: str | None = None  # why this article asks for more than a mention (see _strictness)
    mode: str = ""  # "ban": only a sale or use counts; "focus": only a user; "": see counted
    users: frozenset[str] = frozenset()  # countries shown to use or buy the technology
    user_sentences: Mapping[tuple[str, int], frozenset[str]] = field(default_factory=dict)
    # named less often than a country off the lists that the story is about (see _minor)
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
          incidental (see ``_minor``), or where its people were targeted by someone the article
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


@dataclass
class NewsAnalysis:
    """Everything the news rules read about one article."""

    fields: Fields
    hits: list[Hit]
    signals: list[Mention]  # technologies, vendors and codes
    countries: list[DestinationDecision]
    code_mentions: list[Mention]
    defused: list[Hit] = field(default_factory=list)  # country names a negative context cancelled
    vendor_homes: frozenset[str] = frozenset()  # home countries of the vendors named: the supplier's side

    @cached_property
    def destinations(self) -> list[DestinationDecision]:
        """The countries the technology goes to or is used in. When none is named beside it, a
        country whose state or people the article names elsewhere, if it is the only one (and
        neither the supplier's side nor incidental to the story). Worked out once: the rules and
        the explanation all read it."""
        found = [d for d in self.countries if d.is_destination]
        if found:
            return found
        fallback = [
            d
            for d in self.countries
            if d.named_as_user and d.ref not in self.vendor_homes and not (d.supplier_side or d.minor)
        ]
        return fallback if len(fallback) == 1 or _one_list(fallback) else []

    def context(self, ref: str) -> list[Hit]:
        return [h for h in self.hits if h.kind == "context" and h.ref == ref]


def _one_list(decisions: Sequence[DestinationDecision]) -> bool:
    """All named in one sentence ("operators in Saudi Arabia and the United Arab Emirates")."""
    keys = {m.sentence for d in decisions for m in d.named_as_user}
    return len(keys) == 1


def scan_news(
    c: Compiled, article: NewsArticle, first_pass: bool = False
) -> tuple[Fields, list[Hit], list[Mention]]:
    """Every term and code in the title and body (destinations' own negative contexts not yet
    applied: ``analyse_news`` does that only for articles that could alert). The ``first_pass``
    finds only what can make an article alert, which is enough to drop most articles."""
    fields = Fields({"title": article.title, "body": article.body})
    hits: list[Hit] = []
    codes: list[Mention] = []
    for name, text in fields.values.items():
        found = c.index.scan(name, text, article.language, defer=("destination",), first_pass=first_pass)
        codes.extend(code_mentions(c, name, text, whole_field=False, hits=found))
        hits.extend(h for h in found if h.kind != "code")
    return fields, hits, codes


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


def _country_mentions(
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


def analyse_news(
    c: Compiled, article: NewsArticle, scanned: tuple[Fields, list[Hit], list[Mention]] | None = None
) -> NewsAnalysis:
    """Mentions, their roles and the destinations they make, for one article."""
    fields, hits, codes = scanned if scanned is not None else scan_news(c, article)
    defused = [h for h in hits if h.kind == "destination" and c.index.defused(h, fields.values[h.field])]
    hits = [h for h in hits if h not in defused]
    # every vendor named, ambiguous or not, says where the supplier is from ("la china Huawei")
    named_vendors = [h for h in hits if h.kind == "vendor"]
    hits = disambiguate(hits, fields, codes)
    signals = sorted(
        [m for m in hit_mentions(c, hits) if m.kind is not EvidenceKind.DESTINATION] + codes,
        key=lambda m: (fields.order[m.field], m.start, -m.end),
    )
    mentions = _country_mentions(c, article, fields, hits, signals, named_vendors)
    by_country: dict[str, list[CountryMention]] = {}
    for cm in mentions:
        by_country.setdefault(cm.mention.ref, []).append(cm)
    alerting = c.lists.alert_tiers
    strict, mode = _strictness(c, fields, mentions)
    minor = _minor(c, by_country)
    # whether the user is unknown matters only for a country whose people were the targets
    unattributed = any(cm.targeted for cm in mentions) and any(
        c.roles.unattributed_text(text, article.language) is not None for text in fields.values.values()
    )
    users = frozenset(cm.mention.ref for cm in mentions if cm.user)
    user_sentences: dict[tuple[str, int], frozenset[str]] = {}
    for cm in mentions:
        if cm.user:
            user_sentences[cm.sentence] = user_sentences.get(cm.sentence, frozenset()) | {cm.mention.ref}
    countries = [
        DestinationDecision(
            ref,
            c.lists.destinations[ref].tier,
            c.lists.destinations[ref].tier in alerting,
            tuple(ms),
            strict if c.lists.destinations[ref].tier in alerting else None,
            mode,
            users,
            user_sentences,
            ref in minor,
            unattributed,
        )
        for ref, ms in by_country.items()
    ]
    homes = frozenset(home for h in named_vendors if (home := c.lists.vendors[h.ref].country) is not None)
    return NewsAnalysis(fields, hits, signals, countries, codes, defused, homes)


def _minor(c: Compiled, by_country: Mapping[str, Sequence[CountryMention]]) -> frozenset[str]:
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


def _strictness(c: Compiled, fields: Fields, mentions: Sequence[CountryMention]) -> tuple[str | None, str]:
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
