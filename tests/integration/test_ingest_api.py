"""The push API on the real broker: authentication, per-line errors, size limit, publish-then-202."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from schemas import topics
from services.common.settings import CommonSettings
from services.ingest.app import create_service
from services.ingest.settings import IngestSettings
from tests.conftest import read_topic
from tests.problems import problem
from tools.embedded import EmbeddedBroker, free_port

pytestmark = pytest.mark.broker
TOKEN = "s3cret-token-for-tests"


@pytest.fixture
async def ingest_url(kafka: EmbeddedBroker, tmp_path: Path) -> AsyncIterator[str]:
    settings = IngestSettings(
        common=CommonSettings(kafka_bootstrap=kafka.bootstrap, kafka_embedded=True),
        database_url=f"sqlite:///{tmp_path / 'ingest.db'}",
        http_port=free_port(),
        api_tokens=[TOKEN],
        max_body_bytes=20_000,
    )
    service = create_service(settings)
    async with service.running():
        yield f"http://127.0.0.1:{settings.http_port}"


def _article(event_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "news_article",
        "id": event_id,
        "source": "test",
        "url": f"https://t.example/{event_id}",
        "title": "t",
        "body": "b",
        "language": "en",
        "published_at": "2026-01-01T00:00:00Z",
        **extra,
    }


async def test_push_api_authentication(ingest_url: str) -> None:
    async with httpx.AsyncClient(base_url=ingest_url) as client:
        body = json.dumps(_article("auth-1"))
        missing = await client.post("/v1/events", content=body)
        assert "bearer token" in problem(missing, 401, "missing-credentials")["detail"]
        assert missing.headers["www-authenticate"] == "Bearer"
        # An unknown token is a 401 too (it was a 403 before the APIs shared one toolkit), as on notify.
        wrong = await client.post("/v1/events", content=body, headers={"authorization": "Bearer nope"})
        assert problem(wrong, 401, "invalid-token")["detail"] == "unknown or revoked token"
        assert wrong.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_push_api_reports_every_bad_line_and_publishes_nothing(ingest_url: str) -> None:
    lines = [
        json.dumps(_article("lines-ok-1")),
        "{oops",
        json.dumps({"type": "tweet"}),
        json.dumps(_article("lines-ok-2", published_at="yesterday")),
    ]
    async with httpx.AsyncClient(base_url=ingest_url, headers={"authorization": f"Bearer {TOKEN}"}) as client:
        response = await client.post("/v1/events", content="\n".join(lines))
    # A line that is not JSON makes the body malformed: 400, every bad line listed all the same.
    answer = problem(response, 400, "invalid-json")
    assert answer["invalid"] == 3
    errors = answer["errors"]
    assert [(e["line"], e["reason"]) for e in errors] == [
        (2, "invalid_json"),
        (3, "unknown_event_type"),
        (4, "invalid_event"),
    ]
    assert "published_at" in errors[2]["message"] and errors[2]["location"] == "line 4"


async def test_push_api_schema_problems_alone_are_a_422(ingest_url: str) -> None:
    lines = [json.dumps(_article("schema-ok-1")), json.dumps({"type": "tweet"})]
    async with httpx.AsyncClient(base_url=ingest_url, headers={"authorization": f"Bearer {TOKEN}"}) as client:
        response = await client.post("/v1/events", content="\n".join(lines))
        xml = await client.post("/v1/events", content=lines[0], headers={"content-type": "application/xml"})
    answer = problem(response, 422, "invalid-body")
    assert [(e["line"], e["reason"]) for e in answer["errors"]] == [(2, "unknown_event_type")]
    problem(xml, 415, "unsupported-media-type")


async def test_push_api_size_limit(ingest_url: str) -> None:
    big = json.dumps(_article("too-big", body="x" * 30_000))
    async with httpx.AsyncClient(base_url=ingest_url, headers={"authorization": f"Bearer {TOKEN}"}) as client:
        answer = problem(await client.post("/v1/events", content=big), 413, "body-too-large")
    assert answer["detail"] == "request body over 20000 bytes" and answer["limit"] == 20000


async def test_push_api_accepts_object_array_and_lines_and_publishes(
    ingest_url: str, kafka: EmbeddedBroker, news_samples: dict[str, dict[str, Any]]
) -> None:
    async with httpx.AsyncClient(base_url=ingest_url, headers={"authorization": f"Bearer {TOKEN}"}) as client:
        one = await client.post("/v1/events", json=_article("push-1"))
        many = await client.post("/v1/events", json=[_article("push-2"), _article("push-3")])
        jsonl = await client.post(
            "/v1/events",
            content=json.dumps(news_samples["sample-003"]) + "\n" + json.dumps(_article("push-4")) + "\n",
        )
    assert one.status_code == many.status_code == jsonl.status_code == 202
    assert one.json() == {
        "accepted": 1,
        "ids": ["push-1"],
        "results": [{"id": "push-1", "status": "published", "revision": 1}],
    }
    assert many.json()["ids"] == ["push-2", "push-3"]
    assert jsonl.json()["ids"] == ["sample-003", "push-4"]
    wanted = {b"push-1", b"push-2", b"push-3", b"push-4", b"sample-003"}
    records = await read_topic(kafka.bootstrap, topics.NEWS, lambda rs: wanted <= {r.key for r in rs})
    by_key = {r.key: json.loads(r.value) for r in records if r.key in wanted}
    assert by_key[b"sample-003"]["body"] == news_samples["sample-003"]["body"]


async def test_push_api_tells_repeats_and_corrections_apart(ingest_url: str, kafka: EmbeddedBroker) -> None:
    headers = {"authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=ingest_url, headers=headers) as client:
        first = await client.post("/v1/events", json=_article("rep-1", body="Spyware sold to Egypt."))
        again = await client.post("/v1/events", json=_article("rep-1", body="Spyware sold to Egypt."))
        fixed = await client.post("/v1/events", json=_article("rep-1", body="Spyware sold to Bahrain."))
        old = await client.post("/v1/events", json=_article("rep-1", body="Spyware sold to Egypt."))
    assert [r.json()["results"][0]["status"] for r in (first, again, fixed, old)] == [
        "published",
        "duplicate",
        "updated",
        "duplicate",
    ]
    assert fixed.json()["results"][0]["revision"] == 2
    records = await read_topic(
        kafka.bootstrap, topics.NEWS, lambda rs: sum(r.key == b"rep-1" for r in rs) >= 2
    )
    published = [json.loads(r.value) for r in records if r.key == b"rep-1"]
    assert [(v["revision"], v["body"]) for v in published] == [
        (1, "Spyware sold to Egypt."),
        (2, "Spyware sold to Bahrain."),
    ]
    assert all(v["ingested_at"] for v in published)
