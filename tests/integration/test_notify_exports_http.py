"""The archive's exports and the personal feeds over real HTTP (notify's API on uvicorn with the
services' own server settings) on a real database, SQLite and PostgreSQL, with the real archive: CSV and
Atom answer the query string (free text too), a feed URL opens the subscription's alerts without a token
and is refused once revoked, and the secret never reaches the access log."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette

from schemas import Severity
from services.common.addresses import TargetPolicy
from services.common.httpserver import HttpLimits, server_config
from services.notify.api import Api
from services.notify.store.repository import NotifyStore
from tests.alerts import make_alert
from tests.atom import check_feed
from tools.embedded import free_port

ADMIN = "admin-token-for-export-http-01"
NOW = dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC)
HOSTILE = '<img src=x onerror="alert(1)"> =HYPERLINK("http://evil") spyware for Egypt'


@dataclass
class Running:
    base: str
    store: NotifyStore
    http: httpx.AsyncClient
    access: list[str]

    async def call(self, method: str, path: str, token: str | None = ADMIN, **kw: object) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token is not None else {}
        return await self.http.request(method, self.base + path, headers=headers, **kw)  # type: ignore[arg-type]


class Remember(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


@pytest.fixture
async def running(db_url: str) -> AsyncIterator[Running]:
    store = await NotifyStore.open(db_url)
    alerts = [
        make_alert(
            f"a-{i:03}", created_at=NOW - dt.timedelta(hours=i), destinations=["EG" if i % 2 else "CN"]
        )
        for i in range(40)
    ]
    alerts.append(
        make_alert(
            "a-spy",
            created_at=NOW + dt.timedelta(hours=1),
            technologies=["spyware"],
            destinations=["EG"],
            title=HOSTILE,
            severity=Severity.CRITICAL,
        )
    )
    async with store.writing() as conn:
        await store.archive.add(conn, alerts, NOW)
    api = Api(
        store,
        dispatcher=None,  # type: ignore[arg-type]  # nothing here sends
        admin_token=SecretStr(ADMIN),
        clock=lambda: NOW,
        targets=TargetPolicy.allowing(["127.0.0.1/32"]),
    )
    port = free_port()
    server = uvicorn.Server(server_config(Starlette(routes=api.routes()), "127.0.0.1", port, HttpLimits()))
    access: list[str] = []
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started or task.done():
            break
        await asyncio.sleep(0.02)
    assert server.started, "notify's API did not start"  # a failure, never a skip
    # The access log is off in production settings; on here, to show what it would hold.
    access_log = logging.getLogger("uvicorn.access")
    handler = Remember(access)
    access_log.addHandler(handler)
    level = access_log.level
    access_log.setLevel(logging.INFO)
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            yield Running(f"http://127.0.0.1:{port}", store, http, access)
    finally:
        access_log.removeHandler(handler)
        access_log.setLevel(level)
        server.should_exit = True
        await task
        await store.close()


async def test_csv_and_atom_answer_the_query_string(running: Running) -> None:
    response = await running.call("GET", "/v1/alerts.csv?destination=EG&q=spyware")
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["id"] for r in rows] == ["a-spy"]
    assert rows[0]["title"] == HOSTILE  # does not start with a formula character: kept as it is
    everything = await running.call("GET", "/v1/alerts.csv")
    assert len(list(csv.DictReader(io.StringIO(everything.text)))) == 41
    atom = await running.call("GET", "/v1/alerts.atom?destination=EG&limit=10")
    parsed = check_feed(atom.content)
    assert len(parsed.entries) == 10 and parsed.entries[0].title == HOSTILE
    assert b"<img" not in atom.content
    bad = await running.call("GET", "/v1/alerts.atom?destination=Egypt&limit=0")
    assert bad.status_code == 422 and {e["location"] for e in bad.json()["errors"]} == {
        "destination",
        "limit",
    }


async def test_a_personal_feed_over_http(running: Running) -> None:
    token = await running.store.tokens.add("amira", NOW)
    body = {
        "name": "Spyware to Egypt",
        "filters": {"destinations": ["EG"], "technologies": ["spyware"]},
        "channel": {"type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "s" * 24},
    }
    created = await running.call("POST", "/v1/subscriptions", token, json=body)
    assert created.status_code == 201, created.text
    sub_id = created.json()["id"]
    made = await running.call("POST", f"/v1/subscriptions/{sub_id}/feed", token)
    url = made.json()["url"]
    secret = url.rsplit("/", 1)[1].removesuffix(".atom")
    feed = await running.http.get(url)
    assert feed.status_code == 200 and feed.headers["referrer-policy"] == "no-referrer"
    parsed = check_feed(feed.content)
    assert [e.link for e in parsed.entries] == [f"{running.base}/alerts/a-spy"]
    assert (await running.call("DELETE", f"/v1/subscriptions/{sub_id}/feed", token)).status_code == 204
    gone = await running.http.get(url)
    assert gone.status_code == 404 and gone.headers["content-type"].startswith("application/problem+json")
    assert any("/feeds/(secret).atom" in line for line in running.access), running.access
    assert not any(secret in line for line in running.access)
