"""Running the ingest benchmark: the passes of the real ingest service over the folder on a fresh
database, the raw produce baseline, and reading the licences topic back."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import os
import resource
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from schemas import LicenceRecord, topics
from services.common.kafka import KafkaSettings
from services.common.settings import CommonSettings
from services.ingest.core.caat import parse_caat_values
from tools.bench_ingest_input import FILE_NAME, Parsed, corrected_release, parse_only
from tools.bench_ingest_report import PassResult, Rate, Report, TopicCheck
from tools.processes import cpu_seconds, peak_rss_mib

SOURCE = "uk-caat"
SCRATCH_TOPIC = "exportwatch.bench-scratch.v1"
HEADERS = [("content-type", b"application/json")]  # what ingest sends with every message


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _write(path: Path, data: bytes) -> None:
    """Write the file and date it two seconds back, so the poller does not wait for it to settle."""
    path.write_bytes(data)
    past = time.time() - 2
    os.utime(path, (past, past))


@contextlib.asynccontextmanager
async def _database(url: str | None, workdir: Path) -> AsyncIterator[tuple[str, str]]:
    """(URL, description) of a fresh database: SQLite in ``workdir``, or a new PostgreSQL database next
    to the one ``url`` names (dropped afterwards), or an SQLite file that must not exist yet."""
    from sqlalchemy.engine import make_url

    from services.common.db import safe_url

    if url is None:
        yield f"sqlite:///{workdir / 'ingest.db'}", "SQLite (fresh, in a temporary folder)"
        return
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        yield url, f"SQLite {parsed.database}"
        return
    import asyncpg

    admin_url = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"ew_bench_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(admin_url, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    await admin(f'CREATE DATABASE "{name}"')
    try:
        fresh = parsed.set(database=name).render_as_string(hide_password=False)
        yield fresh, f"PostgreSQL (fresh database {name} beside {safe_url(url)}, dropped after)"
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _ingest_pass(
    name: str,
    kafka: KafkaSettings,
    database_url: str,
    sources_file: Path,
    rows: int,
    timeout: float,
    broker_pid: int | None = None,
    **expect: int,
) -> tuple[PassResult, dict[str, int]]:
    """Start the service, wait for the end of its first poll of the folder, stop it. The counts are the
    service's own metrics (a new registry per start, so they are this pass's)."""
    from services.ingest.app import create_service
    from services.ingest.metrics import ITEM_OUTCOMES, WARNINGS
    from services.ingest.settings import IngestSettings
    from tools.embedded import free_port

    cpu_before, broker_before = _cpu_seconds(), cpu_seconds(broker_pid)
    started = time.perf_counter()
    settings = IngestSettings(
        common=CommonSettings(**dict(kafka)),
        http_port=free_port(),
        database_url=database_url,
        sources_file=sources_file,
        sources=[],
        # A restart finds the next scan due at once; later scans only look at sizes and dates.
        folder_interval_seconds=0.2,
    )
    service = create_service(settings)
    (poller,) = service.state["pollers"]
    timed_out = False
    async with service.running():
        startup = time.perf_counter() - started
        try:
            await asyncio.wait_for(poller.polled.wait(), timeout)
        except TimeoutError:
            timed_out = True
        seconds = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu_before
        broker_after = cpu_seconds(broker_pid)
    registry = service.registry

    def sample(metric: str, **labels: str) -> int:
        return int(registry.get_sample_value(metric, labels) or 0)

    counts = {o: sample("exportwatch_ingest_items_total", source=SOURCE, outcome=o) for o in ITEM_OUTCOMES}
    polls = {
        o: sample("exportwatch_ingest_source_polls_total", source=SOURCE, outcome=o)
        for o in ("ok", "publish_error", "read_error")
    }
    if timed_out:
        outcome = f"no end within {timeout:.0f} s"
    elif polls["ok"] and not polls["publish_error"] and not polls["read_error"]:
        outcome = "ok"
    else:
        outcome = ", ".join(f"{k}={v}" for k, v in polls.items() if v) or "no poll"
    warnings = {k: sample("exportwatch_ingest_warnings_total", kind=k) for k in WARNINGS}
    result = PassResult(
        name=name,
        rows=rows,
        seconds=seconds,
        startup=startup,
        published=counts["published"],
        updated=counts["updated"],
        near_duplicate=counts["near_duplicate"],
        duplicate=counts["duplicate"],
        rejected=counts["rejected"],
        poll_outcome=outcome,
        cpu=cpu,
        broker_cpu=None if broker_before is None or broker_after is None else broker_after - broker_before,
        expect_published=expect.get("published"),
        expect_updated=expect.get("updated"),
    )
    return result, {k: v for k, v in warnings.items() if v}


Message = tuple[bytes, bytes]


def _messages(data: bytes) -> list[Message]:
    """(key, value) of every record as the ingestor publishes it (revision 1, ingested now)."""
    now = dt.datetime.now(dt.UTC)
    out = []
    for item in parse_caat_values(data, FILE_NAME):
        if isinstance(item, LicenceRecord):
            event = item.model_copy(update={"ingested_at": now, "revision": 1})
            out.append((event.id.encode("utf-8"), event.model_dump_json(exclude_none=False).encode("utf-8")))
    return out


async def raw_produce(kafka: KafkaSettings, messages: Sequence[Message], chunk: int) -> Rate:
    """The messages to the scratch topic with a bare aiokafka producer, ``chunk`` at a time: every send
    of a chunk enqueued, then every acknowledgement awaited before the next chunk, as the ingestor
    does. The settings are fixed here, good ones for bulk sends (acks=all, 5 ms linger, 1 MiB
    batches), so the baseline does not move when the service's producer changes."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        **kafka.client_options(),
        acks="all",
        linger_ms=5,
        max_batch_size=1 << 20,
        client_id="exportwatch-bench",
    )
    await producer.start()
    try:
        started = time.perf_counter()
        for start in range(0, len(messages), chunk):
            futures = [
                await producer.send(SCRATCH_TOPIC, value=value, key=key, headers=HEADERS)
                for key, value in messages[start : start + chunk]
            ]
            await asyncio.gather(*futures)
        seconds = time.perf_counter() - started
    finally:
        await producer.stop()
    return Rate("raw produce (aiokafka, acks=all)", len(messages), seconds, sum(len(v) for _, v in messages))


async def read_licences(
    kafka: KafkaSettings, ids: frozenset[str], since: dt.datetime, expected: int, timeout: float
) -> TopicCheck:
    """Read the licences topic from the beginning without a consumer group and count the records of
    this run (an id of the file, ingested after ``since``) until ``expected`` are in, then until quiet
    for a second (to see any extra copy), or until ``timeout``. End offsets are not used: after batched
    sends Tansu can report them wrong."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        **kafka.client_options(), enable_auto_commit=False, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    records = 0
    seen: set[str] = set()
    by_revision: dict[int, int] = {}
    try:
        await consumer._client.force_metadata_update()
        parts = [
            TopicPartition(topics.LICENCES, p)
            for p in sorted(consumer.partitions_for_topic(topics.LICENCES) or ())
        ]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            if records >= expected and time.monotonic() - quiet_since > 1.0:
                break
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            for recs in batch.values():
                for r in recs:
                    key = r.key.decode("utf-8", "replace") if r.key else ""
                    if key not in ids:
                        continue
                    doc = json.loads(r.value)
                    stamp = doc.get("ingested_at")
                    if not stamp or dt.datetime.fromisoformat(stamp) < since:
                        continue  # an earlier run's copy on a long-lived broker
                    records += 1
                    seen.add(key)
                    revision = int(doc.get("revision") or 1)
                    by_revision[revision] = by_revision.get(revision, 0) + 1
                quiet_since = time.monotonic()
    finally:
        await consumer.stop()
    return TopicCheck(records, len(seen), by_revision, expected, complete=records >= expected)


@dataclasses.dataclass(frozen=True)
class _Context:
    data: bytes
    folder: Path
    kafka: KafkaSettings
    database_url: str
    sources_file: Path
    timeout: float
    broker_pid: int | None
    out: Callable[[str], None]


async def _passes(c: _Context, report: Report, parsed: Parsed, changed_every: int, baseline: bool) -> None:
    """The four passes over the folder, and the raw produce baseline after the first."""
    from services.common.topics import ensure_topics
    from services.ingest.ingestor import CHUNK

    async def one(name: str, rows: int, **expect: int) -> None:
        c.out(f"{name} ...")
        result, warnings = await _ingest_pass(
            name, c.kafka, c.database_url, c.sources_file, rows, c.timeout, c.broker_pid, **expect
        )
        report.passes.append(result)
        for k, v in warnings.items():
            report.warnings[k] = max(report.warnings.get(k, 0), v)

    await one("first ingest (new file)", parsed.rows, published=parsed.rows - parsed.rejected, updated=0)
    report.peak_rss_mib = _peak_rss_mib()
    if baseline:
        c.out("raw produce baseline ...")
        partitions = CommonSettings(**dict(c.kafka)).topic_partitions
        await ensure_topics(c.kafka, [SCRATCH_TOPIC], partitions)
        messages = _messages(c.data)
        report.produce = await raw_produce(c.kafka, messages, CHUNK)
        del messages
    await one("restart, same file (unchanged)", 0, published=0, updated=0)
    _write(c.folder / "values-republished.csv", c.data)
    await one("same rows in another file", parsed.rows, published=0, updated=0)
    if changed_every > 0:
        corrected, changed = corrected_release(c.data, changed_every)
        _write(c.folder / FILE_NAME, corrected)
        await one(f"corrected release ({changed} changed)", parsed.rows, published=0, updated=changed)


async def run(
    data: bytes,
    source: str,
    *,
    kafka: KafkaSettings | None,
    database_url: str | None,
    workdir: Path,
    timeout: float,
    changed_every: int,
    baseline: bool,
    out: Callable[[str], None],
) -> Report:
    from tools.embedded import EmbeddedBroker

    out(f"parsing {source} alone ...")
    parsed = parse_only(data)
    folder = workdir / "caat"
    folder.mkdir()
    sources_file = workdir / "sources.yaml"
    sources_file.write_text(
        json.dumps({"sources": [{"name": SOURCE, "path": str(folder), "format": "caat"}]}), encoding="utf-8"
    )
    _write(folder / FILE_NAME, data)

    embedded: EmbeddedBroker | None = None
    if kafka is None:
        embedded = await EmbeddedBroker(log_path=workdir / "tansu.log").start()
        # Ingest runs with the embedded broker's add-on, as in the local stack (services/common/topics.py).
        kafka = CommonSettings(**dict(embedded.kafka), kafka_embedded=True)
        broker_name = f"embedded Tansu (memory storage) on {kafka.kafka_bootstrap}"
    else:
        broker_name = kafka.kafka_bootstrap
        if kafka.kafka_security_protocol != "PLAINTEXT":
            broker_name += f" ({kafka.describe()})"
    broker_pid = embedded._proc.pid if embedded is not None and embedded._proc is not None else None
    report = Report(
        source=source,
        file_bytes=len(data),
        database="",
        broker=broker_name,
        parse=Rate("parse only (parse_caat_values)", parsed.rows, parsed.seconds),
        rejected_rows=parsed.rejected,
        passes=[],
    )
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    try:
        async with _database(database_url, workdir) as (url, description):
            report.database = description
            context = _Context(data, folder, kafka, url, sources_file, timeout, broker_pid, out)
            await _passes(context, report, parsed, changed_every, baseline)
        expected = sum(p.published + p.updated for p in report.passes)
        out("reading the licences topic back ...")
        report.topic = await read_licences(kafka, parsed.ids, since, expected, timeout)
        if broker_pid is not None:
            report.broker_rss_mib = peak_rss_mib(broker_pid)
    finally:
        if embedded is not None:
            embedded.stop()
    report.peak_rss_end_mib = _peak_rss_mib()
    return report
