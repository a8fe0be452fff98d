"""docs/reliability.md tells readers which command reproduces each scenario: every such command must
name files that exist and, with -k, select tests that exist (a renamed test must not leave a dead
command in the document)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reliability.md"


def _commands() -> list[list[str]]:
    found = re.findall(r"`(\.venv/bin/(?:pytest|python|exportwatch)[^`]*)`", DOC.read_text(encoding="utf-8"))
    return [shlex.split(c) for c in found]


def _test_names(paths: list[Path]) -> set[str]:
    names: set[str] = set()
    for path in paths:
        names |= set(re.findall(r"^(?:async )?def (test_\w+)", path.read_text(encoding="utf-8"), re.M))
    return names


def test_every_command_in_the_reliability_page_still_runs_something() -> None:
    commands = _commands()
    assert len(commands) >= 10
    for argv in commands:
        paths = [ROOT / a for a in argv[1:] if a.endswith(".py")]
        for path in paths:
            assert path.is_file(), f"{' '.join(argv)}: {path} does not exist"
        if argv[0].endswith("pytest") and "-k" in argv:
            expression = argv[argv.index("-k") + 1]
            words = [w for w in re.split(r"\s+", expression) if w not in ("or", "and", "not")]
            names = _test_names(paths)
            for word in words:
                assert any(word in name for name in names), f"{' '.join(argv)}: -k {word} selects nothing"
