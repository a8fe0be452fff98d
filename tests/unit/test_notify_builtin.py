"""The operator's built-in subscriptions (console and file) and the local stack's summary of them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from services.notify.app import builtin_subscriptions
from services.notify.settings import NotifySettings
from tools.stack import severity_counts

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_the_console_can_show_less_than_the_file(tmp_path: Path) -> None:
    settings = NotifySettings(console=True, file_path=tmp_path / "alerts.jsonl", console_min_severity="high")
    subs = {s.id: s for s in builtin_subscriptions(settings, NOW)}
    assert subs["builtin-console"].filters.min_severity.value == "high"
    assert subs["builtin-console"].name == "Alerts high and above to the console"
    assert subs["builtin-file"].filters.min_severity.value == "low"
    assert subs["builtin-file"].name == "Every alert to the file"


def test_the_console_follows_the_builtin_minimum_by_default() -> None:
    settings = NotifySettings(console=True, builtin_min_severity="medium")
    (console,) = builtin_subscriptions(settings, NOW)
    assert console.filters.min_severity.value == "medium"


def test_severity_counts_read_the_notifications_file(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    lines = [
        {"alerts": [{"severity": "low"}, {"severity": "high"}]},
        {"alerts": [{"severity": "low"}]},
        {"alerts": "broken"},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n", encoding="utf-8")
    assert severity_counts(path) == {"high": 1, "low": 2}
    assert severity_counts(tmp_path / "missing.jsonl") == {}
