"""The kept-alive delivery clients against a real local HTTP server: sends to one origin share a
connection, the address guard still refuses forbidden addresses, idle clients are closed, and the pool
stays bounded."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from services.common.addresses import TargetPolicy
from services.notify.channels.base import ChannelContext, DeliveryError, Reason
from services.notify.channels.http import post
from services.notify.channels.pool import ClientPool

LOCAL = TargetPolicy.allowing(["127.0.0.1/32"])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


class _CountingServer(ThreadingHTTPServer):
    daemon_threads = True
    connections = 0

    def process_request(self, request: object, client_address: object) -> None:
        self.connections += 1
        super().process_request(request, client_address)  # type: ignore[arg-type]


@pytest.fixture
def server() -> Iterator[_CountingServer]:
    srv = _CountingServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _url(server: _CountingServer, path: str = "/hook") -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


async def test_sends_to_one_origin_share_one_connection(server: _CountingServer) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        ctx = ChannelContext(http=http, targets=LOCAL)
        for path in ("/a", "/b?token=1", "/c"):
            await post(ctx, _url(server, path), b"{}", {"content-type": "application/json"})
        assert server.connections == 1
        assert len(ctx.clients) == 1
        await ctx.clients.aclose()
        assert len(ctx.clients) == 0


async def test_a_pooled_client_still_refuses_a_forbidden_address(server: _CountingServer) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        pool = ClientPool()
        allowed = ChannelContext(http=http, targets=LOCAL, clients=pool)
        await post(allowed, _url(server), b"{}", {})
        strict = ChannelContext(http=http, targets=TargetPolicy(), clients=pool)  # loopback forbidden
        with pytest.raises(DeliveryError) as refused:
            await post(strict, _url(server), b"{}", {})
        assert refused.value.reason is Reason.FORBIDDEN_TARGET
        assert server.connections == 1  # the allowed context's kept connection was not lent out
        await pool.aclose()


async def test_idle_clients_are_closed_and_the_pool_is_bounded(server: _CountingServer) -> None:
    now = [0.0]
    pool = ClientPool(max_clients=2, idle_seconds=10, clock=lambda: now[0])
    timeout = httpx.Timeout(5)
    verify = ssl.create_default_context()
    for port in (1, 2, 3):  # three origins, never connected to: only the clients are made
        async with pool.borrow(httpx.URL(f"http://127.0.0.1:{port}/"), LOCAL, timeout, verify):
            pass
    assert len(pool) == 2
    async with pool.borrow(httpx.URL(_url(server)), LOCAL, timeout, verify) as client:
        now[0] = 100.0
        async with pool.borrow(httpx.URL("http://127.0.0.1:9/"), LOCAL, timeout, verify):
            pass
        assert not client.is_closed  # in use: never closed under a send
    now[0] = 200.0
    async with pool.borrow(httpx.URL("http://127.0.0.1:7/"), LOCAL, timeout, verify):
        pass
    assert client.is_closed  # idle for 100 s: closed
    assert len(pool) == 1
    await pool.aclose()
    with pytest.raises(RuntimeError):
        async with pool.borrow(httpx.URL(_url(server)), LOCAL, timeout, verify):
            pass
