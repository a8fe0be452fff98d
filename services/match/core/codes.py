"""Export-control codes (EU Annex I / Wassenaar) in every published spelling, parsed to one canonical
form: upper-case stem, zero-padded number, dots between lower-case sub-levels (``5.A.1.j`` ->
``5A001.j``, ``5D002a3b`` -> ``5D002.a.3.b``)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# A whole field: "5A001.j", "5A001j", "5A001.f.4.", "5D002a3b", "5.A.1.j", "5. A. 1. j.", "5A1".
_FULL = re.compile(
    r"\s*(?P<cat>\d)\s*\.?\s*(?P<group>[A-Ea-e])\s*\.?\s*(?P<num>\d{1,3})"
    r"(?P<sub>(?:\s*\.\s*(?:[A-Za-z](?![A-Za-z])|\d{1,2})|[A-Za-z](?![A-Za-z])|\d{1,2})*)\s*\.?\s*"
)
_LEVEL = re.compile(r"[A-Za-z]|\d{1,2}")

# Inside running text the spelling must be unmistakable (three-digit number, or the dotted
# Wassenaar form), and bounded by non-alphanumerics: "…15A001J" in an id is not a code. The digit
# comes first so that the regex engine skips quickly to candidate positions.
_SUB = r"(?:[a-z](?:\d{1,2}[a-z]?)*)?(?:\.\s?(?:[a-z]|\d{1,2})(?![a-z0-9]))*"
_IN_TEXT = re.compile(
    r"\d(?<![a-z0-9.]\d)(?:[a-e]\d{3}|\.\s?[a-e]\.\s?\d{1,3})" + _SUB + r"(?![a-z0-9])",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True, order=True)
class ControlCode:
    """A control-list entry such as 5A001.j: category digit, product group letter, number, sub-levels."""

    category: int
    group: str
    number: int
    sub: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> ControlCode | None:
        """The code written in ``text`` (the whole of it), or None when it is not an Annex-style code
        (``ML11``, ``PL5017``, ``5EC2``, ``End Use`` give None)."""
        m = _FULL.fullmatch(text)
        if m is None:
            return None
        sub = tuple(level.lower() for level in _LEVEL.findall(m.group("sub")))
        return cls(int(m.group("cat")), m.group("group").upper(), int(m.group("num")), sub)

    @property
    def stem(self) -> str:
        return f"{self.category}{self.group}{self.number:03d}"

    @property
    def canonical(self) -> str:
        return ".".join((self.stem, *self.sub))

    @property
    def parent(self) -> ControlCode:
        return ControlCode(self.category, self.group, self.number)

    @property
    def is_parent_only(self) -> bool:
        return not self.sub

    def within(self, prefix: ControlCode) -> bool:
        """True when this code is ``prefix`` or one of its sub-items."""
        return self.stem == prefix.stem and self.sub[: len(prefix.sub)] == prefix.sub

    def __str__(self) -> str:
        return self.canonical


def find_codes(text: str) -> Iterator[tuple[int, int, ControlCode]]:
    """Every control code written in running text, as (start, end, code)."""
    for m in _IN_TEXT.finditer(text):
        code = ControlCode.parse(m.group())
        if code is not None:
            yield m.start(), m.end(), code


def find_codes_at(text: str, starts: Iterable[int]) -> Iterator[tuple[int, int, ControlCode]]:
    """The control codes that start at the given offsets of running text (candidates found by the
    term scan), as (start, end, code)."""
    for start in starts:
        m = _IN_TEXT.match(text, start)
        if m is not None:
            code = ControlCode.parse(m.group())
            if code is not None:
                yield m.start(), m.end(), code


def find_field_code(text: str) -> tuple[int, int, ControlCode] | None:
    """A licence item's code field: the whole (trimmed) field if it is one code, else None."""
    code = ControlCode.parse(text)
    if code is None:
        return None
    start = len(text) - len(text.lstrip())
    end = len(text.rstrip())
    while end > start and text[end - 1] == ".":  # a trailing dot is punctuation, not a level
        end -= 1
    return start, end, code
