"""The e-mail channel against a real SMTP server (aiosmtpd on 127.0.0.1): delivery, MIME structure,
header injection, STARTTLS and implicit TLS with a test CA, AUTH, and the mapping of failures."""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from pydantic import SecretStr

from schemas import Notification
from services.notify.channels.base import ChannelContext, DeliveryError, Reason, SmtpServer, target_id
from services.notify.channels.email import EmailChannel, EmailSettings, message_id
from tests.unit.test_notify_render import DAY, T0, digest_alerts, make_notification, rendered_alert
from tools.embedded import free_port

HOST = "127.0.0.1"
SENDER = "ExportWatch <alerts@exportwatch.example>"
RECIPIENTS = ["researcher@watchdog.example", "desk@watchdog.example"]
USER = "notify-user"
PASSWORD = "correct horse battery staple"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    authenticated: bool

    def parsed(self) -> EmailMessage:
        msg = email.message_from_bytes(self.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class Recorder:
    """An aiosmtpd handler that keeps what it receives, or answers with a chosen reply."""

    messages: list[Received] = field(default_factory=list)
    rcpt_reply: str | None = None
    data_reply: str | None = None

    async def handle_RCPT(  # noqa: N802 - the name aiosmtpd calls
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - the name aiosmtpd calls
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if self.data_reply:
            return self.data_reply
        transport = server.transport
        content = envelope.original_content or b""
        self.messages.append(
            Received(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                content=content,
                tls=transport is not None and transport.get_extra_info("ssl_object") is not None,
                authenticated=bool(session.authenticated),
            )
        )
        return "250 2.0.0 Message accepted"


def authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    # handled=False: aiosmtpd then answers 535 itself.
    return AuthResult(success=ok, handled=False)


@contextmanager
def smtp_server(recorder: Recorder, **kwargs: Any) -> Iterator[int]:
    """A real SMTP server on 127.0.0.1 and a free port, in its own thread; yields the port."""
    port = free_port(HOST)
    controller = Controller(recorder, hostname=HOST, port=port, **kwargs)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@dataclass
class Tls:
    ca_file: str
    server_context: ssl.SSLContext


def make_tls(tmp_path: Path, name: str = "ca") -> Tls:
    ca = trustme.CA()
    cert = ca.issue_cert(HOST, "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = tmp_path / f"{name}.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Tls(ca_file=str(ca_file), server_context=context)


@pytest.fixture
def tls(tmp_path: Path) -> Tls:
    return make_tls(tmp_path)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def channel(http: httpx.AsyncClient) -> Callable[..., EmailChannel]:
    def make(port: int | None, *, to: list[str] | None = None, **smtp: Any) -> EmailChannel:
        server = None
        if port is not None:
            smtp.setdefault("security", "none")
            smtp.setdefault("timeout", 5.0)
            server = SmtpServer(host=HOST, port=port, sender=SENDER, **smtp)
        ctx = ChannelContext(http=http, smtp=server, clock=lambda: T0)
        return EmailChannel(EmailSettings(type="email", to=to or RECIPIENTS), ctx)

    return make


def alert_notification(
    title: str = "Dutch firm sold facial recognition cameras to Chinese police",
) -> Notification:
    return make_notification([rendered_alert(title=title)])


async def send_error(channel: EmailChannel, notification: Notification | None = None) -> DeliveryError:
    with pytest.raises(DeliveryError) as info:
        await channel.send(notification or alert_notification())
    return info.value


# ------------------------------------------------------------------------------------------ delivery


async def test_plain_smtp_delivery(channel: Callable[..., EmailChannel]) -> None:
    recorder = Recorder()
    title = 'Vendor <script>alert("x")</script> sold facial recognition to "><img src=x onerror=alert(1)>'
    notification = alert_notification(title)
    with smtp_server(recorder) as port:
        ch = channel(port)
        await ch.send(notification)
        await ch.send(notification)  # a retry of the same notification

    assert ch.type == "email"
    assert len(recorder.messages) == 2
    first, second = recorder.messages
    assert first.mail_from == "alerts@exportwatch.example"
    assert first.rcpt_tos == RECIPIENTS
    assert not first.tls and not first.authenticated

    msg = first.parsed()
    assert msg["From"] == SENDER
    assert [a.addr_spec for a in msg["To"].addresses] == RECIPIENTS
    assert msg["Subject"] == f"[HIGH] {title} (CN)"
    assert msg["Message-ID"] == "<ntf-3b9c0e6d2a4f4e11a0c2@exportwatch.invalid>"
    assert msg["Message-ID"] == message_id(notification.id)
    assert second.parsed()["Message-ID"] == msg["Message-ID"]  # the same across retries
    assert msg["X-ExportWatch-Notification"] == notification.id
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Date"].datetime == T0
    assert msg.get_content_type() == "multipart/alternative"

    text_part = msg.get_body(("plain",))
    html_part = msg.get_body(("html",))
    assert text_part is not None and html_part is not None
    text = text_part.get_content()
    page = html_part.get_content()
    assert title in text
    assert "&lt;script&gt;" in page and "<script" not in page and "<img" not in page
    assert "https://www.example.org/news/dutch-firm-facial-recognition" in page
    assert all(len(line) <= 998 for line in first.content.split(b"\r\n"))


async def test_header_injection_attempt_adds_no_header_or_recipient(
    channel: Callable[..., EmailChannel],
) -> None:
    recorder = Recorder()
    attack = "Subject\r\nBcc: victim@example.org\r\nX-Injected: yes\r\n\r\nforged body"
    notification = make_notification([rendered_alert(title=attack)], name="Watch\r\nCc: other@example.org")
    with smtp_server(recorder) as port:
        await channel(port).send(notification)

    (received,) = recorder.messages
    assert received.rcpt_tos == RECIPIENTS  # the envelope: nobody else gets it
    msg = received.parsed()
    assert len(msg.get_all("Subject") or []) == 1
    # strip(): the stdlib folds this subject right after "Subject:" and keeps the fold's space on parsing.
    assert msg["Subject"].strip() == "[HIGH] Subject Bcc: victim@example.org X-Injected: yes forged body (CN)"
    for header in ("Bcc", "Cc", "X-Injected"):
        assert msg.get_all(header) is None
    assert not msg.defects
    head = received.content.split(b"\r\n\r\n", 1)[0]
    assert not any(line.lower().startswith((b"bcc:", b"cc:", b"x-injected:")) for line in head.split(b"\r\n"))
    assert [name for name, value in msg.items() if "victim" in value] == ["Subject"]
    text_part = msg.get_body(("plain",))
    assert text_part is not None
    assert "Subject Bcc: victim@example.org X-Injected: yes forged body" in text_part.get_content()


async def test_non_ascii_text_survives(channel: Callable[..., EmailChannel]) -> None:
    recorder = Recorder()
    alerts = [
        rendered_alert(
            title="Nederlands bedrijf leverde gezichtsherkenning aan Chinese politie", alert_id="a1"
        ),
        rendered_alert(
            title="Une entreprise a vendu de la reconnaissance faciale à la police", alert_id="a2"
        ),
        rendered_alert(title="شركة هولندية باعت تقنية التعرف على الوجه", alert_id="a3"),
    ]
    with smtp_server(recorder) as port:
        await channel(port).send(make_notification(alerts, name="Überwachung"))
    msg = recorder.messages[0].parsed()
    assert msg["Subject"].startswith("[HIGH] Nederlands bedrijf leverde gezichtsherkenning")
    text_part = msg.get_body(("plain",))
    assert text_part is not None
    text = text_part.get_content()
    assert text.startswith("3 sources report this story")
    for alert in alerts:
        assert alert.title in text
    assert "Überwachung" in text


async def test_digest_email_groups_alerts(channel: Callable[..., EmailChannel]) -> None:
    recorder = Recorder()
    with smtp_server(recorder) as port:
        await channel(port).send(make_notification(digest_alerts(), "digest", period=DAY))
    msg = recorder.messages[0].parsed()
    assert msg["Subject"] == "ExportWatch daily digest: 10 alerts, 2026-11-23 (China watch)"
    text_part = msg.get_body(("plain",))
    assert text_part is not None
    text = text_part.get_content().replace("\r\n", "\n")
    sections = [line for line in text.splitlines() if line.startswith("== ")]
    assert sections == [
        "== China (CN) ==",
        "== Russia (RU) ==",
        "== United Arab Emirates (AE) ==",
        "== No listed destination ==",
    ]
    china = text[text.index("== China (CN) ==") : text.index("== Russia (RU) ==")]
    assert "  spyware\n    [HIGH] Spyware and facial recognition kit shipped to Xinjiang" in china


def test_target_names_the_recipients_not_their_order(channel: Callable[..., EmailChannel]) -> None:
    a = channel(None, to=["b@watchdog.example", "a@watchdog.example"])
    b = channel(None, to=["a@watchdog.example", "b@watchdog.example"])
    assert a.target == b.target == target_id("email", "a@watchdog.example", "b@watchdog.example")
    assert "watchdog" not in a.target


# ------------------------------------------------------------------------------------- TLS and AUTH


async def test_starttls_and_auth(channel: Callable[..., EmailChannel], tls: Tls) -> None:
    recorder = Recorder()
    with smtp_server(
        recorder,
        tls_context=tls.server_context,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    ) as port:
        ch = channel(
            port, security="starttls", ca_file=tls.ca_file, username=USER, password=SecretStr(PASSWORD)
        )
        await ch.send(alert_notification())
    (received,) = recorder.messages
    assert received.tls and received.authenticated
    assert received.rcpt_tos == RECIPIENTS


async def test_wrong_password_is_an_auth_error_without_secrets(
    channel: Callable[..., EmailChannel], tls: Tls
) -> None:
    recorder = Recorder()
    wrong = "wrong-password-Zq83"
    with smtp_server(
        recorder,
        tls_context=tls.server_context,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    ) as port:
        ch = channel(port, security="starttls", ca_file=tls.ca_file, username=USER, password=SecretStr(wrong))
        error = await send_error(ch)
    assert error.reason is Reason.AUTH_ERROR and not error.reason.retryable
    for secret in (wrong, USER):
        assert secret not in error.detail and secret not in str(error)
    assert error.__cause__ is None
    assert recorder.messages == []


async def test_starttls_required_but_not_offered(channel: Callable[..., EmailChannel], tls: Tls) -> None:
    with smtp_server(Recorder()) as port:
        error = await send_error(channel(port, security="starttls", ca_file=tls.ca_file))
    assert error.reason is Reason.CLIENT_ERROR
    assert "STARTTLS" in error.detail


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_untrusted_certificate_is_refused(
    channel: Callable[..., EmailChannel], tls: Tls, tmp_path: Path, security: str
) -> None:
    other_ca = make_tls(tmp_path, "other-ca")
    recorder = Recorder()
    server: dict[str, Any] = (
        {"tls_context": tls.server_context, "require_starttls": True}
        if security == "starttls"
        else {"ssl_context": tls.server_context}
    )
    with smtp_server(recorder, **server) as port:
        error = await send_error(channel(port, security=security, ca_file=other_ca.ca_file))
    assert error.reason is Reason.CLIENT_ERROR
    assert "certificate" in error.detail
    assert recorder.messages == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_implicit_tls_and_auth(channel: Callable[..., EmailChannel], tls: Tls) -> None:
    recorder = Recorder()
    # aiosmtpd does not see implicit TLS as TLS for its AUTH rule, hence auth_require_tls=False.
    with smtp_server(
        recorder,
        ssl_context=tls.server_context,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=False,
    ) as port:
        ch = channel(port, security="tls", ca_file=tls.ca_file, username=USER, password=SecretStr(PASSWORD))
        await ch.send(alert_notification())
    (received,) = recorder.messages
    assert received.tls and received.authenticated


# ------------------------------------------------------------------------------------------ failures


@pytest.mark.parametrize(
    ("stage", "reply", "reason"),
    [
        ("data", "451 4.3.0 Mailbox temporarily unavailable, try again", Reason.SERVER_ERROR),
        ("rcpt", "450 4.2.1 Greylisted, try again later", Reason.SERVER_ERROR),
        ("data", "550 5.7.1 Message rejected as spam", Reason.CLIENT_ERROR),
        ("rcpt", "550 5.1.1 No such user", Reason.CLIENT_ERROR),
    ],
)
async def test_smtp_replies_are_classified(
    channel: Callable[..., EmailChannel], stage: str, reply: str, reason: Reason
) -> None:
    recorder = Recorder(rcpt_reply=reply) if stage == "rcpt" else Recorder(data_reply=reply)
    with smtp_server(recorder) as port:
        error = await send_error(channel(port))
    assert error.reason is reason
    assert error.reason.retryable is reply.startswith("4")
    assert reply.split(maxsplit=1)[0] in error.detail


async def test_nothing_listening_is_a_network_error(channel: Callable[..., EmailChannel]) -> None:
    error = await send_error(channel(free_port(HOST)))
    assert error.reason is Reason.NETWORK and error.reason.retryable


async def test_silent_server_is_a_timeout(channel: Callable[..., EmailChannel]) -> None:
    connections: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)  # never greets

    server = await asyncio.start_server(accept, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        error = await send_error(channel(port, timeout=0.3))
    finally:
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()
    assert error.reason is Reason.TIMEOUT and error.reason.retryable


async def test_missing_smtp_server_is_a_client_error(channel: Callable[..., EmailChannel]) -> None:
    error = await send_error(channel(None))
    assert error.reason is Reason.CLIENT_ERROR
    assert error.detail == "no SMTP server configured"
