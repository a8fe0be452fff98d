"""Server-side request forgery through the sources file: a feed or licence URL, and every address it
redirects to, is fetched only from a public address or a network the operator allowed
(``EXPORTWATCH_INGEST_ALLOW_PRIVATE_NETWORKS``), with the guard notify uses for webhooks. A refused
fetch is a failed poll that says why; what a forbidden address would have answered is never fetched,
so it cannot reach the dead-letter topic, the logs or the metrics.

The real ingest service, the real broker, real HTTP servers: the test feeds on 127.0.0.1 (allowed, as
an operator would allow a feed on their own network) and the "internal" service on 127.0.0.2 (not
allowed), which counts every connection it accepts and would answer a secret."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpcore
import pytest

from schemas import topics
from services.common.logging import TextFormatter
from tests.conftest import read_until_quiet
from tests.integration.test_ingest_files import scrape
from tests.integration.test_ingest_sources import _settings, _sources, first_polls, rss, running, values
from tests.integration.test_ssrf import Listener, Resolver
from tools.embedded import EmbeddedBroker

pytestmark = pytest.mark.broker

SECRET = "INTERNAL-ANSWER-7f3c9e-secret-marker"
QUERY_TOKEN = "feed-query-token-5b1d0a"  # feed URLs may carry a key in their query
# What the internal service answers: not a feed, so the code before the guard dead-lettered it whole.
INTERNAL_ANSWER = json.dumps({"AccessKeyId": SECRET, "Token": SECRET}).encode()
REFUSED = "address, which is not allowed"
ALLOW_SETTING = "EXPORTWATCH_INGEST_ALLOW_PRIVATE_NETWORKS"  # named in the reason, as documented


@contextmanager
def internal() -> Iterator[Listener]:
    """The forbidden target: 127.0.0.2, answering the secret to anything."""
    with Listener("127.0.0.2", body=INTERNAL_ANSWER, headers={"content-type": "application/json"}) as server:
        yield server


def redirect(location: str) -> Listener:
    """An allowed server on 127.0.0.1 that redirects every request to ``location``."""
    return Listener("127.0.0.1", status=302, headers={"location": location})


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every address any HTTP client of the process opens a TCP connection to (then connects)."""
    seen: list[str] = []
    real = httpcore.AnyIOBackend.connect_tcp

    async def record(self: Any, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        seen.append(host)
        return await real(self, host, port, *args, **kwargs)

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", record)
    return seen


async def dead_letter_topic(kafka: EmbeddedBroker) -> tuple[list[bytes], list[dict[str, Any]]]:
    """Every dead letter on the real topic: each raw value and decoded original (a secret could hide in
    base64), and the letters themselves."""
    records = await read_until_quiet(kafka.bootstrap, topics.DEADLETTER)
    letters = values(records)
    blobs = [bytes(r.value or b"") for r in records]
    blobs += [base64.b64decode(d["original_base64"]) for d in letters if d.get("original_base64")]
    return blobs, letters


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured log line as the service prints it, extras included."""
    formatter = TextFormatter()
    return "\n".join(formatter.format(r) for r in caplog.records)


def metric_labels(samples: dict[Any, float]) -> str:
    return json.dumps(sorted(str(sorted(labels)) for _, labels in samples))


async def assert_copied_nowhere(
    kafka: EmbeddedBroker, log: str, stored_errors: list[str], metrics: str, sources: list[str]
) -> None:
    """The internal answer is in no dead letter, log line, stored error or metric label; no refused
    source was dead-lettered at all; no feed URL's query was logged or stored."""
    blobs, letters = await dead_letter_topic(kafka)
    for blob in blobs:
        assert SECRET.encode() not in blob, "the internal answer reached the dead-letter topic"
    assert not [d for d in letters if str(d.get("source", "")).startswith(tuple(sources))]
    for text in (log, metrics, *stored_errors):
        assert SECRET not in text, "the internal answer was logged, stored or put in a metric"
        assert QUERY_TOKEN not in text, "a feed URL's query was logged or stored"


async def test_redirects_to_forbidden_addresses_are_refused_at_every_hop_and_copied_nowhere(
    kafka: EmbeddedBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture, connections: list[str]
) -> None:
    """Allowed → allowed → forbidden: the chain is followed through the allowed hops and refused at the
    third, before any connection to it; so are redirects to the metadata service, the private network
    and a file. A 3xx with nowhere to go is an HTTP error, its body unread. Nothing the forbidden
    addresses would answer, and no feed URL's query, reaches a dead letter, a log line, the source's
    stored error or the metrics."""
    caplog.set_level(logging.DEBUG)
    tag = uuid.uuid4().hex[:8]
    query = f"?token={QUERY_TOKEN}"
    with ExitStack() as stack:
        secret = stack.enter_context(internal())
        target = f"http://127.0.0.2:{secret.port}/latest/meta-data/{query}"
        second = stack.enter_context(redirect(target))
        first = stack.enter_context(redirect(f"{second.base}/hop-2{query}"))
        chains = {
            f"chain-{tag}": first,
            f"metadata-{tag}": stack.enter_context(redirect(f"http://169.254.169.254/latest/{query}")),
            f"private-{tag}": stack.enter_context(redirect(f"http://10.0.0.1/admin{query}")),
            f"file-{tag}": stack.enter_context(redirect("file:///etc/passwd")),
        }
        unfollowed = stack.enter_context(Listener("127.0.0.1", status=300, body=INTERNAL_ANSWER))
        names = [*chains, f"unfollowed-{tag}"]
        entries = [
            {"name": name, "url": f"{server.base}/feed.rss{query}", "interval": "1h"}
            for name, server in [*chains.items(), (f"unfollowed-{tag}", unfollowed)]
        ]
        db = f"sqlite:///{tmp_path / 'ingest.db'}"
        settings = _settings(kafka, db, _sources(tmp_path, entries), http_timeout_seconds=3)
        async with running(settings) as (service, pollers):
            await first_polls(pollers)
            states = {name: await pollers[name].store.source_state(name, "http") for name in names}
            metrics = (await scrape(service)).samples

        # Every hop of the chain was checked: the allowed ones were asked once each, the forbidden
        # one never connected to. Nothing but the allowed loopback address was ever connected to.
        assert len(first.hits) == len(second.hits) == 1
        assert secret.connections == 0 and secret.hits == []
        assert set(connections) == {"127.0.0.1"}, connections

    errors = {name: state.last_error or "" for name, state in states.items()}
    assert errors[f"chain-{tag}"] == (
        "the feed redirected to 127.0.0.2, which resolves to a loopback address, which is not allowed; "
        f"allow its network with {ALLOW_SETTING}"
    )
    for name in (f"metadata-{tag}", f"private-{tag}"):
        assert REFUSED in errors[name] and ALLOW_SETTING in errors[name], errors[name]
    assert errors[f"file-{tag}"] == "the feed redirected to a URL that is not http or https"
    assert errors[f"unfollowed-{tag}"].startswith("HTTP 300 from 127.0.0.1")
    for name in names:
        assert states[name].failures == 1 and states[name].content_hash is None, name
        outcome = "http_error" if name.startswith("unfollowed") else "forbidden_target"
        key = (
            "exportwatch_ingest_source_polls_total",
            frozenset({"source": name, "outcome": outcome}.items()),
        )
        assert metrics[key] == 1.0, (name, outcome)
    log = logged(caplog)
    assert log.count("source poll failed") >= len(names)
    assert f"allow its network with {ALLOW_SETTING}" in log
    await assert_copied_nowhere(kafka, log, list(errors.values()), metric_labels(metrics), names)


async def test_a_feed_whose_host_resolves_to_a_forbidden_address_is_refused_without_connecting(
    kafka: EmbeddedBroker,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    connections: list[str],
) -> None:
    """A public-looking name answering loopback or the metadata address: refused at the first hop, the
    reason naming the feed's host (not its query) and the setting that would allow it."""
    caplog.set_level(logging.DEBUG)
    tag = uuid.uuid4().hex[:8]
    Resolver(
        monkeypatch,
        {"feeds.outlet-example.org": ["127.0.0.2"], "licences.authority-example.org": ["169.254.169.254"]},
    )
    with internal() as secret:
        entries = [
            {
                "name": f"loopback-{tag}",
                "url": f"http://feeds.outlet-example.org:{secret.port}/rss?token={QUERY_TOKEN}",
                "interval": "1h",
            },
            {
                "name": f"metadata-{tag}",
                "url": f"http://licences.authority-example.org/latest/?token={QUERY_TOKEN}",
                "interval": "1h",
            },
        ]
        db = f"sqlite:///{tmp_path / 'ingest.db'}"
        settings = _settings(kafka, db, _sources(tmp_path, entries), http_timeout_seconds=3)
        async with running(settings) as (service, pollers):
            await first_polls(pollers)
            states = {
                e["name"]: await pollers[e["name"]].store.source_state(e["name"], "http") for e in entries
            }
            metrics = (await scrape(service)).samples
        assert secret.connections == 0
    assert set(connections) <= {"127.0.0.1"}, connections  # the metrics scrape only
    assert states[f"loopback-{tag}"].last_error == (
        "the feed's host feeds.outlet-example.org resolves to a loopback address, which is not allowed; "
        f"allow its network with {ALLOW_SETTING}"
    )
    assert (states[f"metadata-{tag}"].last_error or "").startswith(
        "the feed's host licences.authority-example.org resolves to a "
    )
    for name in states:
        key = (
            "exportwatch_ingest_source_polls_total",
            frozenset({"source": name, "outcome": "forbidden_target"}.items()),
        )
        assert metrics[key] == 1.0, name
    log = logged(caplog)
    assert "feeds.outlet-example.org resolves to a loopback address" in log
    errors = [s.last_error or "" for s in states.values()]
    await assert_copied_nowhere(kafka, log, errors, metric_labels(metrics), list(states))


async def test_a_network_the_operator_allowed_is_reached_through_every_hop(
    kafka: EmbeddedBroker, tmp_path: Path, connections: list[str]
) -> None:
    """The same chain, allowed → allowed → 127.0.0.2, with 127.0.0.2/32 in the allow-list: followed to
    the end, the feed there read and published."""
    tag = uuid.uuid4().hex[:8]
    items = [
        {"title": f"Story {tag}", "link": f"https://outlet.example/{tag}", "body": "<p>Licence news.</p>"}
    ]
    feed = Listener("127.0.0.2", body=rss("outlet", items), headers={"content-type": "application/rss+xml"})
    with feed, redirect(f"{feed.base}/feed.rss") as second, redirect(f"{second.base}/hop-2") as first:
        entries = [{"name": f"allowed-{tag}", "url": f"{first.base}/feed.rss", "interval": "1h"}]
        db = f"sqlite:///{tmp_path / 'ingest.db'}"
        allowed = ["127.0.0.1/32", "127.0.0.2/32"]
        settings = _settings(kafka, db, _sources(tmp_path, entries), allow_private_networks=allowed)
        async with running(settings) as (_, pollers):
            await first_polls(pollers)
            state = await pollers[f"allowed-{tag}"].store.source_state(f"allowed-{tag}", "http")
        assert state.failures == 0 and state.last_error is None, state.last_error
        assert len(first.hits) == len(second.hits) == len(feed.hits) == 1
        assert "127.0.0.2" in connections
    news = [
        v for v in values(await read_until_quiet(kafka.bootstrap, topics.NEWS)) if tag in v.get("url", "")
    ]
    assert [v["title"] for v in news] == [f"Story {tag}"]
