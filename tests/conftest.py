"""Shared fixtures: the real samples, the embedded broker (a failure, never a skip, when it cannot
start), and helpers to run services in-process on free ports."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tools.embedded import EmbeddedBroker

if TYPE_CHECKING:
    from services.match.core.engine import Matcher

ROOT = Path(__file__).resolve().parents[1]
SHARED_SAMPLES = ROOT.parent / "shared" / "samples"
BUNDLED_SAMPLES = ROOT / "services" / "ingest" / "samples"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The real-world samples beside the project (../shared/samples); their absence is a failure."""
    assert (SHARED_SAMPLES / "news.jsonl").is_file(), f"missing {SHARED_SAMPLES}: clone beside shared/"
    return SHARED_SAMPLES


@pytest.fixture(scope="session")
def news_samples(samples_dir: Path) -> dict[str, dict[str, Any]]:
    lines = (samples_dir / "news.jsonl").read_text(encoding="utf-8").splitlines()
    return {doc["id"]: doc for doc in (json.loads(line) for line in lines if line.strip())}


@pytest.fixture(scope="session")
def matcher() -> Matcher:
    """The matcher of the bundled watchlists, compiled once for the session (a compile takes about
    0.3 s): tests only read it. A test of other lists builds its own."""
    from services.match.core.engine import Matcher

    return Matcher.load()


@contextlib.contextmanager
def running_broker(log_dir: Path, partitions: int = 4) -> Iterator[EmbeddedBroker]:
    """An embedded Tansu broker of its own (its log in ``log_dir``), stopped however the block ends. If
    it cannot start, the test using it errors."""
    broker = EmbeddedBroker(partitions=partitions, log_path=log_dir / "tansu.log")
    asyncio.run(broker.start())
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """One embedded Tansu broker for the session."""
    with running_broker(tmp_path_factory.mktemp("tansu")) as broker:
        yield broker


async def eventually(
    check: Callable[[], Awaitable[bool] | bool], timeout: float = 30.0, interval: float = 0.1
) -> None:
    """Wait until ``check()`` is true, or fail with a timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def read_topic(
    bootstrap: str,
    topic: str,
    until: Callable[[list[Any]], bool],
    timeout: float = 30.0,
) -> list[Any]:
    """Read ``topic`` from the beginning (no consumer group) until ``until(records)`` holds."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    records: list[Any] = []
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        assignment = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assignment)
        await consumer.seek_to_beginning(*assignment)
        deadline = time.monotonic() + timeout
        while not until(records):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{topic}: condition not met within {timeout}s; got {len(records)} records"
                )
            batch = await consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                records.extend(recs)
        return records
    finally:
        await consumer.stop()


async def read_until_quiet(
    bootstrap: str, *names: str, quiet: float = 1.0, timeout: float = 60.0
) -> list[Any]:
    """Every record on the topics ``names``, read from the beginning (no consumer group) until ``quiet``
    seconds bring nothing new. End offsets are not used: the embedded broker can report one past its
    last record after batched sends. Fails if the topics are still growing, or cannot be read, after
    ``timeout`` seconds: a test never waits on the broker without a bound."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    async with asyncio.timeout(timeout):
        await consumer.start()
    try:
        async with asyncio.timeout(timeout):
            await consumer._client.force_metadata_update()
        parts = [TopicPartition(t, p) for t in names for p in sorted(consumer.partitions_for_topic(t) or ())]
        assert parts, f"{names}: no partitions on the broker"
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        records: list[Any] = []
        quiet_since = time.monotonic()
        deadline = quiet_since + timeout
        while time.monotonic() - quiet_since < quiet:
            assert time.monotonic() < deadline, f"{names}: still growing after {timeout}s ({len(records)})"
            for recs in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(recs)
                quiet_since = time.monotonic()
        return records
    finally:
        await consumer.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses the broker is marked, so a skip of one can be caught below."""
    for item in items:
        if "kafka" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.broker)


def _await_chain(awaitable: object) -> list[str]:
    """Where a suspended coroutine waits: one line per frame, following what each one awaits."""
    lines: list[str] = []
    while awaitable is not None and len(lines) < 40:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        if frame is not None:
            lines.append(f"  {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        nxt = getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)
        if nxt is None and not hasattr(awaitable, "cr_frame") and not hasattr(awaitable, "gi_frame"):
            lines.append(f"  waiting on {awaitable!r:.200}")
        awaitable = nxt
    return lines


def _dump_asyncio_tasks(signum: int, frame: object) -> None:
    """Print every task of the running event loop and where it waits (pytest-timeout shows threads
    only, and a hung async test is one thread in select())."""
    loop = asyncio.events._get_running_loop()
    if loop is None:
        print("[hang report] no asyncio loop is running", file=sys.stderr, flush=True)
        return
    tasks = asyncio.all_tasks(loop)
    print(f"[hang report] {len(tasks)} asyncio tasks", file=sys.stderr)
    for task in tasks:
        print(f"task {task.get_name()}:", file=sys.stderr)
        print("\n".join(_await_chain(task.get_coro())), file=sys.stderr)
    sys.stderr.flush()


def _timeout_of(item: pytest.Item) -> float:
    marker = item.get_closest_marker("timeout")
    if marker is not None and (marker.args or "timeout" in marker.kwargs):
        return float(marker.args[0] if marker.args else marker.kwargs["timeout"])
    option = item.config.getoption("timeout", None)
    return float(option if option is not None else item.config.getini("timeout") or 0)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Shortly before pytest-timeout would fail a test, report where its asyncio tasks wait."""
    import signal
    import threading

    timeout = _timeout_of(item)
    timer: threading.Timer | None = None
    if timeout > 0 and hasattr(signal, "SIGUSR1") and threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGUSR1, _dump_asyncio_tasks)
        timer = threading.Timer(max(timeout - 15, timeout * 0.9), os.kill, (os.getpid(), signal.SIGUSR1))
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()
            signal.signal(signal.SIGUSR1, previous)


_SKIPPED: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and ("broker" in report.keywords or os.environ.get("CI") == "true"):
        _SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped broker test (or any skip in CI) is a hidden failure: fail the run."""
    if _SKIPPED:
        print(f"\nFAILED: {len(_SKIPPED)} test(s) skipped that must run: " + ", ".join(_SKIPPED))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def exportwatch(
    *args: str | Path, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The command line as a user runs it, in a process of its own (``env``: variables added to ours)."""
    return subprocess.run(
        [sys.executable, "-m", "tools.cli", *map(str, args)],
        cwd=ROOT,
        env=None if env is None else {**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def start_service(name: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``exportwatch serve NAME`` as its own process, its output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tools.cli", "serve", name],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path | None = None, timeout: float = 60) -> None:
    """Wait until ``url`` answers 200; fail, with the end of ``log``, if ``proc`` exits or time runs out."""
    import httpx

    def tail() -> str:
        return log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{url}: the process exited with {proc.returncode}: {tail()}"
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready within {timeout}s: {tail()}")


def metric_value(port: int, name: str, **labels: str) -> float:
    """The sum of the samples ``name`` with ``labels`` on the /metrics page of the service on ``port``."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def require_executable(name: str, provider: str) -> str:
    """Path of the program ``name``. Missing: a failure in CI (``python3 tasks.py test`` installs it), a
    skip on a developer's machine, with ``provider`` saying where it comes from."""
    import shutil

    path = shutil.which(name)
    if path is None:
        assert os.environ.get("CI") != "true", (
            f"CI must have {name} ({provider}): `python3 tasks.py test` installs it as root"
        )
        pytest.skip(f"{name} not installed ({provider}); `python3 tasks.py test` installs it as root")
    return path


POSTGRES_ADMIN_URL = os.environ.get("EXPORTWATCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards. PostgreSQL not running is a failure
    (``python3 tasks.py test`` starts the machine's server), never a skip."""
    import uuid

    import asyncpg

    name = f"ew_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each database the services support: SQLite in a temporary folder, and PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("pg_url"))
