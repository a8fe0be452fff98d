"""``exportwatch notify …``: what operators do by hand on the notify database.

    exportwatch notify dead [--subscription ID] [--json]     list dead notifications and why
    exportwatch notify redrive (--id ID ... | --subscription ID | --all)
    exportwatch notify token OWNER [--label TEXT]            a new API token for OWNER (shown once)
    exportwatch notify check FILE                            validate a subscriptions file (every problem)

The database comes from ``--database-url`` or ``EXPORTWATCH_NOTIFY_DATABASE_URL``, as for the service;
without either, from the local stack running on this machine (``exportwatch stack``, from any folder),
else ``var/notify.db`` in the current folder. A SQLite database that does not exist is refused.
A re-driven notification is sent by the running service at its next look at the queue, with a fresh
set of attempts and the same notification id.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from services.notify.store.repository import NotifyStore


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="exportwatch notify", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None, help="default: EXPORTWATCH_NOTIFY_DATABASE_URL")
    sub = parser.add_subparsers(dest="action", required=True)
    dead = sub.add_parser("dead", help="list dead notifications")
    dead.add_argument("--subscription", default=None)
    dead.add_argument("--limit", type=int, default=100)
    dead.add_argument("--json", action="store_true", help="one JSON object per line")
    redrive = sub.add_parser("redrive", help="queue dead notifications again")
    redrive.add_argument("--id", action="append", default=[], help="a notification id (repeatable)")
    redrive.add_argument("--subscription", default=None, help="every dead notification of a subscription")
    redrive.add_argument("--all", action="store_true", help="every dead notification")
    token = sub.add_parser("token", help="create an API token for an owner")
    token.add_argument("owner")
    token.add_argument("--label", default="")
    check = sub.add_parser("check", help="validate a subscriptions file (with the current environment)")
    check.add_argument("file", type=Path)
    return parser


class NoDatabase(Exception):
    """The notify database to work on cannot be found; the message says where we looked and what to do."""


def find_database(given: str | None, environ: Mapping[str, str]) -> tuple[str, str | None]:
    """The database URL to use and, when it was found rather than given, a note saying whose it is.

    In order: ``--database-url``; ``EXPORTWATCH_NOTIFY_DATABASE_URL``; the running local stack's (from any
    folder); ``var/notify.db`` under the current folder. A SQLite file that does not exist is refused
    rather than created: a token written to a new, empty database would be rejected by the running
    service."""
    from services.common import localstack
    from services.notify.settings import NotifySettings

    note = None
    if given:
        url = given
    elif environ.get("EXPORTWATCH_NOTIFY_DATABASE_URL"):
        url = NotifySettings().database_url.get_secret_value()
    elif (stack := localstack.running()) is not None:
        url = stack.notify_database_url
        note = f"using the database of the local stack running in {stack.workdir} (pid {stack.pid})"
    else:
        url = NotifySettings().database_url.get_secret_value()
    path = localstack.sqlite_file(url)
    if path is not None and not path.is_file():
        where = path.resolve()
        raise NoDatabase(
            f"no notify database at {where}: no local stack is running (start it with "
            "`python3 tasks.py run` in the ExportWatch folder), and this folder has no var/notify.db. "
            "For a deployed notify, set EXPORTWATCH_NOTIFY_DATABASE_URL (or --database-url) to its "
            "database; with Docker Compose, run the command inside the notify container "
            "(`docker compose exec notify exportwatch notify token NAME`)."
        )
    return url, note


async def _dead(store: NotifyStore, subscription: str | None, limit: int, as_json: bool) -> int:
    dead = await store.deliveries.dead_notifications(subscription_id=subscription, limit=limit)
    for d in dead:
        if as_json:
            print(json.dumps(d.as_json(), ensure_ascii=False))
        else:
            when = d.finished_at.strftime("%Y-%m-%d %H:%M:%S UTC") if d.finished_at else "?"
            print(f"{d.id}  {when}  {d.subscription_id} ({d.channel}, owner {d.owner or '?'})")
            more = " …" if len(d.alert_ids) > 5 else ""
            print(f"    {len(d.alert_ids)} alert(s): {', '.join(d.alert_ids[:5])}{more}")
            print(f"    {d.reason}: {d.detail}")
    if not as_json:
        print(f"{len(dead)} dead notification(s)", file=sys.stderr)
    return 0


def check(path: Path) -> int:
    """``notify check FILE``: every problem of the file on stderr, one per line (exit status 1), or its
    subscriptions on stdout (0); 2 when the file or the notify settings cannot be read. Ids are checked
    against the shared vocabulary and the EXPORTWATCH_NOTIFY_EXTRA_* ids of the environment, and
    ${VARIABLES} taken from it, as the service will at start."""
    from pydantic import ValidationError

    from services.common.config import describe_errors
    from services.notify.core.subscriptions_file import SubscriptionsFileError, load_subscriptions
    from services.notify.settings import NotifySettings

    try:
        settings = NotifySettings()
        vocabulary = settings.vocabulary()
    except ValidationError as exc:
        print(f"invalid EXPORTWATCH_NOTIFY_* settings: {describe_errors(exc)}", file=sys.stderr)
        return 2
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    except UnicodeDecodeError:
        print(f"{path}: not UTF-8 text", file=sys.stderr)
        return 2
    try:
        loaded = load_subscriptions(text, os.environ, str(path), vocabulary, settings.max_recipients)
    except SubscriptionsFileError as exc:
        print(exc.report(), file=sys.stderr)
        return 1
    for f in loaded:
        print(f"{f.id}: {f.spec.name} (owner {f.owner}, {f.spec.channel.type}, {f.spec.mode.value})")
    print(f"{len(loaded)} subscription(s), valid", file=sys.stderr)
    return 0


async def open_found_store(command: str, given: str | None) -> NotifyStore | None:
    """Notify's database for an operator command: the one given, or the running stack's
    (``find_database``), with its note on stderr; None, after saying why under ``command``'s name,
    when there is none."""
    try:
        url, note = find_database(given, os.environ)
    except NoDatabase as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return None
    if note:
        print(note, file=sys.stderr)
    return await NotifyStore.open(url)


async def _run(args: argparse.Namespace) -> int:
    if args.action == "check":
        return check(args.file)
    if args.action == "token":
        from services.notify.core.model import OWNER_RULE, is_owner_name

        if not is_owner_name(args.owner):
            print(f"exportwatch notify token: owners are {OWNER_RULE}", file=sys.stderr)
            return 2
    store = await open_found_store(f"exportwatch notify {args.action}", args.database_url)
    if store is None:
        return 2
    try:
        now = dt.datetime.now(dt.UTC)
        if args.action == "dead":
            return await _dead(store, args.subscription, args.limit, args.json)
        if args.action == "redrive":
            if not (args.id or args.subscription or args.all):
                print("say which: --id ID, --subscription ID or --all", file=sys.stderr)
                return 2
            count = await store.deliveries.redrive(
                now, ids=args.id, subscription_id=args.subscription, everything=args.all
            )
            print(f"{count} notification(s) queued again")
            return 0 if count or not args.id else 1
        token = await store.tokens.add(args.owner, now, label=args.label)
        print(token)
        print(f"token for {args.owner}: shown once, keep it safe", file=sys.stderr)
        return 0
    finally:
        await store.close()


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    return asyncio.run(_run(args))
