"""`exportwatch match`: the offline matcher researchers use to back-test watchlists on archives."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import exportwatch


def test_offline_match_reports_bad_lines_and_matches_the_rest(samples_dir: Path, tmp_path: Path) -> None:
    lines = (samples_dir / "news.jsonl").read_text(encoding="utf-8").splitlines()
    archive = tmp_path / "archive.jsonl"
    archive.write_text("\n".join([lines[0], "{not json", lines[3], '{"type": "tweet"}', ""]) + "\n")
    result = exportwatch("match", archive)
    assert result.returncode == 1, result.stderr  # some lines were invalid
    assert "line 2: invalid_json" in result.stderr
    assert "line 4: unknown_event_type" in result.stderr
    assert "2 events" in result.stderr
    alerts = [json.loads(line) for line in result.stdout.splitlines()]
    assert {a["event_id"] for a in alerts} == {"sample-000", "sample-003"}
    assert all(a["type"] == "alert" and a["summary"] for a in alerts)


def test_offline_match_reads_stdin(samples_dir: Path) -> None:
    data = (samples_dir / "news.jsonl").read_text(encoding="utf-8")
    result = exportwatch("match", "-", stdin=data)
    assert result.returncode == 0, result.stderr
    events = {json.loads(line)["event_id"] for line in result.stdout.splitlines()}
    assert {"sample-000", "sample-003"} <= events
    assert "sample-002" not in events  # no destination named


def test_offline_match_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = exportwatch("match", tmp_path / "nope.jsonl")
    assert result.returncode == 2
    assert "cannot read" in result.stderr


def test_serve_match_with_broken_watchlists_says_what_to_fix(tmp_path: Path) -> None:
    """The service refuses to start on watchlists it cannot use, with the file, the line and the problem
    on one line and exit status 2, before it looks for a broker; no traceback."""
    folder = tmp_path / "lists"
    folder.mkdir()
    (folder / "technologies.yaml").write_text(
        "technologies:\n  - id: spyware\n    termz: [a]\n", encoding="utf-8"
    )
    result = exportwatch(
        "serve",
        "match",
        env={"EXPORTWATCH_MATCH_WATCHLIST_DIRS": str(folder), "EXPORTWATCH_KAFKA_BOOTSTRAP": "127.0.0.1:1"},
    )
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"exportwatch serve match: not started: {folder / 'technologies.yaml'}: line ")
    assert "line 3: technologies.0.termz: Extra inputs are not permitted" in line
