"""The byte-for-byte alert snapshot used to show that a refactoring changed no alert."""

from __future__ import annotations

from pathlib import Path

from schemas import Alert
from tools.alerts_snapshot import main


def test_the_snapshot_is_every_alert_and_the_same_on_every_run(tmp_path: Path) -> None:
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    assert main([str(first)]) == 0
    assert main([str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()
    lines = first.read_text(encoding="utf-8").splitlines()
    alerts = [Alert.model_validate_json(line) for line in lines]
    assert len(alerts) > 300  # the eval cases that alert, and the bundled samples'
    assert len({a.id for a in alerts}) == len(alerts)
