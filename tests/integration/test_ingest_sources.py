"""Ingest for real: feeds from a real local HTTP server (304s, failures, backoff), files and folders,
the real broker and the service's real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from schemas import NewsArticle, topics
from services.common.runtime import Service
from services.common.settings import CommonSettings
from services.ingest.app import create_service
from services.ingest.pollers import SourcePoller
from services.ingest.settings import IngestSettings
from tests.conftest import SHARED_SAMPLES, read_until_quiet
from tests.feedserver import Resource, feed_server
from tools.embedded import EmbeddedBroker, free_port

pytestmark = pytest.mark.broker


def values(records: Iterable[Any], keys: set[str] | None = None) -> list[dict[str, Any]]:
    """The JSON events among ``records``: the session's broker also holds other tests' poison messages."""
    out = []
    for r in records:
        try:
            out.append(json.loads(r.value))
        except ValueError:
            continue
    return [v for v in out if isinstance(v, dict) and (keys is None or v.get("id") in keys)]


# The test feeds are served on 127.0.0.1, which ingest refuses to fetch unless the operator allows it.
LOOPBACK_FEEDS = ["127.0.0.1/32"]


def _settings(kafka: EmbeddedBroker, db: str, sources_file: Path | None = None, **kw: Any) -> IngestSettings:
    return IngestSettings(
        common=CommonSettings(kafka_bootstrap=kafka.bootstrap, kafka_embedded=True),
        http_port=free_port(),
        database_url=db,
        sources_file=sources_file,
        backoff_base_seconds=30,
        **{"allow_private_networks": LOOPBACK_FEEDS, **kw},
    )


@asynccontextmanager
async def running(settings: IngestSettings) -> AsyncIterator[tuple[Service, dict[str, SourcePoller]]]:
    service = create_service(settings)
    async with service.running():
        pollers = {p.spec.name: p for p in service.state["pollers"]}
        yield service, pollers


async def first_polls(pollers: dict[str, SourcePoller]) -> None:
    for poller in pollers.values():
        await asyncio.wait_for(poller.polled.wait(), 60)


def rss(channel: str, items: list[dict[str, str]], language: str | None = "en") -> bytes:
    lang = f"<language>{language}</language>" if language else ""
    parts = [
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{channel}</title>'
        f"<link>https://{channel}.example/</link>{lang}"
    ]
    for item in items:
        parts.append(
            f"<item><title>{item['title']}</title><link>{item['link']}</link>"
            f"<pubDate>{item.get('date', 'Mon, 23 Nov 2026 07:00:00 GMT')}</pubDate>"
            f"<description><![CDATA[{item['body']}]]></description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


def _story_items(tag: str, n: int) -> list[dict[str, str]]:
    return [
        {
            "title": f"Item {i} of {tag}",
            "link": f"https://outlet.example/{tag}/{i}?utm_source=rss",
            "body": f"<p>Paragraph {i} about export licences for {tag}.</p>",
        }
        for i in range(n)
    ]


def _sources(tmp_path: Path, entries: list[dict[str, Any]]) -> Path:
    import yaml

    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump({"sources": entries}), encoding="utf-8")
    return path


async def test_feed_polls_use_validators_and_a_restart_republishes_nothing(
    kafka: EmbeddedBroker, tmp_path: Path, db_url: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    with feed_server() as server:
        server.resources["/feed.rss"] = Resource(rss("outlet", _story_items(tag, 5)))
        sources = _sources(tmp_path, [{"name": "outlet", "url": server.url("/feed.rss"), "interval": "1h"}])
        async with running(_settings(kafka, db_url, sources)) as (_, pollers):
            await first_polls(pollers)
            state = await pollers["outlet"].poll_once()
            assert state.failures == 0 and state.etag
        first, second = server.requests[0], server.requests[1]
        assert "if-none-match" not in first.headers
        assert second.headers["if-none-match"] == server.resources["/feed.rss"].etag
        assert second.headers["if-modified-since"] == server.last_modified
        assert server.statuses("/feed.rss") == [200, 304]

        news = [v for v in values(await read_until_quiet(kafka.bootstrap, topics.NEWS)) if tag in v["url"]]
        assert len(news) == 5
        assert all("utm_source" not in v["url"] and v["language"] == "en" for v in news)
        assert {v["body"] for v in news} == {
            f"Paragraph {i} about export licences for {tag}." for i in range(5)
        }

        # Restarted, with a server that ignores validators: the next poll is not due for an hour (the
        # schedule is kept too), so force one; the same items are recognised in the database and one new
        # item is the only thing published.
        server.resources["/feed.rss"] = Resource(rss("outlet", _story_items(tag, 6)), validators=False)
        async with running(_settings(kafka, db_url, sources)) as (_, pollers):
            await asyncio.sleep(0.5)
            assert len(server.requests) == 2
            state = await pollers["outlet"].poll_once()
            assert state.failures == 0
        news = [v for v in values(await read_until_quiet(kafka.bootstrap, topics.NEWS)) if tag in v["url"]]
        assert len(news) == 6
        assert len({v["id"] for v in news}) == 6


async def test_a_failing_feed_backs_off_honours_retry_after_and_recovers(
    kafka: EmbeddedBroker, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    db = f"sqlite:///{tmp_path / 'ingest.db'}"
    with feed_server() as server:
        server.resources["/flaky.rss"] = Resource(
            rss("flaky", _story_items(tag, 2)),
            failures=[(500, {}), (429, {"Retry-After": "120"}), (503, {})],
        )
        sources = _sources(tmp_path, [{"name": "flaky", "url": server.url("/flaky.rss"), "interval": "1h"}])
        async with running(_settings(kafka, db, sources)) as (service, pollers):
            poller = pollers["flaky"]
            await first_polls(pollers)
            state = await poller.store.source_state("flaky", "http")
            assert state.failures == 1 and "HTTP 500" in (state.last_error or "")
            delay = (state.next_attempt_at - state.last_attempt_at).total_seconds()  # type: ignore[operator]
            assert 27 <= delay <= 33.5  # 30 s, ±10% jitter

            state = await poller.poll_once()
            assert state.failures == 2
            delay = (state.next_attempt_at - state.last_attempt_at).total_seconds()  # type: ignore[operator]
            assert 120 <= delay <= 121  # Retry-After beats the 60 s backoff

        # The backoff survives a restart: the new process does not poll before the time is up...
        async with running(_settings(kafka, db, sources)) as (service, pollers):
            await asyncio.sleep(1.0)
            assert len(server.requests) == 2
            poller = pollers["flaky"]
            state = await poller.poll_once()  # ...and an operator-forced poll still counts the failure
            assert state.failures == 3
            state = await poller.poll_once()
            assert state.failures == 0 and state.last_error is None and state.last_success_at is not None
            metrics = (await _metrics(service)).splitlines()
        assert server.statuses("/flaky.rss") == [500, 429, 503, 200]
        # This process saw one of the three failures, then the success.
        assert 'exportwatch_ingest_source_polls_total{outcome="http_error",source="flaky"} 1.0' in metrics
        assert 'exportwatch_ingest_source_polls_total{outcome="ok",source="flaky"} 1.0' in metrics
        assert 'exportwatch_ingest_items_total{outcome="published",source="flaky"} 2.0' in metrics
        assert any(
            m.startswith('exportwatch_ingest_source_last_success_timestamp_seconds{source="flaky"}')
            for m in metrics
        )


async def _metrics(service: Service) -> str:
    import httpx

    async with httpx.AsyncClient() as client:
        return (await client.get(f"http://127.0.0.1:{service.http_port}/metrics")).text


WIRE = (
    "The European Commission has opened an inquiry into the sale of phone-hacking software by a "
    "Danish company to the security services of Bahrain, officials said on Monday. The company, "
    "which makes forensic tools that extract messages, contacts and location histories from locked "
    "smartphones, obtained an export licence from the Danish Business Authority in March, according "
    "to documents seen by reporters. Human rights groups say the tools were used against activists "
    "and journalists arrested after protests last year. A spokesperson for the company said it "
    "complies with all export regulations and sells only to law enforcement agencies for lawful "
    "investigations. The Danish authority declined to comment on individual licences but said every "
    "application is assessed against the risk of internal repression. Members of the European "
    "Parliament called for the licence to be revoked and for an EU-wide ban on exports of "
    "surveillance technology to governments that persecute critics."
)


def _outlet_copies(tag: str) -> list[tuple[str, str, str, str]]:
    """(feed, title, link, body): one wire story as three outlets published it, slightly edited."""
    first = WIRE
    second = (
        "COPENHAGEN (Reuters) - "
        + WIRE.replace(" officials said on Monday", " officials said")
        + (" Read more: Denmark's export rules explained.")
    )
    sentences = WIRE.split(". ")
    third = ". ".join(s for i, s in enumerate(sentences) if i != 3) + " © AFP"
    return [
        ("wire-a", "EU inquiry into Danish spyware sale to Bahrain", f"https://a.example/{tag}", first),
        ("wire-b", "Brussels probes phone-hacking tool sale", f"https://b.example/{tag}", second),
        ("wire-c", "Danish firm's Bahrain deal under scrutiny", f"https://c.example/{tag}", third),
    ]


async def test_the_same_story_from_three_outlets_is_one_original_and_two_duplicates(
    kafka: EmbeddedBroker, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    db = f"sqlite:///{tmp_path / 'ingest.db'}"
    copies = _outlet_copies(tag)
    with feed_server() as server:
        entries = []
        for i, (feed, title, link, body) in enumerate(copies):
            date = format_datetime(dt.datetime(2026, 11, 23, 7, 10 * i, tzinfo=dt.UTC), usegmt=True)
            server.resources[f"/{feed}.rss"] = Resource(
                rss(feed, [{"title": title, "link": link, "body": body, "date": date}])
            )
            entries.append({"name": feed, "url": server.url(f"/{feed}.rss"), "interval": "1h"})
        # An unrelated story in the same vocabulary must stay an original.
        server.resources["/other.rss"] = Resource(
            rss(
                "other",
                [
                    {
                        "title": "Bahrain activists sue spyware maker",
                        "link": f"https://d.example/{tag}",
                        "body": "Three Bahraini activists have filed a lawsuit in Copenhagen against a "
                        "surveillance company, accusing it of supplying the software that infected their "
                        "phones in 2021. Their lawyers say the export licence should never have been "
                        "granted and ask the court to order disclosure of all contracts with Bahraini "
                        "authorities, including maintenance and training agreements signed since 2019. "
                        "The company has not yet responded to the claim filed on Thursday.",
                    }
                ],
            )
        )
        entries.append({"name": "other", "url": server.url("/other.rss"), "interval": "1h"})
        async with running(_settings(kafka, db, _sources(tmp_path, entries))) as (service, pollers):
            await first_polls(pollers)
            metrics = await _metrics(service)
    news = [v for v in values(await read_until_quiet(kafka.bootstrap, topics.NEWS)) if v["url"].endswith(tag)]
    assert len(news) == 4
    by_source = {v["source"]: v for v in news}
    wire = [by_source[f] for f in ("wire-a", "wire-b", "wire-c")]
    wire_originals = [v for v in wire if v["duplicate_of"] is None]
    assert len(wire_originals) == 1, wire
    original = wire_originals[0]
    assert sorted(v["duplicate_of"] for v in wire if v is not original) == [original["id"]] * 2
    assert by_source["other"]["duplicate_of"] is None
    assert 'exportwatch_ingest_duplicates_total{kind="near"} 2.0' in metrics


async def test_a_full_near_duplicate_index_forgets_the_earliest_story_and_says_so(
    kafka: EmbeddedBroker, tmp_path: Path
) -> None:
    """With room for one original, a later story pushes the wire story out: a copy of it is then
    published as an original, and the metrics say one original was forgotten early."""
    tag = uuid.uuid4().hex[:8]
    settings = _settings(kafka, f"sqlite:///{tmp_path / 'ingest.db'}", near_duplicate_max_articles=1)
    (_, _, link_a, wire_a), (_, _, link_b, wire_b), _ = _outlet_copies(tag)

    def article(name: str, url: str, body: str, minute: int) -> NewsArticle:
        return NewsArticle(
            id=f"{name}-{tag}",
            source="test",
            url=url,
            title=f"Story {name}",
            body=body,
            language="en",
            published_at=dt.datetime(2026, 11, 23, 7, minute, tzinfo=dt.UTC),
        )

    other = (
        "Three Bahraini activists have filed a lawsuit in Copenhagen against a surveillance company, "
        "accusing it of supplying the software that infected their phones in 2021. Their lawyers say the "
        "export licence should never have been granted and ask the court to order disclosure of all "
        "contracts with Bahraini authorities, including maintenance and training agreements."
    )
    async with running(settings) as (service, _):
        ingestor = service.state["ingestor"]
        statuses = []
        for event in (
            article("wire-a", link_a, wire_a, 0),
            article("other", f"https://d.example/{tag}", other, 30),
            article("wire-b", link_b, wire_b, 40),
        ):
            _, results = await ingestor.ingest([event], "api", keep=True)
            statuses.append((results[0].status, results[0].duplicate_of))
        metrics = await _metrics(service)
    assert statuses == [("published", None), ("published", None), ("published", None)]
    assert "exportwatch_ingest_near_duplicate_evictions_total 2.0" in metrics
    assert "exportwatch_ingest_near_duplicate_index_size 1.0" in metrics
    assert 'exportwatch_ingest_duplicates_total{kind="near"} 0.0' in metrics


def _caat_rows(tag: str, n: int) -> list[str]:
    """``n`` distinct CAAT rows modelled on the real sample, with a licence group unique to the test."""
    import csv
    import io

    sample = (SHARED_SAMPLES / "uk-caat-values-2014-sample.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(sample)))[1:]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for i in range(n):
        writer.writerow([f"{tag}-{i}", *rows[i % len(rows)][1:]])
    return out.getvalue().splitlines()


async def _count_items(db: str) -> int:
    from sqlalchemy import func, select

    from services.ingest.store import tables
    from services.ingest.store.repository import IngestStore

    store = IngestStore.from_url(db)
    try:
        async with store.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(tables.items))).scalar_one())
    finally:
        await store.close()


async def test_a_restart_in_the_middle_of_a_large_file_republishes_nothing_and_loses_nothing(
    kafka: EmbeddedBroker, tmp_path: Path, db_url: str
) -> None:
    tag = "restart" + uuid.uuid4().hex[:8]
    n = 30_000
    folder = tmp_path / "caat"
    folder.mkdir()
    header = "licence_group,date,rating,count,value,country,refused"
    (folder / "values.csv").write_text("\n".join([header, *_caat_rows(tag, n)]) + "\n", encoding="utf-8")
    sources = _sources(tmp_path, [{"name": "caat", "path": str(folder), "format": "caat"}])
    settings = _settings(kafka, db_url, sources)
    settings.folder_interval_seconds = 3600

    async with running(settings):
        deadline = time.monotonic() + 60
        while await _count_items(db_url) < 2_000:
            assert time.monotonic() < deadline, "nothing ingested within 60 s"
            await asyncio.sleep(0.05)
    stopped_at = await _count_items(db_url)
    assert 0 < stopped_at < n, f"the stop came too late to test anything ({stopped_at} of {n})"

    def ours(records: list[Any]) -> list[str]:
        return [
            r.key.decode()
            for r in records
            if json.loads(r.value).get("licence_group", "").startswith(tag + "-")
        ]

    published = ours(await read_until_quiet(kafka.bootstrap, topics.LICENCES))
    assert len(published) == stopped_at == len(set(published)), "a stopped ingest published and forgot"

    async with running(settings) as (_, pollers):
        await first_polls(pollers)  # the file is settled by now: one poll reads the rest
    published = ours(await read_until_quiet(kafka.bootstrap, topics.LICENCES))
    assert len(published) == n, f"{len(published)} published for {n} rows"
    assert len(set(published)) == n, "a record was published twice"
    assert await _count_items(db_url) == n
