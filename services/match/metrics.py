"""The match service's own metrics (consuming and publishing are in services/common/messaging/metrics.py)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.match.reload import WatchlistMetrics


class MatchMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "exportwatch_match_events_total",
            "Events evaluated, by type and outcome.",
            ["event_type", "outcome"],
            registry=registry,
        )
        self.alerts = Counter(
            "exportwatch_match_alerts_total",
            "Alerts emitted, by severity and rule.",
            ["severity", "rule"],
            registry=registry,
        )
        self.technologies = Counter(
            "exportwatch_match_alert_technologies_total",
            "Alerts emitted, by technology named in them (an alert naming two counts for both).",
            ["technology"],
            registry=registry,
        )
        self.destinations = Counter(
            "exportwatch_match_alert_destinations_total",
            "Alerts emitted, by high-risk destination named in them (ISO 3166-1 alpha-2).",
            ["destination"],
            registry=registry,
        )
        self.seconds = Histogram(
            "exportwatch_match_evaluation_seconds",
            "Time to evaluate one event.",
            registry=registry,
            buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
        )
        self.watchlist = Gauge(
            "exportwatch_match_watchlist_info", "Watchlist version in use.", ["version"], registry=registry
        )
        self.watchlists = WatchlistMetrics(registry, info=self.watchlist)
        self.cut = Counter(
            "exportwatch_match_events_cut_total",
            "Events longer than the match limits (EXPORTWATCH_MATCH_MAX_BODY_CHARS, 2,000 title "
            "characters, 1,000 licence items), of which only the first part was read.",
            ["event_type"],
            registry=registry,
        )
        for event_type in ("news_article", "licence_record"):
            self.cut.labels(event_type=event_type)
            for outcome in ("alerted", "no_match", "invalid", "error"):
                self.events.labels(event_type=event_type, outcome=outcome)
