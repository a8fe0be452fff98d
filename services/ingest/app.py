"""The ingest service: reads configured files and feeds, accepts pushed events, publishes typed events.

Everything here is I/O around ``services.ingest.core``: read bytes, parse, publish events to their topic
and rejections to the dead-letter topic, count both.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import logging
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path

from faststream.kafka import KafkaBroker
from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from schemas import InvalidEvent, NewsArticle, parse_event, topics
from services.common.pipeline import (
    Outgoing,
    PipelineMetrics,
    dead_letter,
    new_registry,
    publish_all,
)
from services.common.runtime import Service, make_broker
from services.ingest.core.results import Event, Parsed, Rejected
from services.ingest.core.sources import is_ratings_table, parse_source
from services.ingest.settings import IngestSettings

log = logging.getLogger("exportwatch.ingest")
SERVICE = "ingest"
PUBLISH_CHUNK = 1000
_SUFFIXES = (".jsonl", ".ndjson", ".xml", ".rss", ".atom", ".rdf", ".csv")


def topic_for(event: Event) -> str:
    return topics.NEWS if isinstance(event, NewsArticle) else topics.LICENCES


class _Seen:
    """Ids published by this process, most recent last, bounded; stops re-publishing the same item."""

    def __init__(self, limit: int = 500_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._limit = limit

    def add(self, event_id: str) -> bool:
        """True if new."""
        if event_id in self._ids:
            self._ids.move_to_end(event_id)
            return False
        self._ids[event_id] = None
        if len(self._ids) > self._limit:
            self._ids.popitem(last=False)
        return True


class Ingestor:
    """Turns parsed items into published events and dead letters, with metrics."""

    def __init__(self, broker: KafkaBroker, metrics: PipelineMetrics, items: Counter) -> None:
        self.broker = broker
        self.metrics = metrics
        self.items = items
        self.seen = _Seen()

    def _outgoing(self, parsed: Iterable[Parsed]) -> list[Outgoing]:
        out: list[Outgoing] = []
        for item in parsed:
            if isinstance(item, Rejected):
                log.warning(
                    "rejected input",
                    extra={
                        "source": item.source,
                        "line": item.line,
                        "reason": item.reason,
                        "detail": item.detail[:200],
                    },
                )
                self.items.labels(outcome="rejected").inc()
                detail = f"line {item.line}: {item.detail}" if item.line is not None else item.detail
                out.append(dead_letter(SERVICE, item.reason, detail, item.raw, source=item.source))
            elif self.seen.add(item.id):
                self.items.labels(outcome="published").inc()
                out.append(Outgoing(topic_for(item), item.id, item))
            else:
                self.items.labels(outcome="duplicate").inc()
        return out

    async def publish(self, parsed: Iterable[Parsed]) -> int:
        """Publish in chunks, each acknowledged by the broker; returns how many messages were sent."""
        total = 0
        chunk: list[Parsed] = []
        for item in parsed:
            chunk.append(item)
            if len(chunk) >= PUBLISH_CHUNK:
                total += await self._publish_chunk(chunk)
                chunk = []
        if chunk:
            total += await self._publish_chunk(chunk)
        return total

    async def _publish_chunk(self, chunk: Sequence[Parsed]) -> int:
        out = self._outgoing(chunk)
        await publish_all(self.broker, out, self.metrics)
        for o in out:
            if o.topic == topics.DEADLETTER:
                reason = getattr(o.value, "reason", "invalid_event")
                self.metrics.deadlettered.labels(reason=reason).inc()
        return len(out)


def expand_sources(paths: Sequence[Path]) -> list[Path]:
    """Files named directly, and the data files inside named folders, in a stable order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in _SUFFIXES))
        else:
            files.append(path)
    return files


async def ingest_files(ingestor: Ingestor, paths: Sequence[Path], language: str | None) -> int:
    files = expand_sources(paths)
    ratings: dict[str, str] = {}
    data_files: list[tuple[Path, bytes]] = []
    for path in files:
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            log.error("cannot read source", extra={"source": str(path), "error": str(exc)})
            continue
        if is_ratings_table(path.name, data):
            from services.ingest.core.caat import load_ratings

            ratings.update(load_ratings(data))
        else:
            data_files.append((path, data))
    total = 0
    now = dt.datetime.now(dt.UTC)
    for path, data in data_files:
        sent = await ingestor.publish(parse_source(path.name, data, now, language=language, ratings=ratings))
        log.info("ingested source", extra={"source": str(path), "messages": sent})
        total += sent
    return total


def _split_body(body: bytes) -> list[tuple[int, bytes | dict[str, object]]]:
    """A pushed body as (line number, item): one JSON object, a JSON array (numbered from 1), or JSON
    Lines. Raises InvalidEvent when a JSON array is itself unreadable."""
    stripped = body.strip()
    if stripped.startswith(b"["):
        try:
            items = json.loads(stripped)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidEvent("invalid_json", f"the JSON array is not valid JSON: {exc}") from None
        return [
            (i, item if isinstance(item, dict) else json.dumps(item).encode())
            for i, item in enumerate(items, start=1)
        ]
    return [(n, line) for n, line in enumerate(stripped.splitlines(), start=1) if line.strip()]


def push_endpoint(settings: IngestSettings, ingestor: Ingestor) -> Route:
    tokens = [t.get_secret_value().encode() for t in settings.api_tokens]

    def authorised(request: Request) -> bool | None:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return None
        presented = header[7:].strip().encode()
        return any(hmac.compare_digest(presented, t) for t in tokens)

    async def post_events(request: Request) -> Response:
        ok = authorised(request)
        if ok is None:
            return JSONResponse(
                {"error": "missing bearer token"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
        if not ok:
            return JSONResponse({"error": "token not accepted"}, status_code=403)
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > settings.max_body_bytes:
            return JSONResponse(
                {"error": f"body larger than {settings.max_body_bytes} bytes"}, status_code=413
            )
        body = bytearray()
        async for part in request.stream():
            body.extend(part)
            if len(body) > settings.max_body_bytes:
                return JSONResponse(
                    {"error": f"body larger than {settings.max_body_bytes} bytes"}, status_code=413
                )
        if not body.strip():
            return JSONResponse({"error": "empty body", "errors": []}, status_code=400)
        events: list[Event] = []
        errors: list[dict[str, object]] = []
        try:
            items = _split_body(bytes(body))
        except InvalidEvent as exc:
            return JSONResponse(
                {"error": exc.detail, "errors": [{"line": 1, "reason": exc.reason, "detail": exc.detail}]},
                status_code=400,
            )
        for line, item in items:
            try:
                if isinstance(item, bytes) and len(item) > settings.max_event_bytes:
                    raise InvalidEvent("too_large", f"event larger than {settings.max_event_bytes} bytes")
                events.append(parse_event(item))
            except InvalidEvent as exc:
                errors.append({"line": line, "reason": exc.reason, "detail": exc.detail})
        if errors:
            return JSONResponse(
                {"error": "invalid events; nothing was accepted", "errors": errors}, status_code=400
            )
        try:
            await ingestor.publish(events)
        except Exception:
            log.exception("publishing pushed events failed")
            return JSONResponse(
                {"error": "broker unavailable, retry later"}, status_code=503, headers={"Retry-After": "5"}
            )
        return JSONResponse({"accepted": len(events), "ids": [e.id for e in events]}, status_code=202)

    return Route("/v1/events", post_events, methods=["POST"])


def create_service(settings: IngestSettings | None = None) -> Service:
    settings = settings or IngestSettings()
    registry = new_registry()
    metrics = PipelineMetrics(SERVICE, registry, consumed_topics=())
    items = Counter(
        "exportwatch_ingest_items_total", "Input items, by outcome.", ["outcome"], registry=registry
    )
    for outcome in ("published", "duplicate", "rejected"):
        items.labels(outcome=outcome)
    broker = make_broker(settings.common, SERVICE)
    ingestor = Ingestor(broker, metrics, items)
    service = Service(
        name=SERVICE,
        settings=settings.common,
        http_port=settings.http_port,
        broker=broker,
        registry=registry,
        routes=[push_endpoint(settings, ingestor)],
    )
    if settings.sources:

        async def read_sources() -> None:
            total = await ingest_files(ingestor, settings.sources, settings.feed_language)
            log.info("configured sources ingested", extra={"messages": total})

        service.background.append(read_sources)
    return service
