"""The implementations of the ``exportwatch`` commands that ``tools/cli.py`` parses itself: run a
service or the embedded broker, create the topics, match or diff an archive offline, run the
evaluation, write the generated documents, run the webhook sink."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO

if TYPE_CHECKING:
    from schemas import LicenceRecord, NewsArticle


def _serve(name: str) -> int:
    from pydantic import ValidationError

    from services.common.kafka import KafkaUnavailable
    from services.common.logging import configure
    from services.common.runtime import Service, run_until_signal
    from services.common.settings import settings_problems

    service: Service
    try:
        if name == "ingest":
            from services.ingest.app import create_service
            from services.ingest.settings import IngestSettings

            settings = IngestSettings()
            configure(name, settings.common.log_format, settings.common.log_level)
            service = create_service(settings)
        elif name == "match":
            from services.match.app import create_service as create_match
            from services.match.core.watchlists import WatchlistError
            from services.match.settings import MatchSettings

            msettings = MatchSettings()
            configure(name, msettings.common.log_format, msettings.common.log_level)
            try:
                service = create_match(msettings)
            except WatchlistError as exc:  # the operator's watchlists: what to fix, not a traceback
                print(f"exportwatch serve match: not started: {exc}", file=sys.stderr)
                return 2
        else:
            from services.notify.app import create_service as create_notify
            from services.notify.core.subscriptions_file import SubscriptionsFileError
            from services.notify.settings import NotifySettings

            nsettings = NotifySettings()
            configure(name, nsettings.common.log_format, nsettings.common.log_level)
            try:
                service = create_notify(nsettings)
            except SubscriptionsFileError as exc:  # the operator's file: what to fix, not a traceback
                print(f"exportwatch serve notify: not started: {exc.report()}", file=sys.stderr)
                return 2
    except ValidationError as exc:
        print(f"exportwatch serve {name}: {settings_problems(exc)}", file=sys.stderr)
        return 2
    try:
        asyncio.run(run_until_signal(service))
    except KafkaUnavailable as exc:  # raised before anything started: one line, no traceback
        print(f"exportwatch serve {name}: {exc}", file=sys.stderr)
        return 2
    return 0


def _broker(port: int, partitions: int) -> int:
    import signal

    from services.common.logging import configure
    from tools.embedded import EmbeddedBroker

    configure("broker")

    async def run() -> None:
        broker = await EmbeddedBroker(port=port, partitions=partitions).start()
        print(f"embedded broker on {broker.bootstrap} (memory storage; Ctrl-C stops it)", flush=True)
        # Services run against it need the embedded broker's add-on (services/common/topics.py).
        print("services using it: EXPORTWATCH_KAFKA_EMBEDDED=true", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            broker.stop()

    asyncio.run(run())
    return 0


def _topics() -> int:
    from pydantic import ValidationError

    from schemas import topics
    from services.common.kafka import KafkaUnavailable, check_reachable
    from services.common.settings import CommonSettings, settings_problems
    from services.common.topics import ensure_topics

    try:
        settings = CommonSettings()
    except ValidationError as exc:
        print(f"exportwatch topics: {settings_problems(exc)}", file=sys.stderr)
        return 2

    async def create() -> list[str]:
        # First a broker must answer (kafka_start_timeout_seconds): without one, aiokafka would log
        # every failed connection while ensure_topics retries.
        await check_reachable(settings)
        return await ensure_topics(
            settings, list(topics.ALL), settings.topic_partitions, settings.topic_replication, timeout=120
        )

    try:
        created = asyncio.run(create())
    except KafkaUnavailable as exc:
        print(f"exportwatch topics: {exc}", file=sys.stderr)
        return 2
    except TimeoutError as exc:
        print(f"exportwatch topics: {exc}", file=sys.stderr)
        return 1
    print(f"topics ready ({', '.join(created) or 'all existed'})")
    return 0


class EventLines:
    """The events of a JSON Lines archive, read once: blank lines are skipped, and each invalid line is
    reported on ``err`` with its number and reason, counted in ``invalid`` and skipped. Lines may be
    bytes, so that a line that is not UTF-8 is one invalid line rather than the end of the file."""

    def __init__(self, lines: Iterable[str | bytes], err: TextIO) -> None:
        self._lines = lines
        self._err = err
        self.invalid = 0

    def __iter__(self) -> Iterator[NewsArticle | LicenceRecord]:
        from schemas import InvalidEvent, parse_event

        for number, line in enumerate(self._lines, start=1):
            if not line.strip():
                continue
            try:
                event = parse_event(line)
            except InvalidEvent as exc:
                self.invalid += 1
                self._err.write(f"line {number}: {exc.reason}: {exc.detail}\n")
                continue
            yield event


def match_stream(
    lines: TextIO,
    out: TextIO,
    err: TextIO,
    watchlists: Sequence[Path] = (),
    explain: Literal["text", "json"] | None = None,
) -> tuple[int, int, int]:
    """Offline matching: JSON Lines events in, JSON Lines alerts out, invalid lines reported on ``err``.
    With ``explain``, each event's explanation instead (text for people, or one JSON object a line).
    Returns (events, alerts, invalid lines)."""
    import dataclasses
    import json

    from services.match.core.engine import Matcher
    from services.match.core.explain import format_explanation

    matcher = Matcher.load(watchlists)
    reader = EventLines(lines, err)
    events = alerts = 0
    for event in reader:
        events += 1
        now = dt.datetime.now(dt.UTC)
        if explain is not None:
            explanation = matcher.explain(event, now)
            alerts += sum(1 for r in explanation.rules if r.fired)
            if explain == "json":
                out.write(json.dumps(dataclasses.asdict(explanation), ensure_ascii=False) + "\n")
            else:
                out.write(("\n" if events > 1 else "") + format_explanation(explanation) + "\n")
            continue
        for alert in matcher.evaluate(event, now):
            alerts += 1
            out.write(alert.model_dump_json() + "\n")
    return events, alerts, reader.invalid


def _match(path: str, watchlists: Sequence[Path], explain: Literal["text", "json"] | None = None) -> int:
    from services.match.core.engine import WatchlistError

    try:
        stream: contextlib.AbstractContextManager[TextIO] = (
            contextlib.nullcontext(sys.stdin) if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115
        )
        with stream as lines:
            events, alerts, invalid = match_stream(lines, sys.stdout, sys.stderr, watchlists, explain)
    except OSError as exc:
        print(f"exportwatch match: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    except WatchlistError as exc:
        print(f"exportwatch match: invalid watchlist: {exc}", file=sys.stderr)
        return 2
    print(f"{events} events, {alerts} alerts, {invalid} invalid lines", file=sys.stderr)
    return 1 if invalid else 0


def _diff(path: str, old: Sequence[Path], new: Sequence[Path], as_json: bool) -> int:
    from services.match.core.engine import Matcher, WatchlistError
    from tools.watchlist_diff import format_counts, format_text, json_lines, preview

    matchers: list[Matcher] = []
    for option, folders in (("--old", old), ("--new", new)):
        try:
            matchers.append(Matcher.load(folders))
        except WatchlistError as exc:
            print(f"exportwatch diff: invalid watchlist ({option}): {exc}", file=sys.stderr)
            return 2
    try:
        # bytes, so that a line that is not UTF-8 is one invalid line rather than the end of the run
        stream: contextlib.AbstractContextManager[Iterable[bytes]] = (
            contextlib.nullcontext(sys.stdin.buffer) if path == "-" else open(path, "rb")  # noqa: SIM115
        )
        with stream as lines:
            reader = EventLines(lines, sys.stderr)
            # one clock reading for both sides, so that the alerts differ only by the watchlists
            result = preview(reader, matchers[0], matchers[1], dt.datetime.now(dt.UTC))
    except OSError as exc:
        print(f"exportwatch diff: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    if as_json:
        for line in json_lines(result):
            print(line)
        print(format_counts(result, reader.invalid), file=sys.stderr)
    else:
        labels = [" + ".join(["bundled defaults", *map(str, side)]) for side in (old, new)]
        print(format_text(result, labels[0], labels[1], reader.invalid), end="")
    return 1 if result.changes else 0


def _eval(
    cases: Sequence[Path],
    minimum: float,
    pattern_minimum: float,
    samples: Path | None,
    watchlists: Sequence[Path],
) -> int:
    from services.match.core.engine import Matcher, WatchlistError
    from tools.evaluation import CaseFileError, evaluate, format_report, load_cases

    try:
        matcher = Matcher.load(watchlists)
        loaded = load_cases(list(cases) or None, samples)
    except WatchlistError as exc:
        print(f"exportwatch eval: invalid watchlist: {exc}", file=sys.stderr)
        return 2
    except CaseFileError as exc:
        print(f"exportwatch eval: invalid cases: {exc}", file=sys.stderr)
        return 2
    report = evaluate(matcher, loaded)
    print(format_report(report))
    low = report.below(minimum, pattern_minimum)
    if low:
        print(f"\nFAILED: {'; '.join(low)}", file=sys.stderr)
        return 1
    if report.failures:
        print(f"\n{len(report.failures)} case(s) wrong, figures at or above {minimum}", file=sys.stderr)
    return 0


def _schemas(check: bool) -> int:
    from schemas import export

    if check:
        stale = [
            name
            for name, text in export.render().items()
            if not (export.SCHEMA_DIR / name).is_file()
            or (export.SCHEMA_DIR / name).read_text(encoding="utf-8") != text
        ]
        if stale:
            print("stale JSON Schemas: " + ", ".join(stale) + " (run: exportwatch schemas)", file=sys.stderr)
            return 1
        print("JSON Schemas are current")
        return 0
    for path in export.write():
        print(f"wrote {path}")
    return 0


def _asyncapi(check: bool, path: Path | None) -> int:
    from tools import asyncapi

    output = path or asyncapi.DOCUMENT
    text = asyncapi.render()
    if check:
        if not output.is_file() or output.read_text(encoding="utf-8") != text:
            again = "exportwatch asyncapi" + (f" --output {path}" if path else "")
            print(f"stale AsyncAPI document: {output} (run: {again})", file=sys.stderr)
            return 1
        print("AsyncAPI document is current")
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output}")
    return 0


def _settings_doc(check: bool) -> int:
    from tools import settingsdoc

    text = settingsdoc.render()
    output = settingsdoc.DOCUMENT
    if check:
        if not output.is_file() or output.read_text(encoding="utf-8") != text:
            print(f"stale settings reference: {output} (run: exportwatch settings-doc)", file=sys.stderr)
            return 1
        print("settings reference is current")
        return 0
    print(f"wrote {settingsdoc.write()}")
    return 0


def _webhook_sink(host: str, port: int, out: Path) -> int:
    from tools.webhook_sink import WebhookSink

    out.parent.mkdir(parents=True, exist_ok=True)
    sink = WebhookSink(host, port, out)
    print(f"webhook sink on {sink.url}, writing {out}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        sink.serve_forever()
    return 0
