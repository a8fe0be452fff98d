"""Ingest on the in-memory broker: events pushed to the API and read from a feed go to the news topic,
once each, through the ingestor create_service wires (SQLite in a temporary folder)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from schemas import topics
from services.common.runtime import Service
from services.common.settings import CommonSettings
from services.ingest.app import create_service
from services.ingest.ingestor import Ingestor
from services.ingest.settings import IngestSettings
from tests.component.harness import Recorder, on_test_broker, with_broker
from tests.conftest import BUNDLED_SAMPLES

TOKEN = "component-token"


def ingest_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **settings: Any) -> Service:
    service = create_service(
        IngestSettings(
            common=CommonSettings(kafka_embedded=False),
            database_url=f"sqlite:///{tmp_path / 'ingest.db'}",
            api_tokens=[TOKEN],
            **settings,
        )
    )
    with_broker(service)
    return service


def article(event_id: str, body: str = "Spyware was sold to Egypt.") -> dict[str, Any]:
    return {
        "type": "news_article",
        "id": event_id,
        "source": "test",
        "url": f"https://news.example.org/{event_id}",
        "title": "Exports",
        "body": body,
        "language": "en",
        "published_at": "2026-01-01T00:00:00Z",
    }


@pytest.fixture
async def api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[httpx.AsyncClient, Recorder]]:
    service = ingest_service(tmp_path, monkeypatch)
    out = Recorder(service.broker, topics.NEWS, topics.LICENCES, topics.DEADLETTER)
    async with on_test_broker(service):
        transport = httpx.ASGITransport(app=service.asgi())
        headers = {"authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://ingest", headers=headers
        ) as client:
            yield client, out


async def test_a_pushed_article_is_published_on_the_news_topic_keyed_by_its_id(
    api: tuple[httpx.AsyncClient, Recorder],
) -> None:
    client, out = api
    response = await client.post("/v1/events", json=[article("push-1"), article("push-2")])
    assert response.status_code == 202 and response.json()["ids"] == ["push-1", "push-2"]
    assert [(r.key, r.json()["id"]) for r in out.on(topics.NEWS)] == [
        (b"push-1", "push-1"),
        (b"push-2", "push-2"),
    ]
    assert out.on(topics.LICENCES) == out.on(topics.DEADLETTER) == []


async def test_a_repeat_is_not_published_again_and_a_correction_is(
    api: tuple[httpx.AsyncClient, Recorder],
) -> None:
    client, out = api
    statuses = []
    for body in ("Spyware was sold to Egypt.", "Spyware was sold to Egypt.", "Spyware was sold to Bahrain."):
        response = await client.post("/v1/events", json=article("rep-1", body))
        statuses.append(response.json()["results"][0]["status"])
    assert statuses == ["published", "duplicate", "updated"]
    assert [r.json()["body"] for r in out.on(topics.NEWS)] == [
        "Spyware was sold to Egypt.",
        "Spyware was sold to Bahrain.",
    ]


async def test_a_push_with_a_bad_line_publishes_nothing(api: tuple[httpx.AsyncClient, Recorder]) -> None:
    client, out = api
    response = await client.post("/v1/events", content=json.dumps(article("ok-1")) + "\n{oops\n")
    assert response.status_code == 400
    assert [e["reason"] for e in response.json()["errors"]] == ["invalid_json"]
    assert out.records == []


async def test_a_feed_read_by_its_poller_is_published_on_the_news_topic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = tmp_path / "feeds" / "watchdog-feed.rss"
    feed.parent.mkdir()
    shutil.copy2(BUNDLED_SAMPLES / "watchdog-feed.rss", feed)  # its old mtime: settled, read at once
    service = ingest_service(tmp_path, monkeypatch, sources=[feed], feed_language="en")
    out = Recorder(service.broker, topics.NEWS)
    async with on_test_broker(service):
        (poller,) = service.state["pollers"]
        await poller.poll_once()
        first = list(out.on(topics.NEWS))
        await poller.poll_once()  # nothing new in the file: nothing published again
    assert first and out.on(topics.NEWS) == first
    events = [r.json() for r in first]
    assert {e["type"] for e in events} == {"news_article"}
    assert all(
        r.key == e["id"].encode() and e["url"].startswith("http") for r, e in zip(first, events, strict=True)
    )


async def test_a_pushed_event_is_stamped_when_its_request_arrived_not_after_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The end-to-end latency is measured from ingested_at (issue 20 item 5a): a push that waits for
    # the ingestor's lock (another chunk being published) keeps the time its request arrived.
    service = ingest_service(tmp_path, monkeypatch)
    out = Recorder(service.broker, topics.NEWS)
    arrived, later = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC), dt.datetime(2026, 3, 1, 12, 5, tzinfo=dt.UTC)
    async with on_test_broker(service):
        ingestor: Ingestor = service.state["ingestor"]
        clock = [arrived]
        ingestor.clock = lambda: clock[0]
        entered = asyncio.Event()
        ingest = ingestor.ingest

        async def ingest_noted(*args: Any, **kwargs: Any) -> Any:
            entered.set()
            return await ingest(*args, **kwargs)

        monkeypatch.setattr(ingestor, "ingest", ingest_noted)
        transport = httpx.ASGITransport(app=service.asgi())
        headers = {"authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://ingest", headers=headers
        ) as client:
            await ingestor.lock.acquire()  # a chunk of another source is being published
            push = asyncio.create_task(client.post("/v1/events", json=[article("late-1")]))
            await entered.wait()
            clock[0] = later  # the lock is released five minutes after the request arrived
            ingestor.lock.release()
            assert (await push).status_code == 202
    (record,) = out.on(topics.NEWS)
    assert dt.datetime.fromisoformat(record.json()["ingested_at"]) == arrived
