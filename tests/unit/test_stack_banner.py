"""The local stack's banner says where the console is and which token signs in to it."""

from __future__ import annotations

from pathlib import Path

from tools.stack import DEFAULT_PORTS, banner, console_line

PORTS = dict(DEFAULT_PORTS)
TOKEN = "ewt_example-not-a-real-token"


def _banner(console: str | None) -> str:
    return banner(
        "127.0.0.1:9092",
        PORTS,
        "http://127.0.0.1:8090/hook",
        Path("/tmp/run"),
        [Path("/tmp/samples")],
        "curl ...",
        {},
        console,
    )


def test_console_line_names_the_notify_port_and_the_token() -> None:
    line = console_line(8083, TOKEN, Path("/tmp/run/console-token"))
    assert line.startswith(f"Console: http://127.0.0.1:8083/  (sign in with token {TOKEN}")
    assert "/tmp/run/console-token" in line


def test_the_banner_shows_the_console_before_the_apis() -> None:
    console = console_line(PORTS["notify"], TOKEN, Path("/tmp/run/console-token"))
    lines = _banner(console).splitlines()
    at = lines.index(console)
    assert at < next(i for i, x in enumerate(lines) if x.startswith("Push an article"))
    assert lines[at + 1] == ""


def test_the_banner_without_a_console_is_as_before() -> None:
    text = _banner(None)
    assert "Console:" not in text
    assert "Subscriptions API http://127.0.0.1:8083/v1/subscriptions" in text
