"""Faults injected into the whole pipeline (ingest -> match -> notify -> a real webhook receiver), each
service a process of its own on a broker of the test's own.

1. kill -9 of one service (ingest, match or notify) in the middle of a burst of a few thousand events
   pushed through ingest's API, then the same service started again with the same environment and
   database. Every expected alert (computed offline with the same matcher) reaches the receiver, and,
   counted by notification id (the receiver's idempotency key), exactly once. A raw repeat (the same
   notification sent twice) can only come from notify's own kill: a send whose answer arrived but was
   not recorded is sent again after its lease, with the same notification id; there can be at most as
   many as sends in flight (``CONCURRENCY``), and each is counted in ``exportwatch_notify_in_doubt_total``.
   Every pushed event is accounted for: on the topics once at least, and consumed by match.

2. The broker (Tansu, memory storage) killed and started again on the same port while the services run.
   They are not restarted: they re-create the topics, rejoin their groups, and events pushed after the
   restart become alerts at the receiver. What a memory broker's restart loses, shown by the test:

   - every message on every topic: events published (acknowledged to ingest, so ingest's database says
     "published" and will never publish them again) but not yet consumed by match are gone, and so are
     alerts match published that notify had not yet read. Their alerts never arrive. The test pauses
     match (SIGSTOP) while a batch is pushed, so that this batch is exactly the one lost;
   - the consumer groups and their committed offsets. The consumers' next commit or heartbeat fails
     (unknown member), they rejoin and, finding no committed offset, start from the beginning of the
     new topics: what they had read there before their commit failed is read again, so match may
     publish some alerts twice (same ids; notify records each (alert, subscription) once and sends
     nothing twice);
   - nothing in the services' databases. ingest still remembers the lost events as published: pushed
     again they are answered as duplicates and not published, so their alerts are lost for good
     (the test checks this). A memory broker is for the local stack and the tests only.

   Found by this test and fixed: the producers kept their cached metadata, and the restarted broker
   acknowledged their messages to topics it did not have (yet) and dropped them; events pushed right
   after the restart were answered 202 and never matched. Publishing now checks on the broker that the
   topics exist before the send and after the acknowledgements (services/common/topics.py), so ingest
   answers 503 and match reads its batch again until the topics are back. The test measures the time
   from the kill to the topics being back, the first and the last alert of the events pushed after it.

   Production runs Apache Kafka, which keeps its log and the committed offsets on disk, replicated to
   other brokers (replication factor and min.insync.replicas), so a broker restart loses none of this.

3. Poison messages produced straight onto each consumed topic (news and licences -> match, alerts ->
   notify), on one partition between valid messages: invalid JSON, invalid UTF-8, valid JSON of the
   wrong shape, and a message larger than the services' largest accepted event. Each is dead-lettered
   on exportwatch.deadletter.v1 with its reason, service and source partition/offset, and the valid
   messages after it on the same partition are processed (their alerts delivered). Nothing in
   ExportWatch consumes exportwatch.deadletter.v1: dead letters wait there for an operator
   (docs/operations.md, ExportWatchDeadLetters).

   Found by this test and fixed: the dead letter of a 1.5 MB message (its bytes in base64) was larger
   than a Kafka message, could never be published, and its batch was read again forever, blocking
   the partition and publishing the batch's other dead letters again every second. Consumers now
   dead-letter a message above 1,000,000 bytes (ingest's largest accepted event) as too_large, and a
   dead letter keeps at most the first 256 KiB of its original (services/common/messaging/deadletters.py).

The counts and timings of each run are printed (``-s`` shows them).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import datetime as dt
import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schemas import Alert, DeadLetter, LicenceRecord, NewsArticle, topics
from services.ingest.core.caat import parse_caat_values
from services.match.core.engine import Matcher
from tests.conftest import ROOT, SHARED_SAMPLES, metric_value, read_until_quiet, wait_ready
from tools.embedded import EmbeddedBroker, free_port
from tools.processes import die_with_parent
from tools.stack import STACK_WEBHOOK_SECRET, service_env
from tools.webhook_sink import WebhookSink

pytestmark = [pytest.mark.broker, pytest.mark.slow]

SERVICES = ("notify", "match", "ingest")  # consumers first
TOKEN = "faults-e2e-token"
PARTITIONS = 4
CONCURRENCY = 8  # notify's sends at once: the bound on raw repeats after its kill -9
LEASE_SECONDS = 4.0
MATCH_GROUP = "exportwatch-match"
SUBSCRIPTION = "local-webhook"  # tools/stack.py LOCAL_SUBSCRIPTIONS: every alert to the receiver
CONSUMED = (topics.NEWS, topics.LICENCES)
_PRODUCED = "exportwatch_{}_messages_produced_total"

Event = NewsArticle | LicenceRecord


# --- events and the expected alerts -------------------------------------------------------------------


def _news_templates() -> list[NewsArticle]:
    lines = (SHARED_SAMPLES / "news.jsonl").read_text(encoding="utf-8").splitlines()
    return [NewsArticle.model_validate_json(line) for line in lines if line.strip()]


def _licence_templates() -> list[LicenceRecord]:
    data = (SHARED_SAMPLES / "uk-caat-values-2014-sample.csv").read_bytes()
    records = [r for r in parse_caat_values(data, "caat") if isinstance(r, LicenceRecord)]
    assert len(records) > 2000, "the CAAT sample must parse"
    return records


def make_events(run: str, count: int, start: int = 0) -> list[Event]:
    """``count`` distinct events from the real samples: one news copy in three (two of the five
    articles alert), the rest rows of the UK licence data (about one in twenty alerts). Each copy has
    its own id and URL, and each news copy its own last line, so ingest sees distinct texts (it drops
    a second copy of the same text) that are near duplicates of the original story."""
    news, licences = _news_templates(), _licence_templates()
    out: list[Event] = []
    for i in range(start, start + count):
        if i % 3 == 0:
            n = news[(i // 3) % len(news)]
            out.append(
                n.model_copy(
                    update={
                        "id": f"{run}-news-{i:05d}",
                        "url": f"{n.url}?copy={run}-{i}",
                        "body": f"{n.body}\n\nCopy {run}-{i}.",
                    }
                )
            )
        else:
            r = licences[i % len(licences)]
            out.append(r.model_copy(update={"id": f"{run}-lic-{i:05d}"}))
    return out


_MATCHER: Matcher | None = None


def expected_alerts(events: Sequence[Event]) -> dict[str, str]:
    """Alert id -> event id, by the service's own matcher on the bundled watchlists. An alert id is
    sha256(event type | event id | rule [| revision]): ingest publishes every event here as revision 1
    (a repeat after a crash is the same revision), so these ids are exactly what match publishes."""
    global _MATCHER
    _MATCHER = _MATCHER or Matcher.load()
    now = dt.datetime.now(dt.UTC)
    return {a.id: e.id for e in events for a in _MATCHER.evaluate(e, now)}


# --- the pipeline -------------------------------------------------------------------------------------


class Pusher:
    """Pushes events to ``POST /v1/events`` as JSON Lines, ``batch`` a request, in a thread of its own,
    as a client would: a request that fails (ingest killed or restarting, broker unavailable) is sent
    again until it is accepted."""

    def __init__(self, url: str, events: Sequence[Event], batch: int = 100, deadline: float = 90) -> None:
        self.url = url
        self.events = list(events)
        self.batch = batch
        self.deadline = deadline
        self.accepted = 0  # events in accepted requests
        self.statuses: dict[str, list[str]] = collections.defaultdict(list)
        self.retries = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="pusher", daemon=True)

    def start(self) -> Pusher:
        self._thread.start()
        return self

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"pushing did not finish: {self.accepted} accepted"
        if self.error is not None:
            raise self.error

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            end = time.monotonic() + self.deadline
            with httpx.Client(timeout=30, headers={"authorization": f"Bearer {TOKEN}"}) as client:
                for i in range(0, len(self.events), self.batch):
                    chunk = self.events[i : i + self.batch]
                    body = b"\n".join(e.model_dump_json().encode() for e in chunk)
                    while True:
                        assert time.monotonic() < end, f"push not accepted within {self.deadline}s"
                        try:
                            response = client.post(self.url, content=body)
                        except httpx.HTTPError:
                            self.retries += 1
                            time.sleep(0.2)
                            continue
                        if response.status_code == 503:
                            self.retries += 1
                            time.sleep(0.2)
                            continue
                        assert response.status_code == 202, response.text
                        break
                    for result in response.json()["results"]:
                        self.statuses[result["id"]].append(
                            result["status"] + (f":{result['reason']}" if "reason" in result else "")
                        )
                    self.accepted += len(chunk)
        except BaseException as exc:
            self.error = exc


def wait_for(check: Callable[[], bool], timeout: float, what: Callable[[], str] | str) -> float:
    """Poll ``check`` until true; returns the seconds it took. Fails with ``what`` on timeout."""
    started = time.monotonic()
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if check():
                return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout}s: {what() if callable(what) else what}")
        time.sleep(0.1)


class Pipeline:
    """A broker, a webhook receiver and the three services as processes (new sessions), on free ports.
    notify sends every alert to the receiver at once (group wait 0, ``SUBSCRIPTION``)."""

    def __init__(self, workdir: Path, partitions: int = PARTITIONS) -> None:
        self.dir = workdir
        self.broker = EmbeddedBroker(partitions=partitions, log_path=workdir / "tansu.log")
        self.sink = WebhookSink(secret=STACK_WEBHOOK_SECRET)
        self.ports = {name: free_port() for name in SERVICES}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.envs: dict[str, dict[str, str]] = {}

    def up(self) -> Pipeline:
        self.sink.start()
        asyncio.run(self.broker.start())
        for name in SERVICES:
            env = service_env(name, self.broker.bootstrap, self.ports[name], self.dir, self.sink.url, [])
            env["EXPORTWATCH_TOPIC_PARTITIONS"] = str(self.broker.partitions)
            if name == "ingest":
                env["EXPORTWATCH_INGEST_API_TOKENS"] = TOKEN
                env.pop("EXPORTWATCH_INGEST_SOURCES")
            if name == "notify":
                env.pop("EXPORTWATCH_NOTIFY_FILE_PATH")
                env.update(
                    {
                        "EXPORTWATCH_NOTIFY_CONSOLE": "false",
                        "EXPORTWATCH_NOTIFY_GROUP_WAIT_SECONDS": "0",
                        "EXPORTWATCH_NOTIFY_WEBHOOK_PER_SECOND": "1000",
                        "EXPORTWATCH_NOTIFY_CONCURRENCY": str(CONCURRENCY),
                        "EXPORTWATCH_NOTIFY_LEASE_SECONDS": str(LEASE_SECONDS),
                        "EXPORTWATCH_NOTIFY_POLL_SECONDS": "0.1",
                    }
                )
            self.envs[name] = env
            self.start(name)
        for name in SERVICES:
            self.ready(name)
        return self

    def log(self, name: str) -> Path:
        return self.dir / f"{name}.log"

    def tail(self, name: str, size: int = 3000) -> str:
        path = self.log(name)
        return path.read_text(errors="replace")[-size:] if path.exists() else ""

    def start(self, name: str) -> None:
        with self.log(name).open("ab") as out:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "tools.cli", "serve", name],
                cwd=ROOT,
                env=self.envs[name],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent(),  # noqa: PLW1509 - only calls prctl
            )

    def ready(self, name: str, timeout: float = 60) -> None:
        wait_ready(f"http://127.0.0.1:{self.ports[name]}/healthz", self.procs[name], self.log(name), timeout)

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def alive(self) -> None:
        for name, proc in self.procs.items():
            assert proc.poll() is None, f"{name} exited with {proc.returncode}: {self.tail(name)}"

    def metric(self, service: str, name: str, **labels: str) -> float:
        return metric_value(self.ports[service], name, **labels)

    def consumed(self, service: str, topic: str, outcome: str | None = None) -> float:
        labels = {"topic": topic} | ({"outcome": outcome} if outcome else {})
        return self.metric(service, f"exportwatch_{service}_messages_consumed_total", **labels)

    @property
    def push_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['ingest']}/v1/events"

    def down(self) -> None:
        for name in reversed(SERVICES):
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGCONT)  # in case a test left it paused
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(20)
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        self.broker.stop()
        self.sink.stop()


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    p = Pipeline(tmp_path)
    try:
        yield p.up()
    finally:
        p.down()


# --- reading the topics and the receiver --------------------------------------------------------------


def read_all(bootstrap: str, *names: str, quiet: float = 3.0, timeout: float = 30.0) -> list[Any]:
    return asyncio.run(read_until_quiet(bootstrap, *names, quiet=quiet, timeout=timeout))


async def _committed(bootstrap: str, group: str, names: Sequence[str], partitions: int) -> dict[Any, int]:
    """The offsets ``group`` has committed (0 where none)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        out = {}
        for t in names:
            for p in range(partitions):
                tp = TopicPartition(t, p)
                out[tp] = (await consumer.committed(tp)) or 0
        return out
    finally:
        await consumer.stop()


def delivered(sink: WebhookSink) -> tuple[collections.Counter[str], int, int]:
    """Per alert id, the number of distinct notifications (by notification id, the idempotency key)
    that carried it; the raw repeats: notifications received more than once (same id), and the alerts
    they carried again (a notification groups the alerts of one story)."""
    entries = list(sink.received)  # a copy (the receiver's threads append)
    by_notification: dict[str, set[str]] = collections.defaultdict(set)
    for entry in entries:
        assert entry["notification_id"], "every webhook carries its idempotency key"
        by_notification[entry["notification_id"]].update(entry["alert_ids"])
    per_alert = collections.Counter(a for ids in by_notification.values() for a in ids)
    raw = collections.Counter(a for entry in entries for a in entry["alert_ids"])
    return per_alert, len(entries) - len(by_notification), sum(raw.values()) - sum(per_alert.values())


def settle(sink: WebhookSink, quiet: float) -> None:
    """Wait until the receiver got nothing new for ``quiet`` seconds."""
    seen, since = -1, time.monotonic()
    deadline = time.monotonic() + 60
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, "deliveries did not settle"
        now = len(sink.received)
        if now != seen:
            seen, since = now, time.monotonic()
        time.sleep(0.1)


# --- 1. kill -9 of each service mid-burst -------------------------------------------------------------

BURST = 3000


@pytest.mark.parametrize("victim", ["ingest", "match", "notify"])
def test_kill_9_mid_burst_every_alert_delivered_once(pipeline: Pipeline, victim: str) -> None:
    started = time.monotonic()
    run = uuid.uuid4().hex[:8]
    events = make_events(run, BURST)
    expected = expected_alerts(events)
    assert len(expected) > 300, len(expected)
    sink = pipeline.sink

    def progress() -> float:
        """How far the victim has got through the burst, 0..1."""
        if victim == "ingest":
            return pusher.accepted / len(events)
        if victim == "match":
            return sum(pipeline.consumed("match", t) for t in CONSUMED) / len(events)
        return len(set(sink.alert_ids()) & expected.keys()) / len(expected)

    pusher = Pusher(pipeline.push_url, events).start()
    wait_for(lambda: progress() >= 1 / 3, 60, lambda: f"{victim} made no progress: {pipeline.tail(victim)}")
    pipeline.alive()
    at_kill = progress()
    pipeline.kill(victim)
    killed_at = time.monotonic()
    assert at_kill < 0.9, f"the kill must land in the middle of the burst ({at_kill:.0%} done)"
    committed: dict[Any, int] = {}
    if victim == "match":
        committed = asyncio.run(_committed(pipeline.broker.bootstrap, MATCH_GROUP, CONSUMED, PARTITIONS))
    pipeline.start(victim)
    pipeline.ready(victim)
    restarted = time.monotonic() - killed_at
    pusher.join(90)

    def missing() -> set[str]:
        return expected.keys() - set(sink.alert_ids())

    took = wait_for(
        lambda: not missing(),
        60,
        lambda: f"{len(missing())} of {len(expected)} alerts missing: {pipeline.tail('notify')}",
    )
    # Past notify's lease: a send in doubt after its kill has been repeated by now.
    settle(sink, LEASE_SECONDS + 1 if victim == "notify" else 3)
    pipeline.alive()

    per_alert, raw_repeats, raw_alert_repeats = delivered(sink)
    assert set(per_alert) == set(expected), f"unexpected alerts: {set(per_alert) - set(expected)}"
    duplicates = sum(n - 1 for n in per_alert.values())
    assert duplicates == 0, f"{duplicates} alerts in more than one notification"
    assert all(e["signature_valid"] for e in sink.received) and sink.rejected == 0
    in_doubt = pipeline.metric("notify", "exportwatch_notify_in_doubt_total")
    if victim == "notify":
        assert raw_repeats <= CONCURRENCY, "only sends in flight at the kill can repeat"
        assert raw_repeats <= in_doubt, "each repeat is a send in doubt, counted"
    else:
        assert raw_repeats == raw_alert_repeats == 0 and in_doubt == 0

    # Every pushed event accounted for: accepted by ingest as new (or, for a request cut by ingest's
    # kill and sent again, recognised as already published), on the topics, and consumed by match.
    ids = {e.id for e in events}
    for event_id, statuses in pusher.statuses.items():
        final = statuses[-1]
        assert final in ("published", "near_duplicate") or (
            victim == "ingest" and final == "duplicate:same_id"
        ), (event_id, statuses)
    assert pusher.statuses.keys() == ids
    records = read_all(pipeline.broker.bootstrap, *CONSUMED)
    keys = collections.Counter(r.key.decode() for r in records)
    assert set(keys) == ids, f"lost: {len(ids - set(keys))}"
    event_repeats = sum(n - 1 for n in keys.values())
    if victim == "ingest":
        # Published, acknowledged, killed before recorded: the one request in flight can repeat.
        assert event_repeats <= pusher.batch, f"{event_repeats} events published twice"
    else:
        assert event_repeats == 0
        items = pipeline.metric("ingest", "exportwatch_ingest_items_total", source="api")
        assert items == len(events)
        produced = sum(
            pipeline.metric("ingest", _PRODUCED.format("ingest"), topic=t, outcome="ok") for t in CONSUMED
        )
        assert produced == len(records)

    def consumed() -> float:
        return sum(pipeline.consumed("match", t, "ok") for t in CONSUMED)

    # A restarted match reads everything after the offsets its predecessor had committed.
    should = len(records) - sum(committed.values())
    wait_for(lambda: consumed() == should, 30, lambda: f"match consumed {consumed()}, not {should}")
    assert sum(pipeline.consumed("match", t, "deadlettered") for t in CONSUMED) == 0
    assert not read_all(pipeline.broker.bootstrap, topics.DEADLETTER, quiet=1.0)
    alert_records = read_all(pipeline.broker.bootstrap, topics.ALERTS, quiet=1.0)
    alert_keys = collections.Counter(r.key.decode() for r in alert_records)
    assert set(alert_keys) == set(expected)
    if victim != "notify":
        intake = pipeline.consumed("notify", topics.ALERTS, "ok")
        assert intake == len(alert_records), f"notify read {intake} of {len(alert_records)} alerts"
    print(
        f"\nkill -9 {victim}: events {len(events)}, killed at {at_kill:.0%}, back in {restarted:.1f}s; "
        f"push retries {pusher.retries}; events on topics {len(records)} (repeats {event_repeats}); "
        f"alerts expected {len(expected)}, received {len(per_alert)}, duplicates by notification id "
        f"{duplicates}, raw repeats {raw_repeats} notifications with {raw_alert_repeats} alerts (in doubt "
        f"{in_doubt:.0f}); alerts on topic "
        f"{len(alert_records)} (repeats {len(alert_records) - len(alert_keys)}); "
        f"match offsets committed at kill {sum(committed.values()) if committed else '-'}; "
        f"all delivered {took:.1f}s after the pushes ended; test {time.monotonic() - started:.0f}s"
    )


# --- 2. the broker restarted under the running services -----------------------------------------------


async def _topics_exist(bootstrap: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
    try:
        await admin.start()
        return set(topics.ALL) <= set(await admin.list_topics())
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


def test_broker_restart_services_recover_by_themselves(pipeline: Pipeline) -> None:
    started = time.monotonic()
    run = uuid.uuid4().hex[:8]
    sink = pipeline.sink
    before = make_events(run, 300)
    lost = make_events(run, 150, start=300)
    after = make_events(run, 300, start=450)
    want_before, want_lost, want_after = (expected_alerts(e) for e in (before, lost, after))
    assert want_before and want_lost and want_after
    pids = {name: proc.pid for name, proc in pipeline.procs.items()}

    def received() -> set[str]:
        return set(sink.alert_ids())

    # The pipeline works, and every consumer group has committed offsets.
    Pusher(pipeline.push_url, before).start().join(60)
    wait_for(lambda: want_before.keys() <= received(), 60, "alerts before the restart")

    # In flight: events ingest published (the broker acknowledged them) that match has not read yet.
    pipeline.procs["match"].send_signal(signal.SIGSTOP)
    try:
        Pusher(pipeline.push_url, lost).start().join(60)
        pipeline.broker.kill()
        down = time.monotonic()
        pipeline.broker.start_process()  # the same port; a memory broker starts empty
    finally:
        pipeline.procs["match"].send_signal(signal.SIGCONT)
    wait_for(lambda: pipeline.broker.running and _port_answers(pipeline.broker), 20, "Tansu listening")
    listening = time.monotonic() - down

    pusher = Pusher(pipeline.push_url, after).start()
    wait_for(lambda: asyncio.run(_topics_exist(pipeline.broker.bootstrap)), 30, "topics re-created")
    topics_back = time.monotonic() - down
    pusher.join(60)
    pushed = time.monotonic() - down
    wait_for(lambda: bool(want_after.keys() & received()), 60, "no alert after the restart")
    first = time.monotonic() - down
    wait_for(
        lambda: want_after.keys() <= received(),
        60,
        lambda: (
            f"{len(want_after.keys() - received())} of {len(want_after)} alerts missing after the "
            f"restart: match {pipeline.tail('match')}\nnotify {pipeline.tail('notify')}"
        ),
    )
    recovered = time.monotonic() - down
    settle(sink, 3)

    # Nobody was restarted; everyone is healthy again.
    assert {name: proc.pid for name, proc in pipeline.procs.items()} == pids
    pipeline.alive()
    for name in SERVICES:
        pipeline.ready(name, timeout=10)

    # ingest remembers having published the lost events: pushed again, they are duplicates, not
    # published again, so their alerts are lost for good.
    again = Pusher(pipeline.push_url, lost).start()
    again.join(30)
    assert {s[-1] for s in again.statuses.values()} == {"duplicate:same_id"}
    settle(sink, 3)

    per_alert, raw_repeats, raw_alert_repeats = delivered(sink)
    # Lost with the broker's memory: the events match had not read. Nothing else arrives, nothing twice.
    assert not want_lost.keys() & per_alert.keys(), "the events in flight cannot have survived"
    assert set(per_alert) == want_before.keys() | want_after.keys()
    assert max(per_alert.values()) == 1 and raw_repeats == raw_alert_repeats == 0
    # On the new broker: the events pushed after the restart, each once (ingest published none of them
    # before the topics were back); alerts match read again after its commit failed are repeats of the
    # same ids, which notify did not send twice.
    events_now = collections.Counter(r.key.decode() for r in read_all(pipeline.broker.bootstrap, *CONSUMED))
    assert set(events_now) == {e.id for e in after} and max(events_now.values()) == 1
    alerts_now = collections.Counter(
        r.key.decode() for r in read_all(pipeline.broker.bootstrap, topics.ALERTS)
    )
    assert set(alerts_now) == want_after.keys()
    print(
        f"\nbroker restart: events before {len(before)} ({len(want_before)} alerts), in flight and lost "
        f"{len(lost)} ({len(want_lost)} alerts), after {len(after)} ({len(want_after)} alerts, "
        f"{len(want_after.keys() & per_alert.keys())} received); duplicates 0, raw repeats {raw_repeats}; "
        f"alerts on the new topic {sum(alerts_now.values())} for {len(alerts_now)} ids; "
        f"broker listening {listening:.1f}s after the kill, topics re-created {topics_back:.1f}s, "
        f"pushes after it accepted {pushed:.1f}s (retries {pusher.retries}), first alert {first:.1f}s, "
        f"all alerts {recovered:.1f}s; test {time.monotonic() - started:.0f}s"
    )


def _port_answers(broker: EmbeddedBroker) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((broker.host, broker.port)) == 0


# --- 3. poison messages on every consumed topic -------------------------------------------------------

OVERSIZE = 1_500_000  # bytes: past the largest accepted event (1,000,000: MAX_RECORD_BYTES) and 1 MiB


def _poisons(topic: str, run: str) -> list[tuple[str, bytes]]:
    """(kind, bytes) of each poison for ``topic``."""
    kind = {topics.NEWS: "news_article", topics.LICENCES: "licence_record", topics.ALERTS: "alert"}[topic]
    wrong_shape = json.dumps({"type": kind, "id": f"poison-{run}", "title": 7, "decision": "maybe"})
    big = b'{"type": "' + kind.encode() + b'", "id": "big-' + run.encode() + b'", "body": "'
    oversize = big + b"x" * (OVERSIZE - len(big) - 2) + b'"}'
    return [
        ("invalid_json", b'{"type": "' + kind.encode() + b'", "id": '),
        ("invalid_utf8", b'{"type": "' + kind.encode() + b'", "title": "\xff\xfe\xfd"}'),
        ("wrong_shape", wrong_shape.encode()),
        ("oversize", oversize),
    ]


def _valid(topic: str, run: str, count: int) -> tuple[list[tuple[str, bytes]], set[str]]:
    """``count`` valid messages for ``topic`` (key, bytes), each raising an alert; the alert ids."""
    now = dt.datetime.now(dt.UTC)
    if topic == topics.ALERTS:
        events = [e for e in make_events(f"{run}a", count * 15) if isinstance(e, NewsArticle)]
        global _MATCHER
        _MATCHER = _MATCHER or Matcher.load()
        alerts: list[Alert] = [a for e in events for a in _MATCHER.evaluate(e, now)][:count]
        assert len(alerts) == count
        return [(a.id, a.model_dump_json().encode()) for a in alerts], {a.id for a in alerts}
    wanted_type = NewsArticle if topic == topics.NEWS else LicenceRecord
    tag = "n" if topic == topics.NEWS else "l"
    candidates = [e for e in make_events(f"{run}{tag}", 2000) if isinstance(e, wanted_type)]
    chosen = [e for e in candidates if expected_alerts([e])][:count]
    assert len(chosen) == count
    return [(e.id, e.model_dump_json().encode()) for e in chosen], set(expected_alerts(chosen))


async def _produce_in_order(bootstrap: str, messages: Sequence[tuple[str, str, bytes]]) -> list[int]:
    """Each (topic, key, value) onto partition 0 of its topic, one after the other; their offsets."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=4 * OVERSIZE)
    await producer.start()
    try:
        offsets = []
        for topic, key, value in messages:
            meta = await producer.send_and_wait(topic, value, key=key.encode(), partition=0)
            offsets.append(meta.offset)
        return offsets
    finally:
        await producer.stop()


# The reasons each service gives. Notify names every alert it cannot read invalid_event. Larger than
# MAX_RECORD_BYTES: too_large, before any parsing.
EXPECTED_REASONS = {
    "match": {
        "invalid_json": {"invalid_json"},
        "invalid_utf8": {"invalid_encoding"},
        "wrong_shape": {"invalid_event"},
        "oversize": {"too_large"},
    },
    "notify": {
        "invalid_json": {"invalid_event"},
        "invalid_utf8": {"invalid_event"},
        "wrong_shape": {"invalid_event"},
        "oversize": {"too_large"},
    },
}


def test_poison_messages_are_dead_lettered_and_the_partition_moves_on(pipeline: Pipeline) -> None:
    started = time.monotonic()
    run = uuid.uuid4().hex[:8]
    messages: list[tuple[str, str, bytes]] = []  # topic, key, value: valid, poison, valid, ... valid
    poison_at: dict[int, tuple[str, str]] = {}  # index in messages -> (topic, kind)
    wanted: set[str] = set()
    for topic in (topics.NEWS, topics.LICENCES, topics.ALERTS):
        poisons = _poisons(topic, run)
        valid, alert_ids = _valid(topic, run, len(poisons) + 1)
        wanted |= alert_ids
        for i, (key, value) in enumerate(valid):
            messages.append((topic, key, value))
            if i < len(poisons):
                kind, raw = poisons[i]
                poison_at[len(messages)] = (topic, kind)
                messages.append((topic, f"poison-{run}-{kind}", raw))
    offsets = asyncio.run(_produce_in_order(pipeline.broker.bootstrap, messages))

    def missing() -> set[str]:
        return wanted - set(pipeline.sink.alert_ids())

    took = wait_for(
        lambda: not missing(),
        60,
        lambda: (
            f"{len(missing())} of {len(wanted)} alerts behind poison messages missing: "
            f"match {pipeline.tail('match')}\nnotify {pipeline.tail('notify')}"
        ),
    )
    settle(pipeline.sink, 2)
    pipeline.alive()

    letters = [
        DeadLetter.model_validate_json(r.value)
        for r in read_all(pipeline.broker.bootstrap, topics.DEADLETTER, quiet=2.0)
    ]
    by_source = {(d.source_topic, d.source_partition, d.source_offset): d for d in letters}
    assert len(by_source) == len(letters) == len(poison_at), [(d.reason, d.detail[:80]) for d in letters]
    for index, (topic, kind) in poison_at.items():
        service = "notify" if topic == topics.ALERTS else "match"
        letter = by_source.get((topic, 0, offsets[index]))
        assert letter is not None, f"{topic} {kind} at offset {offsets[index]} not dead-lettered"
        assert letter.service == service and letter.key == messages[index][1]
        assert letter.reason in EXPECTED_REASONS[service][kind], (topic, kind, letter.reason, letter.detail)
        original = base64.b64decode(letter.original_base64)
        if kind == "oversize":
            assert messages[index][2].startswith(original) and len(original) < len(messages[index][2])
            assert str(len(messages[index][2])) in letter.detail
        else:
            assert original == messages[index][2]

    per_alert, raw_repeats, _ = delivered(pipeline.sink)
    assert set(per_alert) == wanted and max(per_alert.values()) == 1 and raw_repeats == 0
    # Every message consumed once: the poison ones dead-lettered, the rest (on the alerts topic, also
    # the alerts match made of the valid events) processed.
    on_topics = collections.Counter(
        r.topic for r in read_all(pipeline.broker.bootstrap, *CONSUMED, topics.ALERTS)
    )
    for service, consumed_topics in (("match", CONSUMED), ("notify", (topics.ALERTS,))):
        for topic in consumed_topics:
            n_poison = sum(1 for t, _ in poison_at.values() if t == topic)
            assert pipeline.consumed(service, topic, "deadlettered") == n_poison
            assert pipeline.consumed(service, topic, "ok") == on_topics[topic] - n_poison
    print(
        f"\npoison: {len(messages)} messages on 3 topics, {len(poison_at)} poison dead-lettered "
        f"({sorted(collections.Counter((d.service, d.reason) for d in letters).items())}), "
        f"{len(wanted)} alerts behind them delivered in {took:.1f}s; test {time.monotonic() - started:.0f}s"
    )
