"""Server-side request forgery at send time: the Slack and webhook channels never reach a loopback,
private, link-local or otherwise non-public address, however the address is spelt (IPv6, IPv4-mapped,
decimal, octal, hex, a name in /etc/hosts, a resolver that lies), never follow a redirect, and connect
to exactly the address the policy checked (no second DNS lookup that a rebinding name could answer
differently), with the Host header and TLS server name of the URL.

Real listeners on 127.0.0.1, 127.0.0.2 and [::1] count every TCP connection they accept: a refused
target must leave them at zero."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
import pytest
import trustme
from pydantic import SecretStr

from schemas import Notification
from services.common.addresses import TargetPolicy, forbidden_address
from services.notify.channels import http as http_channel
from services.notify.channels.base import ChannelContext, DeliveryError, Reason
from services.notify.channels.http import check_url, post
from services.notify.channels.slack import SlackChannel, SlackSettings
from services.notify.channels.webhook import WebhookChannel, WebhookSettings
from services.notify.core.signing import SIGNATURE_HEADER, verify
from tests.alerts import make_alert

SECRET = "ssrf-signing-secret-0123456789"
PATH_TOKEN = "T0SSRF-B0SSRF-path-token"
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
TIMEOUT = 1.0
REFUSED = "address, which is not allowed"
INVALID = "the URL is not valid"


# --- listeners --------------------------------------------------------------------------------------


@dataclass
class Hit:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, listener: Listener, address: tuple[str, int], family: socket.AddressFamily) -> None:
        self.address_family = family
        self.listener = listener
        super().__init__(address, listener.handler())

    def verify_request(self, request: Any, client_address: Any) -> bool:
        with self.listener.lock:
            self.listener.connections += 1
        return True


@dataclass
class Listener:
    """An HTTP server that counts the connections it accepts and keeps every request; it answers
    ``status`` with ``headers`` (e.g. a redirect) and ``body``."""

    host: str
    port: int = 0
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    tls: ssl.SSLContext | None = None
    connections: int = 0
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with listener.lock:
                    listener.hits.append(
                        Hit(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                self.send_response(listener.status)
                for key, value in listener.headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(listener.body)))
                self.end_headers()
                self.wfile.write(listener.body)

            do_GET = do_POST = do_PUT = _any  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler

    def __enter__(self) -> Listener:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self.server = _Server(self, (self.host, self.port), family)
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def base(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http{'s' if self.tls else ''}://{host}:{self.port}"


@dataclass
class Locals:
    """Listeners on 127.0.0.1 and [::1] sharing one port, so every spelling of loopback with that port
    lands on one of them."""

    v4: Listener
    v6: Listener

    @property
    def port(self) -> int:
        return self.v4.port

    @property
    def connections(self) -> int:
        return self.v4.connections + self.v6.connections


@pytest.fixture
def local() -> Iterator[Locals]:
    for _ in range(20):
        v4 = Listener("127.0.0.1").__enter__()
        try:
            v6 = Listener("::1", port=v4.port).__enter__()
        except OSError:
            v4.__exit__()
            continue
        try:
            yield Locals(v4, v6)
        finally:
            v6.__exit__()
            v4.__exit__()
        return
    raise AssertionError("no port free on both 127.0.0.1 and ::1")


# --- channels ---------------------------------------------------------------------------------------


def notification() -> Notification:
    return Notification(
        id="ntf-ssrf-1",
        kind="alerts",
        subscription_id="sub-ssrf",
        subscription_name="SSRF",
        story="news-1",
        alerts=[make_alert("alert-ssrf", created_at=NOW)],
        created_at=NOW,
    )


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        yield client


def context(http: httpx.AsyncClient, *allowed: str) -> ChannelContext:
    return ChannelContext(http=http, targets=TargetPolicy.allowing(allowed), clock=lambda: NOW)


def channels(url: str, ctx: ChannelContext) -> list[SlackChannel | WebhookChannel]:
    # Built without validation: the settings models refuse some of these URLs already, but a subscription
    # stored before they did must still be refused where it is sent.
    return [
        SlackChannel(SlackSettings.model_construct(type="slack", url=SecretStr(url)), ctx),
        WebhookChannel(
            WebhookSettings.model_construct(type="webhook", url=SecretStr(url), secret=SecretStr(SECRET)), ctx
        ),
    ]


async def refusal(channel: SlackChannel | WebhookChannel) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        await channel.send(notification())
    return caught.value


def assert_clean(detail: str, url: str) -> None:
    """A refusal's detail says why, without the URL, its host or its secret path."""
    assert PATH_TOKEN not in detail and SECRET not in detail
    host = urlsplit(url).hostname
    assert not host or len(host) < 4 or host not in detail.lower(), detail


# --- every spelling of a forbidden address ------------------------------------------------------------

# {p} is the port of the local listeners.
LOOPBACK_FORMS = [
    "http://127.0.0.1:{p}",
    "http://[::1]:{p}",
    "http://0.0.0.0:{p}",  # connects to the local host on Linux
    "http://0:{p}",
    "http://127.1:{p}",
    "http://127.0.0.2:{p}",
    "http://[::ffff:127.0.0.1]:{p}",  # IPv4-mapped
    "http://[::ffff:7f00:1]:{p}",
    "http://[0:0:0:0:0:ffff:127.0.0.1]:{p}",
    "http://[::127.0.0.1]:{p}",  # IPv4-compatible (deprecated)
    "http://[2002:7f00:1::1]:{p}",  # 6to4 wrapping 127.0.0.1
    "http://2130706433:{p}",  # decimal
    "http://0x7f.1:{p}",  # hex
    "http://0x7f000001:{p}",
    "http://017700000001:{p}",  # octal
    "http://0177.0.0.1:{p}",
    "http://localhost:{p}",  # a name resolving to loopback
    "http://LOCALHOST:{p}",
    "https://127.0.0.1:{p}",
    "http://user:pass@127.0.0.1:{p}",
]
REMOTE_FORMS = [
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
    "http://[::ffff:169.254.169.254]/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",  # AWS metadata over IPv6 (unique local)
    "http://100.100.100.200/latest/meta-data/",  # Alibaba Cloud metadata (shared address space)
    "http://100.64.0.1/",
    "http://[fe80::1]/",
    "http://10.0.0.1/",
    "http://10.255.255.254/",
    "http://[::ffff:10.1.2.3]/",
    "http://172.16.0.1/",
    "http://172.31.255.254/",
    "http://192.168.0.1/",
    "http://192.168.255.254/",
    "http://[fc00::1]/",
    "http://[fdff:ffff::1]/",
    "http://224.0.0.1/",  # multicast
    "http://255.255.255.255/",
    "http://240.0.0.1/",  # reserved
    "http://198.18.0.1/",  # benchmarking
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
]


def hosts_file_names() -> list[str]:
    """Names other than localhost that /etc/hosts maps to a loopback address on this machine."""
    names = []
    for line in Path("/etc/hosts").read_text(encoding="utf-8", errors="replace").splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and forbidden_address(fields[0]) is not None:
            names += [n for n in fields[1:] if n.lower() not in ("localhost", "localhost.localdomain")]
    return sorted(set(names))[:3]


def _forms(port: int) -> list[str]:
    urls = [f.format(p=port) for f in LOOPBACK_FORMS]
    urls += [f"http://{name}:{port}" for name in hosts_file_names()]
    return [f"{u}/{PATH_TOKEN}?token={PATH_TOKEN}" if u.count("/") == 2 else u for u in urls]


async def test_every_spelling_of_loopback_is_refused_and_nothing_connects(
    local: Locals, http: httpx.AsyncClient
) -> None:
    strict = context(http)
    only_v4_loopback = context(http, "127.0.0.1/32")  # an allowance covers exactly its network
    refused: dict[str, str] = {}
    for url in _forms(local.port):
        problem = await check_url(url, TargetPolicy())
        # Refused for its address, or (0177.0.0.1: a spelling the HTTP client does not accept) as
        # an invalid URL; either way permanently and before any connection.
        assert problem is not None and (REFUSED in problem or problem == INVALID), (url, problem)
        assert_clean(problem, url)
        for channel in channels(url, strict):
            error = await refusal(channel)
            assert error.reason is Reason.FORBIDDEN_TARGET and not error.reason.retryable, (url, error)
            assert error.detail == problem, (url, error.detail)
        refused[url] = problem
    for url in ("http://[::1]:{p}/x", "http://127.0.0.2:{p}/x", "http://[::ffff:127.0.0.2]:{p}/x"):
        for channel in channels(url.format(p=local.port), only_v4_loopback):
            assert (await refusal(channel)).reason is Reason.FORBIDDEN_TARGET, url
    assert local.connections == 0, "a refused target was connected to"
    assert local.v4.hits == local.v6.hits == []
    assert len(refused) >= len(LOOPBACK_FORMS)


@pytest.mark.parametrize("url", REMOTE_FORMS)
async def test_private_link_local_and_metadata_addresses_are_refused(
    url: str, http: httpx.AsyncClient
) -> None:
    problem = await check_url(url, TargetPolicy())
    assert problem is not None and REFUSED in problem, problem
    for channel in channels(url, context(http)):
        error = await refusal(channel)
        # Refused before any connection: not a timeout or a network error of an attempt.
        assert error.reason is Reason.FORBIDDEN_TARGET and not error.reason.retryable, error
        assert REFUSED in error.detail
        assert_clean(error.detail, url)


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.216.34/\thook",  # urllib drops the tab, httpx refuses the URL
        "http://93.184.216.34/ho\nok",
        "http://93.184.216.34:65536/hook",
        "http://93.184.216.34:0/hook",
        "http://①②⑦.0.0.1/hook",  # IDNA would turn it into 127.0.0.1
        "http:\\\\127.0.0.1\\hook",
        "gopher://127.0.0.1:70/_",
        "file:///etc/passwd",
        "//127.0.0.1/hook",
        "",
    ],
)
async def test_urls_that_cannot_be_sent_as_written_are_refused(url: str, http: httpx.AsyncClient) -> None:
    """What is checked is what would be sent: a URL the HTTP client would read differently from the
    check (or not at all) is refused at creation and at send time, permanently."""
    problem = await check_url(url, TargetPolicy())
    assert problem is not None
    for channel in channels(url, context(http)):
        error = await refusal(channel)
        assert error.reason is Reason.FORBIDDEN_TARGET and not error.reason.retryable, error


# --- a resolver that lies ---------------------------------------------------------------------------


class Resolver:
    """``socket.getaddrinfo`` with some names answered from a script: each name's answers in turn (the
    last one repeated), every lookup counted."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.calls: dict[str, int] = {}
        self.real: Callable[..., Any] = socket.getaddrinfo
        monkeypatch.setattr(socket, "getaddrinfo", self)

    def __call__(self, host: Any, port: Any, family: int = 0, type: int = 0, *rest: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in self.answers:
            return self.real(host, port, family, type, *rest)
        n = self.calls.get(name, 0)
        self.calls[name] = n + 1
        ip = self.answers[name][min(n, len(self.answers[name]) - 1)]
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        sockaddr = (ip, int(port or 0), 0, 0) if fam == socket.AF_INET6 else (ip, int(port or 0))
        return [(fam, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)]


async def test_a_name_resolving_to_a_private_address_is_refused(
    monkeypatch: pytest.MonkeyPatch, local: Locals, http: httpx.AsyncClient
) -> None:
    resolver = Resolver(
        monkeypatch,
        {"hooks.internal.test": ["127.0.0.1"], "v6.internal.test": ["::1"], "meta.test": ["169.254.169.254"]},
    )
    for name in resolver.answers:
        url = f"http://{name}:{local.port}/{PATH_TOKEN}"
        assert REFUSED in (await check_url(url, TargetPolicy()) or "")
        for channel in channels(url, context(http)):
            error = await refusal(channel)
            assert error.reason is Reason.FORBIDDEN_TARGET and REFUSED in error.detail
            assert name not in error.detail
    assert local.connections == 0


async def test_dns_rebinding_connects_to_the_checked_address_only(
    monkeypatch: pytest.MonkeyPatch, http: httpx.AsyncClient
) -> None:
    """For every send the name answers an allowed address to the first lookup and loopback to any
    later one: the request goes to the address that was checked, after one lookup, with the name in
    the Host header; loopback sees nothing.

    127.0.0.2 plays the public server (the policy allows exactly it); 127.0.0.1 is the forbidden
    target the rebinding name turns to."""
    with Listener("127.0.0.1") as forbidden, Listener("127.0.0.2", port=forbidden.port) as allowed:
        resolver = Resolver(monkeypatch, {"rebind.test": ["127.0.0.2", "127.0.0.1"]})
        url = f"http://rebind.test:{allowed.port}/hook/{PATH_TOKEN}"
        ctx = context(http, "127.0.0.2/32")
        for channel in channels(url, ctx):
            resolver.calls.clear()  # a fresh rebinding name for each send
            await channel.send(notification())
            assert forbidden.connections == 0 and forbidden.hits == [], "the second answer was used"
            assert resolver.calls == {"rebind.test": 1}, "the name was looked up again"
        assert len(allowed.hits) == 2
        for hit in allowed.hits:
            assert hit.headers["host"] == f"rebind.test:{allowed.port}"
            assert hit.path == f"/hook/{PATH_TOKEN}"
        webhook_hit = allowed.hits[1]
        verify(
            SECRET, webhook_hit.headers[SIGNATURE_HEADER.lower()], webhook_hit.body, now=int(NOW.timestamp())
        )
        # Answering loopback first: refused before connecting.
        resolver.answers["rebind.test"] = ["127.0.0.1", "127.0.0.2"]
        for channel in channels(url, ctx):
            resolver.calls.clear()
            assert (await refusal(channel)).reason is Reason.FORBIDDEN_TARGET
        assert forbidden.connections == 0 and len(allowed.hits) == 2


async def test_rebinding_from_a_public_address_connects_to_the_public_address(
    monkeypatch: pytest.MonkeyPatch, local: Locals, http: httpx.AsyncClient
) -> None:
    """With the default policy: the name answers a public address, then loopback. The one connection
    attempt goes to the public address that was checked (recorded, and failed, here: no traffic leaves
    the test), never to the name again; the loopback listener sees nothing."""
    resolver = Resolver(monkeypatch, {"public-then-loopback.test": ["93.184.216.34", "127.0.0.1"]})
    attempts: list[str] = []

    async def record(self: Any, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        attempts.append(host)
        raise httpcore.ConnectError("not connecting out of the test")

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", record)
    url = f"http://public-then-loopback.test:{local.port}/{PATH_TOKEN}"
    for channel in channels(url, context(http)):
        resolver.calls.clear()  # public first, loopback after, for each send
        error = await refusal(channel)
        assert error.reason is Reason.NETWORK, error  # the public address did not answer
        assert resolver.calls == {"public-then-loopback.test": 1}
    assert attempts == ["93.184.216.34", "93.184.216.34"], attempts
    assert local.connections == 0


async def test_a_name_with_one_forbidden_address_among_several_is_refused(
    monkeypatch: pytest.MonkeyPatch, http: httpx.AsyncClient
) -> None:
    answers = [("127.0.0.2", socket.AF_INET), ("127.0.0.1", socket.AF_INET)]

    def both(host: Any, port: Any, *args: Any) -> Any:
        return [(fam, socket.SOCK_STREAM, 6, "", (ip, int(port))) for ip, fam in answers]

    monkeypatch.setattr(socket, "getaddrinfo", both)
    with Listener("127.0.0.1") as forbidden, Listener("127.0.0.2", port=forbidden.port) as allowed:
        for channel in channels(f"http://two.test:{allowed.port}/x", context(http, "127.0.0.2/32")):
            assert (await refusal(channel)).reason is Reason.FORBIDDEN_TARGET
        assert forbidden.connections == allowed.connections == 0


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def _server_tls(ca: trustme.CA, name: str, seen: list[str | None]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)

    def remember(sock: Any, server_name: str | None, ctx: Any) -> None:
        seen.append(server_name)

    context.sni_callback = remember
    return context


async def test_tls_to_a_pinned_address_keeps_the_server_name(
    monkeypatch: pytest.MonkeyPatch, http: httpx.AsyncClient, ca: trustme.CA
) -> None:
    """Connecting to the checked address does not lose TLS: the server name sent and verified is the
    URL's host, so a certificate for another name is refused."""
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    monkeypatch.setattr(http_channel, "_ssl_context", lambda: client_tls)
    Resolver(monkeypatch, {"hooks.pinned.test": ["127.0.0.2"], "wrong.pinned.test": ["127.0.0.2"]})
    seen: list[str | None] = []
    ctx = context(http, "127.0.0.2/32")
    with Listener("127.0.0.2", tls=_server_tls(ca, "hooks.pinned.test", seen)) as server:
        url = f"https://hooks.pinned.test:{server.port}/hook/{PATH_TOKEN}"
        for channel in channels(url, ctx):
            await channel.send(notification())
        assert seen == ["hooks.pinned.test", "hooks.pinned.test"]
        assert [h.headers["host"] for h in server.hits] == [f"hooks.pinned.test:{server.port}"] * 2
        # Another name on the same address: its certificate does not match, nothing is sent.
        wrong = f"https://wrong.pinned.test:{server.port}/hook"
        for channel in channels(wrong, ctx):
            error = await refusal(channel)
            assert error.reason is Reason.NETWORK
        assert len(server.hits) == 2


# --- redirects --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirects_to_loopback_are_not_followed(
    status: int, local: Locals, http: httpx.AsyncClient
) -> None:
    locations = [
        f"http://127.0.0.1:{local.port}/steal",
        f"http://[::1]:{local.port}/steal",
        "http://169.254.169.254/latest/meta-data/",
    ]
    for location in locations:
        with Listener("127.0.0.2", status=status, headers={"location": location}) as server:
            for channel in channels(f"{server.base}/hook/{PATH_TOKEN}", context(http, "127.0.0.2/32")):
                error = await refusal(channel)
                assert error.reason is Reason.CLIENT_ERROR and not error.reason.retryable
                assert error.detail == f"HTTP {status}: redirects are not followed"
            assert len(server.hits) == 2  # one request per send, nothing followed
    assert local.connections == 0


async def test_post_refuses_before_sending_anything(local: Locals, http: httpx.AsyncClient) -> None:
    """The low-level ``post`` used by both channels: a forbidden target gets no bytes."""
    with pytest.raises(DeliveryError) as caught:
        await post(context(http), f"http://127.0.0.1:{local.port}/x", b"{}", {})
    assert caught.value.reason is Reason.FORBIDDEN_TARGET
    assert local.connections == 0
