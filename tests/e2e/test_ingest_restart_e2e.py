"""Ingest as a process, stopped in the middle of a large licence file and started again: after SIGTERM
nothing is republished and nothing lost; after kill -9 nothing is lost and at most one chunk repeats."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from schemas import topics
from services.ingest.ingestor import CHUNK
from tests.conftest import read_until_quiet, start_service
from tests.integration.test_ingest_sources import _caat_rows
from tools.embedded import EmbeddedBroker, free_port
from tools.stack import service_env

pytestmark = [pytest.mark.broker, pytest.mark.slow]
ROWS = 40_000


def _start(kafka: EmbeddedBroker, workdir: Path, folder: Path, log: Path) -> subprocess.Popen[bytes]:
    env = service_env("ingest", kafka.bootstrap, free_port(), workdir, "http://127.0.0.1:9/", [folder])
    env["EXPORTWATCH_INGEST_FOLDER_INTERVAL_SECONDS"] = "3600"
    return start_service("ingest", env, log)


def _recorded(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM ingest_items").fetchone()[0])
    except sqlite3.OperationalError:  # the service has not created its tables yet
        return 0


def _wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_ingest_process_stopped_mid_file_and_restarted(
    kafka: EmbeddedBroker, tmp_path: Path, stop: signal.Signals
) -> None:
    tag = f"proc{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "caat"
    folder.mkdir()
    header = "licence_group,date,rating,count,value,country,refused"
    (folder / "values.csv").write_text("\n".join([header, *_caat_rows(tag, ROWS)]) + "\n", encoding="utf-8")
    time.sleep(1.1)  # older than the settle time, so the first scan reads it
    db = tmp_path / "ingest.db"
    log = tmp_path / "ingest.log"

    proc = _start(kafka, tmp_path, folder, log)
    try:
        _wait_for(lambda: _recorded(db) >= 3 * CHUNK, 90, f"nothing ingested: {log.read_text()[-2000:]}")
        proc.send_signal(stop)
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    stopped_at = _recorded(db)
    assert 0 < stopped_at < ROWS, f"stopped too late to prove anything ({stopped_at} of {ROWS})"
    if stop is signal.SIGTERM:
        assert code == 0, log.read_text()[-3000:]

    proc = _start(kafka, tmp_path, folder, log)
    try:
        _wait_for(lambda: _recorded(db) >= ROWS, 120, f"restart did not finish: {log.read_text()[-2000:]}")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()

    records = asyncio.run(read_until_quiet(kafka.bootstrap, topics.LICENCES, quiet=2.0))
    keys = [
        r.key.decode() for r in records if json.loads(r.value).get("licence_group", "").startswith(tag + "-")
    ]
    assert len(set(keys)) == ROWS, f"lost: {ROWS - len(set(keys))} of {ROWS}"
    repeats = len(keys) - len(set(keys))
    if stop is signal.SIGTERM:
        assert repeats == 0, f"{repeats} records published twice after a graceful stop"
    else:
        # Published and acknowledged, killed before it was recorded: the chunk in flight repeats.
        assert repeats <= CHUNK, f"{repeats} repeats: more than the one chunk in flight"
    print(f"{stop.name}: stopped at {stopped_at} of {ROWS}, repeats after restart: {repeats}")
