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
import logging
import os
import platform
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from services.common.kafka import KafkaSettings
from services.common.settings import CommonSettings, settings_problems
from tools.bench_ingest_input import (
    CHANGED_EVERY,
    DEFAULT_ROWS,
    FILE_NAME,
    FIRST_DAY,
    LAST_DAY,
    SYNTHETIC_GROUP_BASE,
    Parsed,
    corrected_release,
    parse_only,
    synthetic_values,
)
from tools.bench_ingest_report import PassResult, Rate, Report, TopicCheck, format_report, problems
from tools.bench_ingest_run import (
    HEADERS,
    SCRATCH_TOPIC,
    SOURCE,
    Message,
    raw_produce,
    read_licences,
    run,
)

# The benchmark's parts live in tools/bench_ingest_input.py (the file), bench_ingest_report.py (the
# figures) and bench_ingest_run.py (the passes); every public name is importable from here as before.
__all__ = [
    "CHANGED_EVERY",
    "DEFAULT_ROWS",
    "FILE_NAME",
    "FIRST_DAY",
    "HEADERS",
    "LAST_DAY",
    "SCRATCH_TOPIC",
    "SOURCE",
    "SYNTHETIC_GROUP_BASE",
    "Message",
    "Parsed",
    "PassResult",
    "Rate",
    "Report",
    "TopicCheck",
    "corrected_release",
    "format_report",
    "main",
    "parse_only",
    "problems",
    "raw_produce",
    "read_licences",
    "run",
    "synthetic_values",
]


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
