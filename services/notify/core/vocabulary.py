"""The ids a subscription may filter on, and the closest known one to suggest for an id it may not.
Pure: no I/O.

The ids are the shared vocabulary (``schemas.vocabulary``, the ids match writes into alerts) plus those
an operator added to match's watchlists and listed in notify's settings. A subscription naming any
other id would never receive an alert, so it is refused with a suggestion: "unknown technology
'spywar'; did you mean 'spyware'?", "unknown destination 'Rusia'; did you mean 'RU' (Russia)?".
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from schemas import vocabulary as shared
from services.common.config import quoted

Kind = Literal["technology", "destination", "vendor"]
KINDS: tuple[Kind, ...] = ("technology", "destination", "vendor")

# Codes people write that are not the ISO ones: suggestions only, never accepted.
_CODE_ALIASES = {"UK": "GB", "EL": "GR", "USA": "US", "UAE": "AE", "KSA": "SA"}
_CUTOFF = 0.6  # difflib's default: 'spywar' -> 'spyware', 'Rusia' -> 'Russia'
_LISTED = 20  # known ids named when nothing is close, at most


def _slug(text: str) -> str:
    """Lower case, accents removed, every run of other characters one '-' ("Hacking Team" ->
    "hacking-team")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-")


def normalise(kind: Kind, value: str) -> str:
    """The form filters store: destinations upper case, other ids lower case, spaces around removed."""
    return value.strip().upper() if kind == "destination" else value.strip().lower()


@dataclass(frozen=True)
class UnknownId:
    """An id no alert can carry, with the closest known id (or None) and the reason in words."""

    kind: Kind
    value: str
    suggestion: str | None
    message: str


@dataclass(frozen=True)
class Vocabulary:
    """Known ids of each kind, with the names people know them by (an operator's extra ids are named by
    their id)."""

    technologies: Mapping[str, str]
    destinations: Mapping[str, str]
    vendors: Mapping[str, str]
    # The forms an id may be written in (slug -> id), computed once: ids and names for technologies and
    # vendors, names for destinations (their codes are matched as codes).
    _forms: dict[Kind, dict[str, str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        forms: dict[Kind, dict[str, str]] = {
            "technology": _forms(self.technologies),
            "vendor": _forms(self.vendors),
            "destination": {_slug(name): code for code, name in self.destinations.items()},
        }
        object.__setattr__(self, "_forms", forms)

    @classmethod
    def shared(
        cls,
        *,
        technologies: Iterable[str] = (),
        destinations: Iterable[str] = (),
        vendors: Iterable[str] = (),
    ) -> Vocabulary:
        """The shared vocabulary plus the ids an operator added to match's watchlists."""

        def extended(base: Mapping[str, str], kind: Kind, extra: Iterable[str]) -> dict[str, str]:
            ids = {normalise(kind, e) for e in extra}
            return {**base, **{e: base.get(e, e) for e in sorted(ids) if e}}

        return cls(
            technologies=extended(shared.TECHNOLOGIES, "technology", technologies),
            destinations=extended(shared.DESTINATIONS, "destination", destinations),
            vendors=extended(shared.VENDORS, "vendor", vendors),
        )

    def known(self, kind: Kind) -> Mapping[str, str]:
        if kind == "technology":
            return self.technologies
        if kind == "destination":
            return self.destinations
        return self.vendors

    def check(self, kind: Kind, value: str) -> UnknownId | None:
        """None when ``value`` (as a subscription writes it: any case, spaces around) is a known id of
        ``kind`` or blank; else what is wrong, with the closest known id."""
        ident = normalise(kind, value)
        known = self.known(kind)
        if not ident or ident in known:
            return None
        given = value.strip()
        shown = quoted(given)
        other = next((k for k in KINDS if k != kind and normalise(k, value) in self.known(k)), None)
        if other is not None:  # 'CN' under technologies, 'huawei' under destinations
            message = f"unknown {kind} {shown}: it is a {other} id, a filter under {_FIELD[other]!r}"
            return UnknownId(kind, given, None, message)
        suggestion = self._destination(given) if kind == "destination" else _closest(given, self._forms[kind])
        if suggestion is not None:
            name = f" ({known[suggestion]})" if kind == "destination" else ""
            message = f"unknown {kind} {shown}; did you mean {suggestion!r}{name}?"
        elif kind == "destination":
            message = (
                f"unknown destination {shown}: use the ISO alpha-2 code of a country the watchlists know, "
                "such as CN or AE"
            )
        else:
            listed = sorted(known)
            more = f" and {len(listed) - _LISTED} more" if len(listed) > _LISTED else ""
            message = f"unknown {kind} {shown}; known: {', '.join(listed[:_LISTED])}{more}"
        return UnknownId(kind, given, suggestion, message)

    def _destination(self, value: str) -> str | None:
        """The destination meant, by code or by country name: 'UK' -> GB, 'C.N.' -> CN, 'china' -> CN,
        'Rusia' -> RU, 'Emirates' -> AE, 'CNN' -> CN."""
        letters = re.sub(r"[^A-Za-z]", "", value).upper()
        alias = _CODE_ALIASES.get(letters)
        if alias in self.destinations:
            return alias
        if len(letters) == 2 and letters in self.destinations:
            return letters
        by_name = _closest(value, self._forms["destination"])
        return by_name if by_name is not None else _only_best(letters, {c: c for c in self.destinations})


_FIELD: dict[Kind, str] = {"technology": "technologies", "destination": "destinations", "vendor": "entities"}


def _forms(known: Mapping[str, str]) -> dict[str, str]:
    """Each id and the slug of its name -> the id."""
    forms: dict[str, str] = {}
    for ident, name in known.items():
        forms.setdefault(ident, ident)
        forms.setdefault(_slug(name), ident)
    return forms


def _closest(value: str, forms: Mapping[str, str]) -> str | None:
    """The id meant by ``value``, given the forms it may be written in (slug -> id): the same slug
    ('Hacking Team', 'Spyware'), a word of one form only ('nso', 'cognyte', 'Emirates'), or a typo
    ('spywar', 'Rusia'). None when nothing is close, or when several ids are ('Korea', 'Congo')."""
    slug = _slug(value)
    if not slug:
        return None
    if slug in forms:
        return forms[slug]
    having = {ident for form, ident in forms.items() if f"-{slug}-" in f"-{form}-"}
    if having:
        return having.pop() if len(having) == 1 else None
    # Two letters are too few to be a typo of anything: 'on' is not 'Oman'.
    return _only_best(slug, forms) if len(slug) > 2 else None


def _only_best(value: str, forms: Mapping[str, str]) -> str | None:
    """The id whose form is closest to ``value`` (difflib's ratio, at least the cutoff), or None when
    none is close or the closest forms belong to several ids ('RUS' is as close to RU as to US)."""
    if len(value) < 2:
        return None
    matcher = difflib.SequenceMatcher(None, b=value)
    best = _CUTOFF
    top: set[str] = set()
    for form, ident in forms.items():
        matcher.set_seq1(form)
        # The quick upper bounds first, as difflib.get_close_matches does: most forms stop there.
        if matcher.real_quick_ratio() < best or matcher.quick_ratio() < best:
            continue
        score = matcher.ratio()
        if score > best:
            best, top = score, {ident}
        elif score == best:
            top.add(ident)
    return top.pop() if len(top) == 1 else None
