"""The archive's exports and personal feeds through notify's real API and store (SQLite in a temporary
folder), with a small in-memory archive standing in for ``ArchiveStore`` (same signatures): CSV and Atom
with the query string of /v1/alerts, feed URLs made, replaced and revoked, owners kept apart."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from schemas import Alert, Severity
from services.common.addresses import TargetPolicy
from services.notify.api import Api
from services.notify.core.archive import AlertPage, AlertQuery, decode_cursor, encode_cursor
from services.notify.routes import exports
from services.notify.store.repository import NotifyStore
from tests.alerts import make_alert
from tests.atom import check_feed

ADMIN = "admin-token-for-exports-0001"
NOW = dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC)


def _selected(query: AlertQuery, alert: Alert) -> bool:
    checks: list[tuple[Sequence[Any], Sequence[Any]]] = [
        (query.destinations, alert.destinations),
        (query.technologies, alert.technologies),
        (query.vendors, alert.entities),
        (query.severities, [alert.severity]),
        (query.event_types, [alert.event_type]),
    ]
    if any(wanted and not set(wanted) & set(have) for wanted, have in checks):
        return False
    return not query.text or query.text.lower() in (alert.title + alert.summary).lower()


class FakeArchive:
    """ArchiveStore.search over a list, newest first, with the real cursors; every query kept."""

    def __init__(self, alerts: Sequence[Alert] = ()) -> None:
        self.alerts = sorted(alerts, key=lambda a: (a.created_at, a.id), reverse=True)
        self.queries: list[AlertQuery] = []

    async def search(self, query: AlertQuery) -> AlertPage:
        self.queries.append(query)
        chosen = [a for a in self.alerts if _selected(query, a)]
        if query.cursor:
            after = decode_cursor(query.cursor)
            assert after is not None
            chosen = [a for a in chosen if (a.created_at, a.id) < after]
        page = chosen[: query.limit]
        more = len(chosen) > query.limit
        return AlertPage(page, encode_cursor(page[-1].created_at, page[-1].id) if more else None)


@dataclass
class Client:
    http: httpx.AsyncClient
    store: NotifyStore
    archive: FakeArchive
    api: Api

    async def call(self, method: str, path: str, token: str | None = ADMIN, **kw: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token is not None else {}
        return await self.http.request(method, path, headers=headers, **kw)

    async def subscription(self, token: str, **filters: Any) -> str:
        body = {
            "name": "Egypt watch",
            "filters": filters,
            "channel": {"type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "s" * 24},
        }
        response = await self.call("POST", "/v1/subscriptions", token, json=body)
        assert response.status_code == 201, response.text
        sub_id: str = response.json()["id"]
        return sub_id


def alerts() -> list[Alert]:
    made = [
        make_alert(
            f"a-{i:03}", created_at=NOW - dt.timedelta(hours=i), destinations=["EG" if i % 2 else "CN"]
        )
        for i in range(30)
    ]
    made.append(
        make_alert(
            "a-spy",
            created_at=NOW + dt.timedelta(hours=1),
            technologies=["spyware"],
            destinations=["EG"],
            title='<script>alert("x")</script> spyware sold to Egypt',
            severity=Severity.CRITICAL,
        )
    )
    return made


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    store = await NotifyStore.open(f"sqlite:///{tmp_path / 'notify.db'}")
    archive = FakeArchive(alerts())
    store.archive = archive  # type: ignore[assignment]
    api = Api(
        store,
        dispatcher=None,  # type: ignore[arg-type]  # no route here sends anything
        admin_token=SecretStr(ADMIN),
        clock=lambda: NOW,
        targets=TargetPolicy.allowing(["127.0.0.1/32"]),
    )
    app = Starlette(routes=api.routes())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://watch.example.org") as http:
        yield Client(http, store, archive, api)
    await store.close()


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_csv_streams_every_matching_alert_as_an_attachment(client: Client) -> None:
    response = await client.call("GET", "/v1/alerts.csv?destination=EG")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment;")
    rows = csv_rows(response.text)
    assert len(rows) == 16 and {r["destinations"] for r in rows} == {"EG"}
    assert rows[0]["id"] == "a-spy"  # newest first
    assert rows[0]["title"].startswith("<script>")  # a CSV cell is text; only formulas are neutralised


async def test_csv_reads_page_after_page_and_says_where_it_stopped(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exports, "CSV_PAGE", 7)
    monkeypatch.setattr(exports, "CSV_MAX_ROWS", 20)
    response = await client.call("GET", "/v1/alerts.csv")
    lines = response.text.splitlines()
    assert len(lines) == 1 + 20 + 1
    assert "stopped at 20 rows" in lines[-1]
    assert all(q.limit == 7 for q in client.archive.queries) and len(client.archive.queries) == 3
    monkeypatch.setattr(exports, "CSV_MAX_ROWS", 100)
    whole = await client.call("GET", "/v1/alerts.csv")
    assert len(csv_rows(whole.text)) == 31 and "stopped" not in whole.text


async def test_atom_is_the_newest_page_and_valid(client: Client) -> None:
    response = await client.call("GET", "/v1/alerts.atom?limit=5&severity=high,critical")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    parsed = check_feed(response.content)
    assert len(parsed.entries) == 5
    assert parsed.entries[0].title == '<script>alert("x")</script> spyware sold to Egypt'
    assert b"<script>" not in response.content
    self_link = next(link.href for link in parsed.feed.links if link.rel == "self")
    assert self_link.endswith("/v1/alerts.atom?limit=5&severity=high,critical")
    assert parsed.entries[0].link == "https://watch.example.org/alerts/a-spy"
    assert client.archive.queries[-1].severities == (Severity.HIGH, Severity.CRITICAL)


async def test_a_bad_query_string_lists_every_problem(client: Client) -> None:
    for path in ("/v1/alerts.csv", "/v1/alerts.atom"):
        response = await client.call("GET", path + "?severity=urgent&since=yesterday&colour=red")
        assert response.status_code == 422
        body = response.json()
        assert {e["location"] for e in body["errors"]} == {"severity", "since", "colour"}
        assert client.archive.queries == []


async def test_exports_need_a_token(client: Client) -> None:
    for path in ("/v1/alerts.csv", "/v1/alerts.atom"):
        assert (await client.call("GET", path, token=None)).status_code == 401
        assert (await client.call("GET", path, token="wrong")).status_code == 401


async def test_a_personal_feed_shows_what_the_subscription_wants(client: Client) -> None:
    token = await client.store.tokens.add("amira", NOW)
    sub_id = await client.subscription(token, destinations=["EG"], min_severity="high", keyword="spyware")
    made = await client.call("POST", f"/v1/subscriptions/{sub_id}/feed", token)
    assert made.status_code == 201, made.text
    url = made.json()["url"]
    assert url.startswith("https://watch.example.org/feeds/") and url.endswith(".atom")
    feed = await client.http.get(url)  # no token: the URL is the key
    assert feed.status_code == 200
    assert feed.headers["referrer-policy"] == "no-referrer"
    parsed = check_feed(feed.content)
    assert [e.link for e in parsed.entries] == ["https://watch.example.org/alerts/a-spy"]
    query = client.archive.queries[-1]
    assert query.destinations == ("EG",) and query.severities == (Severity.HIGH, Severity.CRITICAL)
    secret = url.rsplit("/", 1)[1].removesuffix(".atom")
    assert secret not in str(await client.store.feeds.of_owner("amira"))
    shown = (await client.call("GET", f"/v1/subscriptions/{sub_id}", token)).json()
    assert shown["feed_url_since"] == NOW.isoformat() and secret not in str(shown)


async def test_a_new_feed_url_revokes_the_old_and_revoked_urls_answer_404(client: Client) -> None:
    token = await client.store.tokens.add("amira", NOW)
    sub_id = await client.subscription(token)
    first = (await client.call("POST", f"/v1/subscriptions/{sub_id}/feed", token)).json()["url"]
    second = (await client.call("POST", f"/v1/subscriptions/{sub_id}/feed", token)).json()["url"]
    assert first != second
    old = await client.http.get(first)
    unknown = await client.http.get("/feeds/never-made-0000.atom")
    assert old.status_code == unknown.status_code == 404
    assert old.json() == unknown.json()
    assert old.json()["instance"] == "/feeds/(secret).atom"  # the secret is not repeated in the answer
    assert old.headers["referrer-policy"] == "no-referrer"
    assert (await client.http.get(second)).status_code == 200
    assert (await client.call("DELETE", f"/v1/subscriptions/{sub_id}/feed", token)).status_code == 204
    assert (await client.http.get(second)).status_code == 404
    again = await client.call("DELETE", f"/v1/subscriptions/{sub_id}/feed", token)
    assert again.status_code == 404 and "no feed" in again.json()["detail"]


async def test_another_owners_feed_is_out_of_reach(client: Client) -> None:
    amira = await client.store.tokens.add("amira", NOW)
    boris = await client.store.tokens.add("boris", NOW)
    sub_id = await client.subscription(amira)
    url = (await client.call("POST", f"/v1/subscriptions/{sub_id}/feed", amira)).json()["url"]
    for method in ("POST", "DELETE"):
        response = await client.call(method, f"/v1/subscriptions/{sub_id}/feed", boris)
        assert response.status_code == 404  # as if it did not exist
    assert (await client.http.get(url)).status_code == 200  # boris revoked nothing
    assert await client.store.feeds.of_owner("boris") == []
    admin = await client.call("DELETE", f"/v1/subscriptions/{sub_id}/feed")
    assert admin.status_code == 204


async def test_deleting_a_subscription_revokes_its_feed(client: Client) -> None:
    token = await client.store.tokens.add("amira", NOW)
    sub_id = await client.subscription(token)
    url = (await client.call("POST", f"/v1/subscriptions/{sub_id}/feed", token)).json()["url"]
    assert (await client.call("DELETE", f"/v1/subscriptions/{sub_id}", token)).status_code == 204
    assert (await client.http.get(url)).status_code == 404
    assert await client.store.feeds.of_owner("amira") == []


async def test_behind_a_proxy_feed_addresses_use_the_configured_public_url(client: Client) -> None:
    """Notify reached as http://notify:8083 inside the cluster, as https://watch.example.org/ew outside:
    the addresses a researcher is given are the outside ones."""
    client.api.public_url = "https://watch.example.org/ew/"
    app = Starlette(routes=client.api.routes())
    token = await client.store.tokens.add("amira", NOW)
    sub_id = await client.subscription(token, destinations=["EG"])
    inside = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notify:8083")
    async with inside:
        made = await inside.post(
            f"/v1/subscriptions/{sub_id}/feed", headers={"authorization": f"Bearer {token}"}
        )
        assert made.status_code == 201, made.text
        url = made.json()["url"]
        assert url.startswith("https://watch.example.org/ew/feeds/"), url
        feed = await inside.get("/feeds/" + url.rsplit("/", 1)[1])
    links = [e.link for e in check_feed(feed.content).entries]
    assert links and all(link.startswith("https://watch.example.org/ew/alerts/") for link in links)
