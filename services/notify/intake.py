"""From the alerts topic to the delivery log: decode each alert, decide where it goes (pure core), and
record the (alert, subscription) pairs in one transaction before the batch's offsets are committed.

A batch that cannot be recorded (the database is down) raises, so the pipeline reads it again later;
alerts recorded before are recognised by the delivery key and not queued twice. Invalid alerts go to
the dead-letter topic."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from schemas import Alert, DeadLetterReason
from schemas.bounds import bound_alert
from services.common.config import describe_errors
from services.common.health import DATABASE_CHECK, Health
from services.common.messaging.deadletters import DeadLetterPolicy
from services.common.messaging.decoding import BatchHandler, Decoded, Record, Rejected
from services.common.messaging.publisher import Outgoing
from services.notify.channels.base import utcnow
from services.notify.core.planning import plan
from services.notify.core.routing import story_key
from services.notify.metrics import NotifyMetrics
from services.notify.store import tables
from services.notify.store.repository import Intake, NotifyStore

log = logging.getLogger("exportwatch.notify.intake")
SERVICE = "notify"
DEAD_LETTERS = DeadLetterPolicy(SERVICE)
# String(n) columns: PostgreSQL refuses longer values.
_ID_LENGTH: int | None = getattr(tables.alerts.c.id.type, "length", None)
_KEY_LENGTH: int | None = getattr(tables.notifications.c.group_key.type, "length", None)


def unstorable(alert: Alert) -> str | None:
    """What the schema allows but the delivery log cannot keep, or None. PostgreSQL refuses a NUL
    character in text and a value longer than its column, and the whole batch would then fail and be
    read again forever; such an alert is dead-lettered instead."""
    for name, value, limit in (("id", alert.id, _ID_LENGTH), ("story key", story_key(alert), _KEY_LENGTH)):
        if "\x00" in value:
            return f"{name} must not contain a NUL character (\\u0000)"
        if limit is not None and len(value) > limit:
            return f"{name} has {len(value):,} characters, more than {limit}"
    return None


def decode_alert(record: Record) -> Decoded[Alert] | Rejected:
    """An alert the delivery log can keep, or the rejection of a record that is none."""
    try:
        alert = Alert.model_validate_json(record.value or b"")
    except ValidationError as exc:
        detail = f"not a valid alert: {describe_errors(exc, limit=5)}"
        return Rejected(record, DeadLetterReason.INVALID_EVENT, detail)
    if problem := unstorable(alert):
        return Rejected(record, DeadLetterReason.INVALID_EVENT, f"not a valid alert: {problem}")
    return Decoded(record, alert)


def make_handler(
    store: NotifyStore,
    metrics: NotifyMetrics,
    group_wait: float,
    wake: Callable[[], None],
    clock: Callable[[], dt.datetime] = utcnow,
    health: Health | None = None,
) -> BatchHandler[Alert]:
    checks = health or Health()

    async def handle(decoded: Sequence[Decoded[Alert]]) -> list[Outgoing]:
        alerts = [d.event for d in decoded]
        now = clock()
        try:
            subscriptions = await store.subscriptions.all()
            silences = await store.silences.all(now=now, active_only=True)
            intakes = []
            for alert in alerts:
                targets = plan(alert, subscriptions, silences, now, group_wait)
                metrics.alerts.labels(outcome="routed" if targets else "unrouted").inc()
                # routed on the whole alert, kept bounded: a huge title must not fill the queue or a message
                intakes.append(Intake(alert, bound_alert(alert).model_dump_json(), targets))
            result = await store.deliveries.record(intakes, now)
        except Exception as exc:  # the batch is not committed and comes again; /healthz says why meanwhile
            checks.failed(DATABASE_CHECK, now, type(exc).__name__)
            raise
        checks.ok(DATABASE_CHECK)
        for (channel, outcome), count in result.by_channel.items():
            metrics.deliveries.labels(channel=channel, outcome=outcome).inc(count)
        if result.queued:
            log.debug(
                "alerts recorded",
                extra={"queued": result.queued, "silenced": result.silenced, "duplicate": result.duplicate},
            )
            due = result.earliest_due
            delay = max(0.0, (due - clock()).total_seconds()) if due is not None else 0.0
            asyncio.get_running_loop().call_later(delay, wake)
        return []

    return BatchHandler(decode_alert, handle, DEAD_LETTERS)
