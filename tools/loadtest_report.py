"""The load harness's report: the figures of a run, what does not add up in them, and the run as a
Markdown table."""

from __future__ import annotations

import dataclasses
import os
import platform

from tools.loadtest_events import LANGUAGES, LoadConfig


@dataclasses.dataclass
class LoadReport:
    cfg: LoadConfig
    raw: dict[str, float] | None = None
    pushed: int = 0
    statuses: dict[str, int] = dataclasses.field(default_factory=dict)
    poison: int = 0
    consumed_ok: float = 0
    consumed_dead: float = 0
    outcomes: dict[str, float] = dataclasses.field(default_factory=dict)
    alerts_made: float = 0
    expected: int = 0
    received_alerts: int = 0
    missing: int = 0
    unexpected: int = 0
    duplicates: int = 0
    notifications: int = 0
    notification_repeats: int = 0
    failed_sends: float = 0  # notify's send attempts that failed (and were retried), by its own counter
    unsigned: int = 0
    push_seconds: float = 0
    match_seconds: float = 0
    deliver_seconds: float = 0
    latency: dict[str, float] = dataclasses.field(default_factory=dict)
    processes: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    notify_dead: float = 0
    notify_in_doubt: float = 0
    ingest_cpu_ready_s: float = 0
    finished: bool = False
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def events_per_s(self) -> float:
        return self.pushed / self.match_seconds if self.match_seconds else 0.0

    @property
    def alerts_per_s(self) -> float:
        return self.received_alerts / self.deliver_seconds if self.deliver_seconds else 0.0

    @property
    def ingest_ms_per_news(self) -> float:
        """Ingest's CPU from ready to the end of the run, per news article pushed (licence records and the
        push API's own work included: the figure issue 20 tracks). The news count is the configured share
        of the events; each event is drawn as news or licence at random, so it is within a percent."""
        news = round(self.pushed * (1 - self.cfg.licence_share))
        cpu = self.processes.get("ingest", {}).get("cpu_s", 0.0) - self.ingest_cpu_ready_s
        return 1000 * cpu / news if news and cpu > 0 else 0.0

    @property
    def ratio(self) -> float | None:
        if not self.raw or not self.raw["per_s"]:
            return None
        return self.events_per_s / self.raw["per_s"]


def check(report: LoadReport) -> list[str]:
    """What does not add up: every problem named with its numbers. Empty when everything is accounted for."""
    r = report
    problems = []
    if not r.finished:
        problems.append("the run did not finish within the timeout")
    accepted = r.statuses.get("published", 0)
    if accepted != r.pushed:
        problems.append(f"ingest published {accepted} of {r.pushed} pushed events ({dict(r.statuses)})")
    on_topics = accepted + r.poison
    if r.consumed_ok + r.consumed_dead != on_topics:
        problems.append(
            f"match consumed {r.consumed_ok:.0f} ok + {r.consumed_dead:.0f} dead-lettered, "
            f"but {on_topics} records were written"
        )
    if r.consumed_dead != r.poison:
        problems.append(f"{r.consumed_dead:.0f} dead letters for {r.poison} poison messages")
    evaluated = sum(v for k, v in r.outcomes.items() if k in ("alerted", "no_match"))
    if evaluated != accepted:
        problems.append(f"match evaluated {evaluated:.0f} events of {accepted} ({r.outcomes})")
    if r.alerts_made != r.expected:
        problems.append(f"match made {r.alerts_made:.0f} alerts, {r.expected} expected")
    if r.missing:
        problems.append(f"{r.missing} expected alerts never reached the receiver")
    if r.unexpected:
        problems.append(f"{r.unexpected} alerts reached the receiver that were not expected")
    if r.duplicates:
        problems.append(f"{r.duplicates} alerts reached the receiver more than once")
    if r.unsigned:
        problems.append(f"{r.unsigned} deliveries did not carry a valid signature")
    if r.notify_dead:
        problems.append(f"{r.notify_dead:.0f} notifications died")
    return problems


def render(report: LoadReport) -> str:
    r, cfg = report, report.cfg
    raw = r.raw or {}
    lat = r.latency
    published = r.statuses.get("published", 0)
    outcomes = {k: int(v) for k, v in r.outcomes.items()}
    lines = [
        "# ExportWatch load run",
        "",
        f"Machine: {os.cpu_count()} CPUs, {platform.machine()}, {platform.processor() or 'cpu'}, "
        f"Python {platform.python_version()}, {platform.platform(terse=True)}",
        f"Events: {cfg.events:,}: {1 - cfg.licence_share:.0%} news articles of about {cfg.body_bytes} "
        f"bytes in {len(LANGUAGES)} languages, {cfg.licence_share:.0%} licence records; about "
        f"{cfg.match_share:.0%} carry a watched technology and destination. Pushed in bodies of "
        f"{cfg.batch} by {cfg.senders} senders, "
        + (f"offered at {cfg.rate:,.0f} events/s" if cfg.rate else "as fast as ingest takes them")
        + f"; {r.poison} poison messages written straight onto the news topic.",
        "State: SQLite files (ingest's and notify's); notify: group wait "
        f"0, concurrency {cfg.notify_concurrency}, one webhook subscription taking every alert.",
        "",
        "| figure | value |",
        "|---|---:|",
    ]
    if raw:
        lines += [
            f"| raw aiokafka produce→consume, median of {raw.get('repeats', 1):,.0f} × "
            f"{raw['messages']:,.0f} messages: msg/s | {raw['per_s']:,.0f} "
            f"({raw.get('min_per_s', raw['per_s']):,.0f}–{raw.get('max_per_s', raw['per_s']):,.0f}) |",
            f"| raw aiokafka produce alone: msg/s | {raw['produce_per_s']:,.0f} |",
        ]
    lines += [
        f"| pipeline: events/s (first push to the last event matched) | {r.events_per_s:,.0f} |",
        f"| push API alone: events/s | {r.pushed / r.push_seconds if r.push_seconds else 0:,.0f} |",
    ]
    if r.ratio is not None:
        lines.append(f"| **ratio pipeline / raw ceiling** | **{r.ratio:.3f}** |")
    lines += [
        f"| alerts delivered/s (first push to the last delivery) | {r.alerts_per_s:,.1f} |",
        f"| end-to-end latency p50 / p95 / p99, s | {lat.get('p50', 0):.2f} / {lat.get('p95', 0):.2f}"
        f" / {lat.get('p99', 0):.2f} |",
        f"| wall time: push / match / last delivery, s | {r.push_seconds:.1f} / {r.match_seconds:.1f}"
        f" / {r.deliver_seconds:.1f} |",
        f"| ingest CPU per news event (from ready to the end), ms | {r.ingest_ms_per_news:.3f} |",
        "",
        "| process | peak memory (MiB) | CPU (s) |",
        "|---|---:|---:|",
        *(f"| {name} | {f['peak_mib']:,.0f} | {f['cpu_s']:,.1f} |" for name, f in r.processes.items()),
        "",
        "Accounting:",
        f"- pushed {r.pushed:,}; ingest answered {dict(sorted(r.statuses.items()))}",
        f"- written to the topics {published + r.poison:,} = match consumed {r.consumed_ok:,.0f} ok + "
        f"{r.consumed_dead:,.0f} dead-lettered; evaluated {outcomes}",
        f"- alerts expected {r.expected:,}, made by match {r.alerts_made:,.0f}, received "
        f"{r.received_alerts:,} in {r.notifications:,} notifications",
        f"- missing {r.missing}, unexpected {r.unexpected}, duplicates by alert id {r.duplicates}, "
        f"repeated notifications {r.notification_repeats}, unsigned {r.unsigned}, dead "
        f"{r.notify_dead:.0f}, in doubt {r.notify_in_doubt:.0f}",
        f"- send attempts that failed and were retried: {r.failed_sends:.0f}",
        "",
        "Result: " + ("everything accounted for" if not r.problems else "PROBLEMS: " + "; ".join(r.problems)),
    ]
    return "\n".join(lines)
