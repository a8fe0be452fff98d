"""Issue 18 item 6: both HTTP APIs, ingest's push API and notify's subscriptions API, answer one
situation with one status and the same problem details (RFC 9457), over a real socket: an unknown
token, a body over the limit, a body that is not JSON, a content type that is not JSON."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.httpapi import PROBLEM_JSON, TYPE_PREFIX
from services.common.settings import CommonSettings
from services.ingest.app import create_service as create_ingest
from services.ingest.settings import IngestSettings
from services.notify.app import create_service as create_notify
from services.notify.settings import NotifySettings
from tools.embedded import EmbeddedBroker, free_port

pytestmark = pytest.mark.broker
INGEST_TOKEN = "ingest-token-for-the-problems-test"
LIMIT = 64 * 1024  # notify's body limit; ingest is given the same


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: str
    token: str


@pytest.fixture
async def endpoints(kafka: EmbeddedBroker, tmp_path: Path) -> AsyncIterator[list[Endpoint]]:
    common = CommonSettings(kafka_bootstrap=kafka.bootstrap, kafka_embedded=True)
    ingest = IngestSettings(
        common=common,
        database_url=f"sqlite:///{tmp_path / 'ingest.db'}",
        http_port=free_port(),
        api_tokens=[INGEST_TOKEN],
        max_body_bytes=LIMIT,
    )
    admin = f"admin-{uuid.uuid4().hex}"
    notify = NotifySettings(
        common=common,
        database_url=f"sqlite:///{tmp_path / 'notify.db'}",
        http_port=free_port(),
        group_id=f"notify-problems-{uuid.uuid4().hex[:8]}",
        admin_token=admin,
    )
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(create_ingest(ingest).running())
        await stack.enter_async_context(create_notify(notify).running())
        yield [
            Endpoint("ingest", f"http://127.0.0.1:{ingest.http_port}/v1/events", INGEST_TOKEN),
            Endpoint("notify", f"http://127.0.0.1:{notify.http_port}/v1/subscriptions", admin),
        ]


def shape(response: httpx.Response) -> dict[str, Any]:
    """What must be the same on both APIs: status, media type, ``type``, ``title``, ``status``, the
    authentication header, and that ``detail`` and ``instance`` are there."""
    body = response.json()
    assert isinstance(body.get("detail"), str) and body["detail"], body
    assert body["instance"] == response.request.url.path, body
    return {
        "status": response.status_code,
        "content-type": response.headers["content-type"],
        "www-authenticate": response.headers.get("www-authenticate"),
        "type": body["type"],
        "title": body["title"],
        "body-status": body["status"],
    }


def expected(status: int, kind: str, title: str, authenticate: str | None = None) -> dict[str, Any]:
    return {
        "status": status,
        "content-type": PROBLEM_JSON,
        "www-authenticate": authenticate,
        "type": TYPE_PREFIX + kind,
        "title": title,
        "body-status": status,
    }


async def answers(
    endpoints: list[Endpoint], content: bytes, headers: dict[str, str], use_token: bool = True
) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=15) as client:
        return [
            await client.post(
                e.url,
                content=content,
                headers={**headers, **({"authorization": f"Bearer {e.token}"} if use_token else {})},
            )
            for e in endpoints
        ]


async def test_both_apis_answer_the_same_situation_alike(endpoints: list[Endpoint]) -> None:
    json_type = {"content-type": "application/json"}
    # No token, and a token neither API knows: 401 both, the second with RFC 6750's invalid_token.
    none = await answers(endpoints, b"{}", json_type, use_token=False)
    unknown = await answers(
        endpoints, b"{}", {**json_type, "authorization": "Bearer not-a-known-token"}, use_token=False
    )
    # Over the limit, declared (here, by httpx) as it is sent.
    big = await answers(endpoints, b'{"x": "' + b"y" * LIMIT + b'"}', json_type)
    # Not JSON at all.
    broken = await answers(endpoints, b"{not json", json_type)
    # A content type that is not JSON.
    xml = await answers(endpoints, b"<event/>", {"content-type": "application/xml"})

    cases = {
        "no token": (none, expected(401, "missing-credentials", "Authentication required", "Bearer")),
        "unknown token": (
            unknown,
            expected(401, "invalid-token", "Token not accepted", 'Bearer error="invalid_token"'),
        ),
        "oversize body": (big, expected(413, "body-too-large", "Request body too large")),
        "invalid JSON": (broken, expected(400, "invalid-json", "Body is not valid JSON")),
        "XML": (xml, expected(415, "unsupported-media-type", "Unsupported media type")),
    }
    for case, (responses, wanted) in cases.items():
        for endpoint, response in zip(endpoints, responses, strict=True):
            assert shape(response) == wanted, (case, endpoint.name, response.text[:300])
    # The same words where nothing differs but the API.
    for responses in (none, unknown, big):
        ingest, notify = (r.json() for r in responses)
        assert ingest["detail"] == notify["detail"], (ingest, notify)
    assert all(r.json()["limit"] == LIMIT for r in big)
