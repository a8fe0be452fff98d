"""Notify as a process, fed alerts straight onto exportwatch.alerts.v1, while the things it talks to
fail for real: a webhook receiver that is not there (connection refused) or answers 503, an SMTP
server that refuses for a while or for good, PostgreSQL restarted under it, and SIGTERM in the middle
of a burst on SQLite.

What notify promises, and what these tests hold it to:
- every alert reaches every subscription that wants it exactly once, counted by notification id (the
  receivers' idempotency key: webhook ``Idempotency-Key``, e-mail ``Message-ID``); raw repeats only for
  sends in flight when the database went away, each counted in exportwatch_notify_in_doubt_total;
- transient failures (refused connections, 5xx, SMTP 4xx) are retried with backoff until the receiver
  is back, with the same notification id; nothing becomes dead while attempts remain; permanent
  failures (SMTP 5xx) are dead after one attempt, exhausted ones after exactly the attempts allowed,
  with their reason, listed by ``exportwatch notify dead``;
- order: notify promises NO order between the notifications of one subscription (they are sent
  concurrently, up to CONCURRENCY at a time, and retries fall due with jitter), so none is asserted.
  What it does promise (README "Subscriptions", "Webhooks for integrators"; store/repository.py) is
  grouping: alerts about one story that arrive within the subscription's group wait go out as ONE
  notification, whose CloudEvent ``subject`` is the story, listing its alerts oldest first; a
  notification's alerts are fixed once it is claimed, so retries resend exactly the same alerts.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import email
import email.policy
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select

from schemas import Alert, Severity, topics
from services.notify.store import tables
from services.notify.store.repository import NotifyStore
from tests.alerts import make_alert
from tests.conftest import ROOT, metric_value, require_executable, start_service, wait_ready
from tools.embedded import EmbeddedBroker, free_port
from tools.stack import service_env
from tools.webhook_sink import Reply, WebhookSink

pytestmark = [pytest.mark.broker, pytest.mark.slow]
SECRET = "faults-test-signing-secret"
HOST = "127.0.0.1"
QUEUE = "exportwatch_notify_queue_notifications"
OUTCOMES = "exportwatch_notify_notifications_total"
ATTEMPTS = "exportwatch_notify_send_attempts_total"
IN_DOUBT = "exportwatch_notify_in_doubt_total"
VENDOR = re.compile(r"\bvendor-[a-z0-9]+\b")  # a run's own vendor id, in the subscriptions filters


# ------------------------------------------------------------------------------------------ helpers


def wait_for(check: Callable[[], object], timeout: float, what: Callable[[], str] | str) -> float:
    """Wait until ``check()`` is true; returns the seconds it took, fails with ``what`` after
    ``timeout``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(what() if callable(what) else what)
        time.sleep(0.05)
    return time.monotonic() - started


class Notify:
    """``exportwatch serve notify`` as its own process, with short retry settings."""

    def __init__(
        self, kafka: EmbeddedBroker, tmp_path: Path, db_url: str, subscriptions: str, **env: str
    ) -> None:
        self.port = free_port()
        self.db_url = db_url
        self.log = tmp_path / "notify.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = service_env("notify", kafka.bootstrap, self.port, tmp_path, "http://127.0.0.1:9/", [])
        file = tmp_path / "faults-subscriptions.yaml"  # not the stack's own file service_env writes
        file.write_text(subscriptions, encoding="utf-8")
        self.env.pop("EXPORTWATCH_NOTIFY_FILE_PATH", None)
        self.env.update(
            {
                "HOOK_SECRET": SECRET,
                "EXPORTWATCH_NOTIFY_CONSOLE": "false",
                "EXPORTWATCH_NOTIFY_DATABASE_URL": db_url,
                "EXPORTWATCH_NOTIFY_SUBSCRIPTIONS_FILE": str(file),
                # The vendors the subscriptions filter on (vendor-<run>: only the run's alerts name
                # them), as an operator's additions to the watchlists.
                "EXPORTWATCH_NOTIFY_EXTRA_VENDORS": ",".join(sorted(set(VENDOR.findall(subscriptions)))),
                "EXPORTWATCH_NOTIFY_GROUP_ID": f"notify-faults-{uuid.uuid4().hex[:8]}",
                "EXPORTWATCH_NOTIFY_GROUP_WAIT_SECONDS": "0",
                "EXPORTWATCH_NOTIFY_CONCURRENCY": "8",
                "EXPORTWATCH_NOTIFY_RETRY_BASE_SECONDS": "0.5",
                "EXPORTWATCH_NOTIFY_RETRY_CAP_SECONDS": "1.5",
                "EXPORTWATCH_NOTIFY_RETRY_ATTEMPTS": "100",
                "EXPORTWATCH_NOTIFY_LEASE_SECONDS": "6",
                "EXPORTWATCH_NOTIFY_POLL_SECONDS": "0.1",
                "EXPORTWATCH_NOTIFY_SEND_TIMEOUT_SECONDS": "2",
                "EXPORTWATCH_NOTIFY_WEBHOOK_PER_SECOND": "1000",
                "EXPORTWATCH_NOTIFY_EMAIL_PER_SECOND": "1000",
                **env,
            }
        )

    def start(self) -> Notify:
        self.proc = start_service("notify", self.env, self.log)
        wait_ready(f"http://{HOST}:{self.port}/healthz", self.proc, self.log, timeout=60)
        return self

    def stop(self, timeout: float = 30) -> tuple[int | None, float]:
        """SIGTERM; the exit code (None: still running after ``timeout``) and the seconds it took."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout)
        return self.proc.poll(), time.monotonic() - started

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def metric(self, name: str, **labels: str) -> float:
        return metric_value(self.port, name, **labels)

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@contextlib.contextmanager
def running(notify: Notify) -> Iterator[Notify]:
    try:
        yield notify.start()
    finally:
        notify.kill()


class Sampler:
    """Reads gauges from notify's /metrics every 0.2 s in a thread: what the queue went through."""

    def __init__(self, notify: Notify, *series: tuple[str, dict[str, str]]) -> None:
        self.notify = notify
        self.series = series
        self.values: dict[tuple[str, str], list[float]] = {self._key(s): [] for s in series}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _key(s: tuple[str, dict[str, str]]) -> tuple[str, str]:
        return s[0], json.dumps(s[1], sort_keys=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for s in self.series:
                with contextlib.suppress(Exception):
                    self.values[self._key(s)].append(self.notify.metric(s[0], **s[1]))
            self._stop.wait(0.2)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def seen(self, name: str, **labels: str) -> list[float]:
        return list(self.values[self._key((name, labels))])


def produce(kafka: EmbeddedBroker, alerts: Sequence[tuple[str, Alert]]) -> None:
    """Publish (key, alert) pairs in this order onto the alerts topic and wait for every ack."""

    async def go() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, linger_ms=5)
        await producer.start()
        try:
            futures = [
                await producer.send(topics.ALERTS, alert.model_dump_json().encode(), key=key.encode())
                for key, alert in alerts
            ]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    asyncio.run(go())


def notifications(db_url: str, subscription_ids: Sequence[str]) -> list[Any]:
    """The notification rows of these subscriptions, read from notify's database."""

    async def read() -> list[Any]:
        store = NotifyStore.from_url(db_url)
        n = tables.notifications.c
        try:
            async with store.reader.connect() as conn:
                query = select(tables.notifications).where(n.subscription_id.in_(list(subscription_ids)))
                return list((await conn.execute(query)).all())
        finally:
            await store.close()

    return asyncio.run(read())


def per_notification(entries: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    """Alert ids by notification id; a notification id received twice must carry the same alerts."""
    by_id: dict[str, list[str]] = {}
    for entry in entries:
        ids = list(entry["alert_ids"])
        assert by_id.setdefault(entry["notification_id"], ids) == ids, "a repeat carries the same alerts"
    return by_id


def exactly_once(by_id: dict[str, list[str]], wanted: set[str]) -> None:
    per_alert = collections.Counter(a for ids in by_id.values() for a in ids)
    assert set(per_alert) == wanted, (
        f"missing {sorted(wanted - set(per_alert))[:5]}, unwanted {sorted(set(per_alert) - wanted)[:5]}"
    )
    assert max(per_alert.values()) == 1, "counted by notification id, each alert exactly once"


def raw_repeats(entries: Sequence[dict[str, Any]]) -> int:
    counts = collections.Counter(a for e in entries for a in e["alert_ids"])
    return sum(n - 1 for n in counts.values())


def hook(port: int, path: str) -> str:
    return f"http://{HOST}:{port}/{path}"


def sink_port(sink: WebhookSink) -> int:
    return int(httpx.URL(sink.url).port or 0)


# ------------------------------------------------------------ 1. webhook receiver down, then back


STORIES = 30
PER_STORY = 3
DOWN_SECONDS = 7.0
BASE = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def story_alerts(run: str) -> tuple[list[tuple[str, Alert]], dict[str, str], dict[str, Severity]]:
    """STORIES stories of PER_STORY alerts each: an article and near duplicates of it (``duplicate_of``),
    published newest first under the story's key, so notify, not the topic, puts them oldest first.
    Returns the (key, alert) pairs, each alert's story and each alert's severity."""
    pairs: list[tuple[str, Alert]] = []
    story_of: dict[str, str] = {}
    severity_of: dict[str, Severity] = {}
    for s in range(STORIES):
        story = f"news-{run}-{s}"
        severity = Severity.HIGH if s % 3 else Severity.MEDIUM
        for k in reversed(range(PER_STORY)):
            alert = make_alert(
                f"alert-{run}-{s}-{k}",
                event_id=story if k == 0 else f"{story}-copy{k}",
                duplicate_of=None if k == 0 else story,
                severity=severity,
                entities=[f"vendor-{run}"],
                created_at=BASE + dt.timedelta(minutes=s, seconds=k),
            )
            pairs.append((story, alert))
            story_of[alert.id] = story
            severity_of[alert.id] = severity
    return pairs, story_of, severity_of


def webhook_subscriptions(run: str, port: int, group_wait: float) -> str:
    return f"""
subscriptions:
  - id: all-{run}
    owner: amnesty
    name: every alert of this run
    filters: {{entities: [vendor-{run}]}}
    group_wait_seconds: {group_wait}
    channel: {{type: webhook, url: "{hook(port, "all")}", secret: "${{HOOK_SECRET}}"}}
  - id: high-{run}
    owner: pi
    name: high severity only
    filters: {{entities: [vendor-{run}], min_severity: high}}
    group_wait_seconds: {group_wait}
    channel: {{type: webhook, url: "{hook(port, "high")}", secret: "${{HOOK_SECRET}}"}}
"""


@pytest.mark.parametrize("failure", ["refused", "503"])
def test_webhook_receiver_down_then_back_gets_every_alert_once(
    kafka: EmbeddedBroker, tmp_path: Path, failure: str
) -> None:
    """The receiver is away (nothing listens on its port: connection refused; or it answers 503 with
    Retry-After) for several seconds while a burst of alerts comes in, then it is back on the same
    port: every alert arrives exactly once, nothing is dead, the retry queue grew and drains to 0."""
    started = time.monotonic()
    run = uuid.uuid4().hex[:8]
    pairs, story_of, severity_of = story_alerts(run)
    wanted = {"/all": set(story_of), "/high": {a for a, s in severity_of.items() if s is Severity.HIGH}}
    expected = {path: len({story_of[a] for a in ids}) for path, ids in wanted.items()}  # one per story
    sink: WebhookSink | None = None
    port = free_port()  # bound and closed: nothing listens there, connections are refused
    if failure == "503":
        sink = WebhookSink(port=port, secret=SECRET, default=Reply(503, {"Retry-After": "1"})).start()
    notify = Notify(
        kafka, tmp_path, f"sqlite:///{tmp_path / 'notify.db'}", webhook_subscriptions(run, port, 3)
    )
    subs = [f"all-{run}", f"high-{run}"]
    try:
        with running(notify), Sampler(notify, (QUEUE, {"state": "retry"})) as sampler:
            produce(kafka, pairs)
            reason = "network" if failure == "refused" else "server_error"
            wait_for(
                lambda: notify.metric(ATTEMPTS, channel="webhook", result=reason) > 0,
                30,
                lambda: f"no failed attempt: {notify.tail()}",
            )
            first_failure = time.monotonic()
            # Down for a while: every notification failed at least once and the retry queue gauge
            # (refreshed every 5 s) shows them waiting.
            wait_for(
                lambda: (
                    notify.metric(OUTCOMES, channel="webhook", outcome="retried") >= sum(expected.values())
                    and max(sampler.seen(QUEUE, state="retry"), default=0) > 0
                ),
                30,
                lambda: f"no retries seen: {notify.tail()}",
            )
            time.sleep(max(0.0, DOWN_SECONDS - (time.monotonic() - first_failure)))
            failed_attempts = notify.metric(ATTEMPTS, channel="webhook", result=reason)
            assert failed_attempts >= sum(expected.values())
            assert notify.metric(OUTCOMES, channel="webhook", outcome="delivered") == 0
            down = time.monotonic() - first_failure
            if sink is None:
                sink = WebhookSink(port=port, secret=SECRET).start()  # the same port, listening again
            else:
                sink.default = Reply()  # answers 200 from now on
            live = sink

            def arrived() -> bool:
                got = collections.defaultdict(set)
                for entry in live.entries():
                    got[entry["path"]].update(entry["alert_ids"])
                return all(got[path] == ids for path, ids in wanted.items())

            recovery = wait_for(arrived, 40, lambda: f"not everything delivered: {notify.tail()}")
            wait_for(
                lambda: (
                    notify.metric(QUEUE, state="retry") == 0
                    and notify.metric(QUEUE, state="sending") == 0
                    and notify.metric(QUEUE, state="delivered") == sum(expected.values())
                ),
                15,
                lambda: f"queue not drained: {notify.tail()}",
            )
            time.sleep(1)  # past the retry cap: anything still due would have been sent by now
            retried = notify.metric(OUTCOMES, channel="webhook", outcome="retried")
            dead = notify.metric(OUTCOMES, channel="webhook", outcome="dead")
            failed_attempts = notify.metric(ATTEMPTS, channel="webhook", result=reason)
            code, _ = notify.stop()
            assert code == 0, notify.tail()
        rows = notifications(notify.db_url, subs)
    finally:
        if sink is not None:
            sink.stop()

    entries = sink.entries()
    assert all(e["signature_valid"] for e in entries) and sink.rejected == 0
    for path, ids in wanted.items():
        mine = [e for e in entries if e["path"] == path]
        by_id = per_notification(mine)
        exactly_once(by_id, ids)
        assert raw_repeats(mine) == 0 and len(by_id) == len(mine), "no crash: not even a raw repeat"
        assert len(by_id) == expected[path], "one notification per story"
        for entry in mine:  # the promise about grouping and order within a notification
            alerts = entry["body"]["data"]["alerts"]
            stories = {story_of[a["id"]] for a in alerts}
            assert len(stories) == 1 and entry["body"]["subject"] in stories, "one story per notification"
            assert [a["created_at"] for a in alerts] == sorted(a["created_at"] for a in alerts), (
                "oldest first"
            )
            assert len(alerts) == PER_STORY
    assert dead == 0 and retried >= sum(expected.values())
    if failure == "503":
        assert sink.requests - len(entries) == failed_attempts, "every failed attempt was a request"
    assert {r.status for r in rows} == {"delivered"}
    assert {r.id for r in rows} == {e["notification_id"] for e in entries}, "the same id across retries"
    assert min(r.attempts for r in rows) >= 2, "each one failed while the receiver was away"
    assert sum(r.in_doubt for r in rows) == 0
    retry_seen = sampler.seen(QUEUE, state="retry")
    assert max(retry_seen) > 0 and retry_seen[-1] == 0, "the retry queue went up, then back to 0"
    print(
        f"\n[{failure}] alerts={len(pairs)} notifications={len(rows)} delivered={len(entries)} "
        f"duplicates_by_id=0 raw_repeats=0 dead={dead:g} failed_attempts={failed_attempts:g} "
        f"retry_queue_max={max(retry_seen):g} down={down:.1f}s recovery={recovery:.2f}s "
        f"order_inversions={_inversions(entries)} runtime={time.monotonic() - started:.1f}s"
    )


def _inversions(entries: Sequence[dict[str, Any]]) -> int:
    """How many notifications arrived before one about an older story (information: no promise)."""
    firsts = [e["body"]["data"]["alerts"][0]["created_at"] for e in entries if e["path"] == "/all"]
    return sum(1 for a, b in itertools.pairwise(firsts) if b < a)


# ------------------------------------------------------------------------ 2. SMTP refusing, then not


@dataclass
class FlakySmtp:
    """An aiosmtpd handler: the first ``refuse_first`` transactions are refused with transient replies
    (421 to MAIL FROM, then 451 to DATA, alternately); then it accepts. Recipients listed in
    ``reject`` are refused for good (550), those in ``greylist`` always temporarily (451)."""

    refuse_first: int = 0
    reject: frozenset[str] = frozenset()
    greylist: frozenset[str] = frozenset()
    transactions: int = 0
    refused: int = 0
    rcpt: collections.Counter[str] = field(default_factory=collections.Counter)
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_MAIL(  # noqa: N802 - the name aiosmtpd calls
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.transactions += 1
        envelope.refuse_data = False  # type: ignore[attr-defined]
        if self.transactions <= self.refuse_first:
            self.refused += 1
            if self.transactions % 2:
                return "421 4.3.2 System not accepting network messages, try later"
            envelope.refuse_data = True  # type: ignore[attr-defined]
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802 - the name aiosmtpd calls
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.rcpt[address] += 1
        if address in self.reject:
            return "550 5.1.1 No such user here"
        if address in self.greylist:
            return "451 4.7.1 Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - the name aiosmtpd calls
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if getattr(envelope, "refuse_data", False):
            return "451 4.3.0 Mail server temporarily rejected message"
        msg = email.message_from_bytes(envelope.original_content or b"", policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        return "250 2.0.0 Message accepted"


@contextlib.contextmanager
def smtp_server(handler: FlakySmtp) -> Iterator[int]:
    port = free_port(HOST)
    controller = Controller(handler, hostname=HOST, port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def email_subscriptions(run: str, *recipients: tuple[str, str]) -> str:
    entries = "".join(
        f"""
  - id: {sub_id}
    owner: amnesty
    name: e-mail {sub_id}
    filters: {{entities: [vendor-{run}]}}
    channel: {{type: email, to: ["{to}"]}}"""
        for sub_id, to in recipients
    )
    return f"subscriptions:{entries}\n"


def single_alerts(run: str, count: int, vendor: str | None = None) -> list[tuple[str, Alert]]:
    """``count`` alerts, each its own story, each naming its id in its URL."""
    alerts = [
        make_alert(
            f"alert-{run}-{i}",
            event_id=f"news-{run}-{i}",
            entities=[f"vendor-{vendor or run}"],
            url=f"https://news.example.org/alert-{run}-{i}",
        )
        for i in range(count)
    ]
    return [(a.id, a) for a in alerts]


def alert_ids_in(msg: EmailMessage, run: str) -> set[str]:
    part = msg.get_body(("plain",))
    assert part is not None
    return set(re.findall(rf"alert-{run}-\d+", part.get_content()))


def test_smtp_refusing_then_accepting_delivers_every_alert_once(
    kafka: EmbeddedBroker, tmp_path: Path
) -> None:
    """A real SMTP server answers 421/451 to the first attempts, then accepts: every alert arrives
    exactly once (by Message-ID and by the alert id in the body), nothing is dead, and exactly one
    attempt per refusal was made beyond one per notification."""
    started = time.monotonic()
    run = uuid.uuid4().hex[:8]
    alerts = single_alerts(run, 24)
    handler = FlakySmtp(refuse_first=30)
    with smtp_server(handler) as smtp_port:
        notify = Notify(
            kafka,
            tmp_path,
            f"sqlite:///{tmp_path / 'notify.db'}",
            email_subscriptions(run, (f"mail-{run}", "desk@watchdog.example")),
            EXPORTWATCH_NOTIFY_SMTP_HOST=HOST,
            EXPORTWATCH_NOTIFY_SMTP_PORT=str(smtp_port),
            EXPORTWATCH_NOTIFY_SMTP_SECURITY="none",
            EXPORTWATCH_NOTIFY_RETRY_BASE_SECONDS="0.3",
            EXPORTWATCH_NOTIFY_RETRY_CAP_SECONDS="1",
        )
        with running(notify):
            produce(kafka, alerts)
            arrived_after = wait_for(
                lambda: (
                    set().union(*(alert_ids_in(m, run) for m in handler.messages)) == {a for a, _ in alerts}
                ),
                45,
                lambda: f"not every e-mail arrived: {notify.tail()}",
            )
            time.sleep(1.5)  # past the retry cap: a stray resend would have happened by now
            metrics = {
                "delivered": notify.metric(OUTCOMES, channel="email", outcome="delivered"),
                "dead": notify.metric(OUTCOMES, channel="email", outcome="dead"),
                "failed": notify.metric(ATTEMPTS, channel="email", result="server_error"),
                "ok": notify.metric(ATTEMPTS, channel="email", result="ok"),
            }
            code, _ = notify.stop()
            assert code == 0, notify.tail()
    rows = notifications(notify.db_url, [f"mail-{run}"])

    ids = [m["Message-ID"] for m in handler.messages]
    assert len(ids) == len(set(ids)) == len(alerts), "each notification's Message-ID exactly once"
    per_alert = collections.Counter(a for m in handler.messages for a in alert_ids_in(m, run))
    assert set(per_alert) == {a for a, _ in alerts} and max(per_alert.values()) == 1
    assert handler.refused == 30, "the server refused its first 30 transactions"
    assert handler.transactions == handler.refused + len(alerts), "one attempt per refusal, none more"
    assert metrics["failed"] == handler.refused and metrics["ok"] == len(alerts)
    assert metrics["dead"] == 0 and metrics["delivered"] == len(alerts)
    assert {r.status for r in rows} == {"delivered"}
    assert {f"<{r.id}@exportwatch.invalid>" for r in rows} == set(ids), "Message-ID is the notification id"
    assert sum(r.attempts for r in rows) == handler.transactions
    print(
        f"\n[smtp transient] alerts={len(alerts)} delivered={len(ids)} duplicates_by_id=0 raw_repeats=0 "
        f"dead=0 refused_attempts={handler.refused} all_arrived_after={arrived_after:.2f}s "
        f"runtime={time.monotonic() - started:.1f}s"
    )


def test_smtp_permanent_refusal_is_dead_after_one_attempt_and_exhaustion_after_the_policy(
    kafka: EmbeddedBroker, tmp_path: Path
) -> None:
    """550 for a recipient: dead after exactly one attempt, reason client_error, the server's reply in
    the detail. 451 for ever: dead after exactly RETRY_ATTEMPTS attempts. Both listed by
    ``exportwatch notify dead``, and no attempt is made after that."""
    started = time.monotonic()
    run = uuid.uuid4().hex[:8]
    alerts = single_alerts(run, 3)
    bounce, stuck = "nobody@watchdog.example", "greylisted@watchdog.example"
    handler = FlakySmtp(reject=frozenset({bounce}), greylist=frozenset({stuck}))
    db_url = f"sqlite:///{tmp_path / 'notify.db'}"
    with smtp_server(handler) as smtp_port:
        notify = Notify(
            kafka,
            tmp_path,
            db_url,
            email_subscriptions(run, (f"bounce-{run}", bounce), (f"stuck-{run}", stuck)),
            EXPORTWATCH_NOTIFY_SMTP_HOST=HOST,
            EXPORTWATCH_NOTIFY_SMTP_PORT=str(smtp_port),
            EXPORTWATCH_NOTIFY_SMTP_SECURITY="none",
            EXPORTWATCH_NOTIFY_RETRY_ATTEMPTS="3",
            EXPORTWATCH_NOTIFY_RETRY_BASE_SECONDS="0.3",
            EXPORTWATCH_NOTIFY_RETRY_CAP_SECONDS="0.6",
        )
        with running(notify):
            produce(kafka, alerts)
            wait_for(
                lambda: notify.metric(OUTCOMES, channel="email", outcome="dead") == 2 * len(alerts),
                40,
                lambda: f"not dead in time: {notify.tail()}",
            )
            time.sleep(2)  # several retry caps: no further attempt may come
            attempts_after = dict(handler.rcpt)
            retried = notify.metric(OUTCOMES, channel="email", outcome="retried")
            code, _ = notify.stop()
            assert code == 0, notify.tail()

    assert attempts_after == {bounce: len(alerts), stuck: 3 * len(alerts)}, "no retries beyond policy"
    assert handler.messages == []
    assert retried == 2 * len(alerts), "only the transient failures were retried, twice each"
    listed = subprocess.run(
        [sys.executable, "-m", "tools.cli", "notify", "--database-url", db_url, "dead", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    dead = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
    by_sub = collections.defaultdict(list)
    for d in dead:
        by_sub[d["subscription_id"]].append(d)
    assert sorted(a for d in by_sub[f"bounce-{run}"] for a in d["alerts"]) == sorted(a for a, _ in alerts)
    for d in by_sub[f"bounce-{run}"]:
        assert (d["channel"], d["reason"], d["attempts"]) == ("email", "client_error", 1)
        assert "550 5.1.1 No such user here" in d["detail"]
        assert "gave up: permanent after 1 attempt(s)" in d["detail"]
    assert sorted(a for d in by_sub[f"stuck-{run}"] for a in d["alerts"]) == sorted(a for a, _ in alerts)
    for d in by_sub[f"stuck-{run}"]:
        assert (d["reason"], d["attempts"]) == ("server_error", 3)
        assert "451 4.7.1 Greylisted" in d["detail"]
        assert "gave up: attempts exhausted after 3 attempt(s)" in d["detail"]
    print(
        f"\n[smtp permanent] alerts={len(alerts)} dead={len(dead)} bounce_attempts={attempts_after[bounce]} "
        f"greylisted_attempts={attempts_after[stuck]} runtime={time.monotonic() - started:.1f}s"
    )


# ---------------------------------------------------------------- 3. PostgreSQL restarted under notify


def _pg_cluster() -> tuple[str, str]:
    """(version, cluster) of the local PostgreSQL that pg_ctlcluster manages."""
    require_executable("pg_ctlcluster", "postgresql-common")
    if os.geteuid() != 0:
        assert os.environ.get("CI") != "true", "CI runs this test as root, to restart PostgreSQL"
        pytest.skip("restarting PostgreSQL with pg_ctlcluster needs root")
    versions = (
        sorted(p.name for p in Path("/etc/postgresql").iterdir()) if Path("/etc/postgresql").is_dir() else []
    )
    if not versions:
        assert os.environ.get("CI") != "true", "CI must have a PostgreSQL cluster in /etc/postgresql"
        pytest.skip("no PostgreSQL cluster under /etc/postgresql to restart")
    return versions[-1], "main"


def _pg_ready() -> bool:
    done = subprocess.run(["pg_isready", "-h", HOST, "-q"], check=False, timeout=10)
    return done.returncode == 0


def _pg_ctl(version: str, cluster: str, action: str) -> None:
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, action],
        check=True,
        timeout=90,
        capture_output=True,
    )


def test_postgresql_restarted_under_notify(kafka: EmbeddedBroker, pg_url: str, tmp_path: Path) -> None:
    """A burst of alerts, PostgreSQL restarted in the middle of sending it (and a second burst arriving
    while it is down): notify keeps running, comes back by itself, and at the end every alert is
    delivered exactly once by notification id; raw repeats only for sends whose result could not be
    recorded, each counted as in doubt."""
    version, cluster = _pg_cluster()
    started = time.monotonic()
    run = uuid.uuid4().hex[:8]
    first = single_alerts(run, 200)
    second = single_alerts(f"{run}b", 100, vendor=run)
    wanted = {a for a, _ in first + second}
    a_sink = WebhookSink(secret=SECRET, default=Reply(delay=0.03)).start()
    b_sink = WebhookSink(secret=SECRET, default=Reply(delay=0.03)).start()
    subscriptions = f"""
subscriptions:
  - id: a-{run}
    owner: amnesty
    name: every alert, receiver a
    filters: {{entities: [vendor-{run}]}}
    channel: {{type: webhook, url: "{a_sink.url}", secret: "${{HOOK_SECRET}}"}}
  - id: b-{run}
    owner: pi
    name: every alert, receiver b
    filters: {{entities: [vendor-{run}]}}
    channel: {{type: webhook, url: "{b_sink.url}", secret: "${{HOOK_SECRET}}"}}
"""
    notify = Notify(kafka, tmp_path, pg_url, subscriptions, EXPORTWATCH_NOTIFY_LEASE_SECONDS="4")
    samples: list[tuple[float, int, float]] = []  # (time, /healthz status, deliveries recorded)
    timeline: dict[str, float] = {}
    restarted: list[BaseException | None] = []
    stop_watch = threading.Event()

    def watch() -> None:  # /healthz and the deliveries recorded, while PostgreSQL goes away and back
        while not stop_watch.is_set():
            status, recorded = -1, -1.0
            with contextlib.suppress(Exception):
                status = httpx.get(f"http://{HOST}:{notify.port}/healthz", timeout=1).status_code
                recorded = notify.metric(OUTCOMES, channel="webhook", outcome="delivered")
            samples.append((time.monotonic(), status, recorded))
            stop_watch.wait(0.1)

    def restart() -> None:
        try:
            _pg_ctl(version, cluster, "restart")
            restarted.append(None)
        except BaseException as exc:  # reported by the test below
            restarted.append(exc)

    watcher = threading.Thread(target=watch, daemon=True)
    try:
        with running(notify):
            produce(kafka, first)
            wait_for(
                lambda: len(a_sink.received) + len(b_sink.received) >= 100,
                60,
                lambda: f"nothing delivered: {notify.tail()}",
            )
            watcher.start()
            timeline["restart"] = time.monotonic()
            restarter = threading.Thread(target=restart, daemon=True)
            restarter.start()
            produce(kafka, second)  # intake while the database goes away
            restarter.join(90)
            assert restarted == [None], f"pg_ctlcluster restart failed: {restarted}"
            wait_for(_pg_ready, 60, "PostgreSQL did not come back")
            timeline["pg_back"] = time.monotonic()
            wait_for(
                lambda: set(a_sink.alert_ids()) == wanted and set(b_sink.alert_ids()) == wanted,
                90,
                lambda: f"not everything delivered after the restart: {notify.tail()}",
            )
            timeline["all_delivered"] = time.monotonic()
            wait_for(
                lambda: (
                    notify.metric(QUEUE, state="sending") == 0 and notify.metric(QUEUE, state="retry") == 0
                ),
                30,
                lambda: f"queue not settled: {notify.tail()}",
            )
            time.sleep(1)
            stop_watch.set()
            watcher.join(5)
            assert notify.alive(), f"notify died: {notify.tail()}"
            in_doubt = notify.metric(IN_DOUBT)
            dead = notify.metric(OUTCOMES, channel="webhook", outcome="dead")
            code, _ = notify.stop()
            assert code == 0, notify.tail()
        rows = notifications(pg_url, [f"a-{run}", f"b-{run}"])
    finally:
        stop_watch.set()
        a_sink.stop()
        b_sink.stop()
        if not _pg_ready():
            with contextlib.suppress(Exception):
                _pg_ctl(version, cluster, "start")
            wait_for(_pg_ready, 60, "PostgreSQL could not be started again")

    repeats = 0
    for sink in (a_sink, b_sink):
        entries = sink.entries()
        assert all(e["signature_valid"] for e in entries) and sink.rejected == 0
        exactly_once(per_notification(entries), wanted)
        repeats += raw_repeats(entries)
    assert repeats <= in_doubt, "every raw repeat is a send counted in doubt"
    assert dead == 0
    assert {r.status for r in rows} == {"delivered"} and len(rows) == 2 * len(wanted)
    # Recovery: from PostgreSQL answering again to the first delivery recorded in it.
    at_back = max((r for t, _, r in samples if t <= timeline["pg_back"]), default=0.0)
    recorded_again = next((t for t, _, r in samples if t > timeline["pg_back"] and r > at_back), None)
    recovery = (recorded_again or timeline["all_delivered"]) - timeline["pg_back"]
    log = notify.log.read_text(errors="replace")
    print(
        f"\n[postgresql restart] alerts={len(wanted)} per receiver, notifications={len(rows)}, "
        f"duplicates_by_id=0 raw_repeats={repeats} in_doubt={in_doubt:g} dead={dead:g} "
        f"restart_took={timeline['pg_back'] - timeline['restart']:.2f}s "
        f"first_recorded_after_pg_back={recovery:.2f}s "
        f"all_delivered_after_pg_back={timeline['all_delivered'] - timeline['pg_back']:.2f}s "
        f"healthz_not_200={sum(1 for _, h, _ in samples if h != 200)}/{len(samples)} "
        f"queue_errors={log.count('cannot read the notification queue')} "
        f"send_errors={log.count('notification could not be processed')} "
        f"runtime={time.monotonic() - started:.1f}s"
    )


# ------------------------------------------------------------------- 4. SIGTERM in a burst on SQLite


class Trickle:
    """Alerts produced steadily in a thread (so notify's intake is busy when it is stopped)."""

    def __init__(self, kafka: EmbeddedBroker, run: str, per_second: float = 6) -> None:
        self.kafka, self.run, self.per_second = kafka, run, per_second
        self.sent: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._go()), daemon=True)

    async def _go(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.kafka.bootstrap, linger_ms=5)
        await producer.start()
        try:
            i = 0
            while not self._stop.is_set():
                batch = []
                for _ in range(6):
                    alert = make_alert(
                        f"alert-{self.run}-{i}",
                        event_id=f"news-{self.run}-{i}",
                        entities=[f"vendor-{self.run}"],
                    )
                    batch.append(
                        await producer.send(
                            topics.ALERTS, alert.model_dump_json().encode(), key=alert.id.encode()
                        )
                    )
                    i += 1
                await asyncio.gather(*batch)
                self.sent.extend(f"alert-{self.run}-{n}" for n in range(i - len(batch), i))
                await asyncio.sleep(len(batch) / self.per_second)
        finally:
            await producer.stop()

    def __enter__(self) -> Trickle:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


ROUNDS = 3
STOP_WITHIN = 5.0


def test_sigterm_during_a_burst_on_sqlite_stops_within_seconds(kafka: EmbeddedBroker, tmp_path: Path) -> None:
    """SIGTERM while alerts keep coming and sends are in flight, ROUNDS times on one SQLite database:
    notify exits 0 within STOP_WITHIN seconds every time (no write waiting out SQLite's busy timeout),
    and at the end every alert was delivered once per subscription, without a single raw repeat."""
    started = time.monotonic()
    run = uuid.uuid4().hex[:8]
    sink = WebhookSink(secret=SECRET, default=Reply(delay=0.04)).start()
    subscriptions = f"""
subscriptions:
  - id: one-{run}
    owner: amnesty
    name: every alert of this run
    filters: {{entities: [vendor-{run}]}}
    channel: {{type: webhook, url: "{hook(sink_port(sink), "one")}", secret: "${{HOOK_SECRET}}"}}
  - id: two-{run}
    owner: pi
    name: every alert of this run, again
    filters: {{entities: [vendor-{run}]}}
    channel: {{type: webhook, url: "{hook(sink_port(sink), "two")}", secret: "${{HOOK_SECRET}}"}}
"""
    notify = Notify(
        kafka,
        tmp_path,
        f"sqlite:///{tmp_path / 'notify.db'}",
        subscriptions,
        EXPORTWATCH_NOTIFY_LEASE_SECONDS="30",
    )
    stops: list[float] = []
    try:
        with Trickle(kafka, run) as trickle:
            for _ in range(ROUNDS):
                with running(notify):
                    before = len(sink.received)
                    wait_for(
                        lambda: len(sink.received) >= before + 20,  # noqa: B023 - read at once
                        45,
                        lambda: f"nothing delivered: {notify.tail()}",
                    )
                    code, took = notify.stop(timeout=40)
                    stops.append(took)
                    assert took < STOP_WITHIN, f"took {took:.1f}s to stop: {notify.tail(8000)}"
                    assert code == 0, notify.tail()
        sent = set(trickle.sent)
        with running(notify):
            wait_for(
                lambda: all(
                    {a for e in sink.entries() if e["path"] == path for a in e["alert_ids"]} == sent
                    for path in ("/one", "/two")
                ),
                60,
                lambda: f"not everything delivered: {notify.tail()}",
            )
            code, took = notify.stop()
            stops.append(took)
            assert code == 0
    finally:
        sink.stop()

    log = notify.log.read_text(errors="replace")
    assert "database is locked" not in log, "no write waited out the busy timeout"
    entries = sink.entries()
    for path in ("/one", "/two"):
        mine = [e for e in entries if e["path"] == path]
        exactly_once(per_notification(mine), sent)
        assert raw_repeats(mine) == 0, "a graceful stop never sends anything twice"
    assert sink.requests == len(entries)
    print(
        f"\n[sigterm sqlite] rounds={ROUNDS} alerts={len(sent)} delivered={len(entries)} raw_repeats=0 "
        f"stop_seconds={[round(s, 2) for s in stops]} runtime={time.monotonic() - started:.1f}s"
    )
