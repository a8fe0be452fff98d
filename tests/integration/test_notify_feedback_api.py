"""Feedback over real HTTP, with notify running in-process on the real broker and database (SQLite and
PostgreSQL): a researcher judges an alert of the archive for themself, every problem of a judgement is
named at once, each researcher sees only their own judgements (the admin sees all), and /metrics shows
precision per rule and language, never an owner."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from schemas import Alert
from services.common.settings import CommonSettings
from services.notify.app import create_service
from services.notify.core.archive import ArchivedAlert
from services.notify.core.feedback import NOT_RELEVANT
from services.notify.settings import NotifySettings
from tests.alerts import make_alert
from tests.problems import lines, problem
from tools.embedded import EmbeddedBroker, free_port

pytestmark = pytest.mark.broker

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


class Archive:
    """The archive's ``get`` over alerts given by the test (its tables are written on another branch)."""

    def __init__(self, *alerts: Alert) -> None:
        self.alerts = {a.id: a for a in alerts}

    async def get(self, alert_id: str) -> ArchivedAlert | None:
        alert = self.alerts.get(alert_id)
        return ArchivedAlert(alert, NOW, [alert]) if alert is not None else None


@dataclass
class Notify:
    base: str
    admin: str
    http: httpx.AsyncClient

    async def call(self, method: str, path: str, token: str, body: Any = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"}
        return await self.http.request(method, self.base + path, headers=headers, json=body)

    async def token(self, owner: str) -> str:
        response = await self.call("POST", "/v1/tokens", self.admin, {"owner": owner})
        assert response.status_code == 201, response.text
        token: str = response.json()["token"]
        return token

    async def metrics(self) -> str:
        return (await self.http.get(self.base + "/metrics")).text


ALERTS = (
    make_alert("news.tech_destination:news-1", language="en"),
    make_alert("news.tech_destination:news-2", event_id="news-2", language="fr"),
)


@pytest.fixture
async def notify(kafka: EmbeddedBroker, db_url: str, tmp_path: Path) -> AsyncIterator[Notify]:
    admin = f"admin-{uuid.uuid4().hex}"
    settings = NotifySettings(
        common=CommonSettings(kafka_bootstrap=kafka.bootstrap, kafka_embedded=True),
        http_port=free_port(),
        group_id=f"notify-feedback-{uuid.uuid4().hex[:8]}",
        database_url=db_url,
        admin_token=admin,
    )
    service = create_service(settings)
    service.state["store"].archive = Archive(*ALERTS)
    async with service.running(), httpx.AsyncClient(timeout=10) as http:
        yield Notify(f"http://127.0.0.1:{settings.http_port}", admin, http)


async def test_researchers_judge_alerts_for_themselves(notify: Notify) -> None:
    alice, bob = await notify.token("alice"), await notify.token("bob")
    first, second = (f"/v1/alerts/{a.id}/feedback" for a in ALERTS)
    put = await notify.call("PUT", first, alice, {"relevant": False, "reason": "wrong_destination"})
    assert put.status_code == 200, put.text
    judged = put.json()
    assert judged["owner"] == "alice" and judged["relevant"] is False
    assert judged["reason_label"] == NOT_RELEVANT["wrong_destination"]
    again = await notify.call("PUT", first, alice, {"relevant": True, "note": "A new contract"})
    assert again.json()["relevant"] is True and again.json()["reason"] is None
    assert again.json()["created_at"] == judged["created_at"]
    assert (await notify.call("PUT", second, alice, {"relevant": True})).status_code == 200
    assert (
        await notify.call("PUT", first, bob, {"relevant": False, "reason": "duplicate"})
    ).status_code == 200

    assert (await notify.call("GET", first, alice)).json()["note"] == "A new contract"
    assert (await notify.call("GET", first, bob)).json()["reason"] == "duplicate"
    mine = (await notify.call("GET", "/v1/feedback", alice)).json()
    assert [f["alert_id"] for f in mine["feedback"]] == [ALERTS[1].id, ALERTS[0].id]
    assert mine["reasons"]["not_relevant"]["duplicate"] == NOT_RELEVANT["duplicate"]
    everyone = (await notify.call("GET", "/v1/feedback", notify.admin)).json()["feedback"]
    assert sorted(f["owner"] for f in everyone) == ["alice", "alice", "bob"]

    # Withdrawn: gone for bob only; withdrawing twice, or what was never given, is a 404.
    assert (await notify.call("DELETE", first, bob)).status_code == 204
    problem(await notify.call("DELETE", first, bob), 404, "not-found")
    problem(await notify.call("GET", first, bob), 404, "not-found")
    assert (await notify.call("GET", first, alice)).status_code == 200


async def test_problems_are_named_all_at_once(notify: Notify) -> None:
    alice = await notify.token("alice")
    path = f"/v1/alerts/{ALERTS[0].id}/feedback"
    answer = problem(
        await notify.call("PUT", path, alice, {"relevant": "yes", "reason": "boring", "mood": 1}),
        422,
        "invalid-body",
    )
    found = lines(answer)
    assert [line.split(":")[0] for line in found] == ["mood", "relevant", "reason"], found
    assert "wrong_destination" in found[2] and "'boring'" in found[2]
    answer = problem(
        await notify.call("PUT", path, alice, {"relevant": False, "reason": "new_deal"}), 422, "invalid-body"
    )
    assert "old_news" in lines(answer)[0]
    missing = await notify.call("PUT", "/v1/alerts/no-such-alert/feedback", alice, {"relevant": True})
    assert "no-such-alert" in problem(missing, 404, "not-found")["detail"]
    # Ids no alert can have never reach the database (PostgreSQL refuses NUL): a 404, never a 500.
    for hostile in ("bad%00id", "bad%0Aid", "x" * 301):
        for method in ("GET", "PUT", "DELETE"):
            answer = await notify.call(method, f"/v1/alerts/{hostile}/feedback", alice, {"relevant": True})
            problem(answer, 404, "not-found")
    assert (await notify.call("GET", "/v1/feedback", alice)).json()["feedback"] == []


async def test_metrics_show_precision_per_rule_and_language(notify: Notify) -> None:
    alice, bob = await notify.token("alice"), await notify.token("bob")
    rule = ALERTS[0].rule
    first = f"/v1/alerts/{ALERTS[0].id}/feedback"
    await notify.call("PUT", first, alice, {"relevant": True})
    await notify.call("PUT", first, bob, {"relevant": False, "reason": "old_news"})
    await notify.call("PUT", f"/v1/alerts/{ALERTS[1].id}/feedback", bob, {"relevant": True})
    text = await notify.metrics()
    assert f'exportwatch_notify_feedback_precision{{language="en",rule="{rule}"}} 0.5' in text
    assert f'exportwatch_notify_feedback_precision{{language="fr",rule="{rule}"}} 1.0' in text
    assert (
        f'exportwatch_notify_feedback_judgements{{language="en",rule="{rule}",verdict="not_relevant"}} 1.0'
        in text
    )
    assert "alice" not in text and "bob" not in text
    # A withdrawn judgement leaves the figures at once.
    await notify.call("DELETE", first, bob)
    text = await notify.metrics()
    assert f'exportwatch_notify_feedback_precision{{language="en",rule="{rule}"}} 1.0' in text
    assert 'verdict="not_relevant"' not in text
