"""The services' HTTP server: uvicorn's h11 protocol with limits a slow or greedy client cannot stretch.

uvicorn bounds only the idle time between requests on a kept-alive connection; a client that sends
its request a byte at a time keeps the connection (and its memory) for as long as it likes, and every
connection is accepted. Here each request has a deadline for its headers and one for its body, counted
from when the request began, whatever trickles in meanwhile: past it the client gets a 408 and the
connection is closed (an application waiting for the body sees the client gone). Connections beyond
``max_connections`` get a 503 and are closed at once."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol


@dataclass(frozen=True)
class HttpLimits:
    header_seconds: float = 10.0
    body_seconds: float = 60.0
    max_connections: int = 256


def _answer(status: bytes) -> bytes:
    return b"HTTP/1.1 " + status + b"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class GuardedH11Protocol(H11Protocol):
    """h11 with deadlines and a connection limit; :func:`guarded_protocol` gives it its limits."""

    limits = HttpLimits()
    _deadline: asyncio.TimerHandle | None = None
    _phase = "headers"  # headers -> body -> app (the request is read; the application answers)

    def _arm(self, seconds: float) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            transport.write(_answer(b"503 Service Unavailable"))
            transport.close()
            return
        self._phase = "headers"
        self._arm(self.limits.header_seconds)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        cycle = self.cycle
        if self._phase == "headers" and cycle is not None and not cycle.response_complete:
            self._phase = "body"
            self._arm(self.limits.body_seconds)
        if self._phase == "body" and cycle is not None and not cycle.more_body:
            self._phase = "app"
            self._disarm()

    def on_response_complete(self) -> None:
        self._phase = "headers"  # the next request on this connection has its own deadlines
        if not self.transport.is_closing():
            self._arm(self.limits.header_seconds)
        super().on_response_complete()

    def _too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self._phase == "app":
            return
        cycle = self.cycle
        if self._phase == "body" and cycle is not None:
            if cycle.response_started:  # the application answered already: just end it
                self.transport.close()
                return
            cycle.disconnected = True  # the application's receive() sees the client gone
            cycle.message_event.set()
        self.transport.write(_answer(b"408 Request Timeout"))
        self.transport.close()


# A personal feed's URL is its key (notify's /feeds/<secret>.atom): never written to a log as it is.
_FEED_SECRET = re.compile(r"/feeds/[^/?#\s\"]+\.atom")
FEED_PLACEHOLDER = "/feeds/(secret).atom"


def redact_paths(text: str) -> str:
    return _FEED_SECRET.sub(FEED_PLACEHOLDER, text)


class RedactSecretPaths(logging.Filter):
    """Rewrites the feed secrets out of uvicorn's access records (its arguments hold the path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_paths(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact_paths(record.msg)
        return True


_ACCESS_FILTER = RedactSecretPaths()


def guarded_protocol(limits: HttpLimits) -> type[H11Protocol]:
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"limits": limits})


def server_config(app: object, host: str, port: int, limits: HttpLimits) -> uvicorn.Config:
    # The access log is off by default (uvicorn.access at WARNING, services/common/logging.py); should
    # an operator turn it on, the feed secrets stay out of it.
    access = logging.getLogger("uvicorn.access")
    if _ACCESS_FILTER not in access.filters:
        access.addFilter(_ACCESS_FILTER)
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        log_level="warning",
        lifespan="off",
        http=guarded_protocol(limits),
    )
