"""The Kafka security settings: which combinations are refused and with what message, how they read from
the environment, and what they become for aiokafka and for FastStream (the same options both ways).
Secrets never appear in a repr or an error."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from pydantic import SecretStr, ValidationError

from services.common.kafka import KafkaSettings
from services.common.settings import CommonSettings, settings_problems

SASL_PASSWORD = "sasl-pass-4711"
KEY_PASSWORD = "key-pass-0815"


@dataclass(frozen=True)
class Files:
    ca: Path
    cert: Path
    key: Path
    encrypted_key: Path  # the same key, encrypted with KEY_PASSWORD
    combined: Path  # key and certificate in one file
    other_key: Path  # the key of another certificate
    not_pem: Path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    folder = tmp_path_factory.mktemp("kafka-settings")
    ca = trustme.CA()
    leaf = ca.issue_cert("client.example.org")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    leaf.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    leaf.private_key_pem.write_to_path(str(folder / "key.pem"))
    leaf.private_key_and_cert_chain_pem.write_to_path(str(folder / "combined.pem"))
    ca.issue_cert("other.example.org").private_key_pem.write_to_path(str(folder / "other-key.pem"))
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    (folder / "encrypted-key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(KEY_PASSWORD.encode()),
        )
    )
    (folder / "not.pem").write_text("hello\n")
    return Files(
        folder / "ca.pem",
        folder / "cert.pem",
        folder / "key.pem",
        folder / "encrypted-key.pem",
        folder / "combined.pem",
        folder / "other-key.pem",
        folder / "not.pem",
    )


def _sasl(protocol: str = "SASL_SSL", mechanism: str = "SCRAM-SHA-512") -> dict[str, Any]:
    return {
        "kafka_security_protocol": protocol,
        "kafka_sasl_mechanism": mechanism,
        "kafka_sasl_username": "svc",
        "kafka_sasl_password": SASL_PASSWORD,
    }


# --- refused combinations ---------------------------------------------------------------------------------


REFUSED: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "sasl without mechanism, user or password",
        {"kafka_security_protocol": "SASL_SSL"},
        [
            "EXPORTWATCH_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs EXPORTWATCH_KAFKA_SASL_MECHANISM (PLAIN, "
            "SCRAM-SHA-256 or SCRAM-SHA-512), EXPORTWATCH_KAFKA_SASL_USERNAME and "
            "EXPORTWATCH_KAFKA_SASL_PASSWORD"
        ],
    ),
    (
        "sasl without password",
        {**_sasl("SASL_PLAINTEXT"), "kafka_sasl_password": None},
        ["SASL_PLAINTEXT needs EXPORTWATCH_KAFKA_SASL_PASSWORD"],
    ),
    (
        "sasl settings without a sasl protocol",
        {**_sasl(), "kafka_security_protocol": "SSL"},
        ["EXPORTWATCH_KAFKA_SASL_MECHANISM, EXPORTWATCH_KAFKA_SASL_USERNAME and", "set it to SASL_SSL"],
    ),
    (
        "a password alone",
        {"kafka_sasl_password": SASL_PASSWORD},
        ["EXPORTWATCH_KAFKA_SASL_PASSWORD is set but EXPORTWATCH_KAFKA_SECURITY_PROTOCOL=PLAINTEXT"],
    ),
    ("no bootstrap server", {"kafka_bootstrap": " , "}, ["EXPORTWATCH_KAFKA_BOOTSTRAP is empty"]),
    ("unknown protocol", {"kafka_security_protocol": "TLS"}, ["kafka_security_protocol", "'SASL_SSL'"]),
    ("unknown mechanism", _sasl(mechanism="GSSAPI"), ["kafka_sasl_mechanism", "'SCRAM-SHA-512'"]),
]


@pytest.mark.parametrize(
    ("values", "expected"), [(v, e) for _, v, e in REFUSED], ids=[n for n, _, _ in REFUSED]
)
def test_incoherent_settings_are_refused_naming_the_variables(
    values: dict[str, Any], expected: list[str]
) -> None:
    with pytest.raises(ValidationError) as caught:
        KafkaSettings(**values)
    message = str(caught.value)
    for part in expected:
        assert part in message, message
    assert SASL_PASSWORD not in message


def _file_cases(f: Files, missing: Path) -> list[tuple[str, dict[str, Any], str]]:
    return [
        ("tls files without tls", {"kafka_ssl_cafile": f.ca}, "does not use TLS: set it to SSL"),
        (
            "missing ca",
            {"kafka_security_protocol": "SSL", "kafka_ssl_cafile": missing},
            f"CAFILE={missing}: no such",
        ),
        (
            "ca not pem",
            {"kafka_security_protocol": "SSL", "kafka_ssl_cafile": f.not_pem},
            "is not a PEM file of CA",
        ),
        ("key without cert", {"kafka_security_protocol": "SSL", "kafka_ssl_keyfile": f.key}, "KEYFILE needs"),
        (
            "cert without key",
            {"kafka_security_protocol": "SSL", "kafka_ssl_certfile": f.cert},
            "holds no private key",
        ),
        (
            "missing cert",
            {"kafka_security_protocol": "SSL", "kafka_ssl_certfile": missing, "kafka_ssl_keyfile": f.key},
            f"CERTFILE={missing}: no such file",
        ),
        (
            "encrypted key, no password",
            {
                "kafka_security_protocol": "SSL",
                "kafka_ssl_certfile": f.cert,
                "kafka_ssl_keyfile": f.encrypted_key,
            },
            "is encrypted: set EXPORTWATCH_KAFKA_SSL_KEY_PASSWORD",
        ),
        (
            "wrong key password",
            {
                "kafka_security_protocol": "SSL",
                "kafka_ssl_certfile": f.cert,
                "kafka_ssl_keyfile": f.encrypted_key,
                "kafka_ssl_key_password": "wrong-" + KEY_PASSWORD,
            },
            "EXPORTWATCH_KAFKA_SSL_KEY_PASSWORD does not decrypt",
        ),
        (
            "key of another certificate",
            {
                "kafka_security_protocol": "SSL",
                "kafka_ssl_certfile": f.cert,
                "kafka_ssl_keyfile": f.other_key,
            },
            "is not the key of the certificate",
        ),
        (
            "key password without a key",
            {"kafka_security_protocol": "SSL", "kafka_ssl_key_password": KEY_PASSWORD},
            "KEY_PASSWORD needs EXPORTWATCH_KAFKA_SSL_CERTFILE",
        ),
    ]


def test_unusable_certificate_files_are_refused_naming_the_file(files: Files, tmp_path: Path) -> None:
    for name, values, expected in _file_cases(files, tmp_path / "missing.pem"):
        with pytest.raises(ValidationError) as caught:
            KafkaSettings(**values)
        message = str(caught.value)
        assert expected in message, f"{name}: {message}"
        assert KEY_PASSWORD not in message, name


def test_errors_never_echo_the_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPORTWATCH_KAFKA_SASL_PASSWORD", SASL_PASSWORD)
    monkeypatch.setenv("EXPORTWATCH_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(ValidationError) as caught:
        CommonSettings()
    assert SASL_PASSWORD not in str(caught.value)
    line = settings_problems(caught.value)
    assert line.startswith("invalid settings: EXPORTWATCH_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs"), line
    assert SASL_PASSWORD not in line

    monkeypatch.setenv("EXPORTWATCH_KAFKA_SECURITY_PROTOCOL", "QUIC")
    with pytest.raises(ValidationError) as caught:
        CommonSettings()
    assert settings_problems(caught.value).startswith(
        "invalid settings: EXPORTWATCH_KAFKA_SECURITY_PROTOCOL: "
    )


# --- from the environment -------------------------------------------------------------------------------


def test_read_from_the_environment_blank_means_unset(monkeypatch: pytest.MonkeyPatch, files: Files) -> None:
    monkeypatch.setenv("EXPORTWATCH_KAFKA_BOOTSTRAP", "b-1.example.org:9096, b-2.example.org:9096")
    monkeypatch.setenv("EXPORTWATCH_KAFKA_SECURITY_PROTOCOL", "sasl_ssl")
    monkeypatch.setenv("EXPORTWATCH_KAFKA_SASL_MECHANISM", "scram-sha-512")
    monkeypatch.setenv("EXPORTWATCH_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("EXPORTWATCH_KAFKA_SASL_PASSWORD", SASL_PASSWORD)
    monkeypatch.setenv("EXPORTWATCH_KAFKA_SSL_CAFILE", str(files.ca))
    # A .env file or a Secret made from deploy/env.example carries the optional ones empty.
    for name in ("SSL_CERTFILE", "SSL_KEYFILE", "SSL_KEY_PASSWORD"):
        monkeypatch.setenv(f"EXPORTWATCH_KAFKA_{name}", "")
    settings = CommonSettings()
    assert settings.servers == ["b-1.example.org:9096", "b-2.example.org:9096"]
    assert settings.kafka_security_protocol == "SASL_SSL"
    assert settings.kafka_sasl_mechanism == "SCRAM-SHA-512"
    assert settings.kafka_ssl_certfile is None and settings.kafka_ssl_key_password is None
    assert settings.kafka_sasl_password is not None
    assert settings.kafka_sasl_password.get_secret_value() == SASL_PASSWORD
    assert SASL_PASSWORD not in repr(settings) and SASL_PASSWORD not in str(settings)
    assert settings.describe() == "SASL_SSL SCRAM-SHA-512 as 'svc'"

    monkeypatch.setenv("EXPORTWATCH_KAFKA_SECURITY_PROTOCOL", "")
    for name in ("SASL_MECHANISM", "SASL_USERNAME", "SASL_PASSWORD", "SSL_CAFILE"):
        monkeypatch.setenv(f"EXPORTWATCH_KAFKA_{name}", "")
    assert CommonSettings().kafka_security_protocol == "PLAINTEXT"


# --- what the clients get ---------------------------------------------------------------------------------


def test_plaintext_is_the_default_and_adds_nothing() -> None:
    kafka = KafkaSettings(kafka_bootstrap="k:9092")
    assert kafka.client_options() == {"bootstrap_servers": ["k:9092"], "security_protocol": "PLAINTEXT"}
    assert kafka.ssl_context() is None
    assert kafka.broker_security() is None
    assert kafka.describe() == "PLAINTEXT"


def test_tls_checks_the_broker_and_presents_the_client_certificate(files: Files) -> None:
    kafka = KafkaSettings(
        kafka_security_protocol="SSL",
        kafka_ssl_cafile=files.ca,
        kafka_ssl_certfile=files.cert,
        kafka_ssl_keyfile=files.encrypted_key,
        kafka_ssl_key_password=KEY_PASSWORD,
    )
    options = kafka.client_options()
    assert set(options) == {"bootstrap_servers", "security_protocol", "ssl_context"}
    assert options["security_protocol"] == "SSL"
    context: ssl.SSLContext = options["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [
        c["subject"] for c in _context_of(files.ca).get_ca_certs()
    ]
    assert kafka.describe() == "SSL with a client certificate"
    assert KEY_PASSWORD not in repr(kafka)
    # A certificate file that holds its key needs no key file.
    KafkaSettings(kafka_security_protocol="SSL", kafka_ssl_certfile=files.combined).ssl_context()


def _context_of(cafile: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cafile))


def test_tls_without_a_ca_file_trusts_the_system_cas() -> None:
    context = KafkaSettings(kafka_security_protocol="SSL").ssl_context()
    assert context is not None and context.verify_mode == ssl.CERT_REQUIRED


SASL_CASES = [
    ("SASL_SSL", "PLAIN", SASLPlaintext),
    ("SASL_SSL", "SCRAM-SHA-256", SASLScram256),
    ("SASL_SSL", "SCRAM-SHA-512", SASLScram512),
    ("SASL_PLAINTEXT", "SCRAM-SHA-256", SASLScram256),
    ("SASL_PLAINTEXT", "PLAIN", SASLPlaintext),
]


@pytest.mark.parametrize(("protocol", "mechanism", "kind"), SASL_CASES)
def test_sasl_options_are_the_same_for_aiokafka_and_faststream(
    protocol: str, mechanism: str, kind: type[BaseSecurity], files: Files
) -> None:
    values = _sasl(protocol, mechanism)
    if protocol == "SASL_SSL":
        values["kafka_ssl_cafile"] = files.ca
    kafka = KafkaSettings(**values)
    options = kafka.client_options()
    assert options["security_protocol"] == protocol
    assert options["sasl_mechanism"] == mechanism
    assert options["sasl_plain_username"] == "svc"
    assert options["sasl_plain_password"] == SASL_PASSWORD
    assert isinstance(options.get("ssl_context"), ssl.SSLContext) == (protocol == "SASL_SSL")

    security = kafka.broker_security()
    assert type(security) is kind
    # What FastStream hands to aiokafka for its consumers and producer.
    faststream = parse_security(security)
    for key in ("security_protocol", "sasl_mechanism", "sasl_plain_username", "sasl_plain_password"):
        assert faststream[key] == options[key], key
    assert isinstance(faststream["ssl_context"], ssl.SSLContext) == (protocol == "SASL_SSL")
    assert SASL_PASSWORD not in repr(security)


def test_tls_alone_is_faststreams_base_security(files: Files) -> None:
    kafka = KafkaSettings(kafka_security_protocol="SSL", kafka_ssl_cafile=files.ca)
    security = kafka.broker_security()
    assert type(security) is BaseSecurity
    assert parse_security(security)["security_protocol"] == "SSL"
    assert isinstance(parse_security(security)["ssl_context"], ssl.SSLContext)


def test_secret_fields_are_secret_str() -> None:
    for name in ("kafka_sasl_password", "kafka_ssl_key_password"):
        annotation = str(KafkaSettings.model_fields[name].annotation)
        assert "SecretStr" in annotation, name
    assert isinstance(KafkaSettings(**_sasl()).kafka_sasl_password, SecretStr)


def test_every_setting_is_documented_for_operators() -> None:
    root = Path(__file__).resolve().parents[2]
    guide = (root / "docs" / "operations.md").read_text(encoding="utf-8")
    section = guide[guide.index("## Kafka security") :]
    section = section[: section.index("\n## ", 1)]
    readme = (root / "README.md").read_text(encoding="utf-8")
    example = (root / "deploy" / "env.example").read_text(encoding="utf-8")
    for field in KafkaSettings.model_fields:
        name = f"EXPORTWATCH_{field.upper()}"
        assert f"| `{name}` |" in section, f"docs/operations.md, Kafka security: no row for {name}"
        assert f"`{name}`" in readme, f"README.md's configuration table lacks {name}"
        if field != "kafka_start_timeout_seconds":
            assert f"\n{name}=" in example, f"deploy/env.example lacks {name}"
