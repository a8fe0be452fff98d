"""Test sends (``POST /v1/subscriptions/{id}/test``) cannot be used to mail strangers: over real HTTP to
the notify service, sending to a real SMTP server (aiosmtpd on 127.0.0.1). Issue 17 item 3."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from services.common.settings import CommonSettings
from services.notify.admin import check
from services.notify.app import create_service
from services.notify.settings import NotifySettings
from services.notify.store.repository import NotifyStore
from tests.integration.test_notify_email import Recorder, smtp_server
from tests.problems import lines, problem
from tools.embedded import EmbeddedBroker, free_port

pytestmark = pytest.mark.broker

NOBODY = f"nobody-{uuid.uuid4().hex[:8]}"  # a vendor id no alert on the shared broker names
NAME = "URGENT: your account is locked, call +1 555 0100"  # attacker text as a subscription name


@dataclass
class Running:
    base: str
    admin: str
    recorder: Recorder
    http: httpx.AsyncClient
    store: NotifyStore

    async def call(self, method: str, path: str, token: str, body: Any = None) -> httpx.Response:
        return await self.http.request(
            method, self.base + path, headers={"authorization": f"Bearer {token}"}, json=body
        )

    async def token(self, owner: str) -> str:
        made = await self.call("POST", "/v1/tokens", self.admin, {"owner": owner})
        assert made.status_code == 201, made.text
        token: str = made.json()["token"]
        return token

    async def subscription(self, token: str, to: list[str], name: str = NAME) -> httpx.Response:
        body = {"name": name, "filters": {"entities": [NOBODY]}, "channel": {"type": "email", "to": to}}
        return await self.call("POST", "/v1/subscriptions", token, body)


@pytest.fixture
def recorder() -> Iterator[tuple[Recorder, int]]:
    rec = Recorder()
    with smtp_server(rec) as port:
        yield rec, port


def notify_settings(
    kafka: EmbeddedBroker, db_url: str, smtp_port: int, admin: str, group_id: str
) -> NotifySettings:
    return NotifySettings(
        common=CommonSettings(kafka_bootstrap=kafka.bootstrap, kafka_embedded=True),
        http_port=free_port(),
        group_id=group_id,
        database_url=db_url,
        admin_token=admin,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_security="none",
        email_per_second=1000.0,
        send_timeout_seconds=5.0,
        test_sends_per_hour=30,
        max_recipients=10,
        extra_vendors=[NOBODY],
    )


@pytest.fixture
async def running(
    kafka: EmbeddedBroker, db_url: str, recorder: tuple[Recorder, int]
) -> AsyncIterator[Running]:
    rec, port = recorder
    admin = f"admin-{uuid.uuid4().hex}"
    settings = notify_settings(kafka, db_url, port, admin, f"notify-test-sends-{uuid.uuid4().hex[:8]}")
    service = create_service(settings)
    async with service.running(), httpx.AsyncClient(timeout=10) as http:
        yield Running(f"http://127.0.0.1:{settings.http_port}", admin, rec, http, service.state["store"])


@pytest.fixture
async def replicas(
    kafka: EmbeddedBroker, db_url: str, recorder: tuple[Recorder, int]
) -> AsyncIterator[list[Running]]:
    """Two notify services (replicas: one consumer group, one database, one admin token), each with
    its own HTTP server on its own port, as a load balancer would see them."""
    rec, port = recorder
    admin = f"admin-{uuid.uuid4().hex}"
    group = f"notify-test-sends-{uuid.uuid4().hex[:8]}"
    settings = [notify_settings(kafka, db_url, port, admin, group) for _ in range(2)]
    services = [create_service(each) for each in settings]
    async with contextlib.AsyncExitStack() as stack:
        for service in services:
            await stack.enter_async_context(service.running())
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=10))
        yield [
            Running(f"http://127.0.0.1:{each.http_port}", admin, rec, http, service.state["store"])
            for each, service in zip(settings, services, strict=True)
        ]


def addresses(n: int) -> list[str]:
    return [f"stranger{i}@victims.example" for i in range(n)]


async def test_twenty_quick_test_sends_reach_the_mail_server_three_times(running: Running) -> None:
    alice = await running.token("alice")
    made = await running.subscription(alice, addresses(10))
    assert made.status_code == 201, made.text
    path = f"/v1/subscriptions/{made.json()['id']}/test"

    answers = await asyncio.gather(*(running.call("POST", path, alice) for _ in range(20)))

    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * 3 + [429] * 17
    assert len(running.recorder.messages) == 3
    for refused in (a for a in answers if a.status_code == 429):
        wait = int(refused.headers["retry-after"])
        assert 1 <= wait <= 120  # 30 an hour: the next one frees in two minutes at most
        assert refused.json()["retry_after_seconds"] == wait
        assert f"try again in {wait} s" in refused.json()["detail"]

    # The limit is per owner: another owner still gets their test send.
    bob = await running.token("bob")
    his = await running.subscription(bob, ["bob@example.org"], name="Bob's")
    sent = await running.call("POST", f"/v1/subscriptions/{his.json()['id']}/test", bob)
    assert sent.status_code == 200, sent.text
    assert len(running.recorder.messages) == 4


async def test_twenty_quick_test_sends_across_two_replicas_reach_the_mail_server_three_times(
    replicas: list[Running],
) -> None:
    """The pace is the owner's, not a replica's: behind a load balancer, twenty quick test sends that
    alternate between two replicas sharing one database still mail three times (each replica pacing
    alone let three through each: six)."""
    first, second = replicas
    alice = await first.token("alice")
    made = await second.subscription(alice, addresses(10))
    assert made.status_code == 201, made.text
    path = f"/v1/subscriptions/{made.json()['id']}/test"

    answers = await asyncio.gather(*(replicas[i % 2].call("POST", path, alice) for i in range(20)))

    statuses = sorted(a.status_code for a in answers)
    mails = len(first.recorder.messages)
    assert (statuses.count(200), statuses.count(429), mails) == (3, 17, 3), [a.text for a in answers]
    for refused in (a for a in answers if a.status_code == 429):
        wait = int(refused.headers["retry-after"])
        assert 1 <= wait <= 120
        assert refused.json()["retry_after_seconds"] == wait
        assert f"try again in {wait} s" in refused.json()["detail"]
    # Both replicas refused some: the shared pace held on each side.
    assert {a.url.port for a in answers if a.status_code == 429} == {
        int(r.base.rsplit(":", 1)[1]) for r in replicas
    }


async def test_a_database_failure_while_pacing_is_a_503_and_sends_nothing(running: Running) -> None:
    """The pace cannot be read or written (here its table is gone under the running service: a real
    driver error on either database): the test send is refused with a 503 and Retry-After, not sent
    unpaced and not a 500."""
    alice = await running.token("alice")
    made = await running.subscription(alice, ["desk@watchdog.example"])
    assert made.status_code == 201, made.text
    async with running.store.writing() as conn:
        await conn.execute(text("DROP TABLE notify_test_send_pacing"))

    refused = await running.call("POST", f"/v1/subscriptions/{made.json()['id']}/test", alice)

    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"] == "5"
    assert problem(refused, 503, "unavailable") == {
        "type": "urn:exportwatch:problem:unavailable",
        "title": "Service unavailable",
        "status": 503,
        "detail": "the database is unavailable, nothing was sent; try again in 5 s",
        "instance": f"/v1/subscriptions/{made.json()['id']}/test",
        "retry_after_seconds": 5,
    }
    assert running.recorder.messages == []


async def test_more_than_ten_recipients_are_a_422_problem(running: Running, tmp_path: Path) -> None:
    alice = await running.token("alice")
    over = await running.subscription(alice, addresses(11))
    assert over.status_code == 422, over.text
    assert any("at most 10 recipients" in p for p in lines(over.json()))

    made = await running.subscription(alice, addresses(10))
    assert made.status_code == 201, made.text
    grown = await running.call(
        "PATCH",
        f"/v1/subscriptions/{made.json()['id']}",
        alice,
        {"channel": {"type": "email", "to": addresses(11)}},
    )
    assert grown.status_code == 422, grown.text
    assert running.recorder.messages == []


def test_notify_check_refuses_more_than_ten_recipients(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "subscriptions.yaml"
    to = ", ".join(addresses(11))
    path.write_text(
        f"""
subscriptions:
  - id: many
    owner: ops
    name: Many
    filters: {{entities: [hikvision]}}
    channel: {{type: email, to: [{to}]}}
""",
        encoding="utf-8",
    )
    assert check(path) == 1
    assert "at most 10 recipients" in capsys.readouterr().err


async def test_the_subject_of_a_test_mail_never_carries_the_subscription_name(running: Running) -> None:
    alice = await running.token("alice")
    made = await running.subscription(alice, ["desk@watchdog.example"])
    assert made.status_code == 201, made.text
    sent = await running.call("POST", f"/v1/subscriptions/{made.json()['id']}/test", alice)
    assert sent.status_code == 200, sent.text

    [mail] = running.recorder.messages
    msg = mail.parsed()
    assert msg["Subject"] == "ExportWatch test message: your subscription works"
    assert "URGENT" not in msg["Subject"] and "555" not in msg["Subject"]
    # The body may name it, as the subscription's name.
    text = msg.get_body(("plain",))
    assert text is not None
    assert f"for the subscription “{NAME}”" in text.get_content()
