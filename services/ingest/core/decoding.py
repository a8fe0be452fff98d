"""Bytes of a text source (CSV, plain text) to lines of text, whatever its encoding, saying which lines
had to be guessed.

Published spreadsheets are often not UTF-8, or only partly: a file assembled from several exports has
UTF-8 rows next to Windows-1252 rows ("Côte d’Ivoire" in one, "T\\xfcrkei" in the next). Decoding the
whole file as cp1252 would garble the UTF-8 rows; decoding it as UTF-8 with replacement would garble
the others. So: the whole input as UTF-8 first (one fast C call, the usual case), and only when that
fails, line by line, UTF-8 where valid and cp1252 otherwise. The lines that needed the fallback and the
lines where bytes could not be decoded at all (U+FFFD inserted) are recorded with their 1-based numbers,
so a parser can publish a row that decoded cleanly and reject one that did not, precisely.

A byte-order mark is authoritative: it wins over a configured encoding (a BOM is a statement made by
the file itself, a configured encoding may have been written for last year's file).
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _csv import Reader

FALLBACK = "cp1252"
REPLACEMENT = "\ufffd"

# Longest first: the UTF-32-LE mark starts with the UTF-16-LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Encodings in which a 0x0A byte is not always a line feed: decoded whole, never line by line.
_WIDE = frozenset({"utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"})


@dataclass(frozen=True)
class DecodedText:
    """The decoded lines of a source, each with its line ending, and what decoding them took.

    ``encoding`` is the codec used for every line (``utf-8``, ``utf-16``, ``cp1252``, a configured
    one) or ``mixed`` when some lines were UTF-8 and others needed the cp1252 fallback.
    """

    lines: tuple[str, ...]
    encoding: str
    fallback_lines: frozenset[int] = field(default_factory=frozenset)
    replaced_lines: frozenset[int] = field(default_factory=frozenset)
    raw_lines: tuple[bytes, ...] | None = None

    @property
    def text(self) -> str:
        return "".join(self.lines)

    @property
    def mixed(self) -> bool:
        return self.encoding == "mixed"

    def raw(self, first: int, last: int) -> bytes:
        """The original bytes of lines ``first`` to ``last`` (1-based, inclusive) when the input was
        decoded line by line; otherwise the decoded text of those lines as UTF-8 (identical to the
        input for UTF-8 files)."""
        if self.raw_lines is not None:
            return b"".join(self.raw_lines[first - 1 : last])
        return "".join(self.lines[first - 1 : last]).encode("utf-8")


def text_codec(encoding: str) -> str:
    """The codec name of ``encoding`` (``"UTF8"`` -> ``utf-8``). Raises LookupError when it is no text
    encoding that can decode any bytes: unknown names, bytes-to-bytes codecs (base64, zlib, rot13:
    Python finds them but refuses them for text), and codecs that cannot replace what they cannot
    decode (idna, punycode, undefined)."""
    try:
        codec = codecs.lookup(encoding).name
        b"A\xff\n\x00\x80".decode(codec, "replace")
    except (LookupError, ValueError):  # ValueError: a NUL in the name; UnicodeError: no "replace"
        raise LookupError(f"{encoding[:60]!r} is not a text encoding that can decode any bytes") from None
    return codec


def decode_lines(data: bytes, encoding: str | None = None) -> DecodedText:
    """Decode ``data``: by its byte-order mark if it has one, else with ``encoding`` when given (bytes
    it cannot decode become U+FFFD and their lines are recorded), else as UTF-8, falling back to
    cp1252 line by line. Raises LookupError for an ``encoding`` that :func:`text_codec` refuses."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            if codec == "utf-8":
                return _by_lines(data[len(bom) :], "utf-8", FALLBACK)
            return _whole(data, codec)
    if encoding is not None:
        codec = text_codec(encoding)
        return _whole(data, codec) if codec in _WIDE else _by_lines(data, codec, None)
    return _by_lines(data, "utf-8", FALLBACK)


def _split(text: str, separator: str) -> tuple[str, ...]:
    parts = text.split(separator)
    last = parts.pop()
    lines = [part + separator for part in parts]
    if last:
        lines.append(last)
    return tuple(lines)


def _separator(data: bytes) -> bytes:
    """``\\n`` (also for ``\\r\\n``); a lone ``\\r`` only for old Mac files that have no ``\\n`` at all."""
    return b"\r" if b"\n" not in data and b"\r" in data else b"\n"


def _whole(data: bytes, codec: str) -> DecodedText:
    """Wide encodings: decode in one piece (their BOM is consumed by the codec)."""
    try:
        text, clean = data.decode(codec), True
    except UnicodeDecodeError:
        text, clean = data.decode(codec, "replace"), False
    lines = _split(text, "\n" if "\n" in text or "\r" not in text else "\r")
    replaced = frozenset() if clean else frozenset(i for i, s in enumerate(lines, 1) if REPLACEMENT in s)
    return DecodedText(lines, codec, replaced, replaced)


def _by_lines(data: bytes, codec: str, fallback: str | None) -> DecodedText:
    sep = _separator(data)
    try:
        text = data.decode(codec)
    except UnicodeDecodeError:
        pass
    else:
        return DecodedText(_split(text, sep.decode("ascii")), codec)
    raw = data.split(sep)
    last = raw.pop()
    raw_lines = [chunk + sep for chunk in raw]
    if last:
        raw_lines.append(last)
    lines: list[str] = []
    needed: set[int] = set()
    replaced: set[int] = set()
    primary_non_ascii = False
    for number, chunk in enumerate(raw_lines, 1):
        try:
            line = chunk.decode(codec)
        except UnicodeDecodeError:
            line = chunk.decode(fallback or codec, "replace")
            needed.add(number)
            if fallback is None or REPLACEMENT in line:
                replaced.add(number)
        else:
            primary_non_ascii = primary_non_ascii or not chunk.isascii()
        lines.append(line)
    used = codec if fallback is None else ("mixed" if primary_non_ascii else fallback)
    return DecodedText(tuple(lines), used, frozenset(needed), frozenset(replaced), tuple(raw_lines))


def numbered_rows(reader: Reader, offset: int = 0) -> Iterator[tuple[int, int, list[str] | csv.Error]]:
    """Each row of a csv ``reader`` still to come, with the first and last line it spans in the decoded
    text (``offset`` lines came before the reader's first line); in place of the row, the csv.Error of
    a row the csv module cannot read (a stray carriage return, an unclosed quote running on past the
    cell size limit), spanning the lines it consumed. Reading goes on after an error."""
    end = offset + reader.line_num
    while True:
        first = end + 1
        try:
            row: list[str] | csv.Error = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            row = exc
        end = offset + reader.line_num
        yield first, end, row
