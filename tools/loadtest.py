"""The load harness: sustained load through the whole pipeline, every event accounted for.

``exportwatch load`` starts its own embedded broker, a real webhook receiver and ingest, match and notify
as separate processes (as the local stack runs them), all on loopback. Then it:

1. **Measures the ceiling.** The same messages (same bytes, same keys) go through a bare aiokafka
   producer and a bare aiokafka consumer in another process, on the same broker. This is raw produce→
   consume throughput on this machine, in this run. The machines are shared and noisy, so the figure that
   counts is the pipeline's throughput as a share of this ceiling.
2. **Drives the pipeline.** It pushes the events through ingest's push API (``POST /v1/events``, JSON
   Lines, several requests at once), a realistic mix of news articles in five languages and export-
   licence records, most of them of no interest and a small share that should alert. A few poison
   messages go straight onto the news topic, as a broken producer would write them.
3. **Accounts for everything.** The expected alerts are computed offline by the same matcher on the same
   events. At the end: events pushed = accepted by ingest; records on the topics = matched-or-not +
   dead-lettered, from match's own counters; every expected alert reaches the receiver, counted by alert
   id: none missing, none unexpected, none twice.

Reported: events/s through match, alerts/s delivered, end-to-end latency from ingestion to the
receiver (p50/p95/p99), peak memory and CPU time per process, and the ratio to the raw ceiling. The exit
status is 1 when anything is lost, duplicated or unexpected, or the run did not finish in time.

Events are generated from a seed: the same options give the same events. Everything is bounded: the
event count, a timeout, and the broker's memory (which grows with every byte produced: a 200,000-event
run puts about 1 GB into it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from schemas import topics
from tools.embedded import EmbeddedBroker, free_port
from tools.loadtest_ceiling import (
    RAW_MESSAGES,
    RAW_REPEATS,
    RAW_TOPIC,
    _client_options,
    _raw_consume,
    raw_ceiling,
)
from tools.loadtest_events import (
    LANGUAGES,
    ORDINARY_CODES,
    ORDINARY_DESTINATIONS,
    WATCHED_CODES,
    WATCHED_DESTINATIONS,
    EventSource,
    LoadConfig,
    Workload,
    prepare,
)
from tools.loadtest_report import LoadReport, check, render
from tools.processes import cpu_seconds, peak_rss_mib, spawn_service, stop_in_order
from tools.webhook_sink import WebhookSink

# The harness's parts live in tools/loadtest_events.py (options, events, workload), loadtest_ceiling.py
# (the raw aiokafka ceiling) and loadtest_report.py (figures, checks, table); this module drives the
# pipeline, and every public name is importable from here as before.
__all__ = [
    "LANGUAGES",
    "ORDINARY_CODES",
    "ORDINARY_DESTINATIONS",
    "POISON",
    "RAW_TOPIC",
    "SECRET",
    "SERVICES",
    "SUBSCRIPTIONS",
    "TOKEN",
    "WATCHED_CODES",
    "WATCHED_DESTINATIONS",
    "EventSource",
    "LoadConfig",
    "LoadReport",
    "Processes",
    "Workload",
    "check",
    "main",
    "prepare",
    "raw_ceiling",
    "render",
    "run_load",
]

TOKEN = "load-harness-token"  # noqa: S105 - loopback only, this run only
SECRET = "load-harness-signing-key"  # noqa: S105 - loopback only, this run only
SERVICES = ("notify", "match", "ingest")  # start order: consumers first
POISON = (b"{not json", b"\xff\xfe\x00broken", b'{"type": "news_article", "id": 42}', b"[]")


def _metrics(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _sum(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and want <= lab)


def _proc_figures(pid: int) -> dict[str, float]:
    """Peak resident memory (MiB) and CPU seconds of a live process, 0 when unknown."""
    return {"peak_mib": peak_rss_mib(pid) or 0.0, "cpu_s": cpu_seconds(pid) or 0.0}


SUBSCRIPTIONS = """\
subscriptions:
  - id: load-webhook
    owner: load
    name: Every alert to the load harness receiver
    channel:
      type: webhook
      url: "${EXPORTWATCH_STACK_WEBHOOK_URL}"
      secret: "${EXPORTWATCH_STACK_WEBHOOK_SECRET}"
"""


def _env(name: str, cfg: LoadConfig, bootstrap: str, port: int, workdir: Path, hook: str) -> dict[str, str]:
    from tools.stack import service_env

    env = service_env(name, bootstrap, port, workdir, hook, [])
    env["EXPORTWATCH_LOG_LEVEL"] = "WARNING"
    if name == "ingest":
        env["EXPORTWATCH_INGEST_API_TOKENS"] = TOKEN
        env["EXPORTWATCH_INGEST_SOURCES"] = ""
    if name == "notify":
        subscriptions = workdir / "load-subscriptions.yaml"
        subscriptions.write_text(SUBSCRIPTIONS, encoding="utf-8")
        env.update(
            {
                "EXPORTWATCH_NOTIFY_CONSOLE": "false",
                "EXPORTWATCH_NOTIFY_SUBSCRIPTIONS_FILE": str(subscriptions),
                "EXPORTWATCH_STACK_WEBHOOK_SECRET": SECRET,
                "EXPORTWATCH_NOTIFY_GROUP_WAIT_SECONDS": "0",
                "EXPORTWATCH_NOTIFY_WEBHOOK_PER_SECOND": "100000",
                "EXPORTWATCH_NOTIFY_CONCURRENCY": str(cfg.notify_concurrency),
            }
        )
        env.pop("EXPORTWATCH_NOTIFY_FILE_PATH", None)
    return env


@dataclasses.dataclass
class Processes:
    procs: dict[str, subprocess.Popen[bytes]] = dataclasses.field(default_factory=dict)
    ports: dict[str, int] = dataclasses.field(default_factory=dict)

    def start(self, name: str, env: dict[str, str], log: Path) -> None:
        with log.open("ab") as out:
            self.procs[name] = spawn_service(name, env, stdout=out, stderr=out)

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        for name, port in self.ports.items():
            while True:
                if self.procs[name].poll() is not None:
                    raise RuntimeError(f"{name} exited at start with code {self.procs[name].returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} was not ready within {timeout:.0f} s")
                time.sleep(0.2)

    def stop(self) -> None:
        stop_in_order(self.procs, list(reversed(SERVICES)), timeout=30)


async def _push(port: int, work: Workload, senders: int, statuses: Counter[str], rate: float = 0.0) -> None:
    """Push every body with ``senders`` requests in flight; a 503 (ingest busy or the broker away) is
    retried, anything else stops the run. With a ``rate`` (events per second) each body is offered
    when its turn comes on that schedule, not before; a sender still busy delays it."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=senders * 2)
    url = f"http://127.0.0.1:{port}/v1/events"
    headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/x-ndjson"}

    async def sender(client: httpx.AsyncClient) -> None:
        while (body := await queue.get()) is not None:
            for attempt in range(20):
                response = await client.post(url, content=body, headers=headers)
                if response.status_code == 202:
                    for result in response.json()["results"]:
                        statuses[result["status"]] += 1
                    break
                if response.status_code != 503 or attempt == 19:
                    raise RuntimeError(f"push refused: HTTP {response.status_code} {response.text[:300]}")
                await asyncio.sleep(1)

    async with httpx.AsyncClient(timeout=120) as client:
        workers = [asyncio.create_task(sender(client)) for _ in range(senders)]
        offered, start = 0, time.monotonic()
        for body in work.bodies:
            if rate:
                await asyncio.sleep(max(0.0, start + offered / rate - time.monotonic()))
                offered += body.count(b"\n") + 1
            await queue.put(body)
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)


async def _poison(bootstrap: str, count: int) -> int:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(**_client_options(bootstrap), acks="all")
    await producer.start()
    try:
        for i in range(count):
            await producer.send_and_wait(topics.NEWS, POISON[i % len(POISON)], key=f"poison-{i}".encode())
    finally:
        await producer.stop()
    return count


def _quantile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_load(
    cfg: LoadConfig,
    workdir: Path,
    *,
    raw_limit: int = RAW_MESSAGES,
    raw_repeats: int = RAW_REPEATS,
    progress: bool = True,
) -> LoadReport:
    """One whole run in ``workdir`` (logs in ``workdir/logs``): broker, ceiling, services, load, tally."""
    (workdir / "logs").mkdir(parents=True, exist_ok=True)

    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    report = LoadReport(cfg)
    say(f"making {cfg.events:,} events and their expected alerts (offline, by the same matcher) ...")
    work = prepare(EventSource(cfg, f"{cfg.seed}x{int(time.time()) % 100_000}"))
    report.pushed, report.expected = work.events, len(work.expected)
    say(f"  {report.expected:,} alerts expected")
    broker = EmbeddedBroker(log_path=workdir / "logs" / "tansu.log")
    asyncio.run(broker.start())
    sink = WebhookSink(secret=SECRET).start()
    procs = Processes()
    try:
        if cfg.raw:
            say(f"raw aiokafka produce -> consume, {raw_repeats} x {raw_limit:,} messages ...")
            report.raw = raw_ceiling(broker.bootstrap, work, raw_limit, raw_repeats)
            say(f"  median {report.raw['per_s']:,.0f} messages/s")
        for name in SERVICES:
            procs.ports[name] = port = free_port()
            env = _env(name, cfg, broker.bootstrap, port, workdir, sink.url)
            procs.start(name, env, workdir / "logs" / f"{name}.log")
        procs.wait_ready()
        # Ingest's CPU from here on is the run's own: start-up (imports, migrations) is left out.
        report.ingest_cpu_ready_s = cpu_seconds(procs.procs["ingest"].pid) or 0.0
        say("services ready; pushing ...")
        statuses: Counter[str] = Counter()
        started = time.time()
        report.poison = asyncio.run(_drive(procs, broker.bootstrap, work, cfg, statuses))
        report.push_seconds = time.time() - started
        report.statuses = dict(statuses)
        _await_end(report, procs, sink, started, say if progress else None)
        _collect(report, procs, broker)
        _tally(report, sink, work.expected, started)
    finally:
        procs.stop()
        sink.stop()
        broker.stop()
    report.problems += check(report)
    return report


def _await_end(
    report: LoadReport, procs: Processes, sink: WebhookSink, started: float, say: Callable[[str], None] | None
) -> None:
    """Wait until match has consumed every record written and the receiver has every expected alert and
    has been quiet for 3 seconds (so that late repeats would still be seen), or the timeout."""
    deadline = started + report.cfg.timeout
    on_topics = report.statuses.get("published", 0) + report.poison
    last_seen, last_change, match_done, shown = -1, time.time(), 0.0, 0.0
    while time.time() < deadline:
        consumed = _sum(_metrics(procs.ports["match"]), "exportwatch_match_messages_consumed_total")
        if not match_done and consumed >= on_topics:
            match_done = time.time()
        received = len(sink.alert_ids())
        if received != last_seen:
            last_seen, last_change = received, time.time()
        if match_done and received >= report.expected and time.time() - last_change > 3:
            report.finished = True
            break
        for name, proc in procs.procs.items():
            if proc.poll() is not None:
                report.problems.append(f"{name} exited with code {proc.returncode} during the run")
                return
        if say is not None and time.time() - shown >= 5:
            shown = time.time()
            say(
                f"  {time.time() - started:6.0f} s  match {consumed:,.0f}/{on_topics:,}  "
                f"delivered {received:,}/{report.expected:,}"
            )
        time.sleep(0.5)
    report.match_seconds = (match_done or time.time()) - started


def _collect(report: LoadReport, procs: Processes, broker: EmbeddedBroker) -> None:
    """The services' own counters, and each process's peak memory and CPU time, before they stop."""
    m = _metrics(procs.ports["match"])
    n = _metrics(procs.ports["notify"])
    report.consumed_ok = _sum(m, "exportwatch_match_messages_consumed_total", outcome="ok")
    report.consumed_dead = _sum(m, "exportwatch_match_messages_consumed_total", outcome="deadlettered")
    report.outcomes = {
        o: _sum(m, "exportwatch_match_events_total", outcome=o)
        for o in ("alerted", "no_match", "invalid", "error")
    }
    report.alerts_made = _sum(m, "exportwatch_match_alerts_total")
    report.notify_dead = _sum(n, "exportwatch_notify_dead_total")
    report.notify_in_doubt = _sum(n, "exportwatch_notify_in_doubt_total")
    attempts = _sum(n, "exportwatch_notify_send_attempts_total")
    report.failed_sends = attempts - _sum(n, "exportwatch_notify_send_attempts_total", result="ok")
    for name, proc in procs.procs.items():
        report.processes[name] = _proc_figures(proc.pid)
    if broker.pid is not None:
        report.processes["broker (Tansu)"] = _proc_figures(broker.pid)


async def _drive(
    procs: Processes, bootstrap: str, work: Workload, cfg: LoadConfig, statuses: Counter[str]
) -> int:
    """Push the bodies; meanwhile write the poison messages onto the news topic. Returns the poison count."""
    poison = work.events // cfg.poison_every if cfg.poison_every else 0
    push = asyncio.create_task(_push(procs.ports["ingest"], work, cfg.senders, statuses, cfg.rate))
    await asyncio.sleep(0.5)
    sent = await _poison(bootstrap, poison)
    await push
    return sent


def _tally(report: LoadReport, sink: WebhookSink, expected: dict[str, str], started: float) -> None:
    """What the receiver got, counted by alert id and by notification id, and the end-to-end latency of
    each alert: from ingest taking in its event (``event_ingested_at``) to the receiver getting it."""
    entries = sink.entries()
    ids = Counter(a for e in entries for a in e["alert_ids"])
    report.received_alerts = len(ids)
    report.missing = len(set(expected) - set(ids))
    report.unexpected = len(set(ids) - set(expected))
    report.duplicates = sum(c - 1 for c in ids.values() if c > 1)
    notes = Counter(e["notification_id"] for e in entries)
    report.notifications = len(notes)
    report.notification_repeats = sum(c - 1 for c in notes.values() if c > 1)
    report.unsigned = sum(1 for e in entries if not e.get("signature_valid"))
    latencies = []
    for e in entries:
        for alert in (e["body"].get("data") or {}).get("alerts", []):
            ingested = alert.get("event_ingested_at")
            if ingested:
                latencies.append(e["received_at"] - dt.datetime.fromisoformat(ingested).timestamp())
    if entries:
        report.deliver_seconds = max(e["received_at"] for e in entries) - started
    report.latency = {
        "p50": _quantile(latencies, 0.50),
        "p95": _quantile(latencies, 0.95),
        "p99": _quantile(latencies, 0.99),
        "max": max(latencies) if latencies else float("nan"),
        "mean": statistics.fmean(latencies) if latencies else float("nan"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["_raw-consume"]:
        bootstrap, topic, count = args[1], args[2], int(args[3])
        result = asyncio.run(_raw_consume(bootstrap, topic, count, 600))
        print(json.dumps(result), flush=True)
        return 0
    parser = argparse.ArgumentParser(
        prog="exportwatch load", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    d = LoadConfig()
    parser.add_argument("--events", type=int, default=d.events, help="events to push (default %(default)s)")
    parser.add_argument(
        "--match-share",
        type=float,
        default=d.match_share,
        help="share of events carrying a watched technology and destination",
    )
    parser.add_argument(
        "--licence-share", type=float, default=d.licence_share, help="share of licence records"
    )
    parser.add_argument("--body-bytes", type=int, default=d.body_bytes, help="size of a news body")
    parser.add_argument(
        "--batch",
        type=int,
        default=d.batch,
        help="events per push request (ingest takes at most EXPORTWATCH_INGEST_MAX_ITEMS, 1000)",
    )
    parser.add_argument("--senders", type=int, default=d.senders, help="push requests at once")
    parser.add_argument(
        "--rate",
        type=float,
        default=d.rate,
        help="events per second offered to the push API (default: as fast as ingest takes them); "
        "for latency at a steady load, e.g. --rate 300 --batch 30",
    )
    parser.add_argument(
        "--raw-limit",
        type=int,
        default=RAW_MESSAGES,
        help="messages in each repeat of the raw ceiling, the run's messages cycled (default %(default)s)",
    )
    parser.add_argument(
        "--raw-repeats",
        type=int,
        default=RAW_REPEATS,
        help="repeats of the raw ceiling; the ceiling is their median (default %(default)s)",
    )
    parser.add_argument("--no-raw", action="store_true", help="skip the raw aiokafka ceiling")
    parser.add_argument("--timeout", type=float, default=d.timeout, help="seconds before giving up")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="keep logs here (default: a temporary folder)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    opts = parser.parse_args(args)
    cfg = LoadConfig(
        events=opts.events,
        match_share=opts.match_share,
        licence_share=opts.licence_share,
        body_bytes=opts.body_bytes,
        batch=opts.batch,
        senders=opts.senders,
        rate=opts.rate,
        raw=not opts.no_raw,
        timeout=opts.timeout,
        seed=opts.seed,
    )
    temporary = opts.workdir is None
    workdir = opts.workdir or Path(tempfile.mkdtemp(prefix="exportwatch-load-"))
    report = run_load(cfg, workdir, raw_limit=opts.raw_limit, raw_repeats=opts.raw_repeats)
    print(render(report), flush=True)
    if temporary and not report.problems:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"logs: {workdir / 'logs'}", flush=True)
    if opts.json:
        data = dataclasses.asdict(report)
        data.update(events_per_s=report.events_per_s, alerts_per_s=report.alerts_per_s, ratio=report.ratio)
        opts.json.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
