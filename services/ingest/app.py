"""The ingest service: polls configured feeds, URLs and folders, accepts pushed events, and publishes
each new or corrected event once, with rejections on the dead-letter topic.

Everything here is wiring: parsing is in ``core``, deduplication and publishing in ``ingestor``,
polling in ``pollers``, the push API in ``api``, state in ``store``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

import httpx

from schemas import DeadLetter, LicenceRecord, NewsArticle, topics
from services.common.addresses import TargetPolicy
from services.common.db import safe_url
from services.common.health import DATABASE_CHECK, Health
from services.common.messaging.declarations import Declarations, Produces
from services.common.messaging.metrics import PipelineMetrics, new_registry
from services.common.outbound import GuardedTransport
from services.common.runtime import Service, make_publisher
from services.ingest.api import push_route
from services.ingest.core.dedup import NearDuplicateIndex, Sketcher
from services.ingest.core.language import LanguageDetector
from services.ingest.core.sources import rejection_reasons
from services.ingest.core.sources_file import SourceSpec, load_sources
from services.ingest.ingestor import SERVICE, Ingestor
from services.ingest.metrics import IngestMetrics
from services.ingest.pollers import PollPolicy, SourcePoller, run_pollers
from services.ingest.settings import IngestSettings
from services.ingest.store.repository import IngestStore

log = logging.getLogger("exportwatch.ingest")
RECHECK_SECONDS = 2.0  # how often a failing database is tried again while nothing else writes
DECLARATIONS = Declarations(
    produces=(
        Produces(
            topics.NEWS,
            NewsArticle,
            "Each new article once, with `ingested_at`; again, with the same id and the next "
            "`revision`, when its source corrects it. Copies with the same id or the same text are not "
            "published; near duplicates are, with `duplicate_of` naming the first copy.",
        ),
        Produces(
            topics.LICENCES,
            LicenceRecord,
            "Each new licence record once, with `ingested_at`; again, with the same id and the next "
            "`revision`, when its source corrects it.",
        ),
        Produces(
            topics.DEADLETTER,
            DeadLetter,
            "Items of polled files, folders and feeds that are not valid events (a JSON Lines line, a "
            "CSV row, a feed entry), with the reason and the original bytes. Events pushed to "
            "POST /v1/events are refused with 422 (400 for a line that is not JSON) instead.",
        ),
    ),
)


def configured_sources(settings: IngestSettings) -> list[SourceSpec]:
    """The sources file's entries, then one source per path in ``sources`` (named after the path)."""
    specs = load_sources(settings.sources_file) if settings.sources_file else []
    names = {s.name for s in specs}
    for path in settings.sources:
        name = "".join(c if c.isalnum() or c in "._-" else "-" for c in path.name).strip("-.") or "files"
        while name in names:
            name += "-1"
        names.add(name)
        specs.append(SourceSpec(name=name, path=path, language=settings.feed_language))
    return [s for s in specs if s.enabled]


def create_service(settings: IngestSettings | None = None) -> Service:
    settings = settings or IngestSettings()
    specs = configured_sources(settings)  # fails at start, with the file and the problem, when invalid
    registry = new_registry()
    pipeline = PipelineMetrics(SERVICE, registry, consumed_topics=())
    metrics = IngestMetrics(registry, [s.name for s in specs])
    for reason in rejection_reasons():
        pipeline.deadlettered.labels(reason=reason)
    policy = PollPolicy(
        url_interval=settings.url_interval_seconds,
        folder_interval=settings.folder_interval_seconds,
        backoff_base=settings.backoff_base_seconds,
        backoff_ceiling=settings.backoff_ceiling_seconds,
        timeout=settings.http_timeout_seconds,
        max_bytes=settings.max_fetch_bytes,
        max_item_bytes=settings.max_event_bytes,
    )
    url = settings.database_url.get_secret_value()
    store = IngestStore.from_url(url)
    store.health = Health(settings.health_threshold_seconds)  # every database operation reports here
    publisher = make_publisher(settings.common, SERVICE, DECLARATIONS, pipeline)
    ingestor = Ingestor(
        publisher,
        store,
        pipeline,
        metrics,
        sketcher=Sketcher(),
        near=NearDuplicateIndex(
            threshold=settings.near_duplicate_threshold,
            window=dt.timedelta(hours=settings.near_duplicate_window_hours),
            max_originals=settings.near_duplicate_max_articles,
        ),
        detector=LanguageDetector(settings.languages),
    )
    service = Service(
        name=SERVICE,
        settings=settings.common,
        http_port=settings.http_port,
        declarations=DECLARATIONS,
        publisher=publisher,
        broker=None,  # ingest consumes nothing: no FastStream broker, /healthz asks the publisher
        registry=registry,
        health=store.health,
    )
    service.routes.append(push_route(settings, ingestor, ready=lambda: service.ready))
    # Feeds are fetched through the guard notify uses for webhooks: every hop of a redirect is a new
    # request through the guarded transport, so each is checked where it connects; a pooled connection
    # serves only its own origin, at the address checked when it was opened.
    http = httpx.AsyncClient(
        transport=GuardedTransport(
            TargetPolicy.allowing(settings.allow_private_networks),
            verify=not settings.allow_insecure_tls,
            limits=httpx.Limits(max_connections=20),
        ),
        follow_redirects=True,
        max_redirects=5,
        trust_env=False,
    )
    pollers = [SourcePoller(spec, ingestor, store, metrics, policy, http) for spec in specs]
    service.state["pollers"] = pollers
    service.state["ingestor"] = ingestor

    async def open_store() -> None:
        await store.migrate()
        loaded = await ingestor.load()
        log.info(
            "ingest database ready",
            extra={"database": safe_url(url), "near_duplicate_originals": loaded, "sources": len(specs)},
        )

    async def poll() -> None:
        await run_pollers(pollers, ingestor)

    async def recheck_database() -> None:
        """Only a write clears the database check, and an idle ingest writes nothing: a replica taken
        out of rotation by the check gets no pushes that would. So while it fails, probe every few
        seconds, and /healthz answers 200 soon after the database is back."""
        while True:
            await asyncio.sleep(RECHECK_SECONDS)
            if store.health.is_failing(DATABASE_CHECK):
                with contextlib.suppress(Exception):  # reported to the check; the next probe tries again
                    await store.probe()

    async def close() -> None:
        await ingestor.drain()  # the publisher stops after this hook (runtime.py)
        await http.aclose()
        await store.close()

    service.on_start.append(open_store)
    service.background.extend([poll, recheck_database])
    service.on_stop.append(close)
    return service
