"""With no broker at the configured address, every command that needs one at start stops with one clear
line (the servers tried, what happened, the setting to change) and exit status 2, within the start
timeout: no traceback and no stream of aiokafka connection errors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import exportwatch
from tools.embedded import free_port

CLOSED = "127.0.0.1:1"  # nothing listens on port 1


def _closed_port_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "EXPORTWATCH_KAFKA_BOOTSTRAP": CLOSED,
        "EXPORTWATCH_INGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'ingest.db'}",
        "EXPORTWATCH_NOTIFY_DATABASE_URL": f"sqlite:///{tmp_path / 'notify.db'}",
        "EXPORTWATCH_INGEST_HTTP_PORT": str(free_port()),
        "EXPORTWATCH_MATCH_HTTP_PORT": str(free_port()),
        "EXPORTWATCH_NOTIFY_HTTP_PORT": str(free_port()),
        **extra,
    }


def _assert_one_clear_error(command: str, output: str, seconds: float, waited: int) -> None:
    lines = output.splitlines()
    assert "Traceback" not in output, output
    assert "Unable connect" not in output, "aiokafka's connection errors reached the console"
    assert len(lines) <= 3, output  # the error, and at most a service's own start-up lines
    error = lines[-1]
    assert error.startswith(
        f"exportwatch {command}: cannot connect to Kafka within {waited} s at {CLOSED}: "
    ), error
    assert "connection refused" in error
    assert "EXPORTWATCH_KAFKA_BOOTSTRAP" in error
    assert seconds < 15, f"took {seconds:.1f} s"


def test_topics_without_a_broker_fails_in_one_line_within_the_default_timeout(tmp_path: Path) -> None:
    started = time.monotonic()
    result = exportwatch("topics", env=_closed_port_env(tmp_path))
    seconds = time.monotonic() - started
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    _assert_one_clear_error("topics", result.stderr, seconds, waited=10)


@pytest.mark.parametrize(
    "command",
    [["serve", "ingest"], ["serve", "match"], ["serve", "notify"], ["bench-ingest", "--bootstrap", CLOSED]],
    ids=["serve-ingest", "serve-match", "serve-notify", "bench-ingest"],
)
def test_commands_that_need_a_broker_at_start_fail_in_one_line(tmp_path: Path, command: list[str]) -> None:
    # A shorter wait than the default 10 s keeps the test quick; the topics test covers the default.
    env = _closed_port_env(tmp_path, EXPORTWATCH_KAFKA_START_TIMEOUT_SECONDS="3")
    started = time.monotonic()
    result = exportwatch(*command, env=env)
    seconds = time.monotonic() - started
    assert result.returncode == 2, result.stdout + result.stderr
    name = " ".join(command[:2]) if command[0] == "serve" else command[0]
    _assert_one_clear_error(name, result.stderr, seconds, waited=3)
    assert len(result.stdout.splitlines()) <= 1, result.stdout  # bench-ingest prints the machine first
    assert not (tmp_path / "ingest.db").exists() and not (tmp_path / "notify.db").exists(), (
        "nothing was started before the broker answered"
    )
