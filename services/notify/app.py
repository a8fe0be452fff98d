"""The notify service: records every alert for the subscriptions that want it, then sends what is due.

Two halves meet in the database: the Kafka consumer (``intake``) records (alert, subscription) pairs
under a unique key before committing offsets, and the ``dispatcher`` claims due notifications, sends
them, retries with backoff and dead-letters what keeps failing. The HTTP port serves the subscriptions
API and the researchers' console (``services/notify/console/``) besides /metrics and /healthz.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
from collections.abc import Callable, Coroutine
from typing import Any

import httpx

from schemas import DeadLetter, topics
from services.common.addresses import TargetPolicy
from services.common.db import safe_url
from services.common.health import Health
from services.common.messaging.consumer import subscribe
from services.common.messaging.declarations import Consumes, Declarations, Produces
from services.common.messaging.metrics import PipelineMetrics, new_registry
from services.common.runtime import Service, make_broker, make_publisher
from services.notify.api import Api
from services.notify.channels import channel_rates
from services.notify.channels.base import ChannelContext, SmtpServer, utcnow
from services.notify.console.routes import Console, ConsoleOptions
from services.notify.core.model import Subscription
from services.notify.core.retry import RetryPolicy
from services.notify.core.subscriptions_file import SubscriptionsFileError, load_subscriptions
from services.notify.dispatcher import Channels, Dispatcher, DispatchSettings
from services.notify.intake import make_handler
from services.notify.metrics import QUEUE_STATES, NotifyMetrics
from services.notify.settings import NotifySettings
from services.notify.store.repository import NotifyStore

log = logging.getLogger("exportwatch.notify")
SERVICE = "notify"
FEEDBACK_REFRESH_SECONDS = 120  # how often the feedback gauges are read again from the database
BUILTIN_OWNER = "operator"
CONSUMES = Consumes(
    (topics.ALERTS,),
    "Records every alert for the subscriptions that want it, in the database, before the offsets "
    "are committed; messages that are not valid alerts are dead-lettered.",
)
DECLARATIONS = Declarations(
    consumes=CONSUMES,
    produces=(
        Produces(
            topics.DEADLETTER,
            DeadLetter,
            "Consumed messages that are not valid alerts (invalid_event). Notifications that cannot be "
            "delivered stay in notify's database (exportwatch notify dead), not here.",
        ),
    ),
)


def builtin_subscriptions(settings: NotifySettings, now: dt.datetime) -> list[Subscription]:
    """The operator's subscriptions from the settings: the console and the JSON Lines file."""
    channels: list[tuple[str, dict[str, object], str]] = []
    if settings.console:
        lowest = settings.console_min_severity or settings.builtin_min_severity
        channels.append(("console", {"type": "console"}, lowest))
    if settings.file_path is not None:
        channels.append(
            ("file", {"type": "file", "path": str(settings.file_path)}, settings.builtin_min_severity)
        )
    return [
        Subscription.model_validate(
            {
                "id": f"builtin-{name}",
                "owner": BUILTIN_OWNER,
                "origin": "builtin",
                "name": f"Every alert to the {name}"
                if lowest == "low"
                else f"Alerts {lowest} and above to the {name}",
                "filters": {"min_severity": lowest},
                "channel": channel,
                "created_at": now,
                "updated_at": now,
            }
        )
        for name, channel, lowest in channels
    ]


def file_subscriptions(settings: NotifySettings, now: dt.datetime) -> list[Subscription]:
    """The subscriptions of ``EXPORTWATCH_NOTIFY_SUBSCRIPTIONS_FILE``; SubscriptionsFileError naming the
    file and every problem when it cannot be read or used."""
    path = settings.subscriptions_file
    if path is None:
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SubscriptionsFileError(f"{path}: cannot read the subscriptions file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SubscriptionsFileError(f"{path}: the subscriptions file is not UTF-8 text") from None
    loaded = load_subscriptions(text, os.environ, str(path), settings.vocabulary(), settings.max_recipients)
    return [
        Subscription.from_spec(f.spec, id=f.id, owner=f.owner, origin="file", created_at=now, updated_at=now)
        for f in loaded
    ]


def smtp_server(settings: NotifySettings) -> SmtpServer | None:
    if not settings.smtp_host:
        return None
    return SmtpServer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        security=settings.smtp_security,
        sender=settings.smtp_from,
        username=settings.smtp_username,
        password=settings.smtp_password,
        timeout=settings.send_timeout_seconds,
        ca_file=settings.smtp_ca_file,
    )


def console_options(settings: NotifySettings) -> ConsoleOptions:
    return ConsoleOptions(
        session_hours=settings.console_session_hours,
        trust_forwarded_proto=settings.console_trust_forwarded_proto,
        signin_attempts_per_minute=settings.console_signin_attempts_per_minute,
    )


async def _forget_archive(store: NotifyStore, days: int) -> None:
    """Archive retention (EXPORTWATCH_NOTIFY_ARCHIVE_DAYS), applied with the hourly purge; 0 keeps all."""
    if days:
        removed = await store.archive.forget(utcnow() - dt.timedelta(days=days))
        if removed:
            log.info("old archived alerts forgotten", extra={"removed": removed})


async def _forget_stale(store: NotifyStore, archive_days: int) -> None:
    """With the hourly purge: the console's expired sign-ins, and archived alerts past their retention."""
    await store.sessions.purge(utcnow())
    await _forget_archive(store, archive_days)


def feedback_gauges(
    store: NotifyStore, metrics: NotifyMetrics, api: Api
) -> Callable[[], Coroutine[Any, Any, None]]:
    """Keep the feedback gauges equal to the database's counts: after every change made through
    ``api`` and, in the background job returned, at start and every few minutes (judgements made on
    other replicas). Read from the database, not counted in memory, so every replica agrees."""

    async def refresh() -> None:
        metrics.set_feedback(await store.feedback.counts())

    async def watch() -> None:
        while True:
            with contextlib.suppress(Exception):
                await refresh()
            await asyncio.sleep(FEEDBACK_REFRESH_SECONDS)

    api.feedback_changed = refresh
    return watch


def create_service(settings: NotifySettings | None = None) -> Service:
    settings = settings or NotifySettings()
    # Fail at construction, before anything starts, when the configuration is wrong (a subscriptions
    # file that cannot be used raises SubscriptionsFileError).
    configured = builtin_subscriptions(settings, utcnow()), file_subscriptions(settings, utcnow())
    registry = new_registry()
    pipeline = PipelineMetrics(SERVICE, registry, DECLARATIONS.consumed_topics)
    metrics = NotifyMetrics(registry)
    store = NotifyStore.from_url(settings.database_url.get_secret_value())
    http = httpx.AsyncClient(
        timeout=settings.send_timeout_seconds,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=settings.concurrency * 2),
    )
    ctx = ChannelContext(
        http=http,
        targets=TargetPolicy.allowing(settings.allow_private_networks),
        smtp=smtp_server(settings),
        source=settings.cloudevents_source,
    )
    policy = RetryPolicy(
        attempts=settings.retry_attempts,
        base_seconds=settings.retry_base_seconds,
        cap_seconds=settings.retry_cap_seconds,
        max_age_seconds=settings.retry_max_age_seconds,
    )
    health = Health(settings.health_threshold_seconds)
    dispatcher = Dispatcher(
        store,
        Channels(ctx),
        policy,
        metrics,
        DispatchSettings(
            concurrency=settings.concurrency,
            lease_seconds=settings.lease_seconds,
            poll_seconds=settings.poll_seconds,
            send_timeout_seconds=settings.send_timeout_seconds,
            rates=channel_rates(
                {
                    "slack": settings.slack_per_second,
                    "webhook": settings.webhook_per_second,
                    "email": settings.email_per_second,
                }
            ),
        ),
        health=health,
    )
    broker = make_broker(settings.common, SERVICE)
    handler = make_handler(store, metrics, settings.group_wait_seconds, dispatcher.wake, health=health)
    publisher = make_publisher(settings.common, SERVICE, DECLARATIONS, pipeline)
    track_lag = subscribe(
        broker,
        CONSUMES,
        settings.group_id,
        handler,
        publisher,
        pipeline,
        max_records=200,
        session_timeout_ms=settings.common.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.common.kafka_heartbeat_interval_ms,
    )
    api = Api(
        store,
        dispatcher,
        settings.admin_token,
        vocabulary=settings.vocabulary(),
        test_sends_per_hour=settings.test_sends_per_hour,
        max_recipients=settings.max_recipients,
        targets=ctx.targets,
        public_url=settings.public_url,
    )
    service = Service(
        name=SERVICE,
        settings=settings.common,
        http_port=settings.http_port,
        declarations=DECLARATIONS,
        publisher=publisher,
        broker=broker,
        registry=registry,
        routes=[*api.routes(), *Console(api, settings.vocabulary(), console_options(settings)).routes()],
        health=health,
    )
    service.state.update(store=store, dispatcher=dispatcher, metrics=metrics)

    async def open_store() -> None:
        await store.migrate()
        now = utcnow()
        builtin, from_file = configured
        made = await store.subscriptions.sync("builtin", builtin, now)
        synced = await store.subscriptions.sync("file", from_file, now)
        log.info(
            "subscriptions ready",
            extra={
                "database": safe_url(settings.database_url.get_secret_value()),
                "builtin": len(builtin),
                "file_created": synced[0],
                "file_changed": synced[1],
                "file_removed": synced[2],
                "builtin_changed": made[1],
            },
        )

    async def watch_queue() -> None:
        """Queue gauges every few seconds; finished work older than the retention, and the test-send
        paces of owners whose slots have all freed, forgotten hourly."""
        last_purge = 0.0
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(Exception):
                counts, oldest = await store.deliveries.queue_stats()
                for state in QUEUE_STATES:
                    metrics.queue.labels(state=state).set(counts.get(state, 0))
                late = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
                metrics.oldest_due.set(max(0.0, late))
                if loop.time() - last_purge > 3600:
                    last_purge = loop.time()
                    removed = await store.deliveries.purge(
                        utcnow() - dt.timedelta(days=settings.retention_days)
                    )
                    if removed:
                        log.info("old notifications forgotten", extra={"removed": removed})
                    await store.test_sends.forget_idle(utcnow())
                    await _forget_stale(store, settings.archive_days)
            await asyncio.sleep(5)

    async def close() -> None:
        await dispatcher.stop()
        await asyncio.gather(ctx.clients.aclose(), http.aclose())
        await store.close()

    service.on_start.append(open_store)
    service.background.extend([dispatcher.run, watch_queue, track_lag, feedback_gauges(store, metrics, api)])
    service.on_stop.append(close)
    return service
