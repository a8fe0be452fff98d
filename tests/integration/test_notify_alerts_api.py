"""The alert archive's JSON API over real HTTP, with notify running in-process on the real broker and
database (SQLite and PostgreSQL): alerts published on the alerts topic are archived whether routed or
not, filtered and searched, paged by cursor (``next`` and a Link header), read one by one with their
story and the caller's own deliveries; every problem of a query string is named in one 422."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from schemas import Alert, topics
from services.common.settings import CommonSettings
from services.notify.app import create_service
from services.notify.settings import NotifySettings
from tests.alerts import make_alert
from tests.conftest import eventually
from tests.problems import problem
from tools.embedded import EmbeddedBroker, free_port
from tools.webhook_sink import WebhookSink

pytestmark = pytest.mark.broker

SECRET = "archive-test-signing-secret-01"
START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@dataclass
class Notify:
    base: str
    admin: str
    run: str
    kafka: EmbeddedBroker
    http: httpx.AsyncClient

    async def call(self, path: str, token: str | None, **params: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token is not None else {}
        return await self.http.get(self.base + path, headers=headers, params=params)

    async def token(self, owner: str) -> str:
        response = await self.http.post(
            self.base + "/v1/tokens",
            headers={"authorization": f"Bearer {self.admin}"},
            json={"owner": owner, "label": "test"},
        )
        assert response.status_code == 201, response.text
        token: str = response.json()["token"]
        return token

    async def publish(self, *alerts: Alert) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.kafka.bootstrap)
        await producer.start()
        try:
            for alert in alerts:
                await producer.send_and_wait(
                    topics.ALERTS, alert.model_dump_json().encode(), key=alert.id.encode()
                )
        finally:
            await producer.stop()


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    s = WebhookSink(secret=SECRET).start()
    yield s
    s.stop()


@pytest.fixture
async def notify(kafka: EmbeddedBroker, db_url: str, tmp_path: Path) -> AsyncIterator[Notify]:
    run = uuid.uuid4().hex[:8]
    admin = f"admin-{uuid.uuid4().hex}"
    settings = NotifySettings(
        common=CommonSettings(kafka_bootstrap=kafka.bootstrap, kafka_embedded=True),
        http_port=free_port(),
        group_id=f"notify-archive-{run}",
        database_url=db_url,
        admin_token=admin,
        # This run's own vendor: alerts other tests publish on the shared broker never name it.
        extra_vendors=[f"v-{run}"],
        allow_private_networks=["127.0.0.1/32"],
        group_wait_seconds=0.1,
        poll_seconds=0.1,
    )
    service = create_service(settings)
    async with service.running(), httpx.AsyncClient(timeout=10) as http:
        yield Notify(f"http://127.0.0.1:{settings.http_port}", admin, run, kafka, http)


def story(notify: Notify, n: int, **extra: Any) -> Alert:
    values: dict[str, Any] = {
        "event_id": f"news-{notify.run}-{n}",
        "entities": [f"v-{notify.run}"],
        "created_at": START + dt.timedelta(hours=n),
        "source": "reuters",
        "language": "en",
    }
    values.update(extra)
    return make_alert(f"alert-{notify.run}-{n}", **values)


async def test_archived_alerts_are_filtered_searched_and_paged(notify: Notify) -> None:
    run = notify.run
    alerts = [story(notify, n, destinations=["EG"] if n % 2 else ["CN"]) for n in range(5)]
    alerts.append(story(notify, 9, title="Überwachung in Kairo", destinations=["EG"], language="de"))
    await notify.publish(*alerts)  # nobody subscribes: archived all the same
    alice = await notify.token("alice")

    async def archived() -> bool:
        response = await notify.call("/v1/alerts", alice, vendor=f"v-{run}", limit=100)
        return len(response.json()["alerts"]) == 6

    await eventually(archived)
    egypt = await notify.call("/v1/alerts", alice, vendor=f"v-{run}", destination="eg")
    assert [a["id"] for a in egypt.json()["alerts"]] == [f"alert-{run}-{n}" for n in (9, 3, 1)]
    text = await notify.call("/v1/alerts", alice, vendor=f"v-{run}", q="überwachung", language="de")
    assert [a["id"] for a in text.json()["alerts"]] == [f"alert-{run}-9"]

    seen: list[str] = []
    first = await notify.call("/v1/alerts", alice, vendor=f"v-{run}", limit=4)
    body = first.json()
    seen.extend(a["id"] for a in body["alerts"])
    assert body["next_cursor"] and body["next"].startswith(notify.base + "/v1/alerts?")
    assert first.headers["link"] == f'<{body["next"]}>; rel="next"'
    second = await notify.http.get(body["next"], headers={"authorization": f"Bearer {alice}"})
    seen.extend(a["id"] for a in second.json()["alerts"])
    assert second.json()["next"] is None and "link" not in second.headers
    assert seen == [f"alert-{run}-{n}" for n in (9, 4, 3, 2, 1, 0)]


async def test_every_problem_of_a_query_string_is_named(notify: Notify) -> None:
    alice = await notify.token("alice")
    response = await notify.call(
        "/v1/alerts", alice, destination="Egypt", severity="urgent", since="yesterday", limit=0, colour="red"
    )
    body = problem(response, 422, "invalid-body")
    assert {e["location"] for e in body["errors"]} == {"destination", "severity", "since", "limit", "colour"}
    assert "unknown severity 'urgent'" in body["detail"]
    assert (await notify.call("/v1/alerts", None)).status_code == 401
    assert (await notify.call("/v1/alerts", "ewt_not-a-token")).status_code == 401


async def test_one_alert_with_its_story_and_only_the_callers_deliveries(
    notify: Notify, sink: WebhookSink
) -> None:
    run = notify.run
    alice, bob = await notify.token("alice"), await notify.token("bob")
    for owner, token in (("alice", alice), ("bob", bob)):
        created = await notify.http.post(
            notify.base + "/v1/subscriptions",
            headers={"authorization": f"Bearer {token}"},
            json={
                "id": f"{owner}-{run}",
                "name": f"Vendor watch of {owner}",
                "filters": {"entities": [f"v-{run}"]},
                "channel": {"type": "webhook", "url": f"{sink.url}/hook", "secret": SECRET},
            },
        )
        assert created.status_code == 201, created.text
    first = story(notify, 1)
    copy = story(notify, 2, duplicate_of=first.event_id, source="afp", url="https://afp.example/2")
    await notify.publish(first, copy)

    async def delivered() -> bool:
        response = await notify.call(f"/v1/alerts/{copy.id}", notify.admin)
        outcomes = [d["outcome"] for d in response.json().get("deliveries", [])]
        # The two copies may sit on different partitions: the first can be archived after the copy.
        story_in = [s["id"] for s in response.json().get("story", [])] == [first.id]
        return response.status_code == 200 and outcomes == ["delivered", "delivered"] and story_in

    await eventually(delivered)
    mine = (await notify.call(f"/v1/alerts/{copy.id}", alice)).json()
    assert mine["alert"]["id"] == copy.id and mine["alert"]["source"] == "afp"
    assert mine["story"] == [
        {
            "id": first.id,
            "title": first.title,
            "url": first.url,
            "source": "reuters",
            "created_at": first.created_at.isoformat(),
        }
    ]
    [delivery] = mine["deliveries"]
    assert delivery["subscription_id"] == f"alice-{run}" and delivery["channel"] == "webhook"
    assert delivery["subscription_name"] == "Vendor watch of alice" and delivery["attempts"] >= 1
    assert SECRET not in str(mine) and sink.url not in str(mine)
    missing = await notify.call(f"/v1/alerts/nothing-{run}", alice)
    assert "no alert" in problem(missing, 404, "not-found")["detail"]
