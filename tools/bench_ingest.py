"""The ingest benchmark: the UK export-licence data (CAAT ``values.csv``, 2008–2015) through the real ingest
service, end to end, on a real broker and a real database, against baselines measured in the same
process (the machines are shared and noisy, so the ratios are the figures that count).

The passes, each a fresh start of the service on the same database:

1. **First ingest.** The file is new: every row is parsed, hashed, published (acks=all) and recorded.
2. **Restart.** The same file again: the poller sees it unchanged and reads nothing.
3. **Same rows, another file.** The same bytes under a new name: every row is parsed and recognised
   as published before; nothing is published.
4. **Corrected release.** The file with the value of one row in 100 changed: exactly those rows are
   published again, as updates (revision 2).

Baselines: parsing the file alone (no hashing, no broker, no database) and producing the same messages
(same keys, same bytes, in chunks of the same size, acks=all) with a bare aiokafka producer to a
scratch topic. Finally the licences topic is read back from the beginning: every row
must be there exactly once, and every update once more with revision 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import dataclasses
import datetime as dt
import io
import json
import logging
import os
import platform
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from importlib import resources
from pathlib import Path

from schemas import LicenceRecord, topics
from services.common.kafka import KafkaSettings
from services.common.settings import CommonSettings, settings_problems
from services.ingest.core.caat import COLUMNS, parse_caat_values
from services.ingest.core.results import Rejected
from tools.processes import cpu_seconds, peak_rss_mib

DEFAULT_ROWS = 96_000
FIRST_DAY = dt.date(2008, 1, 1)
LAST_DAY = dt.date(2015, 12, 31)
SYNTHETIC_GROUP_BASE = 1_000_000  # above every real CAAT licence group (the 2008–2015 file ends near 76,000)
SOURCE = "uk-caat"
FILE_NAME = "values.csv"
SCRATCH_TOPIC = "exportwatch.bench-scratch.v1"
CHANGED_EVERY = 100  # the corrected release changes one row in this many
HEADERS = [("content-type", b"application/json")]  # what ingest sends with every message


# --- input ----------------------------------------------------------------------------------------------


def _sample_rows() -> list[list[str]]:
    text = (
        resources.files("services.ingest.samples")
        .joinpath("uk-caat-values-2014-sample.csv")
        .read_text(encoding="utf-8")
    )
    rows = list(csv.reader(io.StringIO(text)))
    header = [c.strip().lower() for c in rows[0]]
    order = [header.index(c) for c in COLUMNS]
    return [[row[i] for i in order] for row in rows[1:] if row]


def synthetic_values(rows: int = DEFAULT_ROWS) -> bytes:
    """A CAAT ``values.csv`` of ``rows`` rows: the bundled 2014 sample replicated in order, each row with
    a licence group of its own (so every row has its own id) and its date moved so that the dates rise
    evenly from 2008-01-01 to 2015-12-31. The same ``rows`` always gives the same bytes."""
    if rows < 0:
        raise ValueError("rows must be >= 0")
    sample = _sample_rows()
    span = (LAST_DAY - FIRST_DAY).days + 1
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for i in range(rows):
        _group, _date, rating, count, value, country, refused = sample[i % len(sample)]
        day = FIRST_DAY + dt.timedelta(days=i * span // rows)
        writer.writerow([SYNTHETIC_GROUP_BASE + i, day.isoformat(), rating, count, value, country, refused])
    return out.getvalue().encode("utf-8")


def corrected_release(data: bytes, every: int = CHANGED_EVERY) -> tuple[bytes, int]:
    """``data`` with the value of every ``every``-th data row raised by 1, as a corrected release would
    have it. Only the value's characters change: the rest of the file, quotes and line ends included,
    stays byte for byte. Returns the new bytes and the number of rows changed. A row spread over several
    lines (a quoted line break) is never changed."""
    lines = data.splitlines(keepends=True)
    if not lines or every <= 0:
        return data, 0
    header = [c.strip().lstrip("\ufeff").lower() for c in next(csv.reader([lines[0].decode("utf-8-sig")]))]
    value_i = header.index("value")
    changed = 0
    data_row = 0
    for n in range(1, len(lines)):
        if not lines[n].strip():
            continue
        data_row += 1
        if data_row % every:
            continue
        body = lines[n].rstrip(b"\r\n")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            continue
        spans = _field_spans(text)
        if text.count('"') % 2 or len(spans) <= value_i:
            continue
        start, end = spans[value_i]
        try:
            value = _plus_one(next(csv.reader([text[start:end]]), [""])[0] if end > start else "")
        except ValueError:
            continue
        lines[n] = (text[:start] + value + text[end:]).encode("utf-8") + lines[n][len(body) :]
        changed += 1
    return b"".join(lines), changed


def _field_spans(line: str) -> list[tuple[int, int]]:
    """(start, end) of each comma-separated field of one CSV line, commas inside quotes skipped."""
    spans: list[tuple[int, int]] = []
    start, quoted = 0, False
    for i, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            spans.append((start, i))
            start = i + 1
    spans.append((start, len(line)))
    return spans


def _plus_one(value: str) -> str:
    number = float(value.strip() or 0)
    return str(int(number) + 1) if number.is_integer() else repr(number + 1)


@dataclasses.dataclass(frozen=True)
class Parsed:
    """What the benchmark needs to know of the input: its rows, their ids, and parse-only time."""

    rows: int
    rejected: int
    ids: frozenset[str]
    seconds: float


def parse_only(data: bytes) -> Parsed:
    """Parse the whole file with the ingest parser and nothing else (no hashing, broker or database)."""
    ids: set[str] = set()
    rows = rejected = 0
    started = time.perf_counter()
    for item in parse_caat_values(data, FILE_NAME):
        rows += 1
        if isinstance(item, Rejected):
            rejected += 1
        else:
            ids.add(item.id)
    return Parsed(rows, rejected, frozenset(ids), time.perf_counter() - started)


# --- figures --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class PassResult:
    """One run of the service over the folder: the item outcomes its metrics counted, and its time from
    creating the service to the end of its first poll (``startup`` of it before polling began)."""

    name: str
    rows: int  # rows in the files the pass had to read (0 when the file was unchanged)
    seconds: float
    startup: float = 0.0
    published: int = 0
    updated: int = 0
    near_duplicate: int = 0
    duplicate: int = 0
    rejected: int = 0
    poll_outcome: str = "ok"
    cpu: float = 0.0  # CPU seconds of this process (every thread) during the pass
    broker_cpu: float | None = None  # CPU seconds of the embedded broker during the pass
    expect_published: int | None = None
    expect_updated: int | None = None

    @property
    def accounted(self) -> int:
        return self.published + self.updated + self.near_duplicate + self.duplicate + self.rejected

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclasses.dataclass
class Rate:
    """A baseline: ``count`` items (``size`` bytes) in ``seconds``."""

    name: str
    count: int
    seconds: float
    size: int = 0

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0

    @property
    def megabytes_per_second(self) -> float:
        return self.size / self.seconds / 1e6 if self.seconds > 0 else 0.0


@dataclasses.dataclass
class TopicCheck:
    """What the licences topic holds of this run's ids: records in all, distinct ids, per revision."""

    records: int
    distinct: int
    by_revision: dict[int, int]
    expected: int
    complete: bool  # every expected record was read before the timeout


@dataclasses.dataclass
class Report:
    source: str
    file_bytes: int
    database: str
    broker: str
    parse: Rate
    rejected_rows: int
    passes: list[PassResult]
    produce: Rate | None = None
    topic: TopicCheck | None = None
    peak_rss_mib: float = 0.0  # this process, after the first ingest
    peak_rss_end_mib: float = 0.0  # this process, at the end (the baseline keeps its messages in memory)
    broker_rss_mib: float | None = None  # the embedded broker's peak
    warnings: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def first(self) -> PassResult:
        return self.passes[0]

    @property
    def ratio(self) -> float | None:
        """Full ingest rows/s over raw produce messages/s: the share of the broker-bound ceiling reached."""
        if self.produce is None or self.produce.per_second == 0:
            return None
        return self.first.rows_per_second / self.produce.per_second


def problems(report: Report) -> list[str]:
    """Every count that does not add up; empty when the run is sound."""
    out: list[str] = []
    for p in report.passes:
        if p.poll_outcome != "ok":
            out.append(f"{p.name}: the poll ended with {p.poll_outcome}")
        if p.accounted != p.rows:
            out.append(
                f"{p.name}: published {p.published} + updated {p.updated} + near duplicates "
                f"{p.near_duplicate} + duplicates {p.duplicate} + rejected {p.rejected} = {p.accounted}, "
                f"not the {p.rows} rows read"
            )
        if p.expect_published is not None and p.published != p.expect_published:
            out.append(f"{p.name}: {p.published} published, expected {p.expect_published}")
        if p.expect_updated is not None and p.updated != p.expect_updated:
            out.append(f"{p.name}: {p.updated} updates published, expected {p.expect_updated}")
    if report.topic is not None:
        t = report.topic
        published = sum(p.published for p in report.passes)
        updated = sum(p.updated for p in report.passes)
        if t.records != t.expected or t.records != published + updated:
            out.append(
                f"licences topic: {t.records} records of this run, expected {t.expected} "
                f"({published} published + {updated} updates)"
                + ("" if t.complete else "; the read timed out")
            )
        if t.distinct != published:
            out.append(f"licences topic: {t.distinct} distinct ids, expected {published}")
        if t.by_revision.get(1, 0) != published:
            out.append(
                f"licences topic: {t.by_revision.get(1, 0)} records of revision 1, expected {published}"
            )
        if sum(n for r, n in t.by_revision.items() if r > 1) != updated:
            out.append(f"licences topic: {t.by_revision} by revision, expected {updated} updates")
    return out


def _n(value: float) -> str:
    return f"{value:,.0f}"


def format_report(report: Report) -> list[str]:
    """The report as lines of text: the input, one line per pass and per baseline, then the ratios."""
    lines = [
        f"input: {report.source}, {_n(report.parse.count)} rows, {report.file_bytes / 1e6:.1f} MB "
        f"({report.rejected_rows} rejected by the parser)",
        f"database: {report.database}; broker: {report.broker}",
        "",
        f"{'measurement':38} {'rows':>8} {'seconds':>8} {'rows/s':>9} {'publ.':>7} {'upd.':>6} "
        f"{'dup.':>7} {'rej.':>5} {'cpu s':>6} {'broker cpu s':>12}",
    ]
    for p in report.passes:
        broker_cpu = "" if p.broker_cpu is None else f"{p.broker_cpu:.1f}"
        lines.append(
            f"{p.name:38} {_n(p.rows):>8} {p.seconds:>8.2f} {_n(p.rows_per_second):>9} {_n(p.published):>7} "
            f"{_n(p.updated):>6} {_n(p.duplicate + p.near_duplicate):>7} {_n(p.rejected):>5} "
            f"{p.cpu:>6.1f} {broker_cpu:>12}"
        )
    baselines = [report.parse] + ([report.produce] if report.produce else [])
    for b in baselines:
        lines.append(f"{b.name:38} {_n(b.count):>8} {b.seconds:>8.2f} {_n(b.per_second):>9}")
    lines.append("")
    first = report.first
    lines.append(
        f"first ingest: {first.seconds:.1f} s from start to the end of the poll "
        f"({first.startup:.1f} s of it starting the service)"
    )
    if report.produce is not None and report.ratio is not None:
        lines.append(
            f"raw produce: {report.produce.megabytes_per_second:.1f} MB/s, "
            f"{report.produce.size / max(1, report.produce.count):.0f} bytes a message"
        )
        lines.append(f"ratio full ingest / raw produce (rows/s): {report.ratio:.2f}")
    if report.parse.per_second:
        lines.append(
            f"ratio full ingest / parse only (rows/s): {first.rows_per_second / report.parse.per_second:.2f}"
        )
    if report.topic is not None:
        t = report.topic
        revisions = ", ".join(f"revision {r}: {_n(n)}" for r, n in sorted(t.by_revision.items()))
        lines.append(
            f"licences topic: {_n(t.records)} records of this run ({revisions}), "
            f"{_n(t.distinct)} distinct ids; expected {_n(t.expected)}"
            + ("" if t.complete else " (read timed out)")
        )
    if report.warnings:
        lines.append("warnings: " + ", ".join(f"{k} {_n(v)}" for k, v in sorted(report.warnings.items())))
    memory = (
        f"peak RSS: {report.peak_rss_mib:.0f} MiB after the first ingest, "
        f"{report.peak_rss_end_mib:.0f} MiB at the end"
    )
    if report.broker_rss_mib is not None:
        memory += f"; embedded broker {report.broker_rss_mib:.0f} MiB"
    lines.append(memory)
    found = problems(report)
    lines.append("")
    lines.extend(["PROBLEMS:", *(f"  - {p}" for p in found)] if found else ["every count adds up"])
    return lines


# --- running ---------------------------------------------------------------------------------------------


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


def _check_database_url(url: str | None) -> str | None:
    """Why ``url`` cannot be used (a rerun must start from an empty database), or None."""
    if url is None:
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return "--database-url is not a database URL"
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            return "give SQLite a file: sqlite:///path/new.db"
        if Path(parsed.database).exists():
            return f"{parsed.database} exists: give a new file, so that the first pass starts empty"
        return None
    if backend != "postgresql":
        return f"unsupported database {backend!r}: use sqlite:///new.db or postgresql://…"
    return None


@contextlib.contextmanager
def _logging_to(path: Path) -> Iterator[None]:
    """The services' log lines go to a file while the benchmark runs (a real run warns once per unknown
    destination); the logging set-up before is restored afterwards."""
    from services.common.logging import TextFormatter

    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    quiet = [logging.getLogger(name) for name in ("aiokafka", "uvicorn.access")]
    saved = (root.handlers[:], root.level, [q.level for q in quiet])
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for q in quiet:
        q.setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.handlers[:], level, levels = saved
        root.setLevel(level)
        for q, old in zip(quiet, levels, strict=True):
            q.setLevel(old)
        handler.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="exportwatch bench-ingest", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--file", type=Path, help="a CAAT values.csv (default: a synthetic one of --rows rows)"
    )
    parser.add_argument(
        "--rows",
        type=int,
        default=DEFAULT_ROWS,
        help=f"rows of the synthetic file (default {DEFAULT_ROWS:,})",
    )
    parser.add_argument(
        "--bootstrap",
        help="a running Kafka broker, reached as the EXPORTWATCH_KAFKA_* settings say (TLS, SASL) "
        "(default: start the embedded one)",
    )
    parser.add_argument(
        "--database-url",
        help="sqlite:///new-file.db, or postgresql://user@host/db: a fresh database is created beside db "
        "and dropped afterwards (default: SQLite in a temporary folder)",
    )
    parser.add_argument(
        "--changed-every",
        type=int,
        default=CHANGED_EVERY,
        help=f"the corrected release changes one row in this many (default {CHANGED_EVERY}; 0: no such pass)",
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the raw produce baseline")
    parser.add_argument("--timeout", type=float, default=600, help="longest wait for one pass (seconds)")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (logs, database, files)"
    )
    args = parser.parse_args(argv)

    problem = _check_database_url(args.database_url)
    if problem:
        print(f"exportwatch bench-ingest: {problem}", file=sys.stderr)
        return 2
    kafka: KafkaSettings | None = None
    if args.bootstrap is not None:
        from pydantic import ValidationError

        from services.common.kafka import KafkaUnavailable, check_reachable

        try:
            kafka = CommonSettings(kafka_bootstrap=args.bootstrap)
            asyncio.run(check_reachable(kafka))
        except ValidationError as exc:
            print(f"exportwatch bench-ingest: {settings_problems(exc)}", file=sys.stderr)
            return 2
        except KafkaUnavailable as exc:
            print(f"exportwatch bench-ingest: {exc}", file=sys.stderr)
            return 2
    if args.file is not None:
        try:
            data = args.file.read_bytes()
        except OSError as exc:
            print(f"exportwatch bench-ingest: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
            return 2
        source = str(args.file)
    else:
        data = synthetic_values(args.rows)
        source = f"synthetic ({args.rows:,} rows from the 2014 sample, dates 2008–2015)"

    def out(line: str) -> None:
        print(line, flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="exportwatch-bench-ingest-"))
    out(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    try:
        with _logging_to(workdir / "ingest.log"):
            report = asyncio.run(
                run(
                    data,
                    source,
                    kafka=kafka,
                    database_url=args.database_url,
                    workdir=workdir,
                    timeout=args.timeout,
                    changed_every=args.changed_every,
                    baseline=not args.no_baseline,
                    out=out,
                )
            )
    finally:
        if args.keep:
            out(f"work folder kept: {workdir} (ingest.log, tansu.log, the files and the SQLite database)")
        else:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    out("")
    for line in format_report(report):
        out(line)
    return 1 if problems(report) else 0


if __name__ == "__main__":
    sys.exit(main())
