"""Kafka over TLS and SASL, against real listeners: every kind of client the services make (admin,
producer, consumer in a group, FastStream broker, the ``exportwatch topics`` command) connects with the
settings of services/common/kafka.py and round-trips messages; a wrong password, an untrusted CA, a
missing client certificate or a plaintext client stop at once with a message saying what to change.

The embedded broker has no TLS or SASL listener of its own, so tests/kafka_gateway.py puts one in front
of it: TLS is a real handshake (certificates made here with trustme, CA checked, host name checked,
client certificate required where said), SASL a real server-side exchange (PLAIN, SCRAM-SHA-256/512).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from cryptography.hazmat.primitives import serialization
from pydantic import SecretStr

from services.common.kafka import KafkaSettings, KafkaUnavailable, check_reachable
from services.common.logging import LIBRARY_LEVELS
from services.common.messaging.metrics import PipelineMetrics, new_registry
from services.common.messaging.publisher import Outgoing, Publisher
from services.common.runtime import make_broker
from services.common.settings import CommonSettings
from services.common.topics import EmbeddedTopicGuard, ensure_topics
from tests.conftest import exportwatch
from tests.kafka_gateway import FETCH, FIND_COORDINATOR, METADATA, PRODUCE, KafkaGateway
from tools.embedded import EmbeddedBroker

USER = "exportwatch-svc"
PASSWORD = "correct horse battery staple"  # a test login on loopback
KEY_PASSWORD = "client-key-passphrase"  # protects the test client key


@dataclass(frozen=True)
class Certificates:
    ca: Path  # the CA that signed the gateway's certificate and the client certificate
    other_ca: Path  # a CA that signed neither
    client_cert: Path
    client_key: Path  # encrypted with KEY_PASSWORD
    server: trustme.LeafCert
    authority: trustme.CA

    def server_context(self, require_client_certificate: bool) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server.configure_cert(context)
        if require_client_certificate:
            context.verify_mode = ssl.CERT_REQUIRED
            self.authority.configure_trust(context)
        return context


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    folder = tmp_path_factory.mktemp("kafka-tls")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("exportwatch-client@example.org")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    trustme.CA().cert_pem.write_to_path(str(folder / "other-ca.pem"))
    client.cert_chain_pems[0].write_to_path(str(folder / "client.pem"))
    key = serialization.load_pem_private_key(client.private_key_pem.bytes(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(KEY_PASSWORD.encode()),
    )
    (folder / "client-key.pem").write_bytes(encrypted)
    return Certificates(
        folder / "ca.pem",
        folder / "other-ca.pem",
        folder / "client.pem",
        folder / "client-key.pem",
        server,
        ca,
    )


@dataclass
class Gateways:
    mtls: KafkaGateway  # TLS, client certificate required
    sasl_ssl: KafkaGateway  # TLS, then a SASL login
    sasl_plaintext: KafkaGateway  # a SASL login without TLS


@pytest.fixture(scope="module")
def gateways(kafka: EmbeddedBroker, certificates: Certificates) -> Iterator[Gateways]:
    users = {USER: PASSWORD}
    started = Gateways(
        KafkaGateway(kafka.bootstrap, tls=certificates.server_context(True)).start(),
        KafkaGateway(kafka.bootstrap, tls=certificates.server_context(False), users=users).start(),
        KafkaGateway(kafka.bootstrap, users=users).start(),
    )
    try:
        yield started
    finally:
        for gateway in (started.mtls, started.sasl_ssl, started.sasl_plaintext):
            gateway.stop()


CASES = [
    "ssl-client-certificate",
    "sasl-ssl-plain",
    "sasl-ssl-scram-sha-256",
    "sasl-ssl-scram-sha-512",
    "sasl-plaintext-scram-sha-512",
]


def _secured(case: str, certificates: Certificates, gateways: Gateways) -> tuple[KafkaSettings, KafkaGateway]:
    """The settings an operator would give for ``case``, and the listener they lead to."""
    if case == "ssl-client-certificate":
        settings = KafkaSettings(
            kafka_bootstrap=gateways.mtls.bootstrap,
            kafka_security_protocol="SSL",
            kafka_ssl_cafile=certificates.ca,
            kafka_ssl_certfile=certificates.client_cert,
            kafka_ssl_keyfile=certificates.client_key,
            kafka_ssl_key_password=SecretStr(KEY_PASSWORD),
        )
        return settings, gateways.mtls
    tls = case.startswith("sasl-ssl")
    gateway = gateways.sasl_ssl if tls else gateways.sasl_plaintext
    mechanism = case.split("-", 2)[2].upper()
    settings = KafkaSettings(
        kafka_bootstrap=gateway.bootstrap,
        kafka_security_protocol="SASL_SSL" if tls else "SASL_PLAINTEXT",
        kafka_ssl_cafile=certificates.ca if tls else None,
        kafka_sasl_mechanism=mechanism,  # type: ignore[arg-type]
        kafka_sasl_username=USER,
        kafka_sasl_password=SecretStr(PASSWORD),
    )
    return settings, gateway


def _counts(gateway: KafkaGateway) -> dict[str, int]:
    return {
        "produce": gateway.relayed[PRODUCE],
        "fetch": gateway.relayed[FETCH],
        "metadata": gateway.relayed[METADATA],
        "coordinator": gateway.relayed[FIND_COORDINATOR],
        "logins": sum(gateway.logins.values()),
    }


def _went_through(gateway: KafkaGateway, before: dict[str, int], *kinds: str) -> None:
    """Every kind of request grew on the gateway: the clients never reached the plaintext broker
    directly (it is advertised under the gateway's address)."""
    after = _counts(gateway)
    for kind in kinds:
        assert after[kind] > before[kind], f"no {kind} request went through the gateway: {after}"
    assert not gateway.problems, gateway.problems


@contextlib.contextmanager
def _library_levels() -> Iterator[None]:
    """The levels services/common/logging.configure gives libraries (at DEBUG, aiokafka would log a
    PLAIN login's password), restored afterwards."""
    saved = {name: logging.getLogger(name).level for name in LIBRARY_LEVELS}
    for name, level in LIBRARY_LEVELS.items():
        logging.getLogger(name).setLevel(level)
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def _topic() -> str:
    return f"exportwatch.test-security-{uuid.uuid4().hex[:10]}.v1"


@pytest.mark.parametrize("case", CASES)
async def test_admin_producer_and_consumer_group_round_trip(
    case: str, certificates: Certificates, gateways: Gateways
) -> None:
    kafka, gateway = _secured(case, certificates, gateways)
    before = _counts(gateway)
    await check_reachable(kafka)
    topic = _topic()
    assert await ensure_topics(kafka, [topic], 2) == [topic]  # the admin client

    # Behind the gateway is the embedded broker: its add-on's admin client connects the same way.
    metrics = PipelineMetrics("ingest", new_registry(), ())
    producer = Publisher(kafka, "security-test", metrics, guard=EmbeddedTopicGuard())
    await producer.start()
    try:
        await producer.publish_all([Outgoing(topic, "k-1", b'{"n": 1}'), Outgoing(topic, "k-2", b'{"n": 2}')])
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        **kafka.client_options(),
        group_id=f"security-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
    )
    await consumer.start()
    try:
        records = []
        async with asyncio.timeout(30):
            while len(records) < 2:
                records.append(await consumer.getone())
        await consumer.commit()
    finally:
        await consumer.stop()
    assert sorted(r.value for r in records) == [b'{"n": 1}', b'{"n": 2}']
    _went_through(gateway, before, "produce", "fetch", "metadata", "coordinator")
    if case.startswith("sasl"):
        _went_through(gateway, before, "logins")


@pytest.mark.parametrize("case", CASES)
async def test_faststream_broker_round_trip(
    case: str, certificates: Certificates, gateways: Gateways, caplog: pytest.LogCaptureFixture
) -> None:
    kafka, gateway = _secured(case, certificates, gateways)
    before = _counts(gateway)
    settings = CommonSettings(**dict(kafka))
    topic = _topic()
    await ensure_topics(settings, [topic], 1)
    broker = make_broker(settings, "security-test")
    received: list[Any] = []
    got = asyncio.Event()

    @broker.subscriber(
        topic,
        group_id=f"security-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
    )
    async def handle(body: dict[str, Any]) -> None:
        received.append(body)
        got.set()

    caplog.set_level("DEBUG")  # EXPORTWATCH_LOG_LEVEL=DEBUG, with the library levels the services set
    with _library_levels():
        await broker.start()
        try:
            await broker.publish({"n": 1}, topic, key=b"k-1")
            await asyncio.wait_for(got.wait(), 30)
        finally:
            await broker.stop()
    assert received == [{"n": 1}]
    _went_through(gateway, before, "produce", "fetch", "coordinator")
    assert PASSWORD not in caplog.text and KEY_PASSWORD not in caplog.text
    assert PASSWORD not in repr(settings) and KEY_PASSWORD not in repr(settings)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_a_wrong_password_is_refused_at_once_naming_the_settings(
    mechanism: str, certificates: Certificates, gateways: Gateways
) -> None:
    kafka, gateway = _secured(f"sasl-ssl-{mechanism.lower()}", certificates, gateways)
    wrong = kafka.model_copy(update={"kafka_sasl_password": SecretStr("tr0ub4dor&3")})
    refused = gateway.refused[mechanism]
    started = time.monotonic()
    with pytest.raises(KafkaUnavailable) as caught:
        await check_reachable(wrong, timeout=10)
    assert time.monotonic() - started < 3, "a refused login is final: no retrying until the timeout"
    message = str(caught.value)
    assert f"refused the SASL login as {USER!r} with {mechanism}" in message, message
    assert gateway.bootstrap in message
    assert "EXPORTWATCH_KAFKA_SASL_PASSWORD" in message
    assert "tr0ub4dor" not in message and PASSWORD not in message
    assert gateway.refused[mechanism] == refused + 1

    producer = AIOKafkaProducer(**wrong.client_options())
    with pytest.raises(KafkaConnectionError):  # the clients themselves cannot connect either
        await producer.start()
    await producer.stop()


async def test_an_untrusted_broker_certificate_is_refused_naming_the_ca_setting(
    certificates: Certificates, gateways: Gateways
) -> None:
    kafka, _ = _secured("sasl-ssl-scram-sha-512", certificates, gateways)
    other = kafka.model_copy(update={"kafka_ssl_cafile": certificates.other_ca})
    started = time.monotonic()
    with pytest.raises(KafkaUnavailable) as caught:
        await check_reachable(other, timeout=10)
    assert time.monotonic() - started < 3
    message = str(caught.value)
    assert "TLS certificate is not trusted" in message and "unable to get local issuer" in message, message
    assert "EXPORTWATCH_KAFKA_SSL_CAFILE" in message and str(certificates.other_ca) in message

    # Without a CA file the system's CAs are used, which do not know the test CA either.
    system = kafka.model_copy(update={"kafka_ssl_cafile": None})
    with pytest.raises(KafkaUnavailable, match="system's trusted CAs"):
        await check_reachable(system, timeout=10)


async def test_a_listener_that_requires_a_client_certificate_says_so(
    certificates: Certificates, gateways: Gateways
) -> None:
    kafka, gateway = _secured("ssl-client-certificate", certificates, gateways)
    anonymous = KafkaSettings(
        kafka_bootstrap=kafka.kafka_bootstrap, kafka_security_protocol="SSL", kafka_ssl_cafile=certificates.ca
    )
    with pytest.raises(KafkaUnavailable) as caught:
        await check_reachable(anonymous, timeout=2)
    assert "EXPORTWATCH_KAFKA_SSL_CERTFILE" in str(caught.value), caught.value
    assert gateway.bootstrap in str(caught.value)


async def test_a_plaintext_client_on_a_tls_listener_is_told_to_set_the_protocol(gateways: Gateways) -> None:
    plaintext = KafkaSettings(kafka_bootstrap=gateways.sasl_ssl.bootstrap)
    with pytest.raises(KafkaUnavailable) as caught:
        await check_reachable(plaintext, timeout=2)
    assert "EXPORTWATCH_KAFKA_SECURITY_PROTOCOL (now PLAINTEXT)" in str(caught.value), caught.value


def _environment(kafka: KafkaSettings) -> dict[str, str]:
    """``kafka`` as the EXPORTWATCH_KAFKA_* variables an operator sets."""
    env = {}
    for name, value in kafka:
        if value is None:
            continue
        text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        env[f"EXPORTWATCH_{name.upper()}"] = text
    return env


def test_the_topics_command_logs_in_from_the_environment(
    certificates: Certificates, gateways: Gateways
) -> None:
    kafka, gateway = _secured("sasl-ssl-scram-sha-512", certificates, gateways)
    logins = gateway.logins["SCRAM-SHA-512"]
    result = exportwatch("topics", env=_environment(kafka))
    assert result.returncode == 0, result.stderr
    assert "topics ready" in result.stdout
    assert gateway.logins["SCRAM-SHA-512"] > logins
    assert PASSWORD not in result.stdout + result.stderr

    wrong = _environment(kafka) | {"EXPORTWATCH_KAFKA_SASL_PASSWORD": "tr0ub4dor&3"}
    started = time.monotonic()
    result = exportwatch("topics", env=wrong)
    assert result.returncode == 2
    assert time.monotonic() - started < 15
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("exportwatch topics: cannot connect to Kafka over SASL_SSL SCRAM-SHA-512"), line
    assert "EXPORTWATCH_KAFKA_SASL_PASSWORD" in line and "tr0ub4dor" not in line
