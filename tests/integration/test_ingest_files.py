"""Ingest of real files and bad inputs, for real: the embedded broker, files in watched folders and
feeds from a local HTTP server, the service's own database (SQLite and PostgreSQL), its /metrics.

Every row or item that goes in must come out either as an event or as a dead letter that names the
file and the line and carries the original bytes; the counts are checked against each other.
The broker is shared by the whole session, so every test uses its own tag in ids, licence groups,
URLs and source names, and counts exactly only what carries its tag.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import io
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from schemas import LicenceRecord, topics
from services.common.runtime import Service
from services.common.settings import CommonSettings
from services.ingest.app import create_service
from services.ingest.core.caat import parse_caat_values
from services.ingest.core.sources import rejection_reasons
from services.ingest.core.sources_file import SourcesError
from services.ingest.pollers import SourcePoller
from services.ingest.settings import IngestSettings
from services.ingest.store import tables
from tests.conftest import SHARED_SAMPLES, eventually, read_topic, read_until_quiet
from tests.feedserver import Resource, feed_server
from tests.integration.test_ingest_sources import (
    _settings,
    _sources,
    first_polls,
    rss,
    running,
    values,
)
from tools.embedded import EmbeddedBroker

pytestmark = pytest.mark.broker

CAAT_SAMPLE = SHARED_SAMPLES / "uk-caat-values-2014-sample.csv"
CAAT_HEADER = "licence_group,date,rating,count,value,country,refused"


# --- helpers ----------------------------------------------------------------------------------------


def _tag(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:8]


def _settled(path: Path) -> None:
    """Back-date a file so the poller does not wait for it to settle (it skips files modified < 1 s ago)."""
    past = time.time() - 60
    os.utime(path, (past, past))


class Scraped:
    """Samples of one /metrics scrape; a sample that is not there is a failure, never a silent 0."""

    def __init__(self, text: str) -> None:
        self.samples = {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def __call__(self, name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        assert key in self.samples, f"no sample {name}{labels} in /metrics"
        return self.samples[key]

    def items(self, source: str) -> dict[str, float]:
        outcomes = ("published", "updated", "near_duplicate", "duplicate", "rejected")
        return {o: self("exportwatch_ingest_items_total", source=source, outcome=o) for o in outcomes}

    def deadletters(self, reason: str) -> float:
        return self("exportwatch_ingest_deadletters_total", reason=reason)

    def warnings(self, kind: str) -> float:
        return self("exportwatch_ingest_warnings_total", kind=kind)


async def scrape(service: Service) -> Scraped:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{service.http_port}/metrics")
    assert response.status_code == 200
    return Scraped(response.text)


async def dead_letters(kafka: EmbeddedBroker, source_prefix: str) -> list[dict[str, Any]]:
    """Dead letters of one source: their ``source`` starts with the (unique) source name."""
    letters = values(await read_until_quiet(kafka.bootstrap, topics.DEADLETTER))
    return [d for d in letters if (d.get("source") or "").startswith(source_prefix)]


def _original(letter: dict[str, Any]) -> bytes:
    return base64.b64decode(letter["original_base64"])


async def _published_by(service: Service, source: str) -> int:
    """Items the service's own database records as published from ``source``."""
    engine = service.state["ingestor"].store.engine
    query = select(func.count()).select_from(tables.items).where(tables.items.c.source == source)
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def _ingested(poller: SourcePoller, file: Path, data: bytes, timeout: float = 30.0) -> None:
    """Wait until the poller recorded ``data`` as the content of ``file`` it fully ingested."""
    key = f"{poller.spec.name}:{file}"
    digest = hashlib.sha256(data).hexdigest()

    async def done() -> bool:
        return (await poller.store.source_state(key, "file")).content_hash == digest

    await eventually(done, timeout=timeout, interval=0.1)


def _caat_rows(tag: str, count: int, start: int = 0) -> list[list[str]]:
    """Real rows of the UK sample, their licence group prefixed by ``tag`` (unique to the test)."""
    rows = list(csv.reader(io.StringIO(CAAT_SAMPLE.read_text(encoding="utf-8"))))[1:]
    return [[f"{tag}-{row[0]}", *row[1:]] for row in rows[start : start + count]]


def _caat_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CAAT_HEADER.split(","))
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _data_rows(data: bytes) -> int:
    return sum(1 for line in data.splitlines()[1:] if line.strip())


def _feed(channel: str, items: list[dict[str, str | None]], encoding: str = "utf-8") -> bytes:
    """RSS 2.0 whose items may lack a title or a date. The declaration says ``encoding``; each item's
    bytes are in its own ``encoding`` key (default UTF-8), so a feed can declare UTF-8 and carry a
    cp1252 item."""
    head = (
        f'<?xml version="1.0" encoding="{encoding}"?><rss version="2.0"><channel><title>{channel}</title>'
        f"<link>https://{channel}.example/</link><language>en</language>"
    )
    out = bytearray(head.encode("ascii"))
    for item in items:
        title = f"<title>{item['title']}</title>" if item.get("title") else ""
        date = f"<pubDate>{item['date']}</pubDate>" if item.get("date") else ""
        xml = (
            f"<item>{title}<link>{item['link']}</link>{date}"
            f"<description><![CDATA[{item['body']}]]></description></item>"
        )
        out += xml.encode(item.get("encoding") or "utf-8")
    out += b"</channel></rss>"
    return bytes(out)


# --- 1. the UK sample: every row is a record or a dead letter -----------------------------------------


async def test_every_row_of_the_uk_sample_is_a_record_or_a_dead_letter_and_the_counts_add_up(
    kafka: EmbeddedBroker, tmp_path: Path, db_url: str
) -> None:
    tag = _tag("caat")
    name = f"uk-{tag}"
    folder = tmp_path / "caat"
    folder.mkdir()
    sample = CAAT_SAMPLE.read_bytes()
    plain = folder / CAAT_SAMPLE.name
    plain.write_bytes(sample)

    # The same release with a licence group of our own, then rows as real exports get them wrong.
    lines = sample.splitlines(keepends=True)
    ending = b"\r\n" if lines[0].endswith(b"\r\n") else b"\n"
    tagged_data = bytearray(lines[0])
    for line in lines[1:]:
        tagged_data += f"{tag}-".encode() + line
    first_bad = len(lines) + 1  # 1-based file line of the first appended row
    appended: list[tuple[bytes, str | None]] = [
        (f"{tag}-date,2014-02-30,5A001,1,1000,France,0".encode(), "invalid_date"),
        (f"{tag}-value,2014-03-04,5A001,1,n/a,France,0".encode(), "invalid_value"),
        (f"{tag}-civ,2014-05-07,5A001,3,12000,Côte d'Ivoire,1".encode("cp1252"), None),
        (f"{tag}-refused,2014-03-04,5A002,1,1000,Bahrain,maybe".encode(), "invalid_decision"),
        (b",2014-03-04,5A001,1,1000,Egypt,0", "missing_field"),
        (f"{tag}-atlantis,2014-05-06,5A002,1,2500,Atlantis,0".encode(), None),
    ]
    for row, _ in appended:
        tagged_data += row + ending
    tagged = folder / f"values-{tag}.csv"
    tagged.write_bytes(bytes(tagged_data))
    expected_letters = {
        first_bad + i: (row, reason) for i, (row, reason) in enumerate(appended) if reason is not None
    }
    for path in (plain, tagged):
        _settled(path)

    # What the file says, computed apart from the service.
    parsed = {path.name: list(parse_caat_values(path.read_bytes(), path.name)) for path in (plain, tagged)}
    records = {file: [r for r in items if isinstance(r, LicenceRecord)] for file, items in parsed.items()}
    rows = {path.name: _data_rows(path.read_bytes()) for path in (plain, tagged)}
    assert rows == {plain.name: 2133, tagged.name: 2133 + len(appended)}

    sources = _sources(tmp_path, [{"name": name, "path": str(folder), "format": "caat"}])
    async with running(_settings(kafka, db_url, sources)) as (service, pollers):
        await first_polls(pollers)
        metrics = await scrape(service)
        published_by_file = {
            path.name: await _published_by(service, f"{name}:{path.name}") for path in (plain, tagged)
        }

    # Dead letters: exactly the bad rows of our file, each naming the file and its line, with its bytes.
    letters = await dead_letters(kafka, name)
    assert all(tagged.name in d["source"] and plain.name not in d["source"] for d in letters), letters
    by_line = {int(d["detail"].split(":")[0].removeprefix("line ")): d for d in letters}
    assert len(by_line) == len(letters) == len(expected_letters), [d["detail"] for d in letters]
    assert sorted(by_line) == sorted(expected_letters)
    for number, (row, reason) in expected_letters.items():
        letter = by_line[number]
        assert letter["reason"] == reason, letter
        assert letter["service"] == "ingest"
        assert letter["detail"].startswith(f"line {number}: ")
        assert _original(letter) == row

    # For each file: published + duplicate + rejected = its data rows.
    rejected_by_file = {plain.name: 0, tagged.name: len(expected_letters)}
    for file, count in rows.items():
        assert published_by_file[file] + rejected_by_file[file] == count, file
        assert published_by_file[file] == len({r.id for r in records[file]}), file
    items = metrics.items(name)
    assert items["rejected"] == len(expected_letters)
    assert items["duplicate"] == items["updated"] == items["near_duplicate"] == 0
    assert items["published"] == sum(published_by_file.values())
    assert sum(items.values()) == sum(rows.values())
    for reason in ("invalid_date", "invalid_value", "invalid_decision", "missing_field"):
        assert metrics.deadletters(reason) == 1, reason
    assert metrics.deadletters("invalid_encoding") == 0
    unknown = sum(1 for file in records for r in records[file] if r.destination_country is None)
    assert metrics.warnings("unknown_country") == unknown  # the sample's own (Channel Islands...) + Atlantis

    # Every id is on the licences topic; ours exactly once each, as the file says.
    on_topic = values(await read_until_quiet(kafka.bootstrap, topics.LICENCES))
    ids_on_topic = {v["id"] for v in on_topic}
    for file, file_records in records.items():
        missing = {r.id for r in file_records} - ids_on_topic
        assert not missing, f"{len(missing)} records of {file} not on the topic"
    ours = [v for v in on_topic if (v.get("licence_group") or "").startswith(f"{tag}-")]
    assert len(ours) == len(records[tagged.name]) == 2133 + 2
    expected = {
        r.id: r.model_dump(mode="json", exclude={"revision", "ingested_at"}) for r in records[tagged.name]
    }
    assert {v["id"] for v in ours} == set(expected)
    for v in ours:
        assert v["revision"] == 1 and v["ingested_at"]
        assert {k: x for k, x in v.items() if k not in ("revision", "ingested_at")} == expected[v["id"]]
    by_group = {v["licence_group"]: v for v in ours}
    atlantis = by_group[f"{tag}-atlantis"]
    assert atlantis["destination_country"] is None and atlantis["destination_name"] == "Atlantis"
    ivory = by_group[f"{tag}-civ"]
    assert ivory["destination_country"] == "CI" and ivory["destination_name"] == "Côte d'Ivoire"
    assert ivory["decision"] == "refused" and ivory["value"] == 12000


# --- 2. bad news inputs ---------------------------------------------------------------------------


def _jsonl_events(tag: str) -> tuple[bytes, list[str], int]:
    """The real articles of news.jsonl under ids and URLs of our own, with a broken line among them.
    Returns the file, the good ids and the bad line's number."""
    docs = [
        json.loads(line)
        for line in (SHARED_SAMPLES / "news.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    lines: list[bytes] = []
    ids = []
    for original in docs:
        doc = {**original, "id": f"{tag}-{original['id']}", "url": f"{original['url']}?case={tag}"}
        ids.append(doc["id"])
        lines.append(json.dumps(doc, ensure_ascii=False).encode("utf-8"))
    bad_line = 3
    broken = json.dumps({**docs[0], "id": f"{tag}-broken"}).encode()[:120]  # cut mid-string
    lines.insert(bad_line - 1, broken)
    return b"\n".join(lines) + b"\n", ids, bad_line


async def test_bad_news_inputs_are_dead_lettered_with_their_file_and_the_rest_flows(
    kafka: EmbeddedBroker, tmp_path: Path, db_url: str
) -> None:
    tag = _tag("news")
    name = f"drop-{tag}"
    folder = tmp_path / "drop"
    folder.mkdir()
    link = f"https://news.example/{tag}"

    # A feed cut in the middle of its third item.
    whole = rss(
        "cut",
        [
            {
                "title": f"Cut {i} {tag}",
                "link": f"{link}/cut/{i}",
                "body": f"<p>Cut story {i} on {tag} sales.</p>",
            }
            for i in range(3)
        ],
    )
    truncated = whole[: whole.index(b"Cut story 2")]
    (folder / f"truncated-{tag}.xml").write_bytes(truncated)

    # Items with no text, a title and only markup, a 2 MB body, and dates as feeds really write them.
    huge_body = "<p>" + "surveillance equipment export " * 70_000 + "</p>"
    assert len(huge_body) > 2_000_000
    markup = '<img src="https://news.example/a.png"><iframe src="https://video.example/embed/1"></iframe>'
    odd: list[dict[str, str | None]] = [
        {"title": None, "link": f"{link}/no-text", "body": markup, "date": "Mon, 23 Nov 2026 07:00:00 GMT"},
        {"title": f"Only a title {tag}", "link": f"{link}/title-only", "body": markup, "date": "23/11/2026"},
        {"title": f"Huge {tag}", "link": f"{link}/huge", "body": huge_body, "date": "23/11/2026"},
        {
            "title": f"Date in French {tag}",
            "link": f"{link}/fr",
            "body": "<p>Un article daté à la française sur les exportations.</p>",
            "date": "23 novembre 2026 14:05",
        },
        {
            "title": f"Date with slashes {tag}",
            "link": f"{link}/slash",
            "body": "<p>Customs seized an IMSI catcher bound for a police unit.</p>",
            "date": "23/11/2026",
        },
        {
            "title": f"No date at all {tag}",
            "link": f"{link}/undated",
            "body": "<p>A ministry spokesperson declined to comment on the licence.</p>",
            "date": None,
        },
    ]
    items_file = folder / f"items-{tag}.xml"
    items_file.write_bytes(_feed("odd", odd))

    events, event_ids, bad_line = _jsonl_events(tag)
    (folder / f"events-{tag}.jsonl").write_bytes(events)
    # A real CSV of another kind (vendors, not licences): no parser for its layout.
    vendors = folder / f"vendors-{tag}.csv"
    vendors.write_bytes((SHARED_SAMPLES / "vendors-digitalfreedom-2016.csv").read_bytes())
    for path in folder.iterdir():
        _settled(path)

    started = dt.datetime.now(dt.UTC)
    with feed_server() as server:
        # The same kind of broken feed, served over HTTP: the dead letter names the feed.
        server.resources["/broken.rss"] = Resource(
            rss(
                "broken",
                [{"title": f"Served {tag}", "link": f"{link}/served", "body": "<p>Served story.</p>"}],
            )[:-30]
        )
        feed_name = f"feed-{tag}"
        entries = [
            {"name": name, "path": str(folder)},
            {"name": feed_name, "url": server.url("/broken.rss"), "interval": "1h"},
        ]
        async with running(_settings(kafka, db_url, _sources(tmp_path, entries))) as (service, pollers):
            await first_polls(pollers)
            metrics = await scrape(service)
    finished = dt.datetime.now(dt.UTC)

    letters = await dead_letters(kafka, name)
    served_letters = await dead_letters(kafka, feed_name)
    reasons = sorted((d["reason"], d["source"]) for d in letters)
    assert reasons == sorted(
        [
            ("invalid_feed", f"{name}:truncated-{tag}.xml: truncated-{tag}"),
            ("no_text", f"{name}:items-{tag}.xml: items-{tag}"),
            ("too_large", f"{name}:items-{tag}.xml: items-{tag}"),
            ("invalid_json", f"{name}:events-{tag}.jsonl: events-{tag}.jsonl"),
            ("unsupported_source", f"{name}:vendors-{tag}.csv: vendors-{tag}.csv"),
        ]
    ), reasons
    assert [(d["reason"], d["source"]) for d in served_letters] == [("invalid_feed", feed_name)]
    by_reason = {d["reason"]: d for d in letters}
    assert "malformed feed" in by_reason["invalid_feed"]["detail"]
    assert _original(by_reason["invalid_feed"]) == truncated[:4096]
    assert "entry 1 " in by_reason["no_text"]["detail"]
    assert "entry 3 " in by_reason["too_large"]["detail"]
    assert _original(by_reason["too_large"]).startswith(f"Huge {tag}\n\nsurveillance".encode())
    assert by_reason["invalid_json"]["detail"].startswith(f"line {bad_line}: ")
    assert _original(by_reason["invalid_json"]) == events.splitlines()[bad_line - 1]
    assert "unknown CSV layout" in by_reason["unsupported_source"]["detail"]
    assert _original(by_reason["unsupported_source"]) == vendors.read_bytes()[:4096]

    news = values(await read_until_quiet(kafka.bootstrap, topics.NEWS))
    ours = {v["url"]: v for v in news if tag in v["url"] and v["id"] not in event_ids}
    by_id = {v["id"]: v for v in news if v["id"] in event_ids}
    # The rest of each file flowed: salvaged entries of the cut feed, the readable items, the good lines.
    for i in range(2):
        article = ours[f"{link}/cut/{i}"]
        assert article["title"] == f"Cut {i} {tag}" and article["body"] == f"Cut story {i} on {tag} sales."
    assert f"{link}/served" in ours
    title_only = ours[f"{link}/title-only"]
    assert title_only["title"] == f"Only a title {tag}" and title_only["body"] == ""
    assert f"{link}/no-text" not in ours and f"{link}/huge" not in ours
    assert ours[f"{link}/fr"]["published_at"] in ("2026-11-23T14:05:00Z", "2026-11-23T14:05:00+00:00")
    assert ours[f"{link}/slash"]["published_at"] in ("2026-11-23T00:00:00Z", "2026-11-23T00:00:00+00:00")
    undated = ours[f"{link}/undated"]
    assert undated["published_at_inferred"] is True
    assert started <= dt.datetime.fromisoformat(undated["published_at"]) <= finished
    assert not any(v.get("published_at_inferred") for url, v in ours.items() if url != f"{link}/undated")
    assert sorted(by_id) == sorted(event_ids)
    assert all(v["revision"] == 1 for v in by_id.values())

    # The metrics say the same.
    folder_items = metrics.items(name)
    assert folder_items["rejected"] == len(letters) == 5
    from_folder = [v for url, v in ours.items() if not url.endswith("/served")]
    assert folder_items["published"] + folder_items["near_duplicate"] == len(from_folder) + len(event_ids)
    assert folder_items["duplicate"] == folder_items["updated"] == 0
    served_items = metrics.items(feed_name)
    assert served_items["rejected"] == 1 and served_items["published"] == 1
    expected = {"invalid_feed": 2, "no_text": 1, "too_large": 1, "invalid_json": 1, "unsupported_source": 1}
    for reason in rejection_reasons():
        assert metrics.deadletters(reason) == expected.get(reason, 0), reason
    assert metrics.warnings("date_inferred") == 1


async def test_a_feed_declared_utf8_with_one_cp1252_item_is_read_right_and_the_repair_counted(
    kafka: EmbeddedBroker, tmp_path: Path
) -> None:
    tag = _tag("enc")
    link = f"https://mixed.example/{tag}"
    items: list[dict[str, str | None]] = [
        {
            "title": f"Überwachungssoftware für Ägypten {tag}",
            "link": f"{link}/de",
            "body": "<p>Die Behörde genehmigte den Export – trotz Bedenken der Menschenrechtler.</p>",
            "date": "Mon, 23 Nov 2026 07:00:00 GMT",
        },
        {
            "title": f"Côte d’Ivoire : le régime achète des logiciels espions {tag}",
            "link": f"{link}/fr",
            "body": "<p>«Pegasus» aurait été livré en décembre — selon l’enquête.</p>",
            "date": "Mon, 23 Nov 2026 08:00:00 GMT",
            "encoding": "cp1252",
        },
    ]
    data = _feed("mixed", items)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    with feed_server() as server:
        server.resources["/mixed.rss"] = Resource(data, content_type="application/rss+xml; charset=utf-8")
        name = f"mixed-{tag}"
        sources = _sources(tmp_path, [{"name": name, "url": server.url("/mixed.rss"), "interval": "1h"}])
        db = f"sqlite:///{tmp_path / 'ingest.db'}"
        async with running(_settings(kafka, db, sources)) as (service, pollers):
            await first_polls(pollers)
            metrics = await scrape(service)
    news = {
        v["url"]: v for v in values(await read_until_quiet(kafka.bootstrap, topics.NEWS)) if tag in v["url"]
    }
    assert sorted(news) == [f"{link}/de", f"{link}/fr"]
    for item in items:
        article = news[str(item["link"])]
        assert article["title"] == item["title"]
        assert article["body"] == str(item["body"]).removeprefix("<p>").removesuffix("</p>")
    assert await dead_letters(kafka, name) == []  # nothing was lost, so nothing to report
    assert metrics.items(name)["published"] == 2
    # The UTF-8 item was read as cp1252 and repaired: that is what the encoding_repaired warning is for.
    assert news[f"{link}/de"].get("encoding_repaired") is True
    assert metrics.warnings("encoding_repaired") == 1


async def test_a_file_of_an_unknown_type_in_a_watched_folder_is_dead_lettered_not_ignored(
    kafka: EmbeddedBroker, tmp_path: Path
) -> None:
    tag = _tag("type")
    name = f"drop-{tag}"
    folder = tmp_path / "drop"
    folder.mkdir()
    report = folder / f"report-{tag}.pdf"
    report.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n")
    events, event_ids, _ = _jsonl_events(tag)
    (folder / f"events-{tag}.jsonl").write_bytes(events)
    for path in folder.iterdir():
        _settled(path)
    sources = _sources(tmp_path, [{"name": name, "path": str(folder)}])
    db = f"sqlite:///{tmp_path / 'ingest.db'}"
    async with running(_settings(kafka, db, sources)) as (service, pollers):
        await first_polls(pollers)
        metrics = await scrape(service)
    news = values(await read_until_quiet(kafka.bootstrap, topics.NEWS), set(event_ids))
    assert len(news) == len(event_ids)  # the readable file next to it flowed
    letters = [d for d in await dead_letters(kafka, name) if report.name in d["source"]]
    assert [d["reason"] for d in letters] == ["unsupported_source"], (
        f"{report.name} dropped into the watched folder left no trace: no dead letter, no metric"
    )
    assert "no parser for files ending in .pdf" in letters[0]["detail"]
    assert metrics.deadletters("unsupported_source") == 1


# --- 3. folder watching -------------------------------------------------------------------------------


async def test_a_watched_folder_picks_up_new_files_and_publishes_only_what_a_new_release_changed(
    kafka: EmbeddedBroker, tmp_path: Path, db_url: str
) -> None:
    tag = _tag("watch")
    name = f"watch-{tag}"
    folder = tmp_path / "caat"
    folder.mkdir()
    old_rows = _caat_rows(tag, 5)
    old = _caat_bytes(old_rows)
    release = folder / "values.csv"
    release.write_bytes(old)
    _settled(release)
    sources = _sources(tmp_path, [{"name": name, "path": str(folder), "format": "caat"}])
    settings = _settings(kafka, db_url, sources, folder_interval_seconds=0.5)

    def ours(records: list[Any]) -> list[dict[str, Any]]:
        return [v for v in values(records) if (v.get("licence_group") or "").startswith(f"{tag}-")]

    async with running(settings) as (service, pollers):
        poller = pollers[name]
        await first_polls(pollers)
        first = ours(await read_until_quiet(kafka.bootstrap, topics.LICENCES))
        assert len(first) == 5 and {v["revision"] for v in first} == {1}

        # A file dropped after the start is read on a later scan, once it has settled (1 s).
        dropped_rows = _caat_rows(f"{tag}-new", 3, start=100)
        dropped = folder / "values-2015.csv"
        dropped.write_bytes(_caat_bytes(dropped_rows))
        await read_topic(
            kafka.bootstrap,
            topics.LICENCES,
            lambda recs: sum(1 for v in ours(recs) if v["licence_group"].startswith(f"{tag}-new-")) == 3,
            timeout=60,  # not a speed check: the topic holds the whole session's records by now
        )
        await _ingested(poller, dropped, dropped.read_bytes())

        # A new release: one value corrected, one row added; the other four are unchanged.
        new_rows = [list(r) for r in old_rows]
        corrected = new_rows[1]
        corrected[4] = str(int(corrected[4]) + 1000)
        added = _caat_rows(tag, 1, start=200)[0]
        new_rows.append(added)
        new = _caat_bytes(new_rows)
        release.write_bytes(new)
        await _ingested(poller, release, new)
        after_release = ours(await read_until_quiet(kafka.bootstrap, topics.LICENCES))

        # The old release written back: every row was published before in some revision.
        release.write_bytes(old)
        await _ingested(poller, release, old)
        after_old = ours(await read_until_quiet(kafka.bootstrap, topics.LICENCES))
        metrics = await scrape(service)

    def ids(data: bytes) -> dict[str, LicenceRecord]:
        return {r.id: r for r in parse_caat_values(data, "values.csv") if isinstance(r, LicenceRecord)}

    old_ids, new_ids = ids(old), ids(new)
    corrected_id = next(i for i in old_ids if old_ids[i].value != new_ids[i].value)
    (added_id,) = set(new_ids) - set(old_ids)
    assert {v["id"] for v in first} == set(old_ids)
    # Exactly two messages for the new release: the correction under the same id, and the new row.
    released = [v for v in after_release if v["id"] in new_ids]
    assert len(after_release) == 5 + 3 + 2, [(v["licence_group"], v["revision"]) for v in after_release]
    assert len(released) == 5 + 2
    versions = sorted((v for v in released if v["id"] == corrected_id), key=lambda v: v["revision"])
    assert [(v["revision"], v["value"]) for v in versions] == [
        (1, float(old_rows[1][4])),
        (2, float(corrected[4])),
    ]
    assert [(v["id"], v["revision"]) for v in released if v["id"] == added_id] == [(added_id, 1)]
    assert sorted(v["id"] for v in released if v["id"] not in (corrected_id, added_id)) == sorted(
        set(old_ids) - {corrected_id}
    ), "an unchanged row was published again"
    assert len(after_old) == len(after_release), "writing back the old release published something"

    items = metrics.items(name)
    assert items["published"] == 5 + 3 + 1
    assert items["updated"] == 1
    assert items["duplicate"] == 4 + 5  # the release's unchanged rows, then the whole old release
    assert items["rejected"] == 0


# --- 4. a generic CSV over HTTP -------------------------------------------------------------------


async def test_a_dutch_csv_served_over_http_is_read_through_its_mapping_and_polled_with_validators(
    kafka: EmbeddedBroker, tmp_path: Path, db_url: str
) -> None:
    tag = _tag("nl")
    name = f"nl-cdiu-{tag}"
    number = f"NL-{tag.upper()}"
    table = (
        "Vergunningnummer;Datum;Land van bestemming;Landcode;Rubriek;Omschrijving goederen;Waarde (EUR);"
        "Besluit;Eindgebruik\r\n"
        f"{number}-001;03-02-2026;Verenigde Arabische Emiraten;AE;5A001.j;IP-netwerkbewakingssysteem;"
        "1.234.567,89;Verleend;Politie\r\n"
        f"{number}-002;17-02-2026;Bahrein;;5D002/5A002;Cryptografische software;12.500,00;Afgewezen;"
        "Ministerie van Binnenlandse Zaken\r\n"
        f"{number}-003;31-02-2026;Egypte;EG;5A001;Onderscheppingsapparatuur;1,5;Verleend;\r\n"
        f"{number}-004;28-02-2026;Saoedi-Arabië;;4A005;Inbraaksoftware;0,5;Verleend;\r\n"
    )
    data = table.encode("utf-8")
    mapping = {
        "authority": "NL Centrale Dienst voor In- en Uitvoer",
        "licensing_country": "NL",
        "id_prefix": "nl-cdiu",
        "date_formats": ["%d-%m-%Y"],
        "decimal_separator": ",",
        "currency": "EUR",
        "columns": {
            "licence_number": "Vergunningnummer",
            "decided_on": "Datum",
            "destination": "Land van bestemming",
            "destination_code": "Landcode",
            "control_code": "Rubriek",
            "description": "Omschrijving goederen",
            "value": "Waarde (EUR)",
            "decision": "Besluit",
        },
        "decisions": {"Verleend": "granted", "Afgewezen": "refused"},
        "code_separator": "/",
        "extra_columns": {"end_use": "Eindgebruik"},
        "source_url": "https://www.rvo.nl/onderwerpen/exportcontrole-strategische-goederen",
    }
    with feed_server() as server:
        path = "/export/vergunningen"  # no suffix: the content type says CSV
        server.resources[path] = Resource(data, content_type="text/csv; charset=utf-8")
        entries = [
            {"name": name, "url": server.url(path), "format": "csv", "interval": "1h", "mapping": mapping}
        ]
        async with running(_settings(kafka, db_url, _sources(tmp_path, entries))) as (service, pollers):
            await first_polls(pollers)
            state = await pollers[name].poll_once()
            assert state.failures == 0
            metrics = await scrape(service)
        assert server.statuses(path) == [200, 304]

    records = {
        v["licence_number"]: v
        for v in values(await read_until_quiet(kafka.bootstrap, topics.LICENCES))
        if (v.get("licence_number") or "").startswith(number)
    }
    assert sorted(records) == [f"{number}-001", f"{number}-002", f"{number}-004"]
    common = {
        "type": "licence_record",
        "authority": "NL Centrale Dienst voor In- en Uitvoer",
        "licensing_country": "NL",
        "currency": "EUR",
        "source_url": mapping["source_url"],
        "revision": 1,
    }
    first = records[f"{number}-001"]
    assert (
        first.items()
        >= {
            **common,
            "destination_country": "AE",
            "destination_name": "Verenigde Arabische Emiraten",
            "value": 1234567.89,
            "decision": "granted",
            "decided_on": "2026-02-03",
            "end_use": "Politie",
            "items": [{"control_code": "5A001.j", "description": "IP-netwerkbewakingssysteem"}],
        }.items()
    )
    second = records[f"{number}-002"]
    assert (
        second.items()
        >= {
            **common,
            "destination_country": "BH",
            "destination_name": "Bahrein",
            "value": 12500.0,
            "decision": "refused",
            "decided_on": "2026-02-17",
            "end_use": "Ministerie van Binnenlandse Zaken",
        }.items()
    )
    assert sorted(i["control_code"] for i in second["items"]) == ["5A002", "5D002"]
    fourth = records[f"{number}-004"]
    assert fourth["destination_country"] == "SA" and fourth["destination_name"] == "Saoedi-Arabië"
    assert fourth["value"] == 0.5 and fourth["decided_on"] == "2026-02-28" and "end_use" not in fourth
    assert all(v["id"].startswith("nl-cdiu-") for v in records.values())
    assert len({v["id"] for v in records.values()}) == 3

    letters = await dead_letters(kafka, name)
    assert [d["reason"] for d in letters] == ["invalid_date"]
    assert letters[0]["detail"].startswith("line 4: ") and "31-02-2026" in letters[0]["detail"]
    assert _original(letters[0]) == data.splitlines()[3]
    assert metrics.items(name) == {
        "published": 3,
        "updated": 0,
        "near_duplicate": 0,
        "duplicate": 0,
        "rejected": 1,
    }
    assert metrics("exportwatch_ingest_source_polls_total", source=name, outcome="ok") == 1
    assert metrics("exportwatch_ingest_source_polls_total", source=name, outcome="not_modified") == 1


# --- 5. a mistake in the sources file -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        ({"name": "caat", "path": "data", "format": "caat", "intervall": "1m"}, "intervall"),
        (
            {
                "name": "nl",
                "url": "https://example.org/nl.csv",
                "format": "csv",
                "mapping": {
                    "authority": "NL CDIU",
                    "licensing_country": "NL",
                    "columns": {"destinaton": "Land"},
                },
            },
            "destinaton",
        ),
    ],
    ids=["source-key", "mapping-column"],
)
def test_a_sources_file_with_an_unknown_key_stops_the_service_naming_the_file_and_the_key(
    tmp_path: Path, entry: dict[str, Any], key: str
) -> None:
    sources = _sources(tmp_path, [entry])
    settings = IngestSettings(
        common=CommonSettings(kafka_bootstrap="127.0.0.1:1"),
        database_url=f"sqlite:///{tmp_path / 'ingest.db'}",
        sources_file=sources,
    )
    with pytest.raises(SourcesError) as caught:
        create_service(settings)
    message = str(caught.value)
    assert str(sources) in message
    assert repr(key) in message or f".{key}:" in message or f".{key} " in message, message
    if key == "destinaton":
        assert "did you mean 'destination'" in message
    assert not (tmp_path / "ingest.db").exists(), "the service touched its database before failing"
