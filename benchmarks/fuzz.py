"""Coverage-guided fuzzing of the parsers that read outside input, with atheris (libFuzzer for Python).

Not part of the test suite: tests/hostile/test_hostile_parsers.py checks the same properties on every run;
this runs for as long as you let it and keeps what it learns in its corpus.

    .venv/bin/pip install -e '.[fuzz]'            # atheris
    .venv/bin/python benchmarks/fuzz.py TARGET --seconds 60 [--corpus DIR] [--artifacts DIR]

TARGET is one of:

- ``feed``: ``parse_feed`` (RSS, Atom, RDF) and ``html_to_text`` on the same bytes;
- ``csv``: ``parse_caat_values``, ``parse_csv`` with a configured mapping, ``load_ratings``, ``decode_lines``;
- ``event``: ``parse_event`` on the bytes and on what they decode to, ``parse_jsonl``, and the match
  service's batch handler with the bytes as a record on the news or licence topic;
- ``alert``: notify's intake handler, with a real SQLite store, on the bytes split into records of the
  alerts topic;
- ``watchlist``: the bytes as a watchlist file (its name picked by the first byte), loaded and compiled;
- ``subscriptions``: ``load_subscriptions`` on the bytes as the subscriptions file.

Only the documented outcomes are let through: a rejection with a documented reason and a short detail,
InvalidEvent, exactly one dead letter per invalid record, WatchlistError or SubscriptionsFileError naming
the file. Any other exception, a broken invariant (AssertionError) or an input slower than ``--timeout``
seconds is a crash: libFuzzer stops, prints the traceback and saves the input as ``crash-<sha1>`` (or
``timeout-<sha1>``) under ``--artifacts``. Replay one with ``benchmarks/fuzz.py TARGET ARTIFACT``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import sys
import tempfile
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "samples"
BUNDLED = ROOT / "services" / "ingest" / "samples"
TARGETS = ("feed", "csv", "event", "alert", "watchlist", "subscriptions")
NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
DETAIL_LIMIT = 1_000
CONFIG_LIMIT = 5_000

Target = tuple[Callable[[bytes], None], list[bytes], int]  # run one input, seed inputs, max input length


def _install_hint() -> str:
    return (
        "benchmarks/fuzz.py needs atheris: .venv/bin/pip install -e '.[fuzz]' "
        "(or pip install 'atheris>=2.3'). "
        "It has wheels for Linux x86-64; elsewhere pip builds it, which needs clang with libFuzzer."
    )


def _message(text: str, limit: int, *names: str) -> None:
    assert text.strip(), "empty error message"
    assert len(text) <= limit, f"error message of {len(text)} characters"
    for name in names:
        assert name in text, f"{name!r} not named in {text[:300]!r}"


def _check_parsed(items: Any, reasons: Any) -> None:
    from schemas import parse_event
    from services.common.messaging.publisher import encode
    from services.ingest.core.results import Rejected

    for item in items:
        if isinstance(item, Rejected):
            assert item.reason in reasons, f"undocumented reason {item.reason!r}"
            _message(item.detail, DETAIL_LIMIT)
        else:
            again = parse_event(encode(item))  # what ingest publishes, the consumers can read
            assert again.id == item.id


# --- targets ---------------------------------------------------------------------------------------------


def feed_target() -> Target:
    from services.ingest.core.feeds import REASONS, parse_feed
    from services.ingest.core.html import html_to_text

    def run(data: bytes) -> None:
        _check_parsed(parse_feed(data, "feed", NOW), REASONS)
        text = html_to_text(data.decode("utf-8", "replace"))
        assert text == text.strip()

    atom = (
        b"<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom' xml:lang='en'>"
        b"<title>t</title><entry><title type='html'>Spyware &amp; &lt;b&gt;China&lt;/b&gt;</title>"
        b"<link href='https://example.org/a'/><id>tag:x</id><updated>2026-11-23T12:00:00Z</updated>"
        b"<content type='html'>&lt;p&gt;Facial recognition&lt;/p&gt;</content></entry></feed>"
    )
    return run, [(BUNDLED / "watchdog-feed.rss").read_bytes(), atom], 64 * 1024


def csv_target() -> Target:
    from services.ingest.core import tabular
    from services.ingest.core.caat import load_ratings, parse_caat_values
    from services.ingest.core.decoding import decode_lines
    from services.ingest.core.tabular import parse_csv
    from services.ingest.core.tabular_mapping import CsvMapping

    mapping = CsvMapping.model_validate(
        {
            "authority": "NL CDIU",
            "licensing_country": "NL",
            "delimiter": ";",
            "date_formats": ["%d-%m-%Y"],
            "decimal_separator": ",",
            "currency": "EUR",
            "columns": {
                "licence_number": "Vergunningnummer",
                "decided_on": "Datum",
                "destination": "Land",
                "control_code": "Rubriek",
                "value": "Waarde",
                "decision": "Besluit",
            },
            "decisions": {"Verleend": "granted", "Afgewezen": "refused"},
            "code_separator": "/",
        }
    )

    def run(data: bytes) -> None:
        _check_parsed(parse_caat_values(data, "values.csv"), tabular.REASONS)
        _check_parsed(parse_csv(data, mapping, "licences.csv"), tabular.REASONS)
        assert all(isinstance(v, str) for v in load_ratings(data).values())
        decoded = decode_lines(data)
        if not data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
            assert decoded.raw(1, len(decoded.lines)) == data

    def head(name: str, lines: int) -> bytes:
        return b"".join((SAMPLES / name).read_bytes().splitlines(True)[:lines])

    nl = (
        "Vergunningnummer;Datum;Land;Rubriek;Waarde;Besluit\n"
        "NL-1;23-11-2026;Egypte;5A001.j;€ 1.234,56;Verleend\n"
    )
    seeds = [
        head("uk-caat-values-2014-sample.csv", 30),
        head("uk-caat-ratings.csv", 20),
        nl.encode(),
        nl.encode("cp1252"),
    ]
    return run, seeds, 16 * 1024


def _record(topic: str, offset: int, value: bytes) -> Any:
    from aiokafka import ConsumerRecord

    return ConsumerRecord(topic, 0, offset, 0, 0, b"key", value, None, 3, len(value), [])


def _check_dead_letters(out: list[Any], invalid: set[int], service: str) -> list[Any]:
    from schemas import DeadLetter
    from services.common.messaging.metrics import DEADLETTER_REASONS
    from services.common.messaging.publisher import encode

    letters = [o.value for o in out if isinstance(o.value, DeadLetter)]
    offsets = Counter(letter.source_offset for letter in letters)
    assert set(offsets) == invalid and all(n == 1 for n in offsets.values()), (offsets, invalid)
    for letter in letters:
        assert letter.service == service and letter.reason in DEADLETTER_REASONS, letter.reason
        _message(letter.detail, 2_000)
        encode(letter)
    return [o for o in out if not isinstance(o.value, DeadLetter)]


def event_target() -> Target:
    from prometheus_client import CollectorRegistry

    from schemas import InvalidEvent, parse_event, topics
    from services.common.messaging.metrics import DEADLETTER_REASONS
    from services.common.messaging.publisher import encode
    from services.ingest.core.jsonl import parse_jsonl
    from services.ingest.core.sources import rejection_reasons
    from services.match.app import make_handler
    from services.match.core.engine import Matcher
    from services.match.metrics import MatchMetrics
    from services.match.reload import WatchlistReloader

    matcher = Matcher.load()
    metrics = MatchMetrics(CollectorRegistry())
    handle = make_handler(WatchlistReloader(matcher, [], metrics.watchlists), metrics)
    loop = asyncio.new_event_loop()
    reasons = frozenset(rejection_reasons())

    def parsed(raw: bytes | dict[str, Any]) -> Any:
        try:
            event = parse_event(raw)
        except InvalidEvent as exc:
            assert exc.reason in DEADLETTER_REASONS, exc.reason
            _message(exc.detail, DETAIL_LIMIT)
            return None
        again = parse_event(encode(event))
        assert (again.type, again.id) == (event.type, event.id)
        return event

    def run(data: bytes) -> None:
        event = parsed(data)
        try:
            decoded = json.loads(data)
        except (ValueError, RecursionError):
            decoded = None
        if isinstance(decoded, dict):
            parsed(decoded)
        _check_parsed(parse_jsonl(data, "events.jsonl", 100_000), reasons)
        topic = topics.NEWS if len(data) % 2 else topics.LICENCES
        out = loop.run_until_complete(handle([_record(topic, 0, data)]))
        alerts = _check_dead_letters(out, set() if event is not None else {0}, "match")
        if event is not None:
            assert {o.key for o in alerts} == {a.id for a in matcher.evaluate(event, NOW)}

    seeds = [line for line in (SAMPLES / "news.jsonl").read_bytes().splitlines() if line.strip()]
    return run, seeds, 64 * 1024


def alert_target() -> Target:
    from prometheus_client import CollectorRegistry
    from pydantic import ValidationError
    from sqlalchemy import select

    from schemas import Alert, parse_event, topics
    from services.match.core.engine import Matcher
    from services.notify.core.model import Subscription
    from services.notify.intake import make_handler
    from services.notify.metrics import NotifyMetrics
    from services.notify.store import tables
    from services.notify.store.repository import NotifyStore

    folder = Path(tempfile.mkdtemp(prefix="fuzz-alert-"))
    loop = asyncio.new_event_loop()
    store = loop.run_until_complete(NotifyStore.open(f"sqlite:///{folder / 'notify.db'}"))
    everything = Subscription.model_validate(
        {
            "name": "everything",
            "channel": {"type": "console"},
            "id": "s",
            "owner": "o",
            "origin": "api",
            "created_at": NOW,
            "updated_at": NOW,
        }
    )
    loop.run_until_complete(store.subscriptions.create(everything))
    handle = make_handler(store, NotifyMetrics(CollectorRegistry()), 0.0, lambda: None, clock=lambda: NOW)

    def storable(alert: Alert) -> bool:
        story = alert.duplicate_of or alert.event_id
        return "\x00" not in alert.id + story and len(alert.id) <= 300 and len(story) <= 320

    async def recorded(ids: set[str]) -> set[str]:
        async with store.engine.connect() as conn:
            rows = await conn.execute(select(tables.alerts.c.id).where(tables.alerts.c.id.in_(ids)))
            return {row[0] for row in rows.all()}

    def run(data: bytes) -> None:
        records = [_record(topics.ALERTS, n, v) for n, v in enumerate(data.split(b"\n")[:8])]
        valid: set[str] = set()
        invalid: set[int] = set()
        for r in records:
            try:
                alert = Alert.model_validate_json(r.value)
            except ValidationError:
                invalid.add(r.offset)
                continue
            (valid.add(alert.id) if storable(alert) else invalid.add(r.offset))
        out = loop.run_until_complete(handle(records))
        assert not _check_dead_letters(out, invalid, "notify")
        if valid:
            assert loop.run_until_complete(recorded(valid)) == valid

    matcher = Matcher.load()
    events = [
        parse_event(line) for line in (SAMPLES / "news.jsonl").read_bytes().splitlines() if line.strip()
    ]
    alerts = [a.model_dump_json().encode() for e in events for a in matcher.evaluate(e, NOW)]
    return run, [b"\n".join(alerts), *alerts], 64 * 1024


def watchlist_target() -> Target:
    from services.match.core import watchlists
    from services.match.core.engine import Matcher, WatchlistError

    names = [*(f"{n}.yaml" for n in watchlists.FILES), "rules.yml", "unknown.yaml"]
    folder = Path(tempfile.mkdtemp(prefix="fuzz-watchlist-"))

    def run(data: bytes) -> None:
        if not data:
            return
        name = names[data[0] % len(names)]
        for old in folder.iterdir():
            old.unlink()
        (folder / name).write_bytes(data[1:])
        try:
            lists = watchlists.load([folder])
        except WatchlistError as exc:
            _message(str(exc), CONFIG_LIMIT, name)
            return
        try:
            Matcher(lists)
        except WatchlistError as exc:
            # Compiling checks terms across files (one term for two technologies): the message names
            # the file of the entry added second, which can be a bundled one.
            _message(str(exc), CONFIG_LIMIT, ".yaml")

    seeds = [
        bytes([names.index(f"{path.stem}.yaml")]) + path.read_bytes()
        for path in sorted(watchlists.bundled_dir().glob("*.yaml"))
    ]
    return run, seeds, 64 * 1024


def subscriptions_target() -> Target:
    from services.notify.core.subscriptions_file import SubscriptionsFileError, load_subscriptions

    env = {
        "AMNESTY_SLACK_URL": "https://hooks.slack.com/services/T000/B000/amnesty-secret-token",
        "ACCESSNOW_WEBHOOK_URL": "https://receiver.example.org/exportwatch",
        "ACCESSNOW_WEBHOOK_SECRET": "a-long-shared-signing-secret",
        "PI_SLACK_URL": "https://hooks.slack.com/services/T000/B001/pi-secret-token",
    }

    def run(data: bytes) -> None:
        try:
            subs = load_subscriptions(data.decode("utf-8", "replace"), env, "subscriptions.yaml")
        except SubscriptionsFileError as exc:
            _message(str(exc), CONFIG_LIMIT, "subscriptions.yaml")
            for secret in env.values():
                assert secret not in str(exc), "a secret from the environment in an error message"
            return
        assert len({s.id for s in subs}) == len(subs)

    return run, [(ROOT / "deploy" / "notify" / "subscriptions.yaml").read_bytes()], 16 * 1024


FACTORIES: dict[str, Callable[[], Target]] = {
    "feed": feed_target,
    "csv": csv_target,
    "event": event_target,
    "alert": alert_target,
    "watchlist": watchlist_target,
    "subscriptions": subscriptions_target,
}


# --- command line ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", choices=TARGETS)
    parser.add_argument("inputs", nargs="*", help="artifacts to replay instead of fuzzing")
    parser.add_argument("--seconds", type=int, default=60, help="how long to fuzz (default 60)")
    parser.add_argument("--corpus", type=Path, help="corpus folder, kept between runs (default: temporary)")
    parser.add_argument("--artifacts", type=Path, default=Path("fuzz-artifacts"), help="where crashes go")
    parser.add_argument("--timeout", type=int, default=10, help="seconds one input may take (default 10)")
    args, libfuzzer_flags = parser.parse_known_args(argv)

    try:
        import atheris
    except ImportError:
        sys.exit(_install_hint())

    sys.path.insert(0, str(ROOT))
    warnings.simplefilter("ignore")  # feedparser's deprecations, on every input
    logging.disable(logging.CRITICAL)  # the services log each dead letter
    with atheris.instrument_imports(include=["services", "schemas"]):
        run, seeds, max_len = FACTORIES[args.target]()

    if args.inputs:  # replay: run each artifact once, outside libFuzzer
        for name in args.inputs:
            run(Path(name).read_bytes())
            sys.stdout.write(f"{name}: no crash\n")
        return

    corpus = args.corpus or Path(tempfile.mkdtemp(prefix=f"fuzz-{args.target}-"))
    corpus.mkdir(parents=True, exist_ok=True)
    for n, seed in enumerate(seeds):
        (corpus / f"seed-{n}").write_bytes(seed)
    args.artifacts.mkdir(parents=True, exist_ok=True)
    flags = [
        sys.argv[0],
        f"-max_total_time={args.seconds}",
        f"-timeout={args.timeout}",
        f"-max_len={max_len}",
        "-rss_limit_mb=4096",
        "-print_final_stats=1",
        f"-artifact_prefix={args.artifacts}/{args.target}-",
        *libfuzzer_flags,
        str(corpus),
    ]
    atheris.Setup(flags, run)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
