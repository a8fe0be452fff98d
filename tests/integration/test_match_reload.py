"""The match service on the real broker picks up watchlist changes without a restart: a destination added
in an operator folder starts alerting with the new watchlist version, and an invalid file is rejected
while the last good lists keep alerting. What the service reports is read from its real /metrics."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from schemas import Alert, topics
from services.common.settings import CommonSettings
from services.match.app import create_service
from services.match.settings import MatchSettings
from tests.conftest import eventually, read_topic, read_until_quiet
from tools.embedded import EmbeddedBroker, free_port

pytestmark = pytest.mark.broker

ADD_CHILE = """\
destinations:
  - id: CL
    tier: core
    rationale: Operator addition for this test.
"""
BAD_VENDOR = """\
vendors:
  - id: acme
    name: Acme
    rationale: test
    colour: red
"""


def _article(event_id: str, body: str) -> dict[str, Any]:
    return {
        "type": "news_article",
        "id": event_id,
        "source": "test",
        "url": f"https://t.example/{event_id}",
        "title": "Surveillance exports",
        "body": body,
        "language": "en",
        "published_at": "2026-01-01T00:00:00Z",
    }


def _chile(event_id: str) -> dict[str, Any]:
    return _article(event_id, "A European firm sold facial recognition cameras to the police in Chile.")


def _china(event_id: str) -> dict[str, Any]:
    return _article(event_id, "A European firm sold facial recognition cameras to the police in China.")


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


async def test_watchlist_changes_apply_without_restart(kafka: EmbeddedBroker, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    folder = tmp_path / "watchlists"
    folder.mkdir()
    settings = MatchSettings(
        common=CommonSettings(kafka_bootstrap=kafka.bootstrap, kafka_embedded=True),
        http_port=free_port(),
        group_id=f"match-reload-{run}",
        watchlist_dirs=[folder],
        reload_seconds=0.2,
    )
    ids = {name: f"reload-{name}-{run}" for name in ("chile-before", "control", "chile-after", "chile-bad")}
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
    service = create_service(settings)

    async with (
        service.running(),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.http_port}", timeout=5) as http,
    ):
        await producer.start()
        try:

            async def metrics() -> str:
                response = await http.get("/metrics")
                assert response.status_code == 200
                return response.text

            async def versions() -> dict[str, float]:
                info = _samples(await metrics(), "exportwatch_match_watchlist_info")
                return {dict(labels)["version"]: value for labels, value in info.items()}

            async def reloads() -> dict[str, float]:
                counts = _samples(await metrics(), "exportwatch_match_watchlist_reloads_total")
                return {dict(labels)["outcome"]: value for labels, value in counts.items()}

            async def publish(article: dict[str, Any]) -> None:
                await producer.send_and_wait(
                    topics.NEWS, json.dumps(article).encode(), key=article["id"].encode(), partition=0
                )

            def about(record: Any, event_id: str) -> bool:
                # The alerts topic is shared with other tests, some of which put malformed records on it.
                try:
                    return bool(json.loads(record.value).get("event_id") == event_id)
                except (ValueError, AttributeError):
                    return False

            async def alert_for(event_id: str) -> Alert:
                records = await read_topic(
                    kafka.bootstrap, topics.ALERTS, lambda rs: any(about(r, event_id) for r in rs), timeout=60
                )
                (record,) = [r for r in records if about(r, event_id)]
                return Alert.model_validate_json(record.value)

            (first,) = [v for v, value in (await versions()).items() if value == 1]
            assert await reloads() == {"success": 0, "error": 0}

            # 1. Chile is not a high-risk destination by default: no alert. The China article after it on
            #    the same partition alerts, so by then the Chile one has been evaluated (checked at the end).
            await publish(_chile(ids["chile-before"]))
            await publish(_china(ids["control"]))
            control = await alert_for(ids["control"])
            assert control.watchlist_version == first and "CN" in control.destinations

            # 2. The operator adds CL: reloaded within reload_seconds, and Chile now alerts.
            (folder / "destinations.yaml").write_text(ADD_CHILE, encoding="utf-8")

            async def reloaded() -> bool:
                return (await reloads()).get("success") == 1

            await eventually(reloaded, timeout=20)
            (second,) = [v for v, value in (await versions()).items() if value == 1]
            assert second != first
            assert first not in await versions(), "the old version's info series is gone"
            entries = _samples(await metrics(), "exportwatch_match_watchlist_entries")
            assert entries[(("list", "destinations"),)] >= 1 and entries[(("list", "technologies"),)] > 0
            await publish(_chile(ids["chile-after"]))
            after = await alert_for(ids["chile-after"])
            assert after.destinations == ["CL"] and "facial-recognition" in after.technologies
            assert after.watchlist_version == second

            # 3. An invalid file is rejected once; the last good lists keep alerting.
            (folder / "vendors.yaml").write_text(BAD_VENDOR, encoding="utf-8")

            async def rejected() -> bool:
                return (await reloads()).get("error") == 1

            await eventually(rejected, timeout=20)
            await asyncio.sleep(1.0)  # five more polls: the unchanged bad file is not tried again
            assert await reloads() == {"success": 1, "error": 1}
            assert [v for v, value in (await versions()).items() if value == 1] == [second]
            assert (await http.get("/healthz")).status_code == 200
            await publish(_chile(ids["chile-bad"]))
            kept = await alert_for(ids["chile-bad"])
            assert kept.destinations == ["CL"] and kept.watchlist_version == second
        finally:
            await producer.stop()

    everything = await read_until_quiet(kafka.bootstrap, topics.ALERTS, quiet=3.0)
    assert any(json.loads(r.value)["event_id"] == ids["control"] for r in everything)
    assert not [r for r in everything if json.loads(r.value)["event_id"] == ids["chile-before"]], (
        "an article about Chile alerted before Chile was on the watchlist"
    )
