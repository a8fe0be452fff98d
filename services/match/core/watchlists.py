"""Watchlist files (YAML): loading with operator overrides by id, and validation errors that name the
file, the line and the problem. The files' schema is in ``watchlist_models``; its names are
importable from here too."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from babel import Locale
from pydantic import ValidationError

from schemas import vocabulary
from services.common.config import quoted
from services.common.yamlsafe import CONSTRUCTOR_ERRORS, DepthLimitedLoader, expanded_size, unreadable_value
from services.match.core.watchlist_models import (
    FILE_MODELS,
    LANGUAGES,
    AfterCues,
    AlertTier,
    Case,
    CatchAllEntry,
    CodeEntry,
    ContextEntry,
    ControlCodesFile,
    CueLists,
    DestinationEntry,
    DestinationsFile,
    FrameRole,
    LicenceRule,
    NewsRule,
    NounClass,
    RolesFile,
    RulesFile,
    SentenceCues,
    SeverityName,
    StrictModel,
    SuffixRole,
    Tail,
    TechnologiesFile,
    TechnologyEntry,
    TermItem,
    TermSpec,
    Tier,
    VendorEntry,
    VendorsFile,
    WatchlistError,
)

__all__ = [
    "FILE_MODELS",
    "LANGUAGES",
    "AfterCues",
    "AlertTier",
    "Case",
    "CatchAllEntry",
    "CodeEntry",
    "ContextEntry",
    "ControlCodesFile",
    "CueLists",
    "DestinationEntry",
    "DestinationsFile",
    "FrameRole",
    "LicenceRule",
    "NewsRule",
    "NounClass",
    "RolesFile",
    "RulesFile",
    "SentenceCues",
    "SeverityName",
    "StrictModel",
    "SuffixRole",
    "Tail",
    "TechnologiesFile",
    "TechnologyEntry",
    "TermItem",
    "TermSpec",
    "Tier",
    "VendorEntry",
    "VendorsFile",
    "WatchlistError",
    "Watchlists",
    "bundled_dir",
    "cldr_names",
    "english_name",
    "load",
    "territory_name",
]

FILES = ("technologies", "destinations", "vendors", "control_codes", "rules", "roles")


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


def _read(path: Path, data: bytes) -> StrictModel:
    kind = path.stem
    model = FILE_MODELS.get(kind)
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
