"""The README's main command, as a newcomer runs it (`python3 tasks.py run`): it starts everything, shows
alerts on the console and in the webhook-deliveries file, and Ctrl-C stops it cleanly, leaving no
process behind."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tools.embedded import free_port

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


class _Pipe:
    """The stack's stdout, read without a thread (so the test can close it while the stack runs)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.data = b""

    def lines(self) -> list[str]:
        while select.select([self.fd], [], [], 0)[0]:
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                break
            self.data += chunk
        return self.data.decode("utf-8", "replace").splitlines()


def _banner_value(lines: list[str], pattern: str) -> str:
    for line in lines:
        found = re.search(pattern, line)
        if found:
            return found.group(1)
    raise AssertionError(f"no {pattern!r} in the banner: {lines}")


def test_a_newcomer_pushes_subscribes_and_stops_through_a_closed_pipe(tmp_path: Path) -> None:
    """The banner's curl works as printed, a token of one's own in EXPORTWATCH_INGEST_API_TOKENS works,
    `notify token` finds the stack from any folder (and refuses when there is none), the README's
    subscriptions example works as pasted, and a Ctrl-C whose `| tee` went away with it still stops
    everything in order."""
    import httpx

    state = tmp_path / "state"
    env = {
        **os.environ,
        "EXPORTWATCH_VENV": sys.prefix,
        "XDG_STATE_HOME": str(state),
        "EXPORTWATCH_INGEST_API_TOKENS": "my-own-token-0123456789",
        "EXPORTWATCH_KAFKA_BOOTSTRAP": "production-kafka:9092",  # the stack must not use it
    }
    var = tmp_path / "var"
    command = [sys.executable, "tasks.py", "run", "--dir", str(var), "--port", str(free_port())]
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=(tmp_path / "stderr.txt").open("wb")
    )
    assert proc.stdout is not None
    out = _Pipe(proc.stdout.fileno())
    try:
        deadline = time.monotonic() + 60
        while not any("Ctrl-C stops everything" in line for line in out.lines()):
            assert proc.poll() is None and time.monotonic() < deadline, "\n".join(out.lines())
            time.sleep(0.2)
        assert any(
            "not used (the local stack sets these itself): EXPORTWATCH_KAFKA_BOOTSTRAP" in x
            for x in out.lines()
        )
        assert any("from your environment: EXPORTWATCH_INGEST_API_TOKENS" in x for x in out.lines())
        curl = _banner_value(out.lines(), r"^\s+(curl .*)$")
        ingest = int(_banner_value(out.lines(), r"http://127\.0\.0\.1:(\d+)/v1/events"))
        notify = int(_banner_value(out.lines(), r"http://127\.0\.0\.1:(\d+)/v1/subscriptions"))
        receiver = int(_banner_value(out.lines(), r"webhook receiver http://127\.0\.0\.1:(\d+)/hook"))
        console = _banner_value(out.lines(), r"^Console: http://127\.0\.0\.1:(\d+/  \(sign in .*?);")
        console_port, _, researcher = console.partition("/  (sign in with token ")
        assert researcher.startswith("ewt_"), console
        assert int(console_port) == notify
        assert (var / "console-token").read_text(encoding="utf-8") == researcher + "\n"
        # The banner's example, pasted into a shell in another folder.
        wait_until_healthy = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{ingest}/healthz", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < wait_until_healthy, "ingest never became healthy"
            time.sleep(0.3)
        pushed = subprocess.run(
            ["bash", "-c", curl + " -s"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert pushed.returncode == 0 and '"status":"published"' in pushed.stdout, pushed
        own = httpx.post(
            f"http://127.0.0.1:{ingest}/v1/events",
            headers={"Authorization": "Bearer my-own-token-0123456789"},
            content=(var / "example-event.json").read_bytes(),
            timeout=10,
        )
        assert own.status_code == 202, own.text
        while not any("Ugandan officials" in line for line in out.lines()):
            assert proc.poll() is None and time.monotonic() < deadline + 30, "\n".join(out.lines()[-40:])
            time.sleep(0.2)

        # A token from another folder goes into the running stack's database, and works.
        exe = str(Path(sys.prefix) / "bin" / "exportwatch")
        token = subprocess.run(
            [exe, "notify", "token", "bob"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert token.returncode == 0 and "local stack running in" in token.stderr, token.stderr
        mine = httpx.get(
            f"http://127.0.0.1:{notify}/v1/subscriptions",
            headers={"Authorization": f"Bearer {token.stdout.strip()}"},
            timeout=10,
        )
        assert mine.status_code == 200, mine.text
        theirs = httpx.get(
            f"http://127.0.0.1:{notify}/v1/subscriptions",
            headers={"Authorization": f"Bearer {researcher}"},
            timeout=10,
        )
        assert theirs.status_code == 200, theirs.text  # the banner's console token is a researcher's
        elsewhere_dir = tmp_path / "elsewhere"
        elsewhere_dir.mkdir()
        elsewhere = subprocess.run(
            [exe, "notify", "token", "bob"],
            cwd=elsewhere_dir,
            env={**env, "XDG_STATE_HOME": str(tmp_path / "no-stack")},
            capture_output=True,
            text=True,
            check=False,
        )
        assert elsewhere.returncode == 2 and "no notify database" in elsewhere.stderr
        assert not elsewhere.stdout and not (elsewhere_dir / "var").exists()

        # The README's subscriptions example, as pasted from the repository's folder.
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
        block = re.search(r"<!-- stack-example:start -->\s*```sh\n(.*?)```", readme, re.DOTALL)
        assert block is not None
        script = block.group(1).replace(".venv/bin/", f"{sys.prefix}/bin/")
        script = script.replace("localhost:8083", f"localhost:{notify}").replace(":8090/", f":{receiver}/")
        before = len(_deliveries(var / "webhook-deliveries.jsonl"))
        pasted = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script.replace("curl ", "curl -sf ")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert pasted.returncode == 0, pasted.stdout + pasted.stderr
        assert '"delivered":true' in pasted.stdout and '"duration"' not in pasted.stdout
        received = _deliveries(var / "webhook-deliveries.jsonl")[before:]
        tests = [d for d in received if str(d["notification_id"]).startswith("test-")]
        assert tests and all(d["signature_valid"] for d in tests), tests
        assert all("raw_body" in d and "headers" in d for d in tests)

        # Ctrl-C with the reader of stdout gone (as `| tee` is, by the same Ctrl-C).
        proc.stdout.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, (tmp_path / "stderr.txt").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    for name in ("ingest", "match", "notify"):
        assert "service stopped" in (var / "logs" / f"{name}.log").read_text(), name
    assert "Traceback" not in (tmp_path / "stderr.txt").read_text()
    assert not (state / "exportwatch" / "stack.json").exists(), "the stack's note is removed when it stops"
    assert not (var / "push-token").exists()
    assert not (var / "console-token").exists()
