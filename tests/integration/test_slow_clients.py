"""Slow and greedy HTTP clients against the real ingest and notify services over real sockets: a
request's headers and body have deadlines however slowly they trickle in (408, connection closed), and
connections beyond the limit get a 503 at once, while /healthz keeps answering."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.common.runtime import Service
from services.common.settings import CommonSettings
from tools.embedded import EmbeddedBroker, free_port

pytestmark = pytest.mark.broker

TOKEN = "slow-clients-push-token-0001"
HEADER_S, BODY_S, MAX_CONNECTIONS = 1.0, 1.5, 40


def make_service(name: str, kafka: EmbeddedBroker, tmp_path: Path) -> tuple[Service, int]:
    common = CommonSettings(
        kafka_bootstrap=kafka.bootstrap,
        kafka_embedded=True,
        http_header_timeout_seconds=HEADER_S,
        http_body_timeout_seconds=BODY_S,
        http_max_connections=MAX_CONNECTIONS,
    )
    port = free_port()
    if name == "ingest":
        from services.ingest.app import create_service as create_ingest
        from services.ingest.settings import IngestSettings

        return create_ingest(
            IngestSettings(
                common=common,
                http_port=port,
                database_url=f"sqlite:///{tmp_path / 'ingest.db'}",
                api_tokens=[TOKEN],
            )
        ), port
    from services.notify.app import create_service as create_notify
    from services.notify.settings import NotifySettings

    service = create_notify(
        NotifySettings(
            common=common,
            http_port=port,
            group_id=f"slow-{uuid.uuid4().hex[:8]}",
            database_url=f"sqlite:///{tmp_path / 'notify.db'}",
            admin_token=TOKEN,
        )
    )
    return service, port


@contextlib.asynccontextmanager
async def running(name: str, kafka: EmbeddedBroker, tmp_path: Path) -> AsyncIterator[int]:
    service, port = make_service(name, kafka, tmp_path)
    async with service.running():
        yield port


PATHS = {"ingest": "/v1/events", "notify": "/v1/subscriptions"}


async def trickle(port: int, data: bytes, every: float) -> tuple[float, bytes]:
    """Send ``data`` a byte every ``every`` seconds until the server closes; when it did and what it said."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    answer = b""
    try:
        for byte in data:
            writer.write(bytes([byte]))
            await writer.drain()
            with contextlib.suppress(TimeoutError):
                answer += await asyncio.wait_for(reader.read(200), every)
            if answer or reader.at_eof():
                break
        else:
            answer = await asyncio.wait_for(reader.read(200), 30)
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
    return time.monotonic() - started, answer


async def healthz_seconds(port: int) -> float:
    async with httpx.AsyncClient(timeout=5) as client:
        started = time.monotonic()
        response = await client.get(f"http://127.0.0.1:{port}/healthz")
        assert response.status_code == 200
        return time.monotonic() - started


@pytest.mark.parametrize("name", ["ingest", "notify"])
async def test_headers_that_trickle_in_are_cut_off_at_their_deadline(
    name: str, kafka: EmbeddedBroker, tmp_path: Path
) -> None:
    request = f"POST {PATHS[name]} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\n".encode() * 3
    async with running(name, kafka, tmp_path) as port:
        slow = [asyncio.create_task(trickle(port, request, 0.3)) for _ in range(30)]
        await asyncio.sleep(0.5)
        assert await healthz_seconds(port) < 1.0, "health answers beside 30 slow clients"
        results = await asyncio.wait_for(asyncio.gather(*slow), 20)
    for took, answer in results:
        assert took < HEADER_S + 1.0, f"a client trickling its headers was kept {took:.1f} s"
        assert answer.startswith(b"HTTP/1.1 408"), answer


@pytest.mark.parametrize("name", ["ingest", "notify"])
async def test_a_body_that_trickles_in_is_cut_off_at_its_deadline(
    name: str, kafka: EmbeddedBroker, tmp_path: Path
) -> None:
    head = (
        f"POST {PATHS[name]} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\n"
        "content-type: application/json\r\ncontent-length: 1000\r\n\r\n"
    ).encode()
    async with running(name, kafka, tmp_path) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head)
        await writer.drain()
        started = time.monotonic()
        answer = b""
        with contextlib.suppress(ConnectionError, OSError):
            for _ in range(1000):
                writer.write(b" ")
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    answer += await asyncio.wait_for(reader.read(200), 0.3)
                if answer or reader.at_eof():
                    break
        took = time.monotonic() - started
        writer.close()
        assert await healthz_seconds(port) < 1.0
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert took < BODY_S + 1.0, f"a client trickling its body was kept {took:.1f} s"


@pytest.mark.parametrize("name", ["ingest", "notify"])
async def test_connections_beyond_the_limit_get_a_503_at_once(
    name: str, kafka: EmbeddedBroker, tmp_path: Path
) -> None:
    async with running(name, kafka, tmp_path) as port:
        opened = [await asyncio.open_connection("127.0.0.1", port) for _ in range(MAX_CONNECTIONS + 10)]
        answers = []
        for reader, _ in opened:
            with contextlib.suppress(TimeoutError):
                answers.append(await asyncio.wait_for(reader.read(200), 0.05))
        refused = [a for a in answers if a.startswith(b"HTTP/1.1 503")]
        assert len(refused) >= 10, answers
        for _, writer in opened:
            writer.close()
        await asyncio.sleep(0.2)
        assert await healthz_seconds(port) < 1.0, "once they are gone, connections are taken again"
