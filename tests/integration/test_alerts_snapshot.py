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
    # The sample news are read twice (as eval cases that point at them, and as the samples file): the
    # same event gives the same alert, so a repeated id is always the same line.
    by_id: dict[str, set[str]] = {}
    for alert, line in zip(alerts, lines, strict=True):
        by_id.setdefault(alert.id, set()).add(line)
    assert all(len(same) == 1 for same in by_id.values())
