"""The notify benchmark (issue 20 item 3): CPU time and SQL statements per delivery, and deliveries per
second, against a bare HTTP client posting the same bodies to the same receiver in the same run.

Notify runs in this process as the service wires it: alerts go through intake's handler in consumer
batches (decode, route, record in the database), the dispatcher claims, signs, sends each as a
CloudEvent to one webhook subscription and settles it. The receiver is a small asyncio HTTP/1.1 server
with keep-alive and a backlog of 4,096, in a process of its own, so its CPU is not counted. The
baseline posts the same bodies (each alert as the CloudEvent notify sends) with one httpx client at
notify's sends per target. Only ratios compare across runs: the machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiokafka import ConsumerRecord

from schemas import Alert, Notification
from services.common.addresses import TargetPolicy
from services.common.db import safe_url
from services.common.messaging.metrics import new_registry
from services.notify.channels.base import ChannelContext
from services.notify.channels.webhook import encode
from services.notify.core.model import Subscription
from services.notify.core.retry import RetryPolicy
from services.notify.dispatcher import Channels, Dispatcher, DispatchSettings
from services.notify.intake import make_handler
from services.notify.metrics import NotifyMetrics
from services.notify.store.repository import NotifyStore
from tools.bench_archive import synthetic_alert
from tools.sql_counter import StatementCounter

SECRET = "bench-notify-signing-secret"  # noqa: S105 - a local receiver's, checked by nobody
SOURCE = "urn:exportwatch:notify"
PER_TARGET = 8  # the dispatcher's sends at once per target (a quarter of its default concurrency)


# --- the receiver -------------------------------------------------------------------------------------


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count: list[int]) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if length:
                await reader.readexactly(length)
            if head.startswith(b"GET /"):  # GET /<n>: answers the count once it reaches n
                wanted = int(head.split(b" ", 2)[1][1:] or b"0")
                while count[0] < wanted:  # noqa: ASYNC110 - the receiver's own CPU is not measured
                    await asyncio.sleep(0.005)
                body = str(count[0]).encode()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
            else:
                count[0] += 1
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def receive() -> None:
    """Serve until killed; the first line written to stdout is the port."""

    async def serve() -> None:
        count = [0]
        server = await asyncio.start_server(
            lambda r, w: _answer(r, w, count), "127.0.0.1", 0, backlog=4096, reuse_address=True
        )
        print(server.sockets[0].getsockname()[1], flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


class Receiver:
    """The webhook receiver in a process of its own."""

    def __enter__(self) -> Receiver:
        code = "from tools.bench_notify import receive; receive()"
        self._process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        if not line.isdigit():
            self._process.kill()
            raise RuntimeError("the webhook receiver did not start")
        self.url = f"http://127.0.0.1:{line}"
        return self

    async def received(self, at_least: int = 0) -> int:
        """The requests received, once they are ``at_least`` (the receiver waits: no polling here)."""
        async with httpx.AsyncClient(timeout=600.0) as client:
            return int((await client.get(f"{self.url}/{at_least}")).text)

    def __exit__(self, *exc: object) -> None:
        self._process.terminate()
        self._process.wait(5)


# --- the runs -----------------------------------------------------------------------------------------


@dataclass
class Run:
    name: str
    deliveries: int
    seconds: float
    cpu_seconds: float
    statements: int = 0
    commits: int = 0

    @property
    def per_second(self) -> float:
        return self.deliveries / self.seconds

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu_seconds / self.deliveries


def _alerts(count: int, prefix: str) -> list[Alert]:
    rng = random.Random(20)
    base = [synthetic_alert(n, rng) for n in range(count)]
    now = dt.datetime.now(dt.UTC)
    # Each its own story, so each is one notification (a copy of a story would join the story's).
    return [
        a.model_copy(
            update={
                "id": f"{prefix}-{n}",
                "event_id": f"news-{prefix}-{n}",
                "duplicate_of": None,
                "created_at": now,
            }
        )
        for n, a in enumerate(base)
    ]


def _records(alerts: Sequence[Alert], start: int) -> list[Any]:
    out = []
    for offset, alert in enumerate(alerts, start):
        key, value = alert.id.encode(), alert.model_dump_json().encode()
        out.append(
            ConsumerRecord(
                "exportwatch.alerts.v1",
                0,
                offset,
                int(time.time() * 1000),
                0,
                key,
                value,
                None,
                len(key),
                len(value),
                [],
            )
        )
    return out


async def _subscribe(store: NotifyStore, url: str) -> None:
    now = dt.datetime.now(dt.UTC)
    sub = Subscription.model_validate(
        {
            "id": "bench",
            "name": "bench",
            "owner": "bench",
            "origin": "api",
            "channel": {"type": "webhook", "url": f"{url}/hook", "secret": SECRET},
            "group_wait_seconds": 0,
            "created_at": now,
            "updated_at": now,
        }
    )
    await store.subscriptions.create(sub)


async def run_notify(url: str, receiver: Receiver, alerts: Sequence[Alert], batch: int, prefix: str) -> Run:
    """``alerts`` through intake and the dispatcher until every one is delivered."""
    store = await NotifyStore.open(url)
    if prefix == "warm":
        await _subscribe(store, receiver.url)
    async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as http:
        ctx = ChannelContext(http=http, targets=TargetPolicy.allowing(["127.0.0.1/32"]))
        metrics = NotifyMetrics(new_registry())
        settings = DispatchSettings(rates=(), per_target=PER_TARGET, poll_seconds=0.05)
        dispatcher = Dispatcher(store, Channels(ctx), RetryPolicy(), metrics, settings)
        handle = make_handler(store, metrics, 0.0, dispatcher.wake)
        before = await receiver.received()
        counter = StatementCounter(store.engine, store.reader)
        cpu, wall = time.process_time(), time.perf_counter()
        task = asyncio.create_task(dispatcher.run())
        for start in range(0, len(alerts), batch):
            await handle(_records(alerts[start : start + batch], start))
        await receiver.received(before + len(alerts))
        await dispatcher.stop()
        await task
        result = Run("notify", len(alerts), time.perf_counter() - wall, time.process_time() - cpu)
        result.statements, result.commits = counter.statements, counter.commits
        counter.close()
        clients = getattr(ctx, "clients", None)  # the kept-alive clients (absent before issue 20)
        if clients is not None:
            await clients.aclose()
    await store.close()
    return result


async def run_bare(receiver: Receiver, alerts: Sequence[Alert]) -> Run:
    """The same bodies posted by one httpx client, ``PER_TARGET`` at once."""
    bodies = [
        encode(
            Notification(
                id=f"ntf-{a.id}",
                kind="alerts",
                subscription_id="bench",
                subscription_name="bench",
                story=a.id,
                alerts=[a],
                created_at=a.created_at,
            ),
            SOURCE,
        )
        for a in alerts
    ]
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    headers = {"content-type": "application/cloudevents+json"}
    limits = httpx.Limits(max_connections=PER_TARGET, max_keepalive_connections=PER_TARGET)
    cpu, wall = time.process_time(), time.perf_counter()
    async with httpx.AsyncClient(limits=limits, timeout=10.0) as client:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                (await client.post(f"{receiver.url}/hook", content=body, headers=headers)).raise_for_status()

        await asyncio.gather(*(worker() for _ in range(PER_TARGET)))
    return Run("bare httpx", len(bodies), time.perf_counter() - wall, time.process_time() - cpu)


async def run(url: str, count: int, batch: int, out: Callable[[str], None]) -> tuple[Run, Run]:
    with Receiver() as receiver:
        await run_notify(url, receiver, _alerts(batch, "warm"), batch, "warm")  # first queries, connection
        notify = await run_notify(url, receiver, _alerts(count, "bench"), batch, "bench")
        bare = await run_bare(receiver, _alerts(count, "bare"))
    return notify, bare


def report(notify: Run, bare: Run, out: Callable[[str], None]) -> None:
    out(
        "| run | deliveries | seconds | deliveries/s | CPU ms per delivery "
        "| statements per delivery | commits per delivery |"
    )
    out("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in (notify, bare):
        sql = (
            (f"{r.statements / r.deliveries:.2f}", f"{r.commits / r.deliveries:.2f}")
            if r.statements
            else ("", "")
        )
        out(
            f"| {r.name} | {r.deliveries:,} | {r.seconds:.2f} | {r.per_second:,.0f} | {r.cpu_ms:.2f} "
            f"| {sql[0]} | {sql[1]} |"
        )
    out("")
    out(f"notify / bare httpx: deliveries/s {notify.per_second / bare.per_second:.2f}, "
        f"CPU per delivery {notify.cpu_ms / bare.cpu_ms:.1f}x")  # fmt: skip
    out(f"notify CPU per delivery / 3 ms target: {notify.cpu_ms / 3.0:.2f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="exportwatch bench-notify", description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=5_000, help="alerts to deliver (default 5,000)")
    parser.add_argument("--batch", type=int, default=100, help="alerts per consumer batch (default 100)")
    parser.add_argument(
        "--database-url",
        default="",
        help="an empty scratch database (postgresql://...); default SQLite in a temporary folder",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'notify.db'}"
        print(f"notify benchmark: {args.alerts:,} alerts in batches of {args.batch} on {safe_url(url)}")
        print(f"Python {platform.python_version()}, {platform.machine()}")
        notify, bare = asyncio.run(run(url, args.alerts, args.batch, print))
    report(notify, bare, print)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
