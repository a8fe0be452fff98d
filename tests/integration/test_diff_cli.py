"""`exportwatch diff`: an operator previews a watchlist change on an archive before rolling it out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import exportwatch


def article(event_id: str, body: str) -> str:
    return json.dumps(
        {
            "type": "news_article",
            "id": event_id,
            "source": "test",
            "url": f"https://example.org/{event_id}",
            "title": f"Story {event_id}",
            "body": body,
            "published_at": "2026-01-01T12:00:00+00:00",
        }
    )


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "archive.jsonl"
    lines = [
        article("morocco", "Spyware was sold to Morocco."),  # the optional tier: appears
        article("same-article", "Facial recognition is spreading. Police in China are buying."),
        "{not json",
        article("belarus", "Spyware was sold to Belarus."),  # Belarus removed: disappears
        "",
        article("china", "Spyware was sold to China."),  # high before and after: unchanged
    ]
    latin1 = '{"type": "news_article", "title": "Sécurité"}'.encode("latin-1")  # one bad line, not the end
    path.write_bytes("\n".join(lines).encode() + b"\n" + latin1 + b"\n")
    return path


@pytest.fixture
def old(tmp_path: Path) -> Path:
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "rules.yaml").write_text("news:\n  same_article: medium\n", encoding="utf-8")
    return folder


@pytest.fixture
def new(tmp_path: Path) -> Path:
    folder = tmp_path / "new"
    folder.mkdir()
    (folder / "destinations.yaml").write_text(
        """
alert_tiers: [core, further, optional]
destinations:
  - id: BY
    tier: core
    rationale: Removed for this test.
    enabled: false
""",
        encoding="utf-8",
    )
    (folder / "rules.yaml").write_text("news:\n  same_article: low\n", encoding="utf-8")
    return folder


def test_text_report_lists_what_appears_disappears_and_changes(archive: Path, old: Path, new: Path) -> None:
    result = exportwatch("diff", "--old", old, "--new", new, archive)
    assert result.returncode == 1, result.stderr  # something changed
    assert "line 3: invalid_json" in result.stderr
    assert "line 7: invalid_encoding: not UTF-8" in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("old watchlists: wl-") and lines[0].endswith(f"(bundled defaults + {old})")
    assert lines[1].startswith("new watchlists: wl-") and lines[1].endswith(f"(bundled defaults + {new})")
    assert lines[2:5] == [
        "events read: 4, invalid lines: 2",
        "alerts: 3 old, 3 new",
        "appear: 1, disappear: 1, change: 1, unchanged: 1",
    ]
    out = result.stdout
    assert out.index("APPEAR (1)") < out.index("DISAPPEAR (1)") < out.index("CHANGE (1)")
    block = out[out.index("[none -> high] morocco  news.technology_destination") :].splitlines()
    assert block[1] == "    Story morocco"  # the title, then the summary sentence
    assert "Morocco" in block[2] and block[2].endswith(".")
    assert block[3] == "    matched: destinations MA; technologies spyware"
    assert "[high -> none] belarus  news.technology_destination" in out
    assert "[medium -> low] same-article  news.technology_destination" in out
    assert "Story same-article" in out
    assert "changed: severity medium -> low" in out
    assert "] china " not in out  # unchanged: counted, not listed


def test_json_lines_for_tools(archive: Path, old: Path, new: Path) -> None:
    result = exportwatch("diff", "--old", old, "--new", new, "--json", archive)
    assert result.returncode == 1, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["kind"], r["event_id"]) for r in records] == [
        ("appear", "morocco"),
        ("disappear", "belarus"),
        ("change", "same-article"),
    ]
    assert {r["rule"] for r in records} == {"news.technology_destination"}
    appear, disappear, change = records
    assert appear["old"] is None and appear["new"]["destinations"] == ["MA"]
    assert disappear["new"] is None and disappear["old"]["severity"] == "high"
    assert change["changed"] == ["severity"]
    assert (change["old"]["severity"], change["new"]["severity"]) == ("medium", "low")
    assert change["old"]["watchlist_version"] != change["new"]["watchlist_version"]
    assert "invalid lines: 2" in result.stderr


def test_same_watchlists_change_nothing_and_stdin_works(archive: Path, new: Path) -> None:
    result = exportwatch("diff", "--old", new, "--new", new, "-", stdin=archive.read_text(errors="replace"))
    assert result.returncode == 0, result.stderr
    assert "appear: 0, disappear: 0, change: 0, unchanged: 3" in result.stdout
    assert "APPEAR" not in result.stdout


def test_unreadable_input_or_watchlist_is_exit_2(archive: Path, new: Path, tmp_path: Path) -> None:
    missing = exportwatch("diff", "--new", new, tmp_path / "nope.jsonl")
    assert missing.returncode == 2
    assert f"cannot read {tmp_path / 'nope.jsonl'}: No such file or directory" in missing.stderr
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "rules.yaml").write_text("news:\n  same_article: sometimes\n", encoding="utf-8")
    invalid = exportwatch("diff", "--new", broken, archive)
    assert invalid.returncode == 2
    assert "invalid watchlist (--new)" in invalid.stderr
    assert f"{broken / 'rules.yaml'}: line 2: news.same_article" in invalid.stderr
    assert invalid.stdout == ""
