"""/healthz tells the truth about notify's database (issue 17): while another connection holds an
exclusive lock on the SQLite file, recording alerts fails and /healthz answers 503 naming the check
and since when (no database URL); once the lock is gone and a batch is recorded, it answers 200."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import cast

import httpx
import pytest
from faststream.kafka import KafkaBroker

from services.common.health import Health
from services.common.pipeline import new_registry
from services.common.runtime import Service
from services.common.settings import CommonSettings
from services.notify.intake import make_handler
from services.notify.metrics import NotifyMetrics
from services.notify.store.repository import NotifyStore
from tests.alerts import make_alert
from tests.integration.test_notify_dispatch import records


class _ReachableBroker:
    """The broker is not what this test is about: it always answers."""

    async def ping(self, timeout: float) -> bool:
        return True


def _service(health: Health) -> Service:
    """Notify's HTTP side with the given health checks and a broker that always answers."""
    return Service(
        name="notify",
        settings=CommonSettings(),
        http_port=0,
        broker=cast(KafkaBroker, _ReachableBroker()),
        registry=new_registry(),
        ready=True,
        health=health,
    )


async def test_notify_healthz_is_503_while_the_database_is_locked(tmp_path: Path) -> None:
    path = tmp_path / "notify.db"
    store = await NotifyStore.open(f"sqlite:///{path}")
    try:
        await store.migrate()
        health = Health(threshold_seconds=1.0)
        handler = make_handler(store, NotifyMetrics(new_registry()), 0.0, lambda: None, health=health)
        service = _service(health)
        transport = httpx.ASGITransport(app=service.asgi())
        async with httpx.AsyncClient(transport=transport, base_url="http://notify") as client:
            await handler(records([make_alert("alert-1")]))
            assert (await client.get("/healthz")).status_code == 200

            lock = sqlite3.connect(path, isolation_level=None)
            lock.execute("BEGIN EXCLUSIVE")
            try:
                # The store waits busy_timeout (10 s) for the lock, then gives up: longer than the threshold.
                with pytest.raises(Exception, match="locked"):
                    await handler(records([make_alert("alert-2")], start=1))
                reply = await client.get("/healthz")
                assert reply.status_code == 503
                [failing] = reply.json()["failing"]
                assert failing["check"] == "database"
                assert failing["reason"] == "OperationalError"
                assert str(path) not in reply.text and "sqlite" not in reply.text
            finally:
                lock.execute("ROLLBACK")
                lock.close()

            await handler(records([make_alert("alert-2")], start=1))
            reply = await client.get("/healthz")
            assert reply.status_code == 200, reply.text
            assert reply.json()["failing"] == []
    finally:
        await store.close()


async def test_livez_leaves_the_database_out_so_an_outage_does_not_restart_the_pod() -> None:
    health = Health(threshold_seconds=1.0)
    health.failed("database", dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5), "OperationalError")
    service = _service(health)
    transport = httpx.ASGITransport(app=service.asgi())
    async with httpx.AsyncClient(transport=transport, base_url="http://notify") as client:
        assert (await client.get("/healthz")).status_code == 503
        live = await client.get("/livez")
        assert live.status_code == 200, live.text
        assert live.json() == {"service": "notify", "ready": True, "broker": True, "failing": []}
