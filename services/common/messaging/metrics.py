"""The metrics every service's consuming and publishing exports, on the service's own registry."""

from __future__ import annotations

import platform
from collections.abc import Sequence

from prometheus_client import (
    PLATFORM_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)

from schemas import topics
from schemas.reasons import CONSUMER_REASONS
from services.common.lag import LagGauges

DEADLETTER_REASONS = CONSUMER_REASONS
OUTCOMES = ("ok", "deadlettered")


class PipelineMetrics:
    """The metrics every service exports, registered on the service's own registry."""

    def __init__(self, service: str, registry: CollectorRegistry, consumed_topics: Sequence[str]) -> None:
        self.service = service
        prefix = f"exportwatch_{service}"
        self.consumed = Counter(
            f"{prefix}_messages_consumed_total",
            "Messages consumed, by topic and outcome.",
            ["topic", "outcome"],
            registry=registry,
        )
        self.produced = Counter(
            f"{prefix}_messages_produced_total",
            "Messages produced, by topic and outcome: ok (acknowledged by the broker) or error (not "
            "acknowledged; the batch that made it is read and published again).",
            ["topic", "outcome"],
            registry=registry,
        )
        self.deadlettered = Counter(
            f"{prefix}_deadletters_total",
            "Messages sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=registry,
        )
        self.processing = Histogram(
            f"{prefix}_batch_processing_seconds",
            "Time to process one consumed batch, publishing included.",
            registry=registry,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.publish_failures = Counter(
            f"{prefix}_publish_failures_total",
            "Batches whose outputs could not be published; they are read again.",
            registry=registry,
        )
        self.lag = LagGauges(
            Gauge(
                f"{prefix}_consumer_lag_messages",
                "Messages on each assigned partition not yet taken by this replica: the high watermark "
                "of its last fetch minus its position.",
                ["topic", "partition"],
                registry=registry,
            ),
            Gauge(
                f"{prefix}_assigned_partitions",
                "Partitions of each consumed topic assigned to this replica by its consumer group.",
                ["topic"],
                registry=registry,
            ),
            consumed_topics,
            Gauge(
                f"{prefix}_consumer_lag_last_success_timestamp_seconds",
                "When the consumer lag was last measured (Unix time); lag series are absent while it "
                "cannot be, so an old value here means the lag is unknown, not zero.",
                registry=registry,
            ),
        )
        self.build_info = Gauge(
            f"{prefix}_build_info",
            "Build information: ExportWatch and Python versions (always 1).",
            ["version", "python"],
            registry=registry,
        )
        from importlib.metadata import PackageNotFoundError, version

        try:
            ver = version("exportwatch")
        except PackageNotFoundError:
            ver = "unknown"
        self.build_info.labels(version=ver, python=platform.python_version()).set(1)
        for topic in consumed_topics:
            for outcome in OUTCOMES:
                self.consumed.labels(topic=topic, outcome=outcome)
        for topic in topics.ALL:
            for outcome in ("ok", "error"):
                self.produced.labels(topic=topic, outcome=outcome)
        for reason in DEADLETTER_REASONS:
            self.deadlettered.labels(reason=reason)


def new_registry() -> CollectorRegistry:
    disable_created_metrics()  # type: ignore[no-untyped-call]
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    registry.register(PLATFORM_COLLECTOR)
    return registry
