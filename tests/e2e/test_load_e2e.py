"""The load harness (``exportwatch load``) in small: the whole pipeline as processes on a broker of its own,
events pushed through ingest's API with poison messages beside them, every event and alert accounted
for. The full-size run (200,000 events) and its figures are in docs/benchmarks.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.loadtest import LoadConfig, render, run_load

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_every_event_and_alert_is_accounted_for(tmp_path: Path) -> None:
    cfg = LoadConfig(events=3000, batch=250, poison_every=500, timeout=300)
    report = run_load(cfg, tmp_path, raw_limit=3000, raw_repeats=2, progress=False)
    text = render(report)
    assert report.problems == [], text
    assert report.finished, text
    # The checks above compare these; here the figures themselves, so a run that moved nothing fails.
    assert report.statuses == {"published": 3000}, text
    assert report.poison == 6
    assert report.consumed_ok == 3000 and report.consumed_dead == 6, text
    assert report.outcomes["alerted"] + report.outcomes["no_match"] == 3000, text
    assert 100 <= report.expected <= 300, text  # about 5 % of the events, as configured
    assert report.received_alerts == report.expected == report.alerts_made, text
    assert (report.missing, report.unexpected, report.duplicates) == (0, 0, 0), text
    assert report.raw is not None and report.raw["consumed"] == 3000 and report.raw["repeats"] == 2, text
    assert 0 < report.latency["p50"] <= report.latency["p99"] < 120, text
    assert {"ingest", "match", "notify", "broker (Tansu)"} <= set(report.processes), text
    assert all(p["peak_mib"] > 10 for p in report.processes.values()), text
