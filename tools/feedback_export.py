"""``exportwatch feedback export``: researchers' judgements of alerts as draft eval cases.

    exportwatch feedback export [--database-url URL] [--relevant | --not-relevant] [--since DATE] [-o FILE]

The database is found as ``exportwatch notify`` finds it (``--database-url``,
``EXPORTWATCH_NOTIFY_DATABASE_URL``, the running local stack, ``var/notify.db``). The file written has
the form of ``tests/eval/*.yaml`` (``cases:``); every case is a draft: its body is the sentences that
made the alert fire, to be rewritten in the researcher's own words before the case joins tests/eval.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from schemas import Alert
from services.notify.admin import open_found_store
from services.notify.core.feedback import Judgement, eval_cases
from services.notify.store.repository import NotifyStore

HEADER = """\
# Draft evaluation cases made from researchers' feedback on alerts (exportwatch feedback export).
#
# Before these cases join tests/eval:
#   1. Rewrite every news body in your own words. Each body below is the sentences that made the alert
#      fire, taken from the article: the project never keeps article text in its repository.
#   2. Check `expect` (the researcher's judgement) and choose a `pattern` (tests/eval/README.md).
#   3. Remove "DRAFT ..." from `why`, give each case a meaningful id, and move it into a tests/eval file.
#      Then run `exportwatch eval` to see how the matcher scores on it.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="exportwatch feedback", description="researchers' feedback on alerts, as draft eval cases"
    )
    sub = parser.add_subparsers(dest="action", required=True)
    export = sub.add_parser("export", help="write the judged alerts as draft eval cases (YAML)")
    export.add_argument("--database-url", default=None, help="default: as `exportwatch notify` finds it")
    verdict = export.add_mutually_exclusive_group()
    verdict.add_argument(
        "--relevant",
        dest="relevant",
        action="store_const",
        const=True,
        default=None,
        help="only alerts researchers found relevant",
    )
    verdict.add_argument(
        "--not-relevant",
        dest="relevant",
        action="store_const",
        const=False,
        help="only alerts researchers found not relevant",
    )
    export.add_argument(
        "--since", type=dt.date.fromisoformat, default=None, help="only judgements made on or after DATE"
    )
    export.add_argument("-o", "--output", type=Path, default=None, help="file to write (default: stdout)")
    return parser


class _Dumper(yaml.SafeDumper):
    """Text of several lines as a block (``|``), as the cases in tests/eval are written."""


def _text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _text)


def render(cases: list[dict[str, Any]]) -> str:
    """The YAML file: the header telling what to do with it, then ``cases:``."""
    body = yaml.dump({"cases": cases}, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100)
    return f"{HEADER}\n{body}"


async def collect(
    store: NotifyStore, relevant: bool | None, since: dt.date | None
) -> tuple[list[dict[str, Any]], int]:
    """The draft cases, and how many judgements were skipped because notify no longer holds the alert."""
    start = dt.datetime.combine(since, dt.time(), dt.UTC) if since is not None else None
    pairs: list[tuple[Alert, Judgement]] = []
    missing = 0
    for feedback, alert in await store.feedback.judged(relevant=relevant, since=start):
        if alert is None:
            missing += 1
            continue
        pairs.append((alert, Judgement(feedback.relevant, feedback.reason, feedback.note)))
    return eval_cases(pairs), missing


async def _export(args: argparse.Namespace) -> int:
    store = await open_found_store("exportwatch feedback export", args.database_url)
    if store is None:
        return 2
    try:
        cases, missing = await collect(store, args.relevant, args.since)
    finally:
        await store.close()
    text = render(cases)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
    where = f" to {args.output}" if args.output else ""
    print(f"{len(cases)} draft case(s) written{where}", file=sys.stderr)
    if missing:
        print(f"{missing} judgement(s) skipped: their alert is no longer in the database", file=sys.stderr)
    return 0


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    return asyncio.run(_export(args))
