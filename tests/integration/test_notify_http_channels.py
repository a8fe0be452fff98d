"""The Slack and webhook channels against a real local HTTP server: what arrives, how failures are
classified, which addresses are refused, and that the secret URL never leaks into errors or logs."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from pydantic import SecretStr

from schemas import EvidenceKind, Notification
from services.common.addresses import TargetPolicy
from services.notify.channels.base import ChannelContext, DeliveryError, Reason
from services.notify.channels.http import check_url, post
from services.notify.channels.slack import SlackChannel, SlackSettings
from services.notify.channels.webhook import WebhookChannel, WebhookSettings
from services.notify.core.cloudevents import CONTENT_TYPE, DATA_SCHEMA, EVENT_TYPE
from services.notify.core.signing import SIGNATURE_HEADER, verify
from tests.alerts import make_alert

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "SECRET-TOKEN-123"
SECRET = "whsec-integration-0123456789"
NOW = dt.datetime(2024, 5, 2, 8, 0, 0, tzinfo=dt.UTC)
LOCAL = TargetPolicy.allowing(["127.0.0.1/32"])
CLIENT_TIMEOUT = 0.5

TITLE = "Dutch firm sold facial recognition cameras to Chinese police"
BODY = (
    "Amsterdam-based Vidi Systems shipped facial recognition cameras to public security bureaus in "
    "Xinjiang, China, in 2023. <!channel> <!here|here> <@U024BE7LH> <https://evil.example|click> "
    "@everyone &lt;script&gt; says a reader comment copied into the page."
)


# --- a small local server ---------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Server:
    """Answers according to the first path segment: /ok, /fail500, /busy (429 + Retry-After seconds),
    /busy-date (503 + Retry-After HTTP date), /moved (301), /slack404, /slack410, /slack403, /slack400,
    /timeout408, /echo400 (echoes the URL and Host), /slow (sleeps past the client timeout)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with server.lock:
                    server.received.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                kind = self.path.strip("/").split("/")[0].split("?")[0]
                status, headers, text = server.answer(kind, self)
                data = text.encode("utf-8")
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (/slow)
                    return

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def answer(self, kind: str, handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], str]:
        retry_date = email.utils.format_datetime(NOW + dt.timedelta(seconds=120), usegmt=True)
        match kind:
            case "ok":
                return 200, {"content-type": "text/plain"}, "ok"
            case "fail500":
                return 500, {}, "Internal Server Error"
            case "busy":
                return 429, {"retry-after": "7"}, "slow down"
            case "busy-date":
                return 503, {"retry-after": retry_date}, "maintenance"
            case "moved":
                return 301, {"location": "http://169.254.169.254/latest/meta-data/"}, ""
            case "slack404":
                return 404, {"content-type": "text/html"}, "no_service"
            case "slack410":
                return 410, {}, "channel_is_archived"
            case "slack403":
                return 403, {}, "action_prohibited"
            case "slack400":
                return 400, {}, "invalid_payload"
            case "timeout408":
                return 408, {}, "request timeout"
            case "echo400":
                host = handler.headers.get("host", "")
                return 400, {}, f"unknown hook {handler.path} on {host} (see http://{host}{handler.path})"
            case "slow":
                time.sleep(CLIENT_TIMEOUT * 4)
                return 200, {}, "too late"
        return 418, {}, "unexpected"

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        assert isinstance(host, str)
        return f"http://{host}:{port}"

    def url(self, kind: str) -> str:
        """A URL that carries a secret in its path and its query, like real webhook URLs do."""
        return f"{self.base}/{kind}/hooks/{TOKEN}?token={TOKEN}&sig=abc"

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as srv:
        yield srv


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
async def ctx(clock: Clock) -> AsyncIterator[ChannelContext]:
    async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT) as client:
        yield ChannelContext(http=client, targets=LOCAL, source="urn:exportwatch:notify:test", clock=clock)


@pytest.fixture(autouse=True)
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Everything is logged at DEBUG, and no record may mention the secret URL."""
    caplog.set_level(logging.DEBUG)
    yield caplog
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "") + repr(record.args)
        assert TOKEN not in text, f"secret URL in a log record: {record.name}"
        assert "/hooks/" not in text
    assert TOKEN not in caplog.text


# --- test data --------------------------------------------------------------------------------------


# Title evidence quotes "Chinese", body evidence "China", as match writes them.
ALERT = make_alert(
    "alert-7f3a",
    event_id="news-5f1c2a9e0b7d4c61",
    title=TITLE,
    body=BODY,
    url="https://www.nrc.nl/nieuws/2024/05/01/vidi",
    evidence_in=("title", "body"),
    terms=[
        ("facial recognition", EvidenceKind.TECHNOLOGY, "facial-recognition"),
        ("Chinese", EvidenceKind.DESTINATION, "CN"),
        ("China", EvidenceKind.DESTINATION, "CN"),
    ],
    score=0.91,
    entities=["vidi-systems"],
    rule="news.tech_destination",
    summary="Facial recognition technology exported to China, for police use.",
    watchlist_version="2024.05.1",
    created_at=NOW - dt.timedelta(minutes=3),
)


def make_notification(kind: str = "alerts") -> Notification:
    return Notification(
        id="ntf-3b9c0e6d2a4f4e11a0c2",
        kind=kind,
        subscription_id="sub-amnesty-tech",
        subscription_name="Amnesty tech: China",
        story="news-5f1c2a9e0b7d4c61" if kind == "alerts" else None,
        alerts=[ALERT],
        created_at=NOW - dt.timedelta(minutes=1),
    )


def slack(server: Server, kind: str, ctx: ChannelContext) -> SlackChannel:
    return SlackChannel(SlackSettings(type="slack", url=SecretStr(server.url(kind))), ctx)


def webhook(server: Server, kind: str, ctx: ChannelContext) -> WebhookChannel:
    settings = WebhookSettings(type="webhook", url=SecretStr(server.url(kind)), secret=SecretStr(SECRET))
    return WebhookChannel(settings, ctx)


def assert_no_secret(error: DeliveryError, server: Server) -> None:
    for text in (error.detail, str(error), repr(error)):
        assert TOKEN not in text
        assert "/hooks/" not in text
        assert "127.0.0.1" not in text
        assert server.base not in text
        assert "token=" not in text


# --- Slack ------------------------------------------------------------------------------------------


async def test_slack_payload_arrives_without_mentions_or_foreign_links(
    server: Server, ctx: ChannelContext
) -> None:
    channel = slack(server, "ok", ctx)
    assert channel.type == "slack" and TOKEN not in channel.target and TOKEN not in repr(channel)
    await channel.send(make_notification())
    assert len(server.received) == 1
    request = server.received[0]
    assert request.path == f"/ok/hooks/{TOKEN}?token={TOKEN}&sig=abc"
    assert request.headers["content-type"].startswith("application/json")
    raw = request.body.decode("utf-8")
    for forbidden in ("<!channel>", "<!here", "<@U024BE7LH>", "<https://evil.example", "@everyone"):
        assert forbidden not in raw
    payload = json.loads(raw)
    assert payload["text"].startswith("🟠 HIGH: Facial recognition technology exported to China")
    blocks = payload["blocks"]
    assert blocks[0]["type"] == "header" and TITLE in blocks[0]["text"]["text"]
    joined = "\n".join(b["text"]["text"] for b in blocks if "text" in b)
    assert f"*<https://www.nrc.nl/nieuws/2024/05/01/vidi|{TITLE}>*" in joined
    assert "🇨🇳 China (CN)" in joined
    assert "*facial recognition* cameras to public security bureaus in Xinjiang, *China*" in joined
    assert "&lt;!channel&gt;" in joined and "&amp;lt;script&amp;gt;" in joined
    assert TOKEN not in raw


@pytest.mark.parametrize(
    ("kind", "reason", "code"),
    [
        ("slack404", Reason.CLIENT_ERROR, "no_service"),
        ("slack410", Reason.CLIENT_ERROR, "channel_is_archived"),
        ("slack403", Reason.AUTH_ERROR, "action_prohibited"),
        ("slack400", Reason.CLIENT_ERROR, "invalid_payload"),
    ],
)
async def test_slack_errors_are_permanent_and_keep_slacks_code(
    server: Server, ctx: ChannelContext, kind: str, reason: Reason, code: str
) -> None:
    with pytest.raises(DeliveryError) as caught:
        await slack(server, kind, ctx).send(make_notification())
    error = caught.value
    assert error.reason is reason and not error.reason.retryable
    assert code in error.detail and error.retry_after is None
    assert_no_secret(error, server)


# --- webhook ----------------------------------------------------------------------------------------


async def test_webhook_delivers_a_signed_cloudevent(server: Server, ctx: ChannelContext) -> None:
    notification = make_notification()
    channel = webhook(server, "ok", ctx)
    assert channel.type == "webhook" and TOKEN not in channel.target
    await channel.send(notification)
    request = server.received[0]
    headers = request.headers
    assert headers["content-type"] == CONTENT_TYPE
    assert headers["idempotency-key"] == notification.id
    assert headers["user-agent"] == "ExportWatch-Webhook/1"
    verify(SECRET, headers[SIGNATURE_HEADER.lower()], request.body, now=int(NOW.timestamp()))
    assert headers[SIGNATURE_HEADER.lower()].startswith(f"t={int(NOW.timestamp())},v1=")

    event = json.loads(request.body.decode("utf-8"))
    assert b": " not in request.body[:200]  # compact JSON
    assert event["specversion"] == "1.0"
    assert event["id"] == notification.id
    assert event["source"] == "urn:exportwatch:notify:test"
    assert event["type"] == EVENT_TYPE == "org.exportwatch.notification.v1"
    assert event["subject"] == "news-5f1c2a9e0b7d4c61"
    assert dt.datetime.fromisoformat(event["time"]) == notification.created_at
    assert event["datacontenttype"] == "application/json"
    assert event["dataschema"] == DATA_SCHEMA
    received = Notification.model_validate(event["data"])
    assert received == notification
    assert received.alerts[0].evidence[2].text == "facial recognition"
    schema = json.loads((ROOT / "schemas/jsonschema/notification.v1.json").read_text(encoding="utf-8"))
    jsonschema.validate(event["data"], schema)


async def test_webhook_is_signed_again_at_each_attempt_with_the_same_id(
    server: Server, ctx: ChannelContext, clock: Clock
) -> None:
    channel = webhook(server, "ok", ctx)
    notification = make_notification(kind="digest")
    await channel.send(notification)
    clock.now = NOW + dt.timedelta(seconds=90)
    await channel.send(notification)
    first, second = server.received
    assert first.body == second.body
    sig1, sig2 = first.headers[SIGNATURE_HEADER.lower()], second.headers[SIGNATURE_HEADER.lower()]
    assert sig1 != sig2 and sig2.startswith(f"t={int(clock.now.timestamp())},")
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"] == notification.id
    verify(SECRET, sig2, second.body, now=int(clock.now.timestamp()))
    assert json.loads(first.body)["subject"] == "sub-amnesty-tech"


@pytest.mark.parametrize(
    ("kind", "reason", "retry_after", "fragment"),
    [
        ("fail500", Reason.SERVER_ERROR, None, "HTTP 500"),
        ("busy", Reason.RATE_LIMITED, 7.0, "HTTP 429"),
        ("busy-date", Reason.SERVER_ERROR, 120.0, "HTTP 503"),
        ("moved", Reason.CLIENT_ERROR, None, "redirects are not followed"),
        ("timeout408", Reason.TIMEOUT, None, "HTTP 408"),
        ("echo400", Reason.CLIENT_ERROR, None, "HTTP 400: unknown hook"),
        ("slow", Reason.TIMEOUT, None, "no answer in time"),
    ],
)
async def test_webhook_failures_are_classified(
    server: Server, ctx: ChannelContext, kind: str, reason: Reason, retry_after: float | None, fragment: str
) -> None:
    with pytest.raises(DeliveryError) as caught:
        await webhook(server, kind, ctx).send(make_notification())
    error = caught.value
    assert error.reason is reason
    assert error.retry_after == retry_after
    assert fragment in error.detail
    assert_no_secret(error, server)
    assert len(server.received) == 1  # one attempt, no redirect followed


async def test_connection_refused_is_a_network_error(ctx: ChannelContext) -> None:
    with Server() as srv:
        url = srv.url("ok")
    with pytest.raises(DeliveryError) as caught:
        await post(ctx, url, b"{}", {})
    assert caught.value.reason is Reason.NETWORK and caught.value.reason.retryable
    assert TOKEN not in str(caught.value) and "127.0.0.1" not in caught.value.detail


# --- addresses --------------------------------------------------------------------------------------


async def test_loopback_is_refused_without_an_allowance(server: Server, clock: Clock) -> None:
    async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT) as client:
        strict = ChannelContext(http=client, targets=TargetPolicy(), clock=clock)
        for channel in (webhook(server, "ok", strict), slack(server, "ok", strict)):
            with pytest.raises(DeliveryError) as caught:
                await channel.send(make_notification())
            assert caught.value.reason is Reason.FORBIDDEN_TARGET and not caught.value.reason.retryable
            assert "loopback" in caught.value.detail
            assert_no_secret(caught.value, server)
        localhost = server.url("ok").replace("127.0.0.1", "localhost")
        with pytest.raises(DeliveryError) as caught:
            await post(strict, localhost, b"{}", {})
        assert caught.value.reason is Reason.FORBIDDEN_TARGET
        assert "localhost" not in caught.value.detail
    assert server.received == []

    async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT) as client:
        allowed = ChannelContext(http=client, targets=LOCAL, clock=clock)
        await webhook(server, "ok", allowed).send(make_notification())
    assert len(server.received) == 1


async def test_only_http_urls_are_posted_to(ctx: ChannelContext) -> None:
    for url in (f"file:///etc/{TOKEN}", f"ftp://127.0.0.1/{TOKEN}", "http:///no-host", "http://[::1"):
        with pytest.raises(DeliveryError) as caught:
            await post(ctx, url, b"{}", {})
        assert caught.value.reason is Reason.FORBIDDEN_TARGET
        assert TOKEN not in caught.value.detail


async def test_check_url_for_new_subscriptions(server: Server) -> None:
    url = server.url("ok")
    assert await check_url(url, LOCAL) is None
    problem = await check_url(url, TargetPolicy())
    assert problem is not None and "loopback" in problem and TOKEN not in problem
    assert "127.0.0.1" not in problem
    problem = await check_url(f"ftp://example.org/{TOKEN}", TargetPolicy())
    assert problem is not None and "https://" in problem and TOKEN not in problem
    assert await check_url("https:///nothing", TargetPolicy()) == "the URL has no host"
    assert await check_url("http://10.1.2.3/hook", TargetPolicy()) is not None
    assert await check_url("http://169.254.169.254/latest", TargetPolicy()) is not None
    assert await check_url("http://[::ffff:127.0.0.1]/x", TargetPolicy()) is not None
    assert await check_url("http://10.1.2.3/hook", TargetPolicy.allowing(["10.0.0.0/8"])) is None
    assert server.received == []
