"""Control codes in every published spelling, parsed to the canonical form."""

from __future__ import annotations

import pytest

from services.match.core.codes import ControlCode, find_codes, find_field_code


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("5A001.j", "5A001.j"),
        ("5A001j", "5A001.j"),
        ("5A001J", "5A001.j"),
        ("5A001.f.4.", "5A001.f.4"),
        ("5D002a3b", "5D002.a.3.b"),
        ("5d002.A.3.B", "5D002.a.3.b"),
        ("5A002a1", "5A002.a.1"),
        ("5.A.1.j", "5A001.j"),
        ("5. A. 1. j.", "5A001.j"),
        ("5A001", "5A001"),
        (" 5A001 ", "5A001"),
        ("4A005", "4A005"),
        ("4D004", "4D004"),
        ("4E001.c", "4E001.c"),
        ("5A1", "5A001"),
        ("ML11", None),
        ("PL5017", None),
        ("5EC2", None),
        ("End Use", None),
        ("", None),
        ("5A001 telecom", None),
    ],
)
def test_parse(text: str, canonical: str | None) -> None:
    code = ControlCode.parse(text)
    assert (code.canonical if code else None) == canonical


def test_prefix_and_parent() -> None:
    code = ControlCode.parse("5A001.f.4")
    assert code is not None
    assert code.within(ControlCode(5, "A", 1, ("f",)))
    assert code.within(ControlCode(5, "A", 1))
    assert not code.within(ControlCode(5, "A", 1, ("j",)))
    assert code.parent.canonical == "5A001"
    assert not code.is_parent_only and code.parent.is_parent_only


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("exported 5A001.j items", ["5A001.j"]),
        ("Wassenaar 5. A. 1. j. and more", ["5A001.j"]),
        ("codes 5D002a3b, 5A001.f.4.", ["5D002.a.3.b", "5A001.f.4"]),
        ("tax id NL815A001J01", []),
        ("ref 15A001J", []),
        ("X5A001", []),
        ("room 5A1 is not a code", []),
        ("see 5A001. Next sentence", ["5A001"]),
        ("5A001 and 4A005", ["5A001", "4A005"]),
    ],
)
def test_find_codes_in_text(text: str, found: list[str]) -> None:
    assert [code.canonical for _, _, code in find_codes(text)] == found
    for start, end, code in find_codes(text):
        assert ControlCode.parse(text[start:end]) == code


def test_field_code_span_excludes_spaces_and_trailing_dot() -> None:
    text = " 5A001.f.4. "
    got = find_field_code(text)
    assert got is not None
    start, end, code = got
    assert text[start:end] == "5A001.f.4"
    assert code.canonical == "5A001.f.4"
