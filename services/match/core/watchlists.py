"""Watchlist files (YAML): their schema, loading with operator overrides by id, and validation errors
that name the file, the line and the problem."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from babel import Locale
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from schemas import vocabulary
from services.common.config import quoted
from services.common.yamlsafe import CONSTRUCTOR_ERRORS, DepthLimitedLoader, expanded_size, unreadable_value
from services.match.core.codes import ControlCode

LANGUAGES = ("en", "nl", "fr", "de", "es")
FILES = ("technologies", "destinations", "vendors", "control_codes", "rules", "roles")

Case = Literal["any", "title", "upper", "exact"]
Tail = Literal["none", "plural", "inflect", "compound"]
Tier = Literal["core", "further", "optional", "none"]
# "none": not a high-risk destination; listed so that the matcher can tell when another country is
# the buyer or user (a domestic scandal in Spain, cameras bought by British councils).
AlertTier = Literal["core", "further", "optional"]
SeverityName = Literal["low", "medium", "high", "critical"]


class WatchlistError(ValueError):
    """A watchlist file is invalid; the message names the file, the line when known, and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TermSpec(_Strict):
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


class TechnologyEntry(_Strict):
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


class ContextEntry(_Strict):
    id: str = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
    rationale: str = Field(min_length=1)
    enabled: bool = True
    terms: dict[str, list[TermItem]] = Field(default_factory=dict)


class DestinationEntry(_Strict):
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


class VendorEntry(_Strict):
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


class CodeEntry(_Strict):
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


class CatchAllEntry(_Strict):
    id: str = Field(min_length=1, description="How the catch-all appears in alerts, e.g. 'End Use'.")
    label: str = Field(min_length=1)
    terms: list[str] = Field(min_length=1)
    rationale: str = Field(min_length=1)
    source: str | None = None
    enabled: bool = True


class TechnologiesFile(_Strict):
    near: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Named word lists that terms reuse as `near: *name` (YAML anchors); not terms.",
    )
    technologies: list[TechnologyEntry] = Field(default_factory=list)
    context: list[ContextEntry] = Field(default_factory=list)


class DestinationsFile(_Strict):
    alert_tiers: list[AlertTier] | None = None
    negative: list[str] | None = None
    destinations: list[DestinationEntry] = Field(default_factory=list)

    @field_validator("negative")
    @classmethod
    def _negative(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _check_patterns(value)


class VendorsFile(_Strict):
    vendors: list[VendorEntry] = Field(default_factory=list)


class ControlCodesFile(_Strict):
    codes: list[CodeEntry] = Field(default_factory=list)
    catch_all: list[CatchAllEntry] = Field(default_factory=list)


class NewsRule(_Strict):
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


class LicenceRule(_Strict):
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


class RulesFile(_Strict):
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


class AfterCues(_Strict):
    suffix: dict[SuffixRole, list[str]] = Field(default_factory=dict)
    origin_verb: CueLists = Field(default_factory=dict)
    user_verb: CueLists = Field(default_factory=dict)


class SentenceCues(_Strict):
    banned: CueLists = Field(default_factory=dict)
    speculation: CueLists = Field(default_factory=dict)
    unattributed: CueLists = Field(default_factory=dict)
    background: CueLists = Field(default_factory=dict)
    concession: CueLists = Field(default_factory=dict)


class RolesFile(_Strict):
    """Cue words that tell the role of a country mention (roles.yaml)."""

    nouns: dict[NounClass, CueLists] = Field(default_factory=dict)
    before: dict[FrameRole, CueLists] = Field(default_factory=dict)
    after: AfterCues = Field(default_factory=AfterCues)
    sentence: SentenceCues = Field(default_factory=SentenceCues)


_MODELS: dict[str, type[_Strict]] = {
    "technologies": TechnologiesFile,
    "destinations": DestinationsFile,
    "vendors": VendorsFile,
    "control_codes": ControlCodesFile,
    "rules": RulesFile,
    "roles": RolesFile,
}


@dataclass(frozen=True)
class Watchlists:
    """All entries after merging defaults and operator folders (disabled entries removed)."""

    technologies: dict[str, TechnologyEntry]
    context: dict[str, ContextEntry]
    destinations: dict[str, DestinationEntry]
    alert_tiers: frozenset[str]
    destination_negative: tuple[str, ...]
    vendors: dict[str, VendorEntry]
    codes: dict[str, CodeEntry]
    catch_all: dict[str, CatchAllEntry]
    version: str
    origins: dict[str, Path]
    rules: RulesFile = field(default_factory=RulesFile)
    roles: RolesFile = field(default_factory=RolesFile)
    beyond_vocabulary: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Ids an operator folder added that the shared vocabulary (``schemas.vocabulary``) lacks, by section
    (technologies, destinations, vendors): alerts carry them, but notify refuses subscriptions naming
    them unless its settings list them."""

    def origin(self, section: str, ident: str) -> str:
        """The file an entry was loaded from, for error messages."""
        path = self.origins.get(f"{section}:{ident}")
        return str(path) if path is not None else section


def bundled_dir() -> Path:
    return Path(str(resources.files("services.match.watchlists")))


def _line_of(node: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """1-based line of the deepest YAML node on the path ``loc`` (from a pydantic error)."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            nxt = node.value[key]
        else:
            nxt = None
        if nxt is None:
            break
        node = nxt
        line = node.start_mark.line + 1
    return line


_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MAX_NESTING = 1_000
_MAX_DEPTH = 100  # levels the Python loader reads; the bundled lists have 8
_MAX_VALUES = 500_000  # with aliases expanded; the bundled lists have about 2,000
_LEADING = re.compile(r"^[ \t?:-]*", re.MULTILINE)
_VALUE_ERRORS: tuple[type[Exception], ...] = (*CONSTRUCTOR_ERRORS, TypeError)


class _PythonLoader(DepthLimitedLoader):
    """The pure-Python SafeLoader, refusing documents nested deeper than any watchlist is."""

    max_depth = _MAX_DEPTH


def _loader_for(text: str) -> type[yaml.SafeLoader]:
    """libyaml (fast) for text that cannot nest deeply, else the pure-Python loader. libyaml builds the
    nodes recursively in C: some ten thousand levels of "[[[[" crash the whole process instead of
    raising, and its scanner slows down with the square of the depth. The Python loader stops at the
    recursion limit with an error. The bound never underestimates: it counts every opening bracket
    (quoted or not) and the deepest indentation, compact "- - -" and "? :" indicators included."""
    leading = max((len(m) for m in _LEADING.findall(text)), default=0)
    bound = text.count("[") + text.count("{") + leading
    return _LOADER if bound <= _MAX_NESTING else _PythonLoader


def _read(path: Path, data: bytes) -> _Strict:
    kind = path.stem
    model = _MODELS.get(kind)
    if model is None:
        raise WatchlistError(f"{path}: unknown watchlist file; expected one of {', '.join(FILES)} (.yaml)")
    try:
        text = data.decode("utf-8")
        raw: Any = yaml.load(text, Loader=_loader_for(text))  # noqa: S506 - a safe loader
    except UnicodeDecodeError:
        raise WatchlistError(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise WatchlistError(f"{path}:{where} invalid YAML: {getattr(exc, 'problem', exc)}") from None
    except RecursionError:
        raise WatchlistError(f"{path}: invalid YAML: nested too deeply") from None
    except _VALUE_ERRORS as exc:
        raise WatchlistError(f"{path}: invalid YAML: {unreadable_value(exc)}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise WatchlistError(f"{path}: line 1: the file must be a mapping with keys such as {kind!r}")
    if expanded_size(raw, _MAX_VALUES) > _MAX_VALUES:
        raise WatchlistError(f"{path}: more than {_MAX_VALUES:,} values once YAML aliases are expanded")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        try:
            node: yaml.Node | None = yaml.compose(text, Loader=_PythonLoader)  # only now: line numbers
        except yaml.YAMLError:  # deeper than the Python loader goes, though libyaml read it
            node = None
        problems = []
        for err in exc.errors(include_url=False)[:5]:
            loc = [p for p in err["loc"] if isinstance(p, int | str)]
            line = _line_of(node, loc)
            where = ".".join(str(p)[:100] for p in loc) or "(file)"
            problems.append(f"line {line}: {where}: {err['msg']}" if line else f"{where}: {err['msg']}")
        raise WatchlistError(f"{path}: " + "; ".join(problems)) from None


def _merge(
    target: dict[str, Any],
    entries: Sequence[Any],
    key: str,
    path: Path,
    section: str,
    origins: dict[str, Path],
) -> None:
    seen: set[str] = set()
    for entry in entries:
        ident = getattr(entry, key)
        if ident in seen:
            raise WatchlistError(f"{path}: {section}: duplicate id {quoted(ident)}")
        seen.add(ident)
        target[ident] = entry
        origins[f"{section}:{ident}"] = path


def load(extra_dirs: Sequence[Path] = ()) -> Watchlists:
    """Load the bundled defaults, then each operator folder (same file names; entries replace the
    defaults with the same id, ``enabled: false`` removes one)."""
    folders = [bundled_dir(), *extra_dirs]
    digest = hashlib.sha256()
    technologies: dict[str, TechnologyEntry] = {}
    context: dict[str, ContextEntry] = {}
    destinations: dict[str, DestinationEntry] = {}
    vendors: dict[str, VendorEntry] = {}
    codes: dict[str, CodeEntry] = {}
    catch_all: dict[str, CatchAllEntry] = {}
    alert_tiers: list[str] = ["core", "further"]
    negative: list[str] = []
    origins: dict[str, Path] = {}
    rules: dict[str, dict[str, Any]] = {"news": {}, "licence": {}}
    roles: dict[str, Any] = {}
    for folder in folders:
        if not folder.is_dir():
            raise WatchlistError(f"{folder}: not a folder")
        paths = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
        for path in paths:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise WatchlistError(f"{path}: cannot read: {exc.strerror}") from None
            digest.update(path.name.encode() + b"\0" + data + b"\0")
            parsed = _read(path, data)
            if isinstance(parsed, TechnologiesFile):
                _merge(technologies, parsed.technologies, "id", path, "technologies", origins)
                _merge(context, parsed.context, "id", path, "context", origins)
            elif isinstance(parsed, DestinationsFile):
                _merge(destinations, parsed.destinations, "id", path, "destinations", origins)
                if parsed.alert_tiers is not None:
                    alert_tiers = list(parsed.alert_tiers)
                if parsed.negative is not None:
                    negative = list(parsed.negative)
            elif isinstance(parsed, VendorsFile):
                _merge(vendors, parsed.vendors, "id", path, "vendors", origins)
            elif isinstance(parsed, RulesFile):
                # a later file changes only the settings it names
                rules["news"].update(parsed.news.model_dump(exclude_unset=True))
                rules["licence"].update(parsed.licence.model_dump(exclude_unset=True))
            elif isinstance(parsed, RolesFile):
                _merge_cues(roles, parsed.model_dump(exclude_unset=True))
            elif isinstance(parsed, ControlCodesFile):
                _merge(codes, parsed.codes, "code", path, "codes", origins)
                _merge(catch_all, parsed.catch_all, "id", path, "catch_all", origins)
    lists = Watchlists(
        technologies={k: v for k, v in technologies.items() if v.enabled},
        context={k: v for k, v in context.items() if v.enabled},
        destinations={k: v for k, v in destinations.items() if v.enabled},
        alert_tiers=frozenset(alert_tiers),
        destination_negative=tuple(negative),
        vendors={k: v for k, v in vendors.items() if v.enabled},
        codes={k: v for k, v in codes.items() if v.enabled},
        catch_all={k: v for k, v in catch_all.items() if v.enabled},
        version="wl-" + digest.hexdigest()[:12],
        origins=origins,
        rules=RulesFile.model_validate(rules),
        roles=RolesFile.model_validate(roles),
    )
    _check_references(lists)
    return replace(lists, beyond_vocabulary=_check_vocabulary(lists, folders[0]))


def _merge_cues(target: dict[str, Any], given: dict[str, Any]) -> None:
    """A later roles.yaml replaces the cue lists it names (section, role, language) and keeps the rest."""
    for key, value in given.items():
        if isinstance(value, dict):
            _merge_cues(target.setdefault(key, {}), value)
        else:
            target[key] = value


def _check_references(lists: Watchlists) -> None:
    known = set(lists.technologies)
    for vendor in lists.vendors.values():
        for tech in vendor.technologies:
            if tech not in known:
                where = lists.origin("vendors", vendor.id)
                problem = f"{quoted(vendor.id)}: unknown technology {quoted(tech)}"
                raise WatchlistError(f"{where}: vendors: {problem}")
    for code in lists.codes.values():
        for tech in code.technologies:
            if tech not in known:
                where = lists.origin("codes", code.code)
                problem = f"{quoted(code.code)}: unknown technology {quoted(tech)}"
                raise WatchlistError(f"{where}: codes: {problem}")


_VOCABULARY: dict[str, Mapping[str, str]] = {
    "technologies": vocabulary.TECHNOLOGIES,
    "destinations": vocabulary.DESTINATIONS,
    "vendors": vocabulary.VENDORS,
}


def _check_vocabulary(lists: Watchlists, bundled: Path) -> dict[str, tuple[str, ...]]:
    """The ids beyond the shared vocabulary, by section. A bundled entry must be in it (else
    WatchlistError): the vocabulary is what notify lets subscriptions name, so an id only the bundled
    files had would make alerts nobody can subscribe to. An operator folder may go beyond it."""
    beyond: dict[str, tuple[str, ...]] = {}
    for section, known in _VOCABULARY.items():
        entries: dict[str, Any] = getattr(lists, section)
        extra = [ident for ident in entries if ident not in known]
        for ident in extra:
            where = lists.origins.get(f"{section}:{ident}")
            if where is not None and where.parent == bundled:
                raise WatchlistError(
                    f"{where}: {section}: {quoted(ident)} is not in the shared vocabulary "
                    "(schemas/vocabulary.py): add it there too"
                )
        if extra:
            beyond[section] = tuple(sorted(extra))
    return beyond


@cache
def _territories(lang: str) -> dict[str, str]:
    return dict(Locale(lang).territories)


def cldr_names(code: str) -> list[str]:
    """Country names from CLDR in the five languages; parenthesised variants become names too."""
    names: list[str] = []
    for lang in LANGUAGES:
        name = _territories(lang).get(code)
        if not name:
            continue
        m = re.fullmatch(r"(.+?)\s*\((.+)\)", name)
        names.extend([m.group(1), m.group(2)] if m else [name])
    return list(dict.fromkeys(names))


def territory_name(code: str) -> str:
    """The English CLDR name of a country code, or the code itself when CLDR has none."""
    return _territories("en").get(code, code)


def english_name(entry: DestinationEntry) -> str:
    return entry.name or territory_name(entry.id)
