"""The schema of the watchlist files (YAML): one pydantic model per file and per entry, strict (an
unknown key is an error), with the defaults an operator's file leaves out. ``watchlists`` loads
and merges them."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from services.common.config import quoted
from services.match.core.codes import ControlCode

LANGUAGES = ("en", "nl", "fr", "de", "es")

Case = Literal["any", "title", "upper", "exact"]
Tail = Literal["none", "plural", "inflect", "compound"]
Tier = Literal["core", "further", "optional", "none"]
# "none": not a high-risk destination; listed so that the matcher can tell when another country is
# the buyer or user (a domestic scandal in Spain, cameras bought by British councils).
AlertTier = Literal["core", "further", "optional"]
SeverityName = Literal["low", "medium", "high", "critical"]


class WatchlistError(ValueError):
    """A watchlist file is invalid; the message names the file, the line when known, and the problem."""


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TermSpec(StrictModel):
    """A term with options; a bare string takes the defaults of the list it is in."""

    term: str = Field(min_length=1)
    case: Case | None = Field(default=None, description="Case the original text must have.")
    tail: Tail | None = Field(default=None, description="Letters allowed after the term.")
    languages: list[str] | None = Field(default=None, description="Only in articles in these languages.")
    ambiguous: bool | None = Field(default=None, description="Counts only near a surveillance term.")
    near: list[str] = Field(
        default_factory=list,
        description="Counts only with one of these words within `within` words before or after it "
        "(a trailing * allows any ending): 'intercepted' near 'call*', 'black boxes' near 'operator*'.",
    )
    within: int = Field(default=6, ge=1, le=20, description="Words either side in which `near` looks.")


TermItem = str | TermSpec


def _check_patterns(patterns: list[str]) -> list[str]:
    for p in patterns:
        try:
            re.compile(p)
        except (re.error, RecursionError, OverflowError) as exc:  # "((((…": recursion; "a{99999999999}"
            raise ValueError(f"invalid regular expression {quoted(p)}: {exc}") from None
    return patterns


class TechnologyEntry(StrictModel):
    id: str = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
    name: str = Field(min_length=1, description="Label for people, e.g. 'Facial recognition'.")
    rationale: str = Field(min_length=1)
    source: str | None = None
    enabled: bool = True
    terms: dict[str, list[TermItem]] = Field(default_factory=dict, description="Terms by language.")
    negative: list[str] = Field(
        default_factory=list, description="Regexes that defuse a term they overlap or touch."
    )

    _check = field_validator("negative")(_check_patterns)


class ContextEntry(StrictModel):
    id: str = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
    rationale: str = Field(min_length=1)
    enabled: bool = True
    terms: dict[str, list[TermItem]] = Field(default_factory=dict)


class DestinationEntry(StrictModel):
    id: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 code.")
    name: str | None = Field(default=None, description="English name; CLDR's when omitted.")
    tier: Tier
    rationale: str = Field(min_length=1)
    source: str | None = None
    enabled: bool = True
    cldr: bool = Field(default=True, description="Add the CLDR names in en, nl, fr, de, es.")
    names: list[TermItem] = Field(default_factory=list)
    adjectives: list[TermItem] = Field(default_factory=list, description="Adjectives and peoples.")
    places: list[TermItem] = Field(default_factory=list, description="Cities and regions.")
    negative: list[str] = Field(default_factory=list, description="Regexes that defuse a mention.")

    _check = field_validator("negative")(_check_patterns)


class VendorEntry(StrictModel):
    id: str = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
    name: str = Field(min_length=1)
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    rationale: str = Field(min_length=1)
    source: str | None = None
    enabled: bool = True
    technologies: list[str] = Field(default_factory=list)
    aliases: list[TermItem] = Field(default_factory=list)
    products: list[TermItem] = Field(default_factory=list)
    negative: list[str] = Field(default_factory=list)

    _check = field_validator("negative")(_check_patterns)


class CodeEntry(StrictModel):
    code: str
    level: Literal["exact", "parent", "encryption"] = Field(
        description="exact: a surveillance sub-item; parent: covers non-surveillance items too; "
        "encryption: never alerts alone."
    )
    technologies: list[str] = Field(default_factory=list)
    label: str = Field(min_length=1, description="What the code covers, for people.")
    rationale: str = Field(min_length=1)
    source: str | None = None
    enabled: bool = True

    @field_validator("code")
    @classmethod
    def _parse(cls, value: str) -> str:
        code = ControlCode.parse(value)
        if code is None:
            raise ValueError(f"{value!r} is not a control code such as 5A001.j")
        return code.canonical


class CatchAllEntry(StrictModel):
    id: str = Field(min_length=1, description="How the catch-all appears in alerts, e.g. 'End Use'.")
    label: str = Field(min_length=1)
    terms: list[str] = Field(min_length=1)
    rationale: str = Field(min_length=1)
    source: str | None = None
    enabled: bool = True


class TechnologiesFile(StrictModel):
    near: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Named word lists that terms reuse as `near: *name` (YAML anchors); not terms.",
    )
    technologies: list[TechnologyEntry] = Field(default_factory=list)
    context: list[ContextEntry] = Field(default_factory=list)


class DestinationsFile(StrictModel):
    alert_tiers: list[AlertTier] | None = None
    negative: list[str] | None = None
    destinations: list[DestinationEntry] = Field(default_factory=list)

    @field_validator("negative")
    @classmethod
    def _negative(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _check_patterns(value)


class VendorsFile(StrictModel):
    vendors: list[VendorEntry] = Field(default_factory=list)


class ControlCodesFile(StrictModel):
    codes: list[CodeEntry] = Field(default_factory=list)
    catch_all: list[CatchAllEntry] = Field(default_factory=list)


class NewsRule(StrictModel):
    """The news rule: a technology, control code or vendor together with a high-risk destination."""

    enabled: bool = True
    same_sentence: SeverityName = Field(
        default="high", description="Severity when they meet in one sentence (or the title)."
    )
    same_article: SeverityName = Field(default="medium", description="Severity when only in one article.")
    vendor_at_home_step_down: bool = Field(
        default=True,
        description="One step lower when only a vendor is named, beside its own home country.",
    )
    generic_technology: SeverityName | None = Field(
        default="medium",
        description="Severity when surveillance technology of no named kind (the context entry "
        "'surveillance-technology': 'surveillance equipment', 'Überwachungstechnik') meets a high-risk "
        "destination and a word of trade (context entry 'trade') in one sentence, and nothing more "
        "specific is named (rule "
        "news.surveillance_destination). null: no alert.",
    )
    technology_only: SeverityName | None = Field(
        default=None,
        description="Alert also on a technology or vendor with no high-risk destination, at this "
        "severity (rule news.technology_only). Off by default: it floods.",
    )


class LicenceRule(StrictModel):
    """The licence rule: a watched code, catch-all or surveillance item to a high-risk destination.

    The severity follows what the licence is known to cover: an exact surveillance sub-item
    (5A001.j, 4A005...); surveillance named in the item's description (a parent code, catch-all or
    plain words that name a technology or vendor); a parent-only code (5A001: ordinary telecom too);
    a catch-all (UK "End Use": mostly weapons-of-mass-destruction end-use controls) with nothing
    about surveillance. The value and the decision then move it."""

    enabled: bool = True
    granted_exact: SeverityName = Field(
        default="critical", description="Granted, exact surveillance sub-item."
    )
    granted_other: SeverityName = Field(
        default="high",
        description="Granted, surveillance named in the item description (parent code, catch-all or "
        "goods described in words).",
    )
    granted_parent: SeverityName = Field(
        default="medium", description="Granted, parent-only code with no surveillance in its description."
    )
    granted_catch_all: SeverityName = Field(
        default="low", description="Granted, catch-all with no surveillance in its description."
    )
    refused: SeverityName = Field(
        default="medium", description="The highest severity of a refused or revoked licence."
    )
    pending_exact: SeverityName = Field(default="high", description="Pending or unknown, exact sub-item.")
    pending_other: SeverityName = Field(
        default="medium", description="The highest severity of any other pending or unknown licence."
    )
    small_value: float | None = Field(
        default=10_000,
        ge=0,
        description="Below this value (in the licence's currency) one step lower: a few thousand "
        "pounds buys spare parts or a demonstration unit, not a national system. null: off.",
    )
    large_value: float | None = Field(
        default=1_000_000,
        ge=0,
        description="At or above this value one step higher, but a parent code or catch-all with no "
        "surveillance named never goes above medium. null: off.",
    )


class RulesFile(StrictModel):
    news: NewsRule = Field(default_factory=NewsRule)
    licence: LicenceRule = Field(default_factory=LicenceRule)


def _languages(value: dict[str, list[str]]) -> dict[str, list[str]]:
    unknown = [k for k in value if k not in LANGUAGES]
    if unknown:
        raise ValueError(
            f"unknown language {', '.join(map(quoted, unknown))}; expected {', '.join(LANGUAGES)}"
        )
    return value


CueLists = Annotated[dict[str, list[str]], AfterValidator(_languages)]
NounClass = Literal[
    "authority",
    "victim",
    "company",
    "goods",
    "person",
    "money",
    "model",
    "organisation",
    "owner",
    "topic",
    "ban",
    "document",
]
FrameRole = Literal[
    "comparison",
    "banned",
    "lender",
    "owner",
    "origin",
    "venue",
    "topic",
    "target",
    "user",
    "recipient",
    "preposition",
    "source",
]
SuffixRole = Literal["origin", "comparison", "lender", "person"]


class AfterCues(StrictModel):
    suffix: dict[SuffixRole, list[str]] = Field(default_factory=dict)
    origin_verb: CueLists = Field(default_factory=dict)
    user_verb: CueLists = Field(default_factory=dict)


class SentenceCues(StrictModel):
    banned: CueLists = Field(default_factory=dict)
    speculation: CueLists = Field(default_factory=dict)
    unattributed: CueLists = Field(default_factory=dict)
    background: CueLists = Field(default_factory=dict)
    concession: CueLists = Field(default_factory=dict)


class RolesFile(StrictModel):
    """Cue words that tell the role of a country mention (roles.yaml)."""

    nouns: dict[NounClass, CueLists] = Field(default_factory=dict)
    before: dict[FrameRole, CueLists] = Field(default_factory=dict)
    after: AfterCues = Field(default_factory=AfterCues)
    sentence: SentenceCues = Field(default_factory=SentenceCues)


FILE_MODELS: dict[str, type[StrictModel]] = {
    "technologies": TechnologiesFile,
    "destinations": DestinationsFile,
    "vendors": VendorsFile,
    "control_codes": ControlCodesFile,
    "rules": RulesFile,
    "roles": RolesFile,
}
