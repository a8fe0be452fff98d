"""The match service: consumes news and licence events, evaluates the watchlists, publishes alerts."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Sequence

from schemas import Alert, DeadLetter, DeadLetterReason, Event, InvalidEvent, parse_event, topics
from services.common.messaging.consumer import subscribe
from services.common.messaging.deadletters import DeadLetterPolicy
from services.common.messaging.declarations import Consumes, Declarations, Produces
from services.common.messaging.decoding import BatchHandler, Decoded, Decoder, Record, Rejected
from services.common.messaging.metrics import PipelineMetrics, new_registry
from services.common.messaging.publisher import Outgoing
from services.common.runtime import Service, make_broker, make_publisher
from services.match.core.engine import Matcher
from services.match.core.limits import DEFAULT_LIMITS, MatchLimits
from services.match.metrics import MatchMetrics
from services.match.reload import WatchlistReloader
from services.match.settings import MatchSettings

log = logging.getLogger("exportwatch.match")
SERVICE = "match"
CONSUMED = (topics.NEWS, topics.LICENCES)
CONSUMES = Consumes(
    CONSUMED,
    "Evaluates every event against the watchlists and publishes an alert for each rule that fires; "
    "events that are not valid, or whose evaluation fails, are dead-lettered.",
)
DECLARATIONS = Declarations(
    consumes=CONSUMES,
    produces=(
        Produces(topics.ALERTS, Alert, "One alert for each rule that fires on an event."),
        Produces(
            topics.DEADLETTER,
            DeadLetter,
            "Consumed events that are not valid (invalid_json, invalid_encoding, unknown_event_type, "
            "invalid_event) or whose evaluation failed (processing_error).",
        ),
    ),
)
DEAD_LETTERS = DeadLetterPolicy(SERVICE)


def event_decoder(metrics: MatchMetrics) -> Decoder[Event]:
    """A news article or licence record from each record; an invalid one is counted and rejected."""

    def decode(r: Record) -> Decoded[Event] | Rejected:
        try:
            return Decoded(r, parse_event(r.value or b""))
        except InvalidEvent as exc:
            event_type = "news_article" if r.topic == topics.NEWS else "licence_record"
            metrics.events.labels(event_type=event_type, outcome="invalid").inc()
            log.warning(
                "invalid event dead-lettered",
                extra={"reason": exc.reason, "offset": r.offset, "partition": r.partition},
            )
            return Rejected(r, exc.reason, exc.detail)

    return decode


def make_handler(
    watchlists: WatchlistReloader, metrics: MatchMetrics, limits: MatchLimits = DEFAULT_LIMITS
) -> BatchHandler[Event]:
    """The batch handler. A batch is decoded and evaluated in worker threads, so that however long it
    takes, the event loop keeps answering /healthz and /metrics and sending the consumer group's
    heartbeats."""

    async def handle(events: Sequence[Decoded[Event]]) -> list[Outgoing]:
        matcher = watchlists.matcher  # once per batch: one batch, one watchlist version
        return await asyncio.to_thread(evaluate_batch, matcher, events, metrics, limits)

    return BatchHandler(event_decoder(metrics), handle, DEAD_LETTERS, decode_in_thread=True)


def evaluate_batch(
    matcher: Matcher,
    events: Sequence[Decoded[Event]],
    metrics: MatchMetrics,
    limits: MatchLimits = DEFAULT_LIMITS,
) -> list[Outgoing]:
    """Alerts, and dead letters of failed evaluations, for a batch of events (no I/O but logging and
    metrics)."""
    out: list[Outgoing] = []
    now = dt.datetime.now(dt.UTC)
    for decoded in events:
        event = decoded.event
        started = time.perf_counter()
        try:
            alerts = matcher.evaluate(event, now, limits)
        except Exception as exc:  # a bug on one event must not stop the partition
            metrics.events.labels(event_type=event.type, outcome="error").inc()
            log.exception("matching failed", extra={"event_id": event.id})
            detail = f"{type(exc).__name__}: {exc}"
            out.append(DEAD_LETTERS.letter(decoded.record, DeadLetterReason.PROCESSING_ERROR, detail))
            continue
        metrics.seconds.observe(time.perf_counter() - started)
        metrics.events.labels(event_type=event.type, outcome="alerted" if alerts else "no_match").inc()
        if limits.exceeded_by(event):
            metrics.cut.labels(event_type=event.type).inc()
        for alert in alerts:
            metrics.alerts.labels(severity=alert.severity.value, rule=alert.rule).inc()
            for technology in alert.technologies:
                metrics.technologies.labels(technology=technology).inc()
            for destination in alert.destinations:
                metrics.destinations.labels(destination=destination).inc()
            log.info(
                "alert",
                extra={"alert_id": alert.id, "event_id": event.id, "severity": alert.severity.value},
            )
            out.append(Outgoing(topics.ALERTS, alert.id, alert))
    return out


def create_service(
    settings: MatchSettings | None = None, matcher: Matcher | None = None, *, sighup: bool = True
) -> Service:
    """The match service. Invalid watchlists at start raise WatchlistError; later changes to the operator
    folders are reloaded while running (every ``reload_seconds``, and on SIGHUP unless ``sighup`` is
    false or another handler in the process already owns SIGHUP)."""
    settings = settings or MatchSettings()
    registry = new_registry()
    pipeline = PipelineMetrics(SERVICE, registry, CONSUMED)
    metrics = MatchMetrics(registry)
    watchlists = WatchlistReloader.load(settings.watchlist_dirs, metrics.watchlists, matcher)
    broker = make_broker(settings.common, SERVICE)
    publisher = make_publisher(settings.common, SERVICE, DECLARATIONS, pipeline)
    track_lag = subscribe(
        broker,
        CONSUMES,
        settings.group_id,
        make_handler(watchlists, metrics, MatchLimits(body_chars=settings.max_body_chars)),
        publisher,
        pipeline,
        max_records=settings.max_batch,
        session_timeout_ms=settings.common.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.common.kafka_heartbeat_interval_ms,
    )
    log.info("watchlists loaded", extra={"version": watchlists.version})
    interval = settings.reload_seconds

    async def reload_watchlists() -> None:
        await watchlists.run(interval, sighup=sighup)

    return Service(
        name=SERVICE,
        settings=settings.common,
        http_port=settings.http_port,
        declarations=DECLARATIONS,
        publisher=publisher,
        broker=broker,
        registry=registry,
        background=[reload_watchlists, track_lag],
    )
