"""Outbound HTTP to URLs that others chose (subscribers' webhooks, the sources file's feeds), which must
never reach an address the policy forbids: loopback, the private network, the cloud's metadata service.

Addresses are checked where the connection is made. :class:`GuardedTransport` is httpx's transport with
a connection pool whose only way out, :class:`GuardedBackend`, resolves the host once, refuses it when
any of its addresses is forbidden by the policy, and connects to one of exactly those addresses. There
is no second lookup a rebinding name could answer differently, and the URL keeps its host name, so the
Host header and the TLS server name (and the certificate check) are the URL's. Because the check is at
connect time, every request the client sends through the transport is checked, each redirect hop
included, and a kept-alive connection is only ever reused for its own origin (scheme, host, port), to
the address that was checked when it was opened. Environment proxies are not used: a proxy would
resolve the name itself, out of the policy's reach.

A refusal is an exception of this module, not an httpx error, so a caller cannot mistake it for a
network failure; its ``detail`` never names the host (a URL may be a secret).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from services.common.addresses import TargetPolicy

# httpx and httpcore log every request URL at INFO/DEBUG; webhook URLs and feed URLs can carry tokens,
# so these loggers stay at WARNING whatever level the root logger is set to.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)

RESOLVE_TIMEOUT = 10.0  # seconds for the host name lookup
SCHEMES = ("http", "https")
# One connection per client, closed after its request: what a one-shot send (a webhook POST) wants.
SINGLE_USE = httpx.Limits(max_connections=1, max_keepalive_connections=0)


class Refused(Exception):
    """A request the guard did not let out. Permanent (the policy said no) unless it is
    :class:`Unresolvable`. ``detail`` says why without naming the host; ``url`` is the request that was
    stopped (a redirect hop, maybe), for the caller to tell hops apart, never to be shown whole."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.url: httpx.URL | None = None


class Unresolvable(Refused):
    """The host name could not be resolved: a network failure, which may pass."""


class ForbiddenAddress(Refused):
    """The host resolves to an address the policy forbids; ``kind`` says which (``loopback``,
    ``private``, ``link-local``, …)."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"the host resolves to a {kind} address, which is not allowed")
        self.kind = kind


class ForbiddenScheme(Refused):
    """The URL is neither http nor https (a redirect to ``file:``, ``gopher:``, ``ws:``…)."""

    def __init__(self) -> None:
        super().__init__("the URL is not http or https")


async def allowed_addresses(host: str, port: int, policy: TargetPolicy) -> list[str]:
    """Every address of ``host``, resolved once; raises :class:`Unresolvable` when it cannot be resolved
    and :class:`ForbiddenAddress` when any of its addresses is forbidden by ``policy`` (one bad address
    among good ones is enough: the connection could go to any of them)."""
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise Unresolvable("cannot resolve the host name (timed out)") from None
    except (OSError, UnicodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise Unresolvable(f"cannot resolve the host name ({why})") from None
    addresses = list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in infos))
    if not addresses:
        raise Unresolvable("cannot resolve the host name (no address)")
    for address in addresses:
        refused = policy.refuse(address)
        if refused is not None:
            raise ForbiddenAddress(refused)
    return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """The only way out of the transport: TCP connections to addresses the policy allows, resolved once
    per connection and connected to as resolved. No unix sockets."""

    def __init__(self, policy: TargetPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        failure: Exception | None = None
        for address in await allowed_addresses(host, port, self._policy):
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise Refused("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool built on :class:`GuardedBackend`, refusing any scheme
    but http and https. ``verify`` is a TLS context, or a flag for httpx's defaults (certifi's CAs, or
    SSL_CERT_FILE; False accepts any certificate); ``limits`` sizes the pool (default: one connection,
    not kept alive)."""

    def __init__(
        self, policy: TargetPolicy, *, verify: ssl.SSLContext | bool = True, limits: httpx.Limits = SINGLE_USE
    ) -> None:
        context = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify)
        super().__init__(verify=context, trust_env=False)
        if not isinstance(getattr(self, "_pool", None), httpcore.AsyncConnectionPool):
            raise RuntimeError("this httpx version keeps its connection pool elsewhere")
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(policy),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            if request.url.scheme not in SCHEMES:
                raise ForbiddenScheme()
            return await super().handle_async_request(request)
        except Refused as refused:
            refused.url = request.url
            raise
