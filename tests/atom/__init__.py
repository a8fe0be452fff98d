"""The check every Atom feed of the tests passes: valid against our RELAX NG grammar of RFC 4287
(``atom.rng``), and read by feedparser without a complaint (``bozo`` 0)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import feedparser
from lxml import etree

GRAMMAR = Path(__file__).with_name("atom.rng")


@functools.cache
def _schema() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(GRAMMAR)))


def check_feed(body: bytes) -> Any:
    """The feed as feedparser reads it, once it is known valid; fails with the grammar's errors."""
    document = etree.fromstring(body, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    schema = _schema()
    assert schema.validate(document), "\n".join(str(e) for e in schema.error_log)
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    return parsed
