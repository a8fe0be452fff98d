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
