"""A researchers' console to look at: the embedded broker, notify as its own process on SQLite, real
alerts from the bundled matcher published to the alerts topic, and API tokens for two researchers.

The browser tests (tests/browser) and ``exportwatch screenshots`` start it the same way:

    with seeded_console(workdir) as console:
        console.url, console.tokens["amnesty"], console.alerts
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import secrets
import signal
import subprocess
import time
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from schemas import Alert, topics
from tools.embedded import EmbeddedBroker, free_port
from tools.processes import spawn_service
from tools.stack import service_env

# The two researchers of the seeded console: each sees only their own subscriptions, feedback and feeds.
OWNERS = ("amnesty", "pi")
# How far apart the seeded alerts are in time, newest first: 337 alerts cover about ten weeks, so the
# console's counts per week and its chart have something to show.
SPACING = dt.timedelta(hours=5)
NO_SUBSCRIPTIONS = "subscriptions: []\n"
T = TypeVar("T")


class ConsoleStartError(RuntimeError):
    """The seeded console could not be started; the message says what failed and shows the log."""


@dataclass
class SeededConsole:
    """A running notify with its console, what was put in it, and where its log is."""

    url: str
    admin_token: str
    database_url: str
    log: Path
    bootstrap: str
    tokens: dict[str, str] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)


def seed_alerts(now: dt.datetime) -> list[Alert]:
    """Every alert the bundled matcher raises on the evaluation cases and the bundled sample news, made
    newest first, ``SPACING`` apart, ending at ``now`` (ids do not depend on the time)."""
    from services.match.core.engine import Matcher
    from tools.alerts_snapshot import alert_lines

    alerts = [Alert.model_validate_json(line) for line in alert_lines(Matcher.load())]
    unique = list({alert.id: alert for alert in alerts}.values())
    return [
        alert.model_copy(update={"created_at": now - i * SPACING, "event_ingested_at": None})
        for i, alert in enumerate(unique)
    ]


async def publish(bootstrap: str, alerts: Sequence[Alert]) -> None:
    """Put ``alerts`` on the alerts topic, keyed by alert id as match does."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        sends = [
            await producer.send(topics.ALERTS, alert.model_dump_json().encode(), key=alert.id.encode())
            for alert in alerts
        ]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


async def issue_tokens(database_url: str, owners: Sequence[str], now: dt.datetime) -> dict[str, str]:
    """A new API token per owner, written to notify's database as ``exportwatch notify token`` does."""
    from services.notify.store.repository import NotifyStore

    store = await NotifyStore.open(database_url)
    try:
        return {owner: await store.tokens.add(owner, now, label="seeded console") for owner in owners}
    finally:
        await store.close()


def run_async(work: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a thread of its own: the caller may already run an event loop (Playwright's
    sync API keeps one in the main thread), and one thread may run only one loop."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    """Until ``url`` answers 200; a ConsoleStartError with the end of the log if notify exits or is slow."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ConsoleStartError(f"notify exited with {proc.returncode} while starting:\n{_tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise ConsoleStartError(f"notify did not answer {url} within {timeout:.0f} s:\n{_tail(log)}")


def wait_archived(console: SeededConsole, count: int, timeout: float = 90) -> int:
    """Until notify's archive (GET /v1/alerts, admin token) holds at least ``count`` alerts; how many it
    answered on the first page. A ConsoleStartError saying what it answered otherwise."""
    headers = {"Authorization": f"Bearer {console.admin_token}"}
    deadline = time.monotonic() + timeout
    seen = "nothing"
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            answer = httpx.get(f"{console.url}/v1/alerts", params={"limit": 100}, headers=headers, timeout=5)
            seen = f"HTTP {answer.status_code}: {answer.text[:300]}"
            if answer.status_code == 200:
                stored = len(answer.json().get("alerts", []))
                if stored >= min(count, 100):
                    return stored
        time.sleep(0.5)
    raise ConsoleStartError(
        f"notify's archive did not show the {count} seeded alerts within {timeout:.0f} s; "
        f"GET /v1/alerts answered {seen}\n{_tail(console.log)}"
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.contextmanager
def seeded_console(
    workdir: Path, broker: EmbeddedBroker | None = None, *, seed: bool = True
) -> Iterator[SeededConsole]:
    """Notify on a free port with its own SQLite database in ``workdir``, on ``broker`` (or an embedded
    broker of its own), its researchers' tokens issued and, with ``seed``, the seeded alerts published
    (wait for them with ``wait_archived``). Everything it started is stopped when the block ends."""
    with contextlib.ExitStack() as stack:
        if broker is None:
            broker = EmbeddedBroker(partitions=1, log_path=workdir / "tansu.log")
            # The process is started from this thread: it gets SIGTERM when the thread that started it
            # ends (tools/processes.py), and run_async's worker thread ends at once.
            broker.start_process()
            run_async(broker.ready())
            stack.callback(broker.stop)
        port = free_port()
        database_url = f"sqlite:///{workdir / 'notify.db'}"
        admin_token = secrets.token_urlsafe(24)
        subscriptions = workdir / "no-subscriptions.yaml"
        subscriptions.write_text(NO_SUBSCRIPTIONS, encoding="utf-8")
        env = service_env("notify", broker.bootstrap, port, workdir, "http://127.0.0.1:9/", [])
        env.update(
            {
                "EXPORTWATCH_NOTIFY_CONSOLE": "false",
                "EXPORTWATCH_NOTIFY_DATABASE_URL": database_url,
                "EXPORTWATCH_NOTIFY_ADMIN_TOKEN": admin_token,
                "EXPORTWATCH_NOTIFY_SUBSCRIPTIONS_FILE": str(subscriptions),
                "EXPORTWATCH_NOTIFY_GROUP_ID": f"notify-console-{secrets.token_hex(4)}",
            }
        )
        env.pop("EXPORTWATCH_NOTIFY_FILE_PATH", None)
        log = workdir / "notify.log"
        with log.open("ab") as out:
            proc = spawn_service("notify", env, out, out)
        stack.callback(_stop, proc)
        url = f"http://127.0.0.1:{port}"
        wait_ready(f"{url}/healthz", proc, log)
        now = dt.datetime.now(dt.UTC)
        console = SeededConsole(url, admin_token, database_url, log, broker.bootstrap)
        console.tokens = run_async(issue_tokens(database_url, OWNERS, now))
        if seed:
            console.alerts = seed_alerts(now)
            run_async(publish(broker.bootstrap, console.alerts))
        yield console
