"""The load harness's own logic: its events, its oracle and its bookkeeping (a harness that could not
report a loss would prove nothing)."""

from __future__ import annotations

from tools.loadtest import LoadConfig, LoadReport, check


def _report(**changes: object) -> LoadReport:
    report = LoadReport(LoadConfig(events=100))
    report.finished = True
    report.pushed = 100
    report.statuses = {"published": 100}
    report.poison = 2
    report.consumed_ok, report.consumed_dead = 100, 2
    report.outcomes = {"alerted": 5, "no_match": 95, "invalid": 2, "error": 0}
    report.alerts_made = report.expected = report.received_alerts = 5
    for key, value in changes.items():
        setattr(report, key, value)
    return report


def test_a_complete_run_has_no_problems() -> None:
    assert check(_report()) == []


def test_every_kind_of_loss_or_repeat_is_reported() -> None:
    cases = {
        "finished": False,
        "statuses": {"published": 99, "duplicate": 1},
        "consumed_ok": 99,
        "consumed_dead": 1,
        "outcomes": {"alerted": 5, "no_match": 94},
        "alerts_made": 4,
        "missing": 1,
        "unexpected": 1,
        "duplicates": 1,
        "unsigned": 1,
        "notify_dead": 1,
    }
    for field, value in cases.items():
        problems = check(_report(**{field: value}))
        assert problems, f"{field}={value!r} went unnoticed"


def test_ingest_cpu_per_news_event_leaves_start_up_out() -> None:
    # 100 events, 25 % licence records: 75 news articles; 1.5 s spent after ready -> 20 ms each.
    report = _report(processes={"ingest": {"cpu_s": 2.0, "peak_mib": 100.0}}, ingest_cpu_ready_s=0.5)
    assert report.ingest_ms_per_news == 20.0
    assert _report().ingest_ms_per_news == 0.0  # no process figures: nothing to report
