"""The notify benchmark (`exportwatch bench-notify`) runs end to end on a few alerts: every alert is
delivered to its receiver, the baseline posts as many, and the report prints its ratios."""

from __future__ import annotations

from pathlib import Path

from tools import bench_notify


async def test_the_benchmark_delivers_every_alert_and_reports(tmp_path: Path) -> None:
    lines: list[str] = []
    notify, bare = await bench_notify.run(f"sqlite:///{tmp_path / 'notify.db'}", 40, 20, lines.append)
    assert notify.deliveries == bare.deliveries == 40
    assert 0 < notify.statements / notify.deliveries <= 3
    assert notify.cpu_seconds > 0 and bare.cpu_seconds > 0
    bench_notify.report(notify, bare, lines.append)
    assert any(line.startswith("notify / bare httpx:") for line in lines)
