"""A real Prometheus (Debian's package) scrapes the three services, run as processes on loopback, while
real events go through the pipeline: its queries return the counts seen at both ends (the push API's
answer and the webhook receiver), every dashboard and alert-rule expression is accepted by the server,
and the alert rules load and evaluate."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from schemas import topics
from tests.conftest import ROOT, require_executable, start_service, wait_ready
from tests.deploy.test_alert_rules import rule_queries
from tests.deploy.test_dashboards import dashboard_queries
from tools.embedded import EmbeddedBroker, free_port
from tools.stack import STACK_WEBHOOK_SECRET, service_env
from tools.webhook_sink import WebhookSink

pytestmark = [pytest.mark.broker, pytest.mark.slow]
TOKEN = "prometheus-e2e-token"
ADMIN = "prometheus-e2e-admin-token"
RULES = ROOT / "deploy" / "prometheus" / "rules"
JOBS = ("ingest", "match", "notify")


def _prometheus_binary() -> str:
    return require_executable("prometheus", "Debian package prometheus")


class Stack:
    def __init__(self, ports: dict[str, int], prometheus: str, sink: WebhookSink, bootstrap: str) -> None:
        self.ports = ports
        self.prometheus = prometheus
        self.sink = sink
        self.bootstrap = bootstrap

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.prometheus}/api/v1/query", params={"query": expr}, timeout=10)
        body = response.json()
        assert response.status_code == 200 and body["status"] == "success", f"{expr}: {body}"
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        assert len(result) <= 1, f"{expr}: several series {result}"
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, expr: str, expected: float, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        seen: float | None = None
        while time.monotonic() < deadline:
            seen = self.value(expr)
            if seen == expected:
                return
            time.sleep(0.5)
        raise AssertionError(f"{expr}: expected {expected}, Prometheus has {seen}")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    exe = _prometheus_binary()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    sink = WebhookSink(secret=STACK_WEBHOOK_SECRET).start()
    # A broker of its own: the counts must be exactly this test's, not the session's other traffic.
    broker = EmbeddedBroker(partitions=2, log_path=tmp_path / "tansu.log")
    asyncio.run(broker.start())
    try:
        ports = {name: free_port() for name in ("notify", "match", "ingest")}
        inbox = tmp_path / "inbox"  # an empty folder source: the feed-health series exist
        inbox.mkdir()
        for name, port in ports.items():
            env = service_env(name, broker.bootstrap, port, tmp_path, sink.url, [inbox])
            env["EXPORTWATCH_INGEST_API_TOKENS"] = TOKEN
            env["EXPORTWATCH_NOTIFY_CONSOLE"] = "false"
            env["EXPORTWATCH_NOTIFY_ADMIN_TOKEN"] = ADMIN
            procs[name] = start_service(name, env, tmp_path / f"{name}.log")
        for name, port in ports.items():
            wait_ready(f"http://127.0.0.1:{port}/healthz", procs[name], tmp_path / f"{name}.log")

        prom_port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES / "*.rules.yml")],
            "scrape_configs": [
                {"job_name": name, "static_configs": [{"targets": [f"127.0.0.1:{ports[name]}"]}]}
                for name in JOBS
            ],
        }
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
        prom_log = tmp_path / "prometheus.log"
        procs["prometheus"] = subprocess.Popen(
            [
                exe,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=prom_log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        prometheus = f"http://127.0.0.1:{prom_port}"
        wait_ready(f"{prometheus}/-/ready", procs["prometheus"], prom_log)
        yield Stack(ports, prometheus, sink, broker.bootstrap)
        for name in ("ingest", "match", "notify"):
            procs[name].send_signal(signal.SIGTERM)
        for name in ("ingest", "match", "notify"):
            assert procs[name].wait(30) == 0, f"{name}: {(tmp_path / f'{name}.log').read_text()[-3000:]}"
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(10)
            if proc.poll() is None:
                proc.kill()
        broker.stop()
        sink.stop()


async def _poison(bootstrap: str) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topics.NEWS, b"{not json", key=b"poison")
    finally:
        await producer.stop()


def _substitute(expr: str) -> str:
    """Grafana's macros and template variables, as Grafana would fill them in."""
    for macro, value in (("$__rate_interval", "1m"), ("$__range", "5m"), ("$__interval", "15s")):
        expr = expr.replace(macro, value)
    import re

    return re.sub(r"\$\{?\w+\}?", ".*", expr)


def test_prometheus_scrapes_the_pipeline(stack: Stack, news_samples: dict[str, dict[str, Any]]) -> None:
    # Every target is up, under the job names the dashboards and rules use.
    for job in JOBS:
        stack.wait_for(f'up{{job="{job}"}}', 1, timeout=30)

    articles = list(news_samples.values())
    response = httpx.post(
        f"http://127.0.0.1:{stack.ports['ingest']}/v1/events",
        json=articles,
        headers={"authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    published = [
        r["id"] for r in response.json()["results"] if r["status"] in ("published", "near_duplicate")
    ]
    assert published, response.json()
    asyncio.run(_poison(stack.bootstrap))

    # What the receiver got, counted by alert id: the truth the metrics must agree with.
    deadline = time.monotonic() + 120
    quiet_since = time.monotonic()
    seen = 0
    while time.monotonic() - quiet_since < 6:
        assert time.monotonic() < deadline, "deliveries did not settle"
        ids = stack.sink.alert_ids()
        if len(ids) != seen or not ids:
            seen, quiet_since = len(ids), time.monotonic()
        time.sleep(0.5)
    ids = stack.sink.alert_ids()
    assert len(ids) == len(set(ids)) > 0
    alerting_events = {a["event_id"] for r in stack.sink.received for a in r["body"]["data"]["alerts"]}
    alerts = len(ids)

    ingest = 'sum(exportwatch_ingest_items_total{source="api",outcome=~"published|near_duplicate"})'
    stack.wait_for(ingest, len(published))
    stack.wait_for(
        f'sum(exportwatch_ingest_messages_produced_total{{topic="{topics.NEWS}",outcome="ok"}})',
        len(published),
    )
    stack.wait_for(
        f'sum(exportwatch_match_messages_consumed_total{{topic="{topics.NEWS}"}})', len(published) + 1
    )
    stack.wait_for('sum(exportwatch_match_deadletters_total{reason="invalid_json"})', 1)
    stack.wait_for(
        f'sum(exportwatch_match_messages_consumed_total{{topic="{topics.NEWS}",outcome="deadlettered"}})', 1
    )
    stack.wait_for('sum(exportwatch_match_events_total{outcome="alerted"})', len(alerting_events))
    stack.wait_for(
        'sum(exportwatch_match_events_total{outcome="no_match"})', len(published) - len(alerting_events)
    )
    stack.wait_for(
        f'sum(exportwatch_match_messages_produced_total{{topic="{topics.ALERTS}",outcome="ok"}})', alerts
    )
    stack.wait_for("sum(exportwatch_match_alerts_total)", alerts)
    stack.wait_for(
        f'sum(exportwatch_notify_messages_consumed_total{{topic="{topics.ALERTS}",outcome="ok"}})', alerts
    )
    stack.wait_for('sum(exportwatch_notify_notified_alerts_total{channel="webhook"})', alerts)
    stack.wait_for(
        'sum(exportwatch_notify_notifications_total{channel="webhook",outcome="delivered"})',
        len(stack.sink.received),
    )
    # Ingestion to delivery, for every alert delivered, and a plausible median.
    stack.wait_for('sum(exportwatch_notify_end_to_end_seconds_count{channel="webhook"})', alerts)
    median = stack.value(
        "histogram_quantile(0.5, sum by (le) (exportwatch_notify_end_to_end_seconds_bucket"
        '{channel="webhook"}))'
    )
    assert median is not None and 0 < median < 120
    # Alerts by technology and destination: the receiver's own tally.
    technologies: dict[str, int] = {}
    for r in stack.sink.received:
        for a in r["body"]["data"]["alerts"]:
            for t in a["technologies"]:
                technologies[t] = technologies.get(t, 0) + 1
    for technology, count in technologies.items():
        stack.wait_for(f'sum(exportwatch_match_alert_technologies_total{{technology="{technology}"}})', count)
    # The consumers caught up; both partitions of each topic are assigned.
    stack.wait_for("sum(exportwatch_match_consumer_lag_messages)", 0)
    stack.wait_for("sum(exportwatch_notify_consumer_lag_messages)", 0)
    stack.wait_for(f'sum(exportwatch_match_assigned_partitions{{topic="{topics.NEWS}"}})', 2)
    stack.wait_for(f'sum(exportwatch_notify_assigned_partitions{{topic="{topics.ALERTS}"}})', 2)
    stack.wait_for('exportwatch_notify_queue_notifications{state="retry"}', 0)

    # A researcher's judgement of an alert: the feedback panels' series exist from the first one.
    judged = httpx.put(
        f"http://127.0.0.1:{stack.ports['notify']}/v1/alerts/{ids[0]}/feedback",
        json={"relevant": True},
        headers={"authorization": f"Bearer {ADMIN}"},
        timeout=30,
    )
    assert judged.status_code == 200, judged.text
    stack.wait_for("sum(exportwatch_notify_feedback_judgements)", 1)

    # Every expression of the dashboards and alert rules is valid PromQL for this server and names
    # series that exist (an expression over a misspelt metric would return nothing, forever).
    queries = [(f"{f}: {p}", _substitute(e)) for f, p, e in dashboard_queries()]
    queries += [(f"rule {name}", expr) for name, expr in rule_queries()]
    assert queries
    for where, expr in queries:
        stack.query(expr)
        for metric in sorted(set(_metric_names(expr))):
            assert stack.query(f"count({{__name__={json.dumps(metric)}}})"), f"{where}: no series {metric}"

    # The alert rules loaded and evaluate without errors.
    deadline = time.monotonic() + 30
    while True:
        groups = httpx.get(f"{stack.prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        assert rules, "no alert rules loaded"
        if all(r.get("health") == "ok" for r in rules):
            break
        bad = [(r["name"], r.get("health"), r.get("lastError")) for r in rules if r.get("health") != "ok"]
        assert time.monotonic() < deadline and not any(h == "err" for _, h, _ in bad), bad
        time.sleep(1)
    # A healthy pipeline does not page anyone for a service being down.
    firing = {
        a["labels"]["alertname"]
        for a in httpx.get(f"{stack.prometheus}/api/v1/alerts").json()["data"]["alerts"]
    }
    assert not {name for name in firing if "Down" in name or "Absent" in name}, firing


def _metric_names(expr: str) -> list[str]:
    """The exportwatch metric names an expression refers to."""
    import re

    return re.findall(r"\bexportwatch_[a-z0-9_]+", expr)
