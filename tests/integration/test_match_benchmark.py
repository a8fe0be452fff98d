"""The benchmark runs and reports every measurement (its figures are read by people, not asserted:
speed is checked with ratios in docs/benchmarks.md, not by timed tests)."""

from __future__ import annotations

import pytest

from tools import bench_match as benchmark
from tools.cli import main


def test_articles_are_realistic() -> None:
    docs = benchmark.articles(40)
    assert {d.language for d in docs} == set(benchmark.LANGUAGES)
    sizes = [len(d.body.encode()) for d in docs]
    assert min(sizes) > 3800 and max(sizes) <= benchmark.ARTICLE_BYTES
    watched = [
        d for d in docs if int(d.id.split("-")[1]) % benchmark.WATCHED_SHARE == benchmark.WATCHED_SHARE - 1
    ]
    assert len(watched) == 2


def test_sized_watchlists_have_the_size_asked_for() -> None:
    from services.match.core.watchlists import load

    lists = load()
    assert abs(len(benchmark.sized(lists, 100).index) - 100) <= 3
    assert len(benchmark.sized(lists, 2000).index) == 2000


def test_the_command_prints_every_measurement(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--sizes", "100,1000", "--articles", "20", "--seconds", "0.05"]) == 0
    out = capsys.readouterr().out
    for name in (
        "full engine (100)",
        "raw scan (1000)",
        "one alternation regex (1000)",
        "per-term regex loop (100)",
    ):
        assert name in out
    assert "full engine / raw scan, 1000 terms:" in out
    assert "1 alerts in 20 articles" in out  # the one watched article in 20 alerts, with every list size


def test_the_costs_compare_the_engine_with_and_without_forms_and_roles(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["bench", "--costs", "--articles", "10", "--seconds", "0.05"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("  ")[0].strip(): line for line in out.splitlines() if "automaton keys" in line}
    assert set(rows) == {
        f"{name} ({label})"
        for name in ("full engine", "without generated forms", "without role cues")
        for label in ("bundled", "10000")
    }
    keys = {name: int(line.split()[-3]) for name, line in rows.items()}
    # the forms are really left out, and the role cues change nothing in the index
    assert keys["without generated forms (bundled)"] < keys["full engine (bundled)"]
    assert keys["without role cues (bundled)"] == keys["full engine (bundled)"]
    assert "without role cues (10000) / full engine (10000):" in out
