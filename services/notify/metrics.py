"""Every metric the notify service owns. Labels come from small fixed sets (channel type, outcome,
reason): never a subscription id, URL or address."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.notify.channels.base import Reason
from services.notify.core.feedback import label_language, label_rule, precision
from services.notify.core.model import CHANNEL_TYPES

INTAKE_OUTCOMES = ("queued", "silenced", "duplicate")
NOTIFICATION_OUTCOMES = ("delivered", "retried", "dead", "cancelled")
SEND_RESULTS = ("ok", *(r.value for r in Reason), "internal_error")
QUEUE_STATES = ("open", "retry", "sending", "delivered", "dead", "cancelled")


class NotifyMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.alerts = Counter(
            "exportwatch_notify_alerts_total",
            "Alerts consumed, by whether any subscription wanted them.",
            ["outcome"],
            registry=registry,
        )
        self.deliveries = Counter(
            "exportwatch_notify_deliveries_total",
            "(alert, subscription) pairs recorded, by channel and outcome: queued for sending, "
            "silenced, or a duplicate of one recorded before (never sent twice).",
            ["channel", "outcome"],
            registry=registry,
        )
        self.notifications = Counter(
            "exportwatch_notify_notifications_total",
            "Notifications settled, by channel and outcome.",
            ["channel", "outcome"],
            registry=registry,
        )
        self.notified_alerts = Counter(
            "exportwatch_notify_notified_alerts_total",
            "Alerts delivered to a subscriber, by channel (a grouped notification counts each alert).",
            ["channel"],
            registry=registry,
        )
        self.attempts = Counter(
            "exportwatch_notify_send_attempts_total",
            "Send attempts, by channel and result (ok or the failure reason).",
            ["channel", "result"],
            registry=registry,
        )
        self.in_doubt = Counter(
            "exportwatch_notify_in_doubt_total",
            "Notifications sent again because the process sending them died before recording the "
            "result; the receiver may see them twice, with the same id.",
            ["channel"],
            registry=registry,
        )
        self.send_seconds = Histogram(
            "exportwatch_notify_send_seconds",
            "Time of one send attempt.",
            ["channel"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.rate_limit_wait = Counter(
            "exportwatch_notify_rate_limit_wait_seconds_total",
            "Time notifications waited for their channel's rate limit.",
            ["channel"],
            registry=registry,
        )
        self.alert_age = Histogram(
            "exportwatch_notify_alert_age_seconds",
            "Time from an alert's creation to its delivery (grouping and digests included).",
            ["channel"],
            registry=registry,
            buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600, 21600, 86400),
        )
        self.end_to_end = Histogram(
            "exportwatch_notify_end_to_end_seconds",
            "Time from an event's ingestion to the delivery of an alert about it, across ingest, match "
            "and notify (grouping and digests included).",
            ["channel"],
            registry=registry,
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600, 21600, 86400),
        )
        self.queue = Gauge(
            "exportwatch_notify_queue_notifications",
            "Notifications in the database, by state.",
            ["state"],
            registry=registry,
        )
        self.oldest_due = Gauge(
            "exportwatch_notify_oldest_due_age_seconds",
            "How long the oldest notification waiting to be sent has been due (0 when none is late).",
            registry=registry,
        )
        self.feedback_precision = Gauge(
            "exportwatch_notify_feedback_precision",
            "Precision as researchers see it: the share of judged alerts they marked relevant, by rule "
            "and article language (unknown for licences); absent until someone judged one.",
            ["rule", "language"],
            registry=registry,
        )
        self.feedback = Gauge(
            "exportwatch_notify_feedback_judgements",
            "Researchers' judgements of alerts held in the database (a gauge: one can be withdrawn), by "
            "rule, language and verdict "
            "(relevant or not_relevant); a withdrawn or changed judgement moves or leaves the count.",
            ["rule", "language", "verdict"],
            registry=registry,
        )
        for channel in CHANNEL_TYPES:
            for outcome in INTAKE_OUTCOMES:
                self.deliveries.labels(channel=channel, outcome=outcome)
            for outcome in NOTIFICATION_OUTCOMES:
                self.notifications.labels(channel=channel, outcome=outcome)
            for result in SEND_RESULTS:
                self.attempts.labels(channel=channel, result=result)
            for metric in (self.notified_alerts, self.in_doubt, self.send_seconds, self.rate_limit_wait):
                metric.labels(channel=channel)
            self.alert_age.labels(channel=channel)
            self.end_to_end.labels(channel=channel)
        for outcome in ("routed", "unrouted"):
            self.alerts.labels(outcome=outcome)
        for state in QUEUE_STATES:
            self.queue.labels(state=state)

    def set_feedback(self, counts: Mapping[tuple[str, str | None, bool], int]) -> None:
        """The feedback gauges from the database's counts (``FeedbackStore.counts``): every series
        replaced, so one gone from the database (a withdrawn judgement) is gone here too."""
        labelled: dict[tuple[str, str, bool], int] = {}
        for (rule, language, relevant), n in counts.items():
            key = (label_rule(rule), label_language(language), relevant)
            labelled[key] = labelled.get(key, 0) + n
        self.feedback.clear()
        self.feedback_precision.clear()
        for (rule, language, relevant), n in labelled.items():
            verdict = "relevant" if relevant else "not_relevant"
            self.feedback.labels(rule=rule, language=language, verdict=verdict).set(n)
        for (rule, language), value in precision(labelled).items():
            self.feedback_precision.labels(rule=rule, language=language).set(value)
