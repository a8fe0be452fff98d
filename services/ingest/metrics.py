"""Every metric the ingest service owns (besides the pipeline metrics all services share)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

ITEM_OUTCOMES = ("published", "updated", "near_duplicate", "duplicate", "rejected")
POLL_OUTCOMES = (
    "ok",
    "not_modified",
    "unchanged",
    "http_error",
    "network_error",
    "forbidden_target",
    "too_large",
    "publish_error",
    "read_error",
)
WARNINGS = ("unknown_country", "date_inferred", "language_detected", "encoding_repaired")
DUPLICATE_KINDS = ("same_id", "same_text", "near")


class IngestMetrics:
    """Counters by source use the configured source names: a short, operator-chosen list."""

    def __init__(self, registry: CollectorRegistry, sources: Sequence[str]) -> None:
        self.items = Counter(
            "exportwatch_ingest_items_total",
            "Input items by source and outcome (published, updated, near_duplicate, duplicate, rejected).",
            ["source", "outcome"],
            registry=registry,
        )
        self.duplicates = Counter(
            "exportwatch_ingest_duplicates_total",
            "Items not published again: same_id (same content under the same id) or same_text "
            "(the same text under another URL); near duplicates are published and counted here as near.",
            ["kind"],
            registry=registry,
        )
        self.warnings = Counter(
            "exportwatch_ingest_warnings_total",
            "Items published with a repair or a gap worth knowing, by kind (unknown_country: the "
            "destination name could not be mapped to a country code).",
            ["kind"],
            registry=registry,
        )
        self.polls = Counter(
            "exportwatch_ingest_source_polls_total",
            "Polls of feeds, URLs and folders, by source and outcome.",
            ["source", "outcome"],
            registry=registry,
        )
        self.poll_seconds = Histogram(
            "exportwatch_ingest_source_poll_seconds",
            "Time of one poll, fetching, parsing and publishing included.",
            ["source"],
            registry=registry,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
        self.last_success = Gauge(
            "exportwatch_ingest_source_last_success_timestamp_seconds",
            "Unix time of the last successful poll of each source (freshness = time() - this).",
            ["source"],
            registry=registry,
        )
        self.interval = Gauge(
            "exportwatch_ingest_source_interval_seconds",
            "How often each source is polled: a source is stale when it has not succeeded for a few "
            "intervals.",
            ["source"],
            registry=registry,
        )
        self.freshness = _Staleness(sources)
        registry.register(self.freshness)
        self.failures = Gauge(
            "exportwatch_ingest_source_consecutive_failures",
            "Failed polls since the source's last success.",
            ["source"],
            registry=registry,
        )
        self.near_index = Gauge(
            "exportwatch_ingest_near_duplicate_index_size",
            "Original articles kept for near-duplicate comparison (those inside the window).",
            registry=registry,
        )
        self.near_evicted = Counter(
            "exportwatch_ingest_near_duplicate_evictions_total",
            "Originals forgotten before their window ended because the near-duplicate index was full "
            "(EXPORTWATCH_INGEST_NEAR_DUPLICATE_MAX_ARTICLES); a later copy of one is published as new.",
            registry=registry,
        )
        for kind in DUPLICATE_KINDS:
            self.duplicates.labels(kind=kind)
        for kind in WARNINGS:
            self.warnings.labels(kind=kind)
        for source in (*sources, "api"):
            for outcome in ITEM_OUTCOMES:
                self.items.labels(source=source, outcome=outcome)
        for source in sources:
            for outcome in POLL_OUTCOMES:
                self.polls.labels(source=source, outcome=outcome)
            self.failures.labels(source=source).set(0)

    def succeeded(self, source: str, when: dt.datetime) -> None:
        """A poll of ``source`` succeeded at ``when``."""
        self.last_success.labels(source=source).set(when.timestamp())
        self.freshness.since[source] = when.timestamp()


class _Staleness(Collector):
    """``exportwatch_ingest_source_staleness_seconds``: time since each source's last successful poll,
    computed when scraped (since the service started, for a source that has not succeeded yet)."""

    def __init__(self, sources: Sequence[str]) -> None:
        started = time.time()
        self.since: dict[str, float] = dict.fromkeys(sources, started)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "exportwatch_ingest_source_staleness_seconds",
            "Seconds since the source's last successful poll (since the start, if it has not had one).",
            labels=["source"],
        )
        now = time.time()
        for source, since in sorted(self.since.items()):
            family.add_metric([source], max(0.0, now - since))
        yield family
