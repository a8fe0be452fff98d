"""The subscriptions file: subscriptions an operator declares in YAML, with secrets taken from the
environment as ``${VAR}``. Pure: the caller reads the file and passes its text and the environment.

    subscriptions:
      - id: amnesty-slack            # unique in the file: letters, digits, . _ -
        owner: amnesty
        name: Facial recognition to China
        filters: {technologies: [facial-recognition], destinations: [CN], min_severity: medium}
        channel: {type: slack, url: "${AMNESTY_SLACK_URL}"}

``${VAR}`` and ``${VAR:-default}`` (default when VAR is unset or empty) are replaced inside string values
after the YAML is parsed, so a value from the environment is always a plain string and cannot change the
structure of the file; ``$$`` is a literal ``$``. Top-level keys starting with ``x-`` are ignored: a place
for YAML anchors shared by several subscriptions.

Errors list every problem at once (up to 50, then how many more), with its path
(``subscriptions[1].channel.url: ...``) and line, and never show a value taken from the environment.

The YAML is read with YAML 1.2 scalars: ``NO`` (Norway) and ``on`` stay strings and ``8:00`` is not a
number (YAML 1.1 would make them false, true and 480).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import Field, ValidationError
from pydantic_core import PydanticCustomError

from services.common.config import StrictConfig, error_lines
from services.common.yamlsafe import CONSTRUCTOR_ERRORS, DepthLimitedLoader, unreadable_value
from services.notify.core.model import (
    CHANNEL_TYPES,
    DEFAULT_MAX_RECIPIENTS,
    OwnerName,
    SafeId,
    SubscriptionSpec,
    known_ids,
)
from services.notify.core.vocabulary import Vocabulary

Loc = tuple[int | str, ...]


class SubscriptionsFileError(ValueError):
    """The subscriptions file cannot be used; the message lists every problem with its path.

    ``problems`` holds them one by one (``subscriptions[2].filters.technologies[0]: unknown technology
    'spywar'; did you mean 'spyware'? (line 12)``) when there are any, for a report of one per line."""

    def __init__(self, message: str, problems: Sequence[str] = (), heading: str = "") -> None:
        super().__init__(message)
        self.problems = tuple(problems)
        self.heading = heading or message

    def report(self) -> str:
        """The error to print: its heading, then each problem on a line of its own."""
        if not self.problems:
            return str(self)
        return "\n".join([f"{self.heading}:", *(f"  {p}" for p in self.problems)])


@dataclass(frozen=True)
class FileSubscription:
    """A subscription declared in the file: ``id`` is unique in the file, ``owner`` who it belongs to."""

    id: str
    owner: str
    spec: SubscriptionSpec


class _Entry(SubscriptionSpec):
    id: SafeId = Field(description="Unique in the file: 1-128 letters, digits, '.', '_' or '-'.")
    owner: OwnerName = Field(
        description="Who the subscription belongs to (same characters as ids; not 'admin', the admin "
        "token's own)."
    )


class _File(StrictConfig):
    subscriptions: list[_Entry] = Field(default_factory=list)


# --- YAML: safe, YAML 1.2 booleans and numbers, duplicate keys are errors ------------------------------

_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"


class _Loader(DepthLimitedLoader):
    """SafeLoader with YAML 1.2 core-schema booleans and numbers, refusing duplicate keys and documents
    nested deeper than any subscriptions file is."""

    max_depth = 51  # _MAX_DEPTH levels of values under the document's top level

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):  # "!!map [a]": the base class says so, with the line
            return super().construct_mapping(node, deep=deep)
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # "<<: *defaults": explicit keys may override merged ones
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # an unhashable key: the base class reports it
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is repeated (first on line {first})", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL, _INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader.add_implicit_resolver(_INT, re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789"))
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _parse(text: str, source: str) -> tuple[Any, yaml.Node | None]:
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # its reader refuses control characters (a NUL) at once
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        detail = f"{context}: {problem}" if context else problem
        raise SubscriptionsFileError(f"{source}: {where}invalid YAML: {detail}") from None
    except RecursionError:
        raise SubscriptionsFileError(f"{source}: invalid YAML: nested too deeply") from None
    except CONSTRUCTOR_ERRORS as exc:
        raise SubscriptionsFileError(f"{source}: invalid YAML: {unreadable_value(exc)}") from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, node


def _line(node: yaml.Node | None, loc: Loc) -> int | None:
    """1-based line of the deepest node on the path ``loc``."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        nxt: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            nxt = node.value[key]
        if nxt is None:
            break
        node = nxt
        line = node.start_mark.line + 1
    return line


# --- ${VAR} substitution --------------------------------------------------------------------------------

_MAX_VALUES = 100_000
_MAX_DEPTH = 50
_MAX_PROBLEMS = 50
_REFERENCE = re.compile(r"\$(?:\$|\{([^}]*)\}|\{)")
_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.DOTALL)


@dataclass
class _Substitutions:
    env: Mapping[str, str]
    problems: list[tuple[Loc, str]]
    values: list[tuple[Loc, str, str]]  # (where, value from the environment, what the file said)
    count: int = 0

    def string(self, text: str, loc: Loc) -> str:
        if "$" not in text:
            return text
        out: list[str] = []
        pos = 0
        used_env = False
        for m in _REFERENCE.finditer(text):
            out.append(text[pos : m.start()])
            pos = m.end()
            ref = m.group(0)
            if ref == "$$":
                out.append("$")
                continue
            inner = m.group(1)
            parsed = _NAME.match(inner) if inner is not None else None
            if parsed is None:
                shown = ref if inner is not None else "${ without a closing }"
                self.problems.append(
                    (loc, f"{shown[:60]} is not a variable reference: use ${{NAME}} or ${{NAME:-default}}")
                )
                out.append(ref)
                continue
            name, default = parsed.group(1), parsed.group(2)
            value = self.env.get(name)
            if value:
                out.append(value)
                used_env = True
            elif default is not None:
                out.append(default)
            else:
                state = "is empty" if value == "" else "is not set"
                self.problems.append((loc, f"environment variable {name} {state}"))
                out.append(ref)  # left as written, so that other messages show the reference
        out.append(text[pos:])
        result = "".join(out)
        if used_env:
            self.values.append((loc, result, text))
        return result

    def walk(self, value: Any, loc: Loc) -> Any:
        self.count += 1
        if self.count > _MAX_VALUES or len(loc) > _MAX_DEPTH:
            # YAML aliases can make a short file huge (or endless): refuse rather than hang
            raise SubscriptionsFileError(
                f"more than {_MAX_VALUES} values or deeper than {_MAX_DEPTH} levels once aliases are expanded"
            )
        if isinstance(value, str):
            return self.string(value, loc)
        if isinstance(value, dict):
            return {k: self.walk(v, (*loc, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.walk(v, (*loc, i)) for i, v in enumerate(value)]
        return value


# --- errors -------------------------------------------------------------------------------------------


def _clean_loc(loc: tuple[int | str, ...]) -> Loc:
    """Drop the channel-type tag pydantic adds to the path of a discriminated union
    (``channel.slack.url`` -> ``channel.url``)."""
    out: list[int | str] = []
    for i, part in enumerate(loc):
        if i > 0 and loc[i - 1] == "channel" and part in CHANNEL_TYPES:
            continue
        out.append(part)
    return tuple(out)


def _related(a: Loc, b: Loc) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _hides(where: Loc, loc: Loc, message: str) -> bool:
    """Whether a substitution problem at ``where`` explains a validation error at ``loc``."""
    if loc[: len(where)] == where:
        return True
    return where[: len(loc)] == loc and "${" in message


def _lower(text: str) -> str:
    """Lower case, one character for one (so positions stay valid)."""
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def _redact(message: str, loc: Loc, values: list[tuple[Loc, str, str]]) -> str:
    """Replace what came from the environment by the ``${VAR}`` the file has there.

    At the path of a substituted value (or above or below it) any piece of 8 characters or more of the
    value is replaced, whatever its case, so a message that shows the value cut short or upper-cased
    does not leak it; elsewhere the whole value is, when it is at least 4 characters long."""
    templates: list[str] = []  # the n-th replaced piece is marked by the private-use character U+E000+n
    for where, value, template in sorted(values, key=lambda v: -len(v[1])):
        related = _related(where, loc)
        shortest = min(len(value), 8) if related else len(value)
        if not value or (shortest < 4 and not related):
            continue
        needle = _lower(value)
        while len(templates) < 1000:
            match = difflib.SequenceMatcher(
                None, _lower(message), needle, autojunk=False
            ).find_longest_match()
            if match.size == 0 or match.size < shortest:
                break
            message = message[: match.a] + chr(0xE000 + len(templates)) + message[match.a + match.size :]
            templates.append(template)
    for n, template in enumerate(templates):
        message = message.replace(chr(0xE000 + n), template)
    return message


def _message(err: Any) -> str:
    if err["type"] == "union_tag_not_found":
        return f"a channel needs a type: one of {', '.join(CHANNEL_TYPES)}"
    return str(err["msg"]).removeprefix("Value error, ")


def _duplicates(raw: Any) -> list[tuple[Loc, str]]:
    entries = raw.get("subscriptions") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        return []
    first: dict[str, int] = {}
    problems: list[tuple[Loc, str]] = []
    for i, entry in enumerate(entries):
        ident = entry.get("id") if isinstance(entry, dict) else None
        if not isinstance(ident, str):
            continue
        if ident in first:
            problems.append(
                (("subscriptions", i, "id"), f"duplicate id {ident!r}, also subscriptions[{first[ident]}]")
            )
        else:
            first[ident] = i
    return problems


_SHARED = Vocabulary.shared()


def load_subscriptions(
    text: str,
    env: Mapping[str, str],
    source: str = "<file>",
    vocabulary: Vocabulary = _SHARED,
    max_recipients: int = DEFAULT_MAX_RECIPIENTS,
) -> list[FileSubscription]:
    """The subscriptions declared in ``text`` (the YAML file), with ``${VAR}`` taken from ``env``, and
    the technology, destination and vendor ids of their filters in ``vocabulary``.

    Raises SubscriptionsFileError listing every problem as ``path: message (line N)``."""
    raw, node = _parse(text, source)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SubscriptionsFileError(
            f"{source}: line 1: the file must be a mapping with a 'subscriptions' list"
        )
    # Top-level keys starting with "x-" are the operator's, for YAML anchors (as in compose files).
    raw = {k: v for k, v in raw.items() if not (isinstance(k, str) and k.startswith("x-"))}
    if raw.get("subscriptions", ()) is None:  # "subscriptions:" with every entry commented out
        raw["subscriptions"] = []
    subs = _Substitutions(env=env, problems=[], values=[])
    try:
        data = subs.walk(raw, ())
    except SubscriptionsFileError as exc:
        raise SubscriptionsFileError(f"{source}: {exc}") from None
    problems: list[tuple[Loc, str]] = list(subs.problems)
    parsed: _File | None = None
    try:
        parsed = _File.model_validate(data, context=known_ids(vocabulary, max_recipients))
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc = _clean_loc(err["loc"])
            message = _message(err)
            if any(_hides(where, loc, message) for where, _ in subs.problems):
                continue  # the missing variable is the problem, not the text left in its place
            problems.append((loc, _redact(message, loc, subs.values)))
    problems.extend(_duplicates(data))
    if problems or parsed is None:
        problems.sort(key=lambda p: tuple((0, x, "") if isinstance(x, int) else (1, 0, x) for x in p[0]))
        line_errors: list[Any] = []
        for loc, problem in problems:
            line = _line(node, loc)
            message = problem if len(problem) <= 200 else problem[:200] + "…"  # a huge key, a long value
            shown = f"{message} (line {line})" if line is not None else message
            error = PydanticCustomError("subscriptions_file", shown)
            line_errors.append({"type": error, "loc": loc, "input": None})
        # A bounded message: a generated file with thousands of bad entries gave a message as long.
        lines = error_lines(
            ValidationError.from_exception_data("subscriptions file", line_errors), limit=_MAX_PROBLEMS
        )
        heading = f"{source}: " + (f"{len(problems)} problems" if len(problems) != 1 else "1 problem")
        raise SubscriptionsFileError(f"{heading}: {'; '.join(lines)}", lines, heading)
    return [
        FileSubscription(
            id=entry.id,
            owner=entry.owner,
            spec=SubscriptionSpec.model_construct(
                _fields_set=entry.model_fields_set - {"id", "owner"},
                **{name: getattr(entry, name) for name in SubscriptionSpec.model_fields},
            ),
        )
        for entry in parsed.subscriptions
    ]
