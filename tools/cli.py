"""The ``exportwatch`` command: run a service, the embedded broker, the whole local stack, or the
offline matcher."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from tools.cli_commands import (
    EventLines,
    _asyncapi,
    _broker,
    _diff,
    _eval,
    _match,
    _schemas,
    _serve,
    _settings_doc,
    _topics,
    _webhook_sink,
    match_stream,
)

# The commands' implementations are in tools/cli_commands.py; this module parses the command line.
__all__ = ["SERVICES", "EventLines", "build_parser", "main", "match_stream"]

SERVICES = ("ingest", "match", "notify")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="exportwatch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run one service (configuration from EXPORTWATCH_* variables)")
    serve.add_argument("service", choices=SERVICES)
    broker = sub.add_parser("broker", help="run the embedded Kafka-compatible broker (Tansu, memory)")
    broker.add_argument("--port", type=int, default=9092)
    broker.add_argument("--partitions", type=int, default=4)
    stack = sub.add_parser("stack", help="run broker, services and sample feeds locally until Ctrl-C")
    stack.add_argument("--dir", type=Path, default=Path("var"), help="where logs and deliveries go")
    stack.add_argument("--port", type=int, default=0, help="broker port (default: a free one)")
    stack.add_argument(
        "--source",
        type=Path,
        action="append",
        default=None,
        help="files or folders to ingest instead of the bundled samples",
    )
    match = sub.add_parser("match", help="match JSON Lines events offline; alerts as JSON Lines on stdout")
    match.add_argument("file", nargs="?", default="-", help="a JSON Lines file, or - for stdin")
    match.add_argument(
        "--watchlists", type=Path, action="append", default=[], help="extra watchlist folder (repeatable)"
    )
    match.add_argument(
        "--explain",
        action="store_true",
        help="instead of alerts, say for each event every mention found (term, role of a country and "
        "why), every country's verdict and why each rule fired or not",
    )
    match.add_argument("--json", action="store_true", help="with --explain: one JSON object per event")
    diff = sub.add_parser(
        "diff",
        help="preview a watchlist change: the alerts that appear, disappear or change on an archive; "
        "exit 1 when any does",
        description="Match every event of the archive with the old and the new watchlists and compare the "
        "alerts by event and rule. Exit status: 0 nothing changed, 1 something changed, 2 the archive or "
        "a watchlist cannot be read. Invalid lines are reported on stderr, skipped and counted.",
    )
    diff.add_argument("file", metavar="ARCHIVE", help="a JSON Lines file of events, or - for stdin")
    diff.add_argument(
        "--old",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="watchlist folder of the current version (repeatable; default: the bundled lists alone)",
    )
    diff.add_argument(
        "--new",
        type=Path,
        action="append",
        required=True,
        metavar="DIR",
        help="watchlist folder of the new version (repeatable)",
    )
    diff.add_argument("--json", action="store_true", help="one JSON object per changed alert")
    evaluation = sub.add_parser(
        "eval", help="run the matcher on the labelled cases; print precision and recall, exit 1 below --min"
    )
    evaluation.add_argument(
        "--cases",
        type=Path,
        action="append",
        default=[],
        help="a case file or folder (repeatable; default: tests/eval)",
    )
    evaluation.add_argument(
        "--min", type=float, default=0.95, help="minimum precision and recall, overall and per language"
    )
    evaluation.add_argument(
        "--pattern-min",
        type=float,
        default=0.8,
        help="minimum precision and recall per pattern (a few dozen cases each)",
    )
    evaluation.add_argument(
        "--samples",
        type=Path,
        default=None,
        help="folder of the samples the cases point at (default: the bundled services/ingest/samples)",
    )
    evaluation.add_argument(
        "--watchlists", type=Path, action="append", default=[], help="extra watchlist folder (repeatable)"
    )
    sub.add_parser(
        "bench",
        add_help=False,
        help="matching benchmark: engine vs raw scan vs naive regexes at 100 / 10k / 100k terms "
        "(exportwatch bench --help)",
    )
    sub.add_parser(
        "screenshots",
        add_help=False,
        help="PNG pictures of the researchers' console, seeded with the bundled alerts "
        "(exportwatch screenshots --help)",
    )
    sub.add_parser(
        "bench-ingest",
        add_help=False,
        help="ingest benchmark: the UK licence data (CAAT values.csv) end to end against raw produce and "
        "parse-only baselines (exportwatch bench-ingest --help)",
    )
    sub.add_parser(
        "bench-archive",
        add_help=False,
        help="alert archive benchmark: filtered pages and counts over 100,000 alerts on SQLite or "
        "PostgreSQL against the 200 ms target (exportwatch bench-archive --help)",
    )
    sub.add_parser(
        "bench-notify",
        add_help=False,
        help="notify benchmark: CPU and SQL statements per delivery, deliveries/s against a bare HTTP "
        "client on SQLite or PostgreSQL (exportwatch bench-notify --help)",
    )
    sub.add_parser(
        "load",
        add_help=False,
        help="load harness: events through the whole pipeline against a raw aiokafka ceiling, every event "
        "and alert accounted for (exportwatch load --help)",
    )
    sub.add_parser(
        "notify",
        add_help=False,
        help="notify's operator tools: dead notifications, re-drive, API tokens, check a subscriptions "
        "file (exportwatch notify --help)",
    )
    sub.add_parser(
        "feedback",
        add_help=False,
        help="researchers' feedback on alerts as draft eval cases (exportwatch feedback export --help)",
    )
    sub.add_parser(
        "topics",
        help="create the topics on EXPORTWATCH_KAFKA_BOOTSTRAP and exit (2 when no broker answers within "
        "EXPORTWATCH_KAFKA_START_TIMEOUT_SECONDS)",
    )
    schemas = sub.add_parser("schemas", help="write the JSON Schemas of every message")
    schemas.add_argument("--check", action="store_true", help="only check they are current")
    asyncapi = sub.add_parser(
        "asyncapi", help="write the AsyncAPI document of every topic and message (docs/asyncapi.json)"
    )
    asyncapi.add_argument("--check", action="store_true", help="only check it is current")
    asyncapi.add_argument("--output", type=Path, default=None, help="where (default: docs/asyncapi.json)")
    settings_doc = sub.add_parser(
        "settings-doc", help="write the reference of every EXPORTWATCH_* setting (docs/settings.md)"
    )
    settings_doc.add_argument("--check", action="store_true", help="only check it is current")
    sink = sub.add_parser("webhook-sink", help="a local webhook receiver writing what it gets to a file")
    sink.add_argument("--host", default="127.0.0.1")
    sink.add_argument("--port", type=int, default=8090)
    sink.add_argument("--out", type=Path, default=Path("var/webhook-deliveries.jsonl"))
    return parser


# Commands with options of their own: the module and the function that parses the rest of the line.
_OWN_OPTIONS = {
    "bench": ("tools.bench_match", "main"),
    "screenshots": ("tools.screenshots", "main"),  # the console in chromium, saved as PNG
    "notify": ("services.notify.admin", "main"),  # operator tools on the notify database
    "bench-ingest": ("tools.bench_ingest", "main"),
    "bench-archive": ("tools.bench_archive", "main"),
    "bench-notify": ("tools.bench_notify", "main"),
    "load": ("tools.loadtest", "main"),
    "feedback": ("tools.feedback_export", "main"),  # judged alerts as draft eval cases
}


def _stack(args: argparse.Namespace) -> int:
    from tools.stack import run_stack

    return run_stack(args.dir, args.port, args.source)


def _match_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    explain: Literal["text", "json"] | None = None
    if args.explain:
        explain = "json" if args.json else "text"
    elif args.json:
        parser.error("--json goes with --explain (alerts are JSON Lines already)")
    return _match(args.file, args.watchlists, explain)


_COMMANDS: dict[str, Callable[[argparse.Namespace, argparse.ArgumentParser], int]] = {
    "serve": lambda a, _: _serve(a.service),
    "broker": lambda a, _: _broker(a.port, a.partitions),
    "stack": lambda a, _: _stack(a),
    "match": _match_command,
    "diff": lambda a, _: _diff(a.file, a.old, a.new, a.json),
    "eval": lambda a, _: _eval(a.cases, a.min, a.pattern_min, a.samples, a.watchlists),
    "topics": lambda a, _: _topics(),
    "schemas": lambda a, _: _schemas(a.check),
    "asyncapi": lambda a, _: _asyncapi(a.check, a.output),
    "settings-doc": lambda a, _: _settings_doc(a.check),
    "webhook-sink": lambda a, _: _webhook_sink(a.host, a.port, a.out),
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in _OWN_OPTIONS:
        module, function = _OWN_OPTIONS[argv[0]]
        run: Callable[[list[str]], int] = getattr(importlib.import_module(module), function)
        return run(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    return _COMMANDS[args.command](args, parser)


if __name__ == "__main__":
    sys.exit(main())
