"""The notify service: consumes alerts and delivers each to every configured channel, with retries.

Delivery is at-least-once from Kafka; within a process a delivered (alert, channel) pair is remembered
so a re-read batch does not send twice. A delivery that fails permanently, or after the last attempt,
is dead-lettered with the channel name and reason (never the URL).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence

from aiokafka import ConsumerRecord
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import ValidationError

from schemas import Alert, Severity, topics
from services.common.pipeline import (
    BatchHandler,
    Outgoing,
    PipelineMetrics,
    dead_letter_record,
    new_registry,
    subscribe_batches,
)
from services.common.runtime import Service, make_broker
from services.notify.channels.base import Channel, DeliveryError, Reason
from services.notify.channels.console import ConsoleChannel, FileChannel
from services.notify.channels.webhook import WebhookChannel
from services.notify.core.retry import RetryPolicy
from services.notify.settings import NotifySettings

log = logging.getLogger("exportwatch.notify")
SERVICE = "notify"
OUTCOMES = ("delivered", "failed", "duplicate", "filtered")


class NotifyMetrics:
    def __init__(self, registry: CollectorRegistry, channels: Sequence[str]) -> None:
        self.deliveries = Counter(
            "exportwatch_notify_deliveries_total",
            "Deliveries, by channel and outcome.",
            ["channel", "outcome"],
            registry=registry,
        )
        self.attempts = Counter(
            "exportwatch_notify_delivery_attempts_total",
            "Delivery attempts, by channel and result.",
            ["channel", "result"],
            registry=registry,
        )
        self.seconds = Histogram(
            "exportwatch_notify_delivery_seconds",
            "Time to deliver one alert to one channel, retries included.",
            ["channel"],
            registry=registry,
        )
        self.alert_age = Histogram(
            "exportwatch_notify_alert_age_seconds",
            "Time from alert creation to its delivery.",
            registry=registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
        )
        for channel in channels:
            for outcome in OUTCOMES:
                self.deliveries.labels(channel=channel, outcome=outcome)
            for result in ("ok", *(r.value for r in Reason)):
                self.attempts.labels(channel=channel, result=result)


class Deliverer:
    """Sends alerts to channels with the retry policy; remembers what it delivered."""

    def __init__(
        self,
        channels: Sequence[Channel],
        metrics: NotifyMetrics,
        policy: RetryPolicy,
        *,
        min_severity: Severity = Severity.LOW,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        memory: int = 100_000,
    ) -> None:
        self.channels = list(channels)
        self.metrics = metrics
        self.policy = policy
        self.min_severity = min_severity
        self.sleep = sleep
        self.rng = random.Random()
        self._delivered: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._memory = memory

    def _remember(self, key: tuple[str, str]) -> None:
        self._delivered[key] = None
        if len(self._delivered) > self._memory:
            self._delivered.popitem(last=False)

    async def _send_with_retries(self, channel: Channel, alert: Alert) -> DeliveryError | None:
        attempt = 0
        while True:
            attempt += 1
            try:
                await channel.send(alert)
            except DeliveryError as exc:
                self.metrics.attempts.labels(channel=channel.name, result=exc.reason.value).inc()
                if not self.policy.should_retry(attempt, exc.reason.retryable):
                    exc.detail = f"{exc.detail} (after {attempt} attempt{'s' if attempt > 1 else ''})"
                    return exc
                delay = self.policy.delay(attempt, self.rng, exc.retry_after)
                log.warning(
                    "delivery failed, will retry",
                    extra={
                        "channel": channel.name,
                        "alert_id": alert.id,
                        "reason": exc.reason.value,
                        "attempt": attempt,
                        "delay_s": round(delay, 2),
                    },
                )
                await self.sleep(delay)
            else:
                self.metrics.attempts.labels(channel=channel.name, result="ok").inc()
                return None

    async def deliver(self, alert: Alert) -> list[tuple[str, DeliveryError]]:
        """Deliver to every channel; returns the channels that failed for good."""
        if alert.severity.rank < self.min_severity.rank:
            for channel in self.channels:
                self.metrics.deliveries.labels(channel=channel.name, outcome="filtered").inc()
            return []

        async def one(channel: Channel) -> tuple[str, DeliveryError] | None:
            key = (alert.id, channel.name)
            if key in self._delivered:
                self.metrics.deliveries.labels(channel=channel.name, outcome="duplicate").inc()
                return None
            started = time.perf_counter()
            error = await self._send_with_retries(channel, alert)
            self.metrics.seconds.labels(channel=channel.name).observe(time.perf_counter() - started)
            if error is not None:
                self.metrics.deliveries.labels(channel=channel.name, outcome="failed").inc()
                log.error(
                    "delivery failed for good",
                    extra={
                        "channel": channel.name,
                        "alert_id": alert.id,
                        "reason": error.reason.value,
                        "detail": error.detail,
                    },
                )
                return channel.name, error
            self._remember(key)
            self.metrics.deliveries.labels(channel=channel.name, outcome="delivered").inc()
            age = (dt.datetime.now(dt.UTC) - alert.created_at).total_seconds()
            self.metrics.alert_age.observe(max(0.0, age))
            return None

        results = await asyncio.gather(*(one(c) for c in self.channels))
        return [r for r in results if r is not None]


def make_handler(deliverer: Deliverer) -> BatchHandler:
    async def handle(records: Sequence[ConsumerRecord[bytes, bytes]]) -> list[Outgoing]:
        out: list[Outgoing] = []
        for r in records:
            try:
                alert = Alert.model_validate_json(r.value or b"")
            except ValidationError as exc:
                detail = "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}"
                    for e in exc.errors(include_url=False)[:5]
                )
                out.append(dead_letter_record(SERVICE, r, "invalid_event", f"not a valid alert: {detail}"))
                continue
            for channel, error in await deliverer.deliver(alert):
                out.append(
                    dead_letter_record(
                        SERVICE,
                        r,
                        "delivery_failed",
                        f"channel={channel} reason={error.reason.value}: {error.detail}",
                    )
                )
        return out

    return handle


def build_channels(settings: NotifySettings) -> list[Channel]:
    channels: list[Channel] = []
    if settings.console:
        channels.append(ConsoleChannel())
    if settings.file_path is not None:
        channels.append(FileChannel(settings.file_path))
    for index, url in enumerate(settings.webhook_urls, start=1):
        channels.append(
            WebhookChannel(
                f"webhook-{index}",
                url.get_secret_value(),
                timeout=settings.webhook_timeout_seconds,
                allow_private=settings.webhook_allow_private,
            )
        )
    return channels


def create_service(settings: NotifySettings | None = None) -> Service:
    settings = settings or NotifySettings()
    channels = build_channels(settings)
    registry = new_registry()
    pipeline = PipelineMetrics(SERVICE, registry, (topics.ALERTS,))
    metrics = NotifyMetrics(registry, [c.name for c in channels])
    deliverer = Deliverer(
        channels,
        metrics,
        RetryPolicy(attempts=settings.webhook_attempts),
        min_severity=Severity(settings.min_severity),
    )
    broker = make_broker(settings.common, SERVICE)
    subscribe_batches(
        broker, (topics.ALERTS,), settings.group_id, make_handler(deliverer), pipeline, max_records=100
    )
    service = Service(
        name=SERVICE, settings=settings.common, http_port=settings.http_port, broker=broker, registry=registry
    )

    async def close_channels() -> None:
        for channel in channels:
            await channel.close()

    service.on_stop.append(close_channels)
    log.info("channels configured", extra={"channels": ",".join(c.name for c in channels) or "none"})
    return service
