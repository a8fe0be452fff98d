"""The README's main command, as a newcomer runs it (`python3 tasks.py run`): it starts everything, shows
alerts on the console and in the webhook-deliveries file, and Ctrl-C stops it cleanly, leaving no
process behind."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.common.embedded import free_port
from tests.conftest import ROOT

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def _deliveries(path: Path) -> list[dict[str, object]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_stack_shows_alerts_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    out = (tmp_path / "stdout.txt").open("wb")
    broker_port = free_port()
    env = {**os.environ, "EXPORTWATCH_VENV": sys.prefix}  # the venv running this test, already installed
    command = [sys.executable, "tasks.py", "run", "--dir", str(tmp_path / "var"), "--port", str(broker_port)]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deliveries = tmp_path / "var" / "webhook-deliveries.jsonl"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (tmp_path / "stdout.txt").read_text()
            bodies = [a for d in _deliveries(deliveries) for a in d["body"]["data"]["alerts"]]  # type: ignore[index]
            events = {b["event_id"] for b in bodies if isinstance(b, dict)}
            types = {b["event_type"] for b in bodies if isinstance(b, dict)}
            if {"sample-000", "sample-003"} <= events and "licence_record" in types:
                break
            assert time.monotonic() < deadline, f"stack delivered only {sorted(events)}"
            time.sleep(0.5)
        time.sleep(2)  # let the console catch up
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    text = (tmp_path / "stdout.txt").read_text()
    assert "ExportWatch local stack" in text
    assert "[HIGH]" in text or "[CRITICAL]" in text
    # the console shows high and critical alerts (the news first); the rest is in alerts.jsonl
    assert "[LOW]" not in text and "[MEDIUM]" not in text
    assert re.search(r"alerts this run by severity: .*\d+ low", text), text[-2000:]
    assert "stopped." in text
    assert "assigned to partitions" not in text, "library logs must not clutter the alerts on the console"
    ports = [broker_port, *(int(p) for p in re.findall(r"http://127\.0\.0\.1:(\d+)/metrics", text))]
    assert len(ports) == 4
    for port in ports:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"something still listens on {port}"
    received = _deliveries(deliveries)
    ids = [a for d in received for a in d["alert_ids"]]  # type: ignore[attr-defined]
    assert len(ids) == len(set(ids)), "no alert delivered twice"
    assert all(d["signature_valid"] for d in received), "every webhook signed and verified"
