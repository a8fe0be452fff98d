"""Secrets never leave through the side doors: ingest, match and notify run as processes at DEBUG level
with distinctive secrets everywhere they take one (ingest API tokens, notify's admin token and an
owner's token, a webhook signing secret, webhook and Slack URLs with a secret path and query, an SMTP
password used over STARTTLS with AUTH, PostgreSQL URLs with a password), real news samples go through
to a webhook receiver (failing once), a Slack-like receiver and an SMTP server, bad tokens are tried,
and dead letters are made. Then every log line, every /metrics page, every payload received (bodies,
headers, mail), the alerts file and the dead-letter topic are searched for each secret, as is and
URL-encoded and base64-encoded: nothing may be found."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import signal
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import asyncpg
import httpx
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from schemas import topics
from tests.conftest import POSTGRES_ADMIN_URL, read_topic, start_service, wait_ready
from tools.embedded import EmbeddedBroker, free_port
from tools.stack import service_env
from tools.webhook_sink import Reply, WebhookSink

pytestmark = [pytest.mark.broker, pytest.mark.slow]

# Each secret is distinctive and holds characters that URL encoding changes.
INGEST_TOKENS = ("ingTok+SECRETe2e/a7q1", "ingTok+SECRETe2e/b9z3")
ADMIN_TOKEN = "admTok+SECRETe2e/5r8t"
SIGNING_SECRET = "whsec+SECRETe2e/signing-4k2m"
HOOK_PATH = "hookPathSECRETe2e3n"
HOOK_QUERY = "hook+QuerySECRETe2e/7w"
SLACK_PATH = "T0SECRETe2e/B0SECRETe2e/slackPathSECRETe2e6p"
API_HOOK_QUERY = "apiHookSECRETe2e9d"
SMTP_USER = "notify-e2e"
SMTP_PASSWORD = "smtp+Pass SECRETe2e/8v6b"
PG_PASSWORD = "pg+Pass/SECRETe2e1a2b"
RECIPIENT = "desk@watchdog.example"


def forms(secret: str) -> set[str]:
    """The secret as it could appear: as is, URL-encoded, base64 (standard and URL-safe, padded or not)."""
    raw = secret.encode()
    out = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret)}
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        out |= {encoded.decode(), encoded.decode().rstrip("=")}
    return out


@dataclass
class MailBox:
    messages: list[bytes] = field(default_factory=list)
    logins: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.messages.append(envelope.original_content or b"")
        return "250 2.0.0 accepted"


def _databases(count: int) -> list[str]:
    names = [f"ew_{uuid.uuid4().hex[:12]}" for _ in range(count)]

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    for name in names:
        asyncio.run(run(f'CREATE DATABASE "{name}"'))
    return names


def _drop(names: list[str]) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=10)
        try:
            for name in names:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(run())


def _pg_url(database: str) -> str:
    """A URL with the password (trust authentication accepts any): URL-encoded, as it must be."""
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    scheme, rest = base.split("://", 1)
    host = rest.rsplit("@", 1)[-1]
    return f"{scheme}://postgres:{quote(PG_PASSWORD, safe='')}@{host}/{database}"


SUBSCRIPTIONS = """\
subscriptions:
  - id: e2e-webhook
    owner: e2e
    name: Every alert to the webhook
    channel: {type: webhook, url: "${E2E_HOOK_URL}", secret: "${E2E_SIGNING_SECRET}"}
  - id: e2e-slack
    owner: e2e
    name: Every alert to Slack
    channel: {type: slack, url: "${E2E_SLACK_URL}"}
  - id: e2e-email
    owner: e2e
    name: Every alert by e-mail
    channel: {type: email, to: [desk@watchdog.example]}
"""


@dataclass
class Stack:
    ports: dict[str, int]
    logs: dict[str, Path]
    hook: WebhookSink
    slack: WebhookSink
    mail: MailBox
    bootstrap: str
    workdir: Path
    procs: dict[str, subprocess.Popen[bytes]]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    hook = WebhookSink(secret=SIGNING_SECRET, script=[Reply(500)]).start()  # the first delivery fails
    slack = WebhookSink().start()
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    ca_file = tmp_path / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    mail = MailBox()

    def authenticator(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            SMTP_USER.encode(),
            SMTP_PASSWORD.encode(),
        )
        mail.logins += ok
        return AuthResult(success=ok, handled=False)

    smtp_port = free_port()
    smtp = Controller(
        mail,
        hostname="127.0.0.1",
        port=smtp_port,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    smtp.start()
    broker = EmbeddedBroker(partitions=2, log_path=tmp_path / "tansu.log")
    asyncio.run(broker.start())
    databases = _databases(2)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (tmp_path / "e2e-subscriptions.yaml").write_text(SUBSCRIPTIONS, encoding="utf-8")
    try:
        ports = {name: free_port() for name in ("notify", "match", "ingest")}
        logs = {name: tmp_path / f"{name}.log" for name in ports}
        for name, port in ports.items():
            env = service_env(name, broker.bootstrap, port, tmp_path, hook.url, [inbox])
            env["EXPORTWATCH_LOG_LEVEL"] = "DEBUG"
            env["EXPORTWATCH_LOG_FORMAT"] = "json" if name == "notify" else "text"
            if name == "ingest":
                env["EXPORTWATCH_INGEST_API_TOKENS"] = ",".join(INGEST_TOKENS)
                env["EXPORTWATCH_INGEST_DATABASE_URL"] = _pg_url(databases[0])
                env["EXPORTWATCH_INGEST_FOLDER_INTERVAL_SECONDS"] = "0.5"
            if name == "notify":
                env.update(
                    {
                        "EXPORTWATCH_NOTIFY_DATABASE_URL": _pg_url(databases[1]),
                        "EXPORTWATCH_NOTIFY_ADMIN_TOKEN": ADMIN_TOKEN,
                        # carol's subscription filters on a vendor no alert names, as an operator's
                        # addition to the watchlists
                        "EXPORTWATCH_NOTIFY_EXTRA_VENDORS": "nobody-at-all",
                        "EXPORTWATCH_NOTIFY_SUBSCRIPTIONS_FILE": str(tmp_path / "e2e-subscriptions.yaml"),
                        "E2E_HOOK_URL": f"{hook.url}/{HOOK_PATH}?token={quote(HOOK_QUERY, safe='')}",
                        "E2E_SIGNING_SECRET": SIGNING_SECRET,
                        "E2E_SLACK_URL": f"{slack.url}/{SLACK_PATH}",
                        "EXPORTWATCH_NOTIFY_GROUP_WAIT_SECONDS": "0.5",
                        "EXPORTWATCH_NOTIFY_RETRY_BASE_SECONDS": "0.2",
                        "EXPORTWATCH_NOTIFY_RETRY_CAP_SECONDS": "1",
                        "EXPORTWATCH_NOTIFY_POLL_SECONDS": "0.2",
                        "EXPORTWATCH_NOTIFY_SLACK_PER_SECOND": "50",
                        "EXPORTWATCH_NOTIFY_EMAIL_PER_SECOND": "50",
                        "EXPORTWATCH_NOTIFY_SMTP_HOST": "127.0.0.1",
                        "EXPORTWATCH_NOTIFY_SMTP_PORT": str(smtp_port),
                        "EXPORTWATCH_NOTIFY_SMTP_SECURITY": "starttls",
                        "EXPORTWATCH_NOTIFY_SMTP_USERNAME": SMTP_USER,
                        "EXPORTWATCH_NOTIFY_SMTP_PASSWORD": SMTP_PASSWORD,
                        "EXPORTWATCH_NOTIFY_SMTP_CA_FILE": str(ca_file),
                        "EXPORTWATCH_NOTIFY_SMTP_FROM": "ExportWatch <alerts@exportwatch.example>",
                    }
                )
            procs[name] = start_service(name, env, logs[name])
        for name, port in ports.items():
            wait_ready(f"http://127.0.0.1:{port}/healthz", procs[name], logs[name])
        yield Stack(ports, logs, hook, slack, mail, broker.bootstrap, tmp_path, procs)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(15)
            if proc.poll() is None:
                proc.kill()
        broker.stop()
        smtp.stop()
        hook.stop()
        slack.stop()
        _drop(databases)


async def _poison(bootstrap: str) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topics.NEWS, b"{not json", key=b"poison")
        await producer.send_and_wait(topics.ALERTS, b'{"type": "alert"}', key=b"bad-alert")
    finally:
        await producer.stop()


def _settled(stack: Stack, timeout: float = 40.0) -> None:
    """Every channel delivered (the webhook after its failure) and nothing more arrives for a while."""
    deadline = time.monotonic() + timeout
    seen: tuple[int, int, int] | None = None
    quiet_since = time.monotonic()
    while True:
        now = (len(stack.hook.received), len(stack.slack.received), len(stack.mail.messages))
        if now != seen:
            seen, quiet_since = now, time.monotonic()
        done = all(n > 0 for n in now) and stack.hook.requests > len(stack.hook.received)
        if done and time.monotonic() - quiet_since > 2:
            return
        assert time.monotonic() < deadline, f"deliveries did not settle: {now}, logs in {stack.workdir}"
        time.sleep(0.2)


def test_no_secret_in_logs_metrics_payloads_or_dead_letters(
    stack: Stack, news_samples: dict[str, dict[str, Any]]
) -> None:
    ingest = f"http://127.0.0.1:{stack.ports['ingest']}"
    notify = f"http://127.0.0.1:{stack.ports['notify']}"
    with httpx.Client(timeout=30) as client:
        # The real samples, with the first token; a bad body with the second; a wrong token.
        pushed = client.post(
            f"{ingest}/v1/events",
            json=list(news_samples.values()),
            headers={"authorization": f"Bearer {INGEST_TOKENS[0]}"},
        )
        assert pushed.status_code == 202, pushed.text
        bad = client.post(
            f"{ingest}/v1/events", content=b"{oops", headers={"authorization": f"Bearer {INGEST_TOKENS[1]}"}
        )
        assert bad.status_code == 400
        wrong = client.post(
            f"{ingest}/v1/events", content=b"{}", headers={"authorization": f"Bearer {INGEST_TOKENS[0]}x"}
        )
        assert wrong.status_code == 401  # an unknown token: 401 on both APIs (403 here before)
        # A file ingest cannot read goes to the dead letters with its bytes.
        (stack.workdir / "inbox" / "broken.jsonl").write_bytes(b'{"type": "news_article", "id": 1}\n\xff\n')
        asyncio.run(_poison(stack.bootstrap))

        # The subscriptions API: the admin makes an owner token, the owner a webhook subscription
        # with a secret in its URL and sends a test; a wrong admin token is refused.
        admin = {"authorization": f"Bearer {ADMIN_TOKEN}"}
        made = client.post(f"{notify}/v1/tokens", json={"owner": "carol"}, headers=admin)
        assert made.status_code == 201
        owner_token = made.json()["token"]
        owner = {"authorization": f"Bearer {owner_token}"}
        api_hook = f"{stack.slack.url}/api?token={API_HOOK_QUERY}"  # the webhook sink keeps its 500
        sub = client.post(
            f"{notify}/v1/subscriptions",
            json={
                "name": "carol's hook",
                "filters": {"entities": ["nobody-at-all"]},
                "channel": {"type": "webhook", "url": api_hook, "secret": SIGNING_SECRET},
            },
            headers=owner,
        )
        assert sub.status_code == 201, sub.text
        assert client.get(f"{notify}/v1/subscriptions", headers=admin).status_code == 200
        assert (
            client.get(f"{notify}/v1/subscriptions", headers={"authorization": "Bearer nope"}).status_code
            == 401
        )
        tested = client.post(f"{notify}/v1/subscriptions/{sub.json()['id']}/test", headers=owner)
        assert tested.status_code == 200 and tested.json()["delivered"] is True, tested.text

        _settled(stack)
        metrics = {
            name: client.get(f"http://127.0.0.1:{port}/metrics").text for name, port in stack.ports.items()
        }
        # (The token is shown once, in the answer that makes it: that answer is left out.)
        answers = [pushed.text, bad.text, wrong.text, sub.text, tested.text]

    dead = asyncio.run(read_topic(stack.bootstrap, topics.DEADLETTER, lambda rs: len(rs) >= 3))
    # The services stop cleanly, so every log line is written out.
    for name in ("ingest", "match", "notify"):
        stack.procs[name].send_signal(signal.SIGTERM)
    for name in ("ingest", "match", "notify"):
        assert stack.procs[name].wait(30) == 0, stack.logs[name].read_text()[-3000:]

    # What happened is what was meant to: deliveries on every channel, a retry, mail over STARTTLS
    # with AUTH, DEBUG logs, dead letters.
    assert stack.hook.requests >= len(stack.hook.received) + 1 and stack.hook.received
    assert all(r["signature_valid"] for r in stack.hook.received)
    assert stack.slack.received and stack.mail.messages and stack.mail.logins >= 1
    logs = {name: path.read_text(encoding="utf-8", errors="replace") for name, path in stack.logs.items()}
    assert all(" DEBUG " in text or '"level": "debug"' in text for text in logs.values()), "not at DEBUG"
    assert "notification failed, will retry" in logs["notify"]

    haystacks: dict[str, str] = {f"log:{name}": text for name, text in logs.items()}
    haystacks |= {f"metrics:{name}": text for name, text in metrics.items()}
    haystacks["api answers"] = "\n".join(answers)
    for sink in (stack.hook, stack.slack):
        for i, entry in enumerate(sink.received):
            # The request's own path is the secret URL, necessarily: everything else is searched.
            haystacks[f"received:{sink.url}:{i}"] = json.dumps(
                {k: v for k, v in entry.items() if k != "path"}, ensure_ascii=False
            )
    for i, message in enumerate(stack.mail.messages):
        haystacks[f"mail:{i}"] = message.decode("utf-8", "replace")
    alerts_file = stack.workdir / "alerts.jsonl"
    haystacks["alerts.jsonl"] = alerts_file.read_text(encoding="utf-8") if alerts_file.exists() else ""
    for i, record in enumerate(dead):
        headers = " ".join(f"{k}={v!r}" for k, v in record.headers or [])
        haystacks[f"dead-letter:{i}"] = f"{record.key!r} {record.value.decode('utf-8', 'replace')} {headers}"
    assert len(dead) >= 3 and haystacks["alerts.jsonl"]

    secrets = [
        *INGEST_TOKENS,
        ADMIN_TOKEN,
        owner_token,
        SIGNING_SECRET,
        HOOK_PATH,
        HOOK_QUERY,
        API_HOOK_QUERY,
        SLACK_PATH,
        *SLACK_PATH.split("/"),
        SMTP_PASSWORD,
        PG_PASSWORD,
    ]
    smtp_plain = base64.b64encode(f"\0{SMTP_USER}\0{SMTP_PASSWORD}".encode()).decode()
    hits = [
        (where, secret, form)
        for secret in secrets
        for form in forms(secret) | ({smtp_plain} if secret == SMTP_PASSWORD else set())
        for where, text in haystacks.items()
        if form in text
    ]
    size = sum(len(t) for t in haystacks.values())
    print(f"\n{len(haystacks)} sources ({size} chars) searched for {len(secrets)} secrets: {len(hits)} hits")
    assert hits == [], hits[:10]
    # The search finds them where they must be: in the URLs the receivers were called at.
    assert any(SLACK_PATH in entry["path"] for entry in stack.slack.received)
    assert any(quote(HOOK_QUERY, safe="") in entry["path"] for entry in stack.hook.received)
    assert any(API_HOOK_QUERY in entry["path"] for entry in stack.slack.received)
