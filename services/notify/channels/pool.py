"""Kept-alive HTTP clients for deliveries: one client per origin (scheme, host, port) and address policy,
bounded in number, closed when idle too long and on shutdown.

A new client and TCP (and TLS) connection per send cost notify about a fifth of its CPU per delivery
(issue 20). Reusing connections does not weaken the address guard: every client's only way out is the
:class:`~services.common.outbound.GuardedTransport`, which resolves and checks the host on every *new*
connection, and a kept-alive connection is only reused for its own origin, to the address that was
checked when it was opened. Redirects are still not followed and environment proxies not used.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx

from services.common.addresses import TargetPolicy
from services.common.outbound import GuardedTransport

Origin = tuple[str, str, int, TargetPolicy]


@dataclass
class _Entry:
    client: httpx.AsyncClient
    used_at: float
    borrowed: int = 0


def origin_of(url: httpx.URL, policy: TargetPolicy) -> Origin:
    """The key a URL's connections are kept under: scheme, host as sent (lower case), port, policy."""
    port = url.port or (443 if url.scheme == "https" else 80)
    return (url.scheme, url.raw_host.decode("ascii", "replace").lower(), port, policy)


class ClientPool:
    """At most ``max_clients`` clients (the least recently used idle one is closed to make room), each
    with at most ``connections`` connections; a client unused for ``idle_seconds`` is closed the next
    time the pool is used, and :meth:`aclose` closes them all."""

    def __init__(
        self,
        *,
        max_clients: int = 256,
        connections: int = 8,
        idle_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_clients = max_clients
        self.idle_seconds = idle_seconds
        self._limits = httpx.Limits(
            max_connections=connections,
            max_keepalive_connections=connections,
            keepalive_expiry=min(idle_seconds, 30.0),
        )
        self._clock = clock
        self._entries: OrderedDict[Origin, _Entry] = OrderedDict()
        self._swept = clock()
        self._closed = False

    def __len__(self) -> int:
        return len(self._entries)

    @contextlib.asynccontextmanager
    async def borrow(
        self, url: httpx.URL, policy: TargetPolicy, timeout: httpx.Timeout, verify: ssl.SSLContext
    ) -> AsyncIterator[httpx.AsyncClient]:
        """The client for ``url``'s origin, held (never closed by the pool) until the block ends."""
        if self._closed:
            raise RuntimeError("the HTTP client pool is closed")
        now = self._clock()
        await self._close_all(self._expired(now))
        key = origin_of(url, policy)
        entry = self._entries.get(key)
        if entry is None:
            await self._close_all(self._over_limit())
            transport = GuardedTransport(policy, verify=verify, limits=self._limits)
            client = httpx.AsyncClient(
                transport=transport, timeout=timeout, follow_redirects=False, trust_env=False
            )
            entry = self._entries[key] = _Entry(client, now)
        self._entries.move_to_end(key)
        entry.borrowed += 1
        try:
            yield entry.client
        finally:
            entry.borrowed -= 1
            entry.used_at = self._clock()

    def _expired(self, now: float) -> list[httpx.AsyncClient]:
        if now - self._swept < min(self.idle_seconds, 5.0):
            return []
        self._swept = now
        gone = [
            key
            for key, entry in self._entries.items()
            if not entry.borrowed and now - entry.used_at >= self.idle_seconds
        ]
        return [self._entries.pop(key).client for key in gone]

    def _over_limit(self) -> list[httpx.AsyncClient]:
        """Idle clients to close so that one more fits (a pool full of busy clients grows past its
        bound until they are done, rather than cutting a send off)."""
        excess = len(self._entries) + 1 - self.max_clients
        idle = [key for key, entry in self._entries.items() if not entry.borrowed][: max(0, excess)]
        return [self._entries.pop(key).client for key in idle]

    @staticmethod
    async def _close_all(clients: list[httpx.AsyncClient]) -> None:
        if clients:
            await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)

    async def aclose(self) -> None:
        """Close every client (shutdown); the pool cannot be used afterwards."""
        self._closed = True
        clients = [entry.client for entry in self._entries.values()]
        self._entries.clear()
        await self._close_all(clients)
