"""Configuration models shared by the services: unknown keys are errors that name the closest known key,
and validation errors read as one line per problem with the path to it."""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails


class StrictConfig(BaseModel):
    """Configuration: unknown keys are errors that name the key and the closest known one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = sorted(cls.model_fields)
            problems = []
            for key in data:
                if key not in known:
                    close = difflib.get_close_matches(str(key), known, n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    problems.append(f"unknown key {key!r}{hint}")
            if problems:
                raise ValueError(f"{'; '.join(problems)}; known keys: {', '.join(known)}")
        return data


def error_path(loc: tuple[int | str, ...]) -> str:
    """A validation error's place as people write it: ``filters.technologies[0]``; ``(root)`` for none."""
    path = ""
    for p in loc:
        path += f"[{p}]" if isinstance(p, int) else (f".{p}" if path else str(p))
    return path or "(root)"


def error_message(err: ErrorDetails) -> str:
    """A validation error's message, without pydantic's "Value error, " prefix."""
    return err["msg"].removeprefix("Value error, ")


def error_lines(exc: ValidationError, limit: int = 20) -> list[str]:
    """``a.b[2].c: message``, one per problem, for the first ``limit`` problems of a validation error
    (and a last line saying how many more there are)."""
    lines = []
    for err in exc.errors(include_url=False)[:limit]:
        lines.append(f"{error_path(err['loc'])}: {error_message(err)}")
    more = len(exc.errors()) - limit
    return [*lines, f"and {more} more"] if more > 0 else lines


def describe_errors(exc: ValidationError, limit: int = 20) -> str:
    """``a.b[2].c: message; ...`` for the first ``limit`` problems of a validation error."""
    return "; ".join(error_lines(exc, limit))


def quoted(text: str, limit: int = 80) -> str:
    """``text`` quoted for an error message or a rejection's detail, cut after ``limit`` characters: a
    cell, a line or a YAML key can be 100,000 characters long, and the message is read in logs and dead
    letters."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text):,} characters)"


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def seconds(value: object) -> object:
    """``90``, ``"90s"``, ``"15m"``, ``"2h"``, ``"1d"`` as seconds."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration: use seconds or a number with s, m, h or d")
        return float(match.group(1)) * _UNIT[match.group(2)]
    return value


Seconds = Annotated[float, BeforeValidator(seconds), Field(gt=0, allow_inf_nan=False)]
"""A duration in configuration or a request: seconds, or a number with s, m, h or d ("15m", "7d")."""
