"""End to end, as a user runs it: the embedded broker and the three services as separate processes,
real sample articles pushed in, explained alerts received at a real local webhook server."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import metric_value, running_broker, start_service, wait_ready
from tools.embedded import EmbeddedBroker, free_port
from tools.stack import STACK_WEBHOOK_SECRET, service_env
from tools.webhook_sink import WebhookSink

pytestmark = [pytest.mark.broker, pytest.mark.slow]
TOKEN = "e2e-token"


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    s = WebhookSink(secret=STACK_WEBHOOK_SECRET).start()
    yield s
    s.stop()


@pytest.fixture
def kafka(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker of this test's own, as a user's fresh stack has: on the session's, the services' new
    consumer groups first worked through thousands of events and alerts other tests left there, and on
    a loaded machine the two articles of this test waited behind them past the deadline."""
    with running_broker(tmp_path) as broker:
        yield broker


@pytest.fixture
def services(kafka: EmbeddedBroker, sink: WebhookSink, tmp_path: Path) -> Iterator[dict[str, int]]:
    ports = {name: free_port() for name in ("notify", "match", "ingest")}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for name, port in ports.items():
        env = service_env(name, kafka.bootstrap, port, tmp_path, sink.url, [])
        env["EXPORTWATCH_INGEST_API_TOKENS"] = TOKEN
        env["EXPORTWATCH_NOTIFY_GROUP_ID"] = f"e2e-notify-{port}"
        env["EXPORTWATCH_MATCH_GROUP_ID"] = f"e2e-match-{port}"
        env.pop("EXPORTWATCH_INGEST_SOURCES", None)
        procs[name] = start_service(name, env, tmp_path / f"{name}.log")
    try:
        for name, port in ports.items():
            wait_ready(f"http://127.0.0.1:{port}/healthz", procs[name], tmp_path / f"{name}.log")
        yield ports
        for name in ("ingest", "match", "notify"):
            procs[name].send_signal(signal.SIGTERM)
        for name, proc in procs.items():
            assert proc.wait(30) == 0, (
                f"{name} did not stop cleanly: {(tmp_path / f'{name}.log').read_text()}"
            )
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
        if os.environ.get("EXPORTWATCH_TEST_SHOW_LOGS"):
            for name in procs:
                print((tmp_path / f"{name}.log").read_text())


def _check_evidence(alert: dict[str, Any], article: dict[str, Any]) -> None:
    assert alert["evidence"], "an alert must carry its evidence"
    for ev in alert["evidence"]:
        assert ev["text"] == article[ev["field"]][ev["start"] : ev["end"]], ev
        assert ev["text"] in ev["snippet"]


def test_sample_articles_become_explained_webhook_alerts(
    services: dict[str, int], sink: WebhookSink, news_samples: dict[str, dict[str, Any]]
) -> None:
    wanted = [news_samples["sample-000"], news_samples["sample-003"]]
    response = httpx.post(
        f"http://127.0.0.1:{services['ingest']}/v1/events",
        json=wanted,
        headers={"authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    assert response.status_code == 202, response.text

    deadline = time.monotonic() + 120

    def got() -> dict[str, dict[str, Any]]:
        return {a["event_id"]: a for r in sink.received for a in r["body"]["data"]["alerts"]}

    while not {"sample-000", "sample-003"} <= got().keys():
        assert time.monotonic() < deadline, f"alerts not delivered; got {sorted(got())}"
        time.sleep(0.2)

    alerts = got()
    english, dutch = alerts["sample-000"], alerts["sample-003"]
    assert "facial-recognition" in english["technologies"]
    assert "CN" in english["destinations"]
    assert "facial-recognition" in dutch["technologies"]
    assert {"CN", "AE", "BH", "BY"} <= set(dutch["destinations"])
    for alert, article in ((english, wanted[0]), (dutch, wanted[1])):
        _check_evidence(alert, article)
        assert alert["summary"] and alert["severity"] in ("medium", "high", "critical")
        assert alert["url"] == article["url"]
    ids = sink.alert_ids()
    assert len(ids) == len(set(ids)), "no alert delivered twice"
    assert all(r["signature_valid"] for r in sink.received), "every webhook signed"
    assert all(r["body"]["type"] == "org.exportwatch.notification.v1" for r in sink.received)

    assert metric_value(services["ingest"], "exportwatch_ingest_items_total", outcome="published") == 2
    alerted = metric_value(
        services["match"], "exportwatch_match_events_total", event_type="news_article", outcome="alerted"
    )
    assert alerted >= 2
    notify = services["notify"]
    delivered = metric_value(notify, "exportwatch_notify_notified_alerts_total", channel="webhook")
    assert delivered >= 2
    assert metric_value(services["match"], "process_resident_memory_bytes") > 0
