"""Running one service: its publisher, its FastStream Kafka broker (for its consumers, if it has any),
its HTTP port (/metrics, /healthz and any routes of its own), topic recovery, and a clean stop on
SIGTERM/SIGINT.

We drive the broker ourselves instead of ``FastStream.run`` so that shutdown always calls
``broker.stop()``: that leaves the consumer group at once, so a replacement replica gets the partitions
without waiting for the session timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from schemas import topics
from services.common import httpapi
from services.common.health import Health
from services.common.httpserver import HttpLimits, server_config
from services.common.kafka import check_reachable
from services.common.messaging.declarations import Declarations
from services.common.messaging.metrics import PipelineMetrics
from services.common.messaging.publisher import Publisher
from services.common.settings import CommonSettings
from services.common.topics import ensure_topics, topic_guard

log = logging.getLogger("exportwatch.runtime")


async def _not_found(request: Request, exc: Exception) -> Response:
    return httpapi.not_found("no such endpoint").response(request)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    allow = getattr(exc, "headers", None) or {}
    problem = httpapi.ApiProblem(
        405, "method-not-allowed", f"method {request.method} not allowed here", headers=allow
    )
    return problem.response(request)


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the runtime owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def make_broker(settings: CommonSettings, service: str) -> KafkaBroker:
    return KafkaBroker(
        settings.servers,
        # TLS and SASL as every other client connects (services/common/kafka.py); None for PLAINTEXT.
        security=settings.broker_security(),
        client_id=f"exportwatch-{service}",
        acks="all",
        enable_idempotence=False,
        # Our handlers log what matters with ids; FastStream's per-message lines cost throughput. Its
        # logger goes through our handlers (stderr), never onto the console where alerts are shown.
        logger=logging.getLogger("exportwatch.kafka"),
        log_level=logging.DEBUG,
        graceful_timeout=15.0,
    )


def make_publisher(
    settings: CommonSettings, service: str, declarations: Declarations, metrics: PipelineMetrics
) -> Publisher:
    """The service's one publisher: allowed the topics it declares it produces, with the embedded
    broker's topic guard only when the broker is the embedded one."""
    return Publisher(
        settings,
        f"exportwatch-{service}-producer",
        metrics,
        guard=topic_guard(settings.kafka_embedded),
        topics=declarations.produced_topics,
    )


@dataclass
class Service:
    """Everything one running service needs: name, settings, what it declares it consumes and produces,
    its publisher, its broker (None when it consumes nothing), metrics and HTTP routes."""

    name: str
    settings: CommonSettings
    http_port: int
    declarations: Declarations
    publisher: Publisher
    broker: KafkaBroker | None
    registry: CollectorRegistry
    routes: list[BaseRoute] = field(default_factory=list)
    owned_topics: Sequence[str] = topics.ALL
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    on_start: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    ready: bool = False
    state: dict[str, Any] = field(default_factory=dict)  # the service's own objects, for tests and tools
    health: Health = field(default_factory=Health)  # what its parts say of their dependencies

    async def healthz(self, request: Request) -> Response:
        """Can the service do its work: started, broker answering (its publisher's client, and its
        consumers' when it has any), and no check of its dependencies
        (its database) failing beyond the threshold. For readiness, compose and people."""
        return await self._answer(checks=True)

    async def livez(self, request: Request) -> Response:
        """Is the process worth keeping: started and its broker answering. A failing database is left
        out, so an outage takes the pod out of rotation (readiness) without restarting it in a loop."""
        return await self._answer(checks=False)

    async def _answer(self, *, checks: bool) -> Response:
        connected = False
        if self.ready:
            with contextlib.suppress(Exception):
                connected = await self.publisher.ping(timeout=2.0)
                if connected and self.broker is not None:
                    connected = await self.broker.ping(timeout=2.0)
        failing = self.health.failing(dt.datetime.now(dt.UTC)) if checks else []
        body = {
            "service": self.name,
            "ready": self.ready,
            "broker": connected,
            "failing": [f.as_json() for f in failing],
        }
        healthy = self.ready and connected and not failing
        return JSONResponse(body, status_code=200 if healthy else 503)

    async def metrics(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    def asgi(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/healthz", self.healthz, methods=["GET"]),
                Route("/livez", self.livez, methods=["GET"]),
                Route("/metrics", self.metrics, methods=["GET"]),
                *self.routes,
            ],
            # Paths no route takes (one with a line break is not even seen by a catch-all route) and methods
            # a route does not take: problem details, as the APIs answer.
            exception_handlers={404: _not_found, 405: _not_allowed},
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Start the HTTP server, publisher, start hooks, broker, topic watcher (embedded broker only)
        and background tasks; stop them in reverse order. First, a bootstrap server must answer within
        ``kafka_start_timeout_seconds``: otherwise KafkaUnavailable says why, before anything else has
        started."""
        s = self.settings
        await check_reachable(s)
        if s.create_topics:
            await ensure_topics(s, list(self.owned_topics), s.topic_partitions, s.topic_replication)
        limits = HttpLimits(
            header_seconds=s.http_header_timeout_seconds,
            body_seconds=s.http_body_timeout_seconds,
            max_connections=s.http_max_connections,
        )
        server = _QuietServer(server_config(self.asgi(), s.http_host, self.http_port, limits))
        server_task = asyncio.create_task(server.serve(), name=f"{self.name}-http")
        try:
            # The publisher, then the hooks (database migrations): no message is consumed before.
            await self.publisher.start()
            for hook in self.on_start:
                await hook()
            if self.broker is not None:
                await self.broker.start()
        except BaseException:
            if self.broker is not None:
                await self.broker.stop()
            await self.publisher.stop()
            server.should_exit = True
            raise
        tasks: list[asyncio.Task[Any]] = [
            asyncio.create_task(job(), name=f"{self.name}-bg") for job in self.background
        ]
        # Only the embedded broker loses topics: on Apache Kafka there is no watcher (topics.py).
        guard = topic_guard(s.kafka_embedded)
        watcher = (
            guard.watcher(s, list(self.owned_topics), s.topic_partitions, s.topic_replication)
            if s.create_topics
            else None
        )
        if watcher is not None:
            tasks.append(asyncio.create_task(watcher, name=f"{self.name}-topics"))
        self.ready = True
        log.info("service started", extra={"service": self.name, "http_port": self.http_port})
        try:
            yield
        finally:
            self.ready = False
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            # Consumers stop first, so no batch is still being handled when the hooks close what it
            # uses (databases, HTTP clients); the publisher last, once nothing is left to publish.
            if self.broker is not None:
                await self.broker.stop()
            for hook in self.on_stop:
                with contextlib.suppress(Exception):
                    await hook()
            with contextlib.suppress(Exception):
                await self.publisher.stop()
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(server_task, 5)
            log.info("service stopped", extra={"service": self.name})


async def run_until_signal(service: Service) -> None:
    """Run the service until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with service.running():
        await stop.wait()
