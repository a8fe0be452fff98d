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
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from schemas import parse_event, topics
from services.common.kafka import KafkaSettings
from tools.embedded import EmbeddedBroker, free_port
from tools.processes import cpu_seconds, die_with_parent, peak_rss_mib, spawn_service, stop_in_order
from tools.webhook_sink import WebhookSink

LANGUAGES = ("en", "nl", "fr", "de", "es")
TOKEN = "load-harness-token"  # noqa: S105 - loopback only, this run only
SECRET = "load-harness-signing-key"  # noqa: S105 - loopback only, this run only
RAW_TOPIC = "exportwatch.loadtest.raw"
SERVICES = ("notify", "match", "ingest")  # start order: consumers first

# Licence data: most licences are for goods of no interest or to destinations not watched; surveillance
# codes to watched destinations are the few that alert. The matcher decides, offline, which do.
ORDINARY_CODES = ("ML1a", "ML10d", "1C350", "2B350", "9A610", "6A003", "ML22a", "3A001.a", "End Use")
WATCHED_CODES = ("5A001.j", "5A001.f", "4A005", "4D004", "5D001.a", "5A004.a")
ORDINARY_DESTINATIONS = ("US", "NO", "JP", "CH", "AU", "CA", "KR", "NZ", "FR", "DE")
WATCHED_DESTINATIONS = ("CN", "RU", "EG", "SA", "AE", "BH", "IR", "BY")
POISON = (b"{not json", b"\xff\xfe\x00broken", b'{"type": "news_article", "id": 42}', b"[]")


@dataclasses.dataclass(frozen=True)
class LoadConfig:
    events: int = 200_000
    match_share: float = 0.05
    licence_share: float = 0.25
    body_bytes: int = 2000
    batch: int = 500
    senders: int = 4
    poison_every: int = 20_000
    raw: bool = True
    timeout: float = 1800.0
    seed: int = 2026
    notify_concurrency: int = 32


# --- the events ---------------------------------------------------------------------------------------


def _lines(name: str) -> list[str]:
    text = resources.files("tools.benchdata").joinpath(name).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


class EventSource:
    """The events of a run, the same for the same options and seed."""

    def __init__(self, cfg: LoadConfig, run: str) -> None:
        self.cfg = cfg
        self.run = run
        rng = random.Random(cfg.seed)
        self.sentences: dict[str, list[str]] = {}
        for lang in LANGUAGES:
            # Ordinary news vocabulary in random order: thousands of distinct sentences per language, so
            # that no two articles share enough text to be taken for copies of one story.
            words = sorted({w.strip(".,;:«»\"'") for w in " ".join(_lines(f"{lang}.txt")).split()} - {""})
            self.sentences[lang] = [
                " ".join(rng.choices(words, k=rng.randint(8, 18))).capitalize() + "." for _ in range(4000)
            ]
        self.watched: dict[str, list[str]] = {lang: [] for lang in LANGUAGES}
        for line in _lines("watched.txt"):
            lang, sentence = line.split("\t", 1)
            self.watched[lang].append(sentence)
        self.start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)

    def _news(self, i: int, rng: random.Random) -> dict[str, Any]:
        lang = LANGUAGES[i % len(LANGUAGES)]
        pool = self.sentences[lang]
        paragraphs: list[str] = []
        size = 0
        while size < self.cfg.body_bytes:
            paragraph = " ".join(rng.choices(pool, k=rng.randint(2, 4)))
            paragraphs.append(paragraph)
            size += len(paragraph.encode()) + 2
        if rng.random() < self.cfg.match_share:
            paragraphs.insert(rng.randrange(len(paragraphs) + 1), rng.choice(self.watched[lang]))
        return {
            "type": "news_article",
            "id": f"load-{self.run}-{i}",
            "source": f"outlet-{i % 37}.example",
            "url": f"https://outlet-{i % 37}.example/{self.run}/{i}",
            "title": rng.choice(pool)[:90],
            "body": "\n\n".join(paragraphs),
            "language": lang,
            "published_at": (self.start + dt.timedelta(seconds=i)).isoformat(),
        }

    def _licence(self, i: int, rng: random.Random) -> dict[str, Any]:
        if rng.random() < self.cfg.match_share:
            code, destination = rng.choice(WATCHED_CODES), rng.choice(WATCHED_DESTINATIONS)
        elif rng.random() < 0.5:
            code, destination = rng.choice(WATCHED_CODES), rng.choice(ORDINARY_DESTINATIONS)
        else:
            code = rng.choice(ORDINARY_CODES)
            destination = rng.choice(ORDINARY_DESTINATIONS + WATCHED_DESTINATIONS)
        return {
            "type": "licence_record",
            "id": f"load-{self.run}-{i}",
            "authority": "Load harness (synthetic)",
            "licensing_country": "NL",
            "destination_country": destination,
            "exporter": f"Exporter {i % 211} B.V.",
            "items": [{"control_code": code, "description": f"goods line {i}"}],
            "value": float(rng.randint(1_000, 5_000_000)),
            "currency": "EUR",
            "decision": rng.choice(("granted", "granted", "granted", "refused")),
            "decided_on": (self.start.date() - dt.timedelta(days=i % 900)).isoformat(),
        }

    def events(self) -> Iterator[dict[str, Any]]:
        rng = random.Random(self.cfg.seed + 1)
        for i in range(self.cfg.events):
            yield self._licence(i, rng) if rng.random() < self.cfg.licence_share else self._news(i, rng)


@dataclasses.dataclass
class Workload:
    """The push bodies (JSON Lines of ``batch`` events), made before the clock starts, and the alerts the
    bundled watchlists must raise on them (alert id -> event id), computed offline by the same matcher."""

    bodies: list[bytes]
    events: int
    expected: dict[str, str]

    def messages(self) -> Iterator[bytes]:
        for body in self.bodies:
            yield from body.split(b"\n")


def prepare(source: EventSource) -> Workload:
    from services.match.core.engine import Matcher

    matcher = Matcher.load()
    now = dt.datetime.now(dt.UTC)
    expected: dict[str, str] = {}
    bodies: list[bytes] = []
    chunk: list[bytes] = []
    count = 0
    for raw in source.events():
        count += 1
        event = parse_event(raw)
        for alert in matcher.evaluate(event, now):
            expected[alert.id] = event.id
        chunk.append(json.dumps(raw, ensure_ascii=False).encode())
        if len(chunk) == source.cfg.batch:
            bodies.append(b"\n".join(chunk))
            chunk = []
    if chunk:
        bodies.append(b"\n".join(chunk))
    return Workload(bodies, count, expected)


# --- the ceiling: bare aiokafka -----------------------------------------------------------------------


def _client_options(bootstrap: str) -> dict[str, Any]:
    """The harness only ever talks to the embedded broker it started itself: plaintext, whatever the
    EXPORTWATCH_KAFKA_* variables say about another cluster (the services it starts ignore them too)."""
    return KafkaSettings(kafka_bootstrap=bootstrap).client_options()


async def _raw_consume(bootstrap: str, topic: str, count: int, timeout: float) -> dict[str, float]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        **_client_options(bootstrap),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    print(json.dumps({"ready": time.time()}), flush=True)
    got, first, last = 0, 0.0, 0.0
    deadline = time.monotonic() + timeout
    try:
        while got < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                if records and not first:
                    first = time.time()
                got += len(records)
            if batches:
                last = time.time()
    finally:
        await consumer.stop()
    return {"count": got, "first": first, "last": last}


def raw_ceiling(bootstrap: str, work: Workload, limit: int) -> dict[str, float]:
    """Produce the run's messages (up to ``limit``, same bytes) with a bare producer while a bare consumer
    in another process reads them: messages per second from the first send to the last message read."""
    from services.common.topics import ensure_topics

    asyncio.run(ensure_topics(KafkaSettings(kafka_bootstrap=bootstrap), [RAW_TOPIC], 4))
    count = min(limit, work.events)
    consumer = subprocess.Popen(
        [sys.executable, "-m", "tools.loadtest", "_raw-consume", bootstrap, RAW_TOPIC, str(count)],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent(),  # noqa: PLW1509 - only calls prctl
    )
    try:
        assert consumer.stdout is not None
        consumer.stdout.readline()  # ready: started and subscribed
        started, produced = asyncio.run(_raw_produce(bootstrap, work, count))
        out, _ = consumer.communicate(None, 600)
    finally:
        if consumer.poll() is None:
            consumer.kill()
    result = json.loads(out.decode().strip().splitlines()[-1])
    elapsed = max(1e-6, result["last"] - started)
    return {
        "messages": count,
        "consumed": result["count"],
        "produce_per_s": count / max(1e-6, produced - started),
        "per_s": result["count"] / elapsed,
        "seconds": elapsed,
    }


async def _raw_produce(bootstrap: str, work: Workload, count: int) -> tuple[float, float]:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        **_client_options(bootstrap),
        acks="all",
        linger_ms=5,
        max_batch_size=1024 * 1024,
        max_request_size=4 * 1024 * 1024,
    )
    await producer.start()
    started = time.time()
    try:
        pending = []
        for sent, message in enumerate(work.messages()):
            if sent == count:
                break
            pending.append(await producer.send(RAW_TOPIC, message, key=b"raw-%d" % sent))
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
        return started, time.time()
    finally:
        await producer.stop()


# --- the pipeline -------------------------------------------------------------------------------------


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


async def _push(port: int, work: Workload, senders: int, statuses: Counter[str]) -> None:
    """Push every body with ``senders`` requests in flight; a 503 (ingest busy or the broker away) is
    retried, anything else stops the run."""
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
        for body in work.bodies:
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


@dataclasses.dataclass
class LoadReport:
    cfg: LoadConfig
    raw: dict[str, float] | None = None
    pushed: int = 0
    statuses: dict[str, int] = dataclasses.field(default_factory=dict)
    poison: int = 0
    consumed_ok: float = 0
    consumed_dead: float = 0
    outcomes: dict[str, float] = dataclasses.field(default_factory=dict)
    alerts_made: float = 0
    expected: int = 0
    received_alerts: int = 0
    missing: int = 0
    unexpected: int = 0
    duplicates: int = 0
    notifications: int = 0
    notification_repeats: int = 0
    unsigned: int = 0
    push_seconds: float = 0
    match_seconds: float = 0
    deliver_seconds: float = 0
    latency: dict[str, float] = dataclasses.field(default_factory=dict)
    processes: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    notify_dead: float = 0
    notify_in_doubt: float = 0
    finished: bool = False
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def events_per_s(self) -> float:
        return self.pushed / self.match_seconds if self.match_seconds else 0.0

    @property
    def alerts_per_s(self) -> float:
        return self.received_alerts / self.deliver_seconds if self.deliver_seconds else 0.0

    @property
    def ratio(self) -> float | None:
        if not self.raw or not self.raw["per_s"]:
            return None
        return self.events_per_s / self.raw["per_s"]


def check(report: LoadReport) -> list[str]:
    """What does not add up: every problem named with its numbers. Empty when everything is accounted for."""
    r = report
    problems = []
    if not r.finished:
        problems.append("the run did not finish within the timeout")
    accepted = r.statuses.get("published", 0)
    if accepted != r.pushed:
        problems.append(f"ingest published {accepted} of {r.pushed} pushed events ({dict(r.statuses)})")
    on_topics = accepted + r.poison
    if r.consumed_ok + r.consumed_dead != on_topics:
        problems.append(
            f"match consumed {r.consumed_ok:.0f} ok + {r.consumed_dead:.0f} dead-lettered, "
            f"but {on_topics} records were written"
        )
    if r.consumed_dead != r.poison:
        problems.append(f"{r.consumed_dead:.0f} dead letters for {r.poison} poison messages")
    evaluated = sum(v for k, v in r.outcomes.items() if k in ("alerted", "no_match"))
    if evaluated != accepted:
        problems.append(f"match evaluated {evaluated:.0f} events of {accepted} ({r.outcomes})")
    if r.alerts_made != r.expected:
        problems.append(f"match made {r.alerts_made:.0f} alerts, {r.expected} expected")
    if r.missing:
        problems.append(f"{r.missing} expected alerts never reached the receiver")
    if r.unexpected:
        problems.append(f"{r.unexpected} alerts reached the receiver that were not expected")
    if r.duplicates:
        problems.append(f"{r.duplicates} alerts reached the receiver more than once")
    if r.unsigned:
        problems.append(f"{r.unsigned} deliveries did not carry a valid signature")
    if r.notify_dead:
        problems.append(f"{r.notify_dead:.0f} notifications died")
    return problems


def run_load(
    cfg: LoadConfig, workdir: Path, *, raw_limit: int = 100_000, progress: bool = True
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
            say(f"raw aiokafka produce -> consume of {min(raw_limit, cfg.events):,} messages ...")
            report.raw = raw_ceiling(broker.bootstrap, work, raw_limit)
            say(f"  {report.raw['per_s']:,.0f} messages/s")
        for name in SERVICES:
            procs.ports[name] = port = free_port()
            env = _env(name, cfg, broker.bootstrap, port, workdir, sink.url)
            procs.start(name, env, workdir / "logs" / f"{name}.log")
        procs.wait_ready()
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
    for name, proc in procs.procs.items():
        report.processes[name] = _proc_figures(proc.pid)
    if broker.pid is not None:
        report.processes["broker (Tansu)"] = _proc_figures(broker.pid)


async def _drive(
    procs: Processes, bootstrap: str, work: Workload, cfg: LoadConfig, statuses: Counter[str]
) -> int:
    """Push the bodies; meanwhile write the poison messages onto the news topic. Returns the poison count."""
    poison = work.events // cfg.poison_every if cfg.poison_every else 0
    push = asyncio.create_task(_push(procs.ports["ingest"], work, cfg.senders, statuses))
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


def render(report: LoadReport) -> str:
    r, cfg = report, report.cfg
    raw = r.raw or {}
    lat = r.latency
    published = r.statuses.get("published", 0)
    outcomes = {k: int(v) for k, v in r.outcomes.items()}
    lines = [
        "# ExportWatch load run",
        "",
        f"Machine: {os.cpu_count()} CPUs, {platform.machine()}, {platform.processor() or 'cpu'}, "
        f"Python {platform.python_version()}, {platform.platform(terse=True)}",
        f"Events: {cfg.events:,}: {1 - cfg.licence_share:.0%} news articles of about {cfg.body_bytes} "
        f"bytes in {len(LANGUAGES)} languages, {cfg.licence_share:.0%} licence records; about "
        f"{cfg.match_share:.0%} carry a watched technology and destination. Pushed in bodies of "
        f"{cfg.batch} by {cfg.senders} senders; {r.poison} poison messages written straight onto the "
        "news topic.",
        "State: SQLite files (ingest's and notify's); notify: group wait "
        f"0, concurrency {cfg.notify_concurrency}, one webhook subscription taking every alert.",
        "",
        "| figure | value |",
        "|---|---:|",
    ]
    if raw:
        lines += [
            f"| raw aiokafka produce→consume, {raw['messages']:,.0f} messages: msg/s | {raw['per_s']:,.0f} |",
            f"| raw aiokafka produce alone: msg/s | {raw['produce_per_s']:,.0f} |",
        ]
    lines += [
        f"| pipeline: events/s (first push to the last event matched) | {r.events_per_s:,.0f} |",
        f"| push API alone: events/s | {r.pushed / r.push_seconds if r.push_seconds else 0:,.0f} |",
    ]
    if r.ratio is not None:
        lines.append(f"| **ratio pipeline / raw ceiling** | **{r.ratio:.3f}** |")
    lines += [
        f"| alerts delivered/s (first push to the last delivery) | {r.alerts_per_s:,.1f} |",
        f"| end-to-end latency p50 / p95 / p99, s | {lat.get('p50', 0):.2f} / {lat.get('p95', 0):.2f}"
        f" / {lat.get('p99', 0):.2f} |",
        f"| wall time: push / match / last delivery, s | {r.push_seconds:.1f} / {r.match_seconds:.1f}"
        f" / {r.deliver_seconds:.1f} |",
        "",
        "| process | peak memory (MiB) | CPU (s) |",
        "|---|---:|---:|",
        *(f"| {name} | {f['peak_mib']:,.0f} | {f['cpu_s']:,.1f} |" for name, f in r.processes.items()),
        "",
        "Accounting:",
        f"- pushed {r.pushed:,}; ingest answered {dict(sorted(r.statuses.items()))}",
        f"- written to the topics {published + r.poison:,} = match consumed {r.consumed_ok:,.0f} ok + "
        f"{r.consumed_dead:,.0f} dead-lettered; evaluated {outcomes}",
        f"- alerts expected {r.expected:,}, made by match {r.alerts_made:,.0f}, received "
        f"{r.received_alerts:,} in {r.notifications:,} notifications",
        f"- missing {r.missing}, unexpected {r.unexpected}, duplicates by alert id {r.duplicates}, "
        f"repeated notifications {r.notification_repeats}, unsigned {r.unsigned}, dead "
        f"{r.notify_dead:.0f}, in doubt {r.notify_in_doubt:.0f}",
        "",
        "Result: " + ("everything accounted for" if not r.problems else "PROBLEMS: " + "; ".join(r.problems)),
    ]
    return "\n".join(lines)


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
    parser.add_argument("--raw-limit", type=int, default=100_000, help="messages in the raw ceiling run")
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
        raw=not opts.no_raw,
        timeout=opts.timeout,
        seed=opts.seed,
    )
    temporary = opts.workdir is None
    workdir = opts.workdir or Path(tempfile.mkdtemp(prefix="exportwatch-load-"))
    report = run_load(cfg, workdir, raw_limit=opts.raw_limit)
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
