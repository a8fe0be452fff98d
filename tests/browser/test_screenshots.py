"""``exportwatch screenshots`` as a user runs it: its own seeded console, signed in, one PNG per main
page at desktop size and the alert list at phone size."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import exportwatch

PNG = b"\x89PNG\r\n\x1a\n"


def test_screenshots_of_the_main_pages(tmp_path: Path, chromium: str) -> None:
    out = tmp_path / "shots"
    result = exportwatch("screenshots", "--out", out, env={"EXPORTWATCH_CHROMIUM": chromium})
    assert result.returncode == 0, result.stderr[-3000:]
    names = sorted(p.name for p in out.iterdir())
    assert names == ["alert.png", "alerts-phone.png", "alerts.png", "silences.png", "subscriptions.png"]
    for path in out.iterdir():
        assert path.read_bytes()[:8] == PNG and path.stat().st_size > 10_000, path
    assert f"5 screenshots in {out}" in result.stderr
