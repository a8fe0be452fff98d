"""How every ExportWatch Kafka client connects: where the brokers are and how to reach them (TLS, SASL),
turned once into aiokafka client options and FastStream's security object, and the start-up check that
says in one sentence why no broker answers.

Every client the code makes (the services' publishers, match's and notify's FastStream brokers, the
admin clients of topic creation, the benchmarks) takes its connection options from ``KafkaSettings``
here, so a managed Kafka that needs TLS or SASL is configured once, with ``EXPORTWATCH_KAFKA_*``
variables.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, model_validator

if TYPE_CHECKING:
    from faststream.security import BaseSecurity

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
TLS_PROTOCOLS: tuple[SecurityProtocol, ...] = ("SSL", "SASL_SSL")
SASL_PROTOCOLS: tuple[SecurityProtocol, ...] = ("SASL_PLAINTEXT", "SASL_SSL")
_PEM_KEY = b"PRIVATE KEY-----"
_ENCRYPTED = (b"ENCRYPTED PRIVATE KEY", b"Proc-Type: 4,ENCRYPTED")


def env_name(field: str) -> str:
    """The environment variable of a setting: what an operator changes."""
    return f"EXPORTWATCH_{field.upper()}"


def _unset_if_blank(value: object) -> object:
    """An empty variable (``NAME=`` in a .env file or a Kubernetes Secret made from one) means unset."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _protocol(value: object) -> object:
    if isinstance(value, str):
        return value.strip().upper() or "PLAINTEXT"
    return value


def _mechanism(value: object) -> object:
    value = _unset_if_blank(value)
    return value.strip().upper() if isinstance(value, str) else value


OptionalPath = Annotated[Path | None, BeforeValidator(_unset_if_blank)]
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_unset_if_blank)]
OptionalText = Annotated[str | None, BeforeValidator(_unset_if_blank)]


class _NoKeyPassword(Exception):
    """The client key is encrypted and no password was given (OpenSSL would otherwise prompt on a tty)."""


class KafkaSettings(BaseModel):
    """The brokers and how to connect to them. ``CommonSettings`` reads these from ``EXPORTWATCH_*``;
    tools that talk to a broker of their own (the embedded one) make one directly, plaintext."""

    # A validation error must not echo the input: it holds the SASL and key passwords.
    model_config = ConfigDict(hide_input_in_errors=True)

    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated host:port."
    )
    kafka_security_protocol: Annotated[SecurityProtocol, BeforeValidator(_protocol)] = Field(
        default="PLAINTEXT",
        description="How clients talk to the brokers: PLAINTEXT, SSL (TLS), SASL_PLAINTEXT (log in "
        "without TLS) or SASL_SSL (log in over TLS, what managed Kafka services ask for).",
    )
    kafka_ssl_cafile: OptionalPath = Field(
        default=None,
        description="PEM file of the CA(s) that signed the brokers' certificates; unset: the system's "
        "trusted CAs.",
    )
    kafka_ssl_certfile: OptionalPath = Field(
        default=None, description="PEM client certificate, for brokers that require one (mutual TLS)."
    )
    kafka_ssl_keyfile: OptionalPath = Field(default=None, description="PEM private key of the certificate.")
    kafka_ssl_key_password: OptionalSecret = Field(
        default=None, description="Password of an encrypted private key. Secret."
    )
    kafka_sasl_mechanism: Annotated[SaslMechanism | None, BeforeValidator(_mechanism)] = Field(
        default=None, description="SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512."
    )
    kafka_sasl_username: OptionalText = Field(default=None, description="SASL user name.")
    kafka_sasl_password: OptionalSecret = Field(default=None, description="SASL password. Secret.")
    kafka_start_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How long a service or command waits at start for a bootstrap server to answer "
        "before it stops with an error saying why.",
    )

    @model_validator(mode="after")
    def _coherent(self) -> KafkaSettings:
        problems = self._problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _problems(self) -> list[str]:
        problems: list[str] = []
        if not self.servers:
            problems.append(
                "EXPORTWATCH_KAFKA_BOOTSTRAP is empty: give the brokers' host:port (comma-separated)"
            )
        problems += self._sasl_problems()
        return problems + self._tls_problems(bool(problems))

    def _sasl_problems(self) -> list[str]:
        protocol = self.kafka_security_protocol
        sasl = ("kafka_sasl_mechanism", "kafka_sasl_username", "kafka_sasl_password")
        if protocol in SASL_PROTOCOLS:
            missing = [env_name(f) for f in sasl if getattr(self, f) is None]
            if self.kafka_sasl_mechanism is None:
                missing[0] += " (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)"
            if missing:
                return [f"EXPORTWATCH_KAFKA_SECURITY_PROTOCOL={protocol} needs {_and(missing)}"]
        elif given := [env_name(f) for f in sasl if getattr(self, f) is not None]:
            return [
                f"{_and(given)} {'is' if len(given) == 1 else 'are'} set but "
                f"EXPORTWATCH_KAFKA_SECURITY_PROTOCOL={protocol} logs in with no SASL: set it to SASL_SSL "
                "(or SASL_PLAINTEXT)"
            ]
        return []

    def _tls_problems(self, others: bool) -> list[str]:
        """The TLS settings' problems; ``others``: whether other settings have problems already (then the
        files are not read)."""
        protocol = self.kafka_security_protocol
        tls = ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile", "kafka_ssl_key_password")
        if protocol not in TLS_PROTOCOLS:
            if given := [env_name(f) for f in tls if getattr(self, f) is not None]:
                return [
                    f"{_and(given)} {'is' if len(given) == 1 else 'are'} set but "
                    f"EXPORTWATCH_KAFKA_SECURITY_PROTOCOL={protocol} does not use TLS: set it to SSL "
                    "(or SASL_SSL)"
                ]
            return []
        problems: list[str] = []
        if self.kafka_ssl_keyfile is not None and self.kafka_ssl_certfile is None:
            problems.append(
                "EXPORTWATCH_KAFKA_SSL_KEYFILE needs EXPORTWATCH_KAFKA_SSL_CERTFILE, its certificate"
            )
        if self.kafka_ssl_key_password is not None and self.kafka_ssl_certfile is None:
            problems.append(
                "EXPORTWATCH_KAFKA_SSL_KEY_PASSWORD needs EXPORTWATCH_KAFKA_SSL_CERTFILE and "
                "EXPORTWATCH_KAFKA_SSL_KEYFILE"
            )
        problems += self._unreadable_files()
        if problems or others:  # the files are read below only when the rest is coherent
            return problems
        certfile = self.kafka_ssl_certfile
        if certfile is not None and self.kafka_ssl_keyfile is None and _PEM_KEY not in certfile.read_bytes():
            return [
                f"EXPORTWATCH_KAFKA_SSL_CERTFILE={certfile} holds no private key: set "
                "EXPORTWATCH_KAFKA_SSL_KEYFILE to the certificate's key"
            ]
        try:  # load the files now, so that a bad one stops the start with its name
            self.ssl_context()
        except ValueError as exc:
            return [str(exc)]
        return []

    def _unreadable_files(self) -> list[str]:
        problems: list[str] = []
        for field in ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile"):
            path: Path | None = getattr(self, field)
            if path is None:
                continue
            if not path.is_file():
                problems.append(f"{env_name(field)}={path}: no such file")
            elif not os.access(path, os.R_OK):
                problems.append(f"{env_name(field)}={path}: not readable by this user")
        return problems

    @property
    def servers(self) -> list[str]:
        """The bootstrap servers, one ``host:port`` each."""
        return [s.strip() for s in self.kafka_bootstrap.split(",") if s.strip()]

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of every client (None without TLS): the brokers' certificates checked against
        the CA file (or the system's CAs), host names verified, the client certificate if given. Raises
        ValueError naming the setting when a file cannot be used."""
        if self.kafka_security_protocol not in TLS_PROTOCOLS:
            return None
        cafile = self.kafka_ssl_cafile
        try:
            context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(
                f"EXPORTWATCH_KAFKA_SSL_CAFILE={cafile} is not a PEM file of CA certificates ({_reason(exc)})"
            ) from None
        if self.kafka_ssl_certfile is not None:
            self._load_client_certificate(context, self.kafka_ssl_certfile, self.kafka_ssl_keyfile)
        return context

    def _load_client_certificate(self, context: ssl.SSLContext, certfile: Path, keyfile: Path | None) -> None:
        secret = self.kafka_ssl_key_password

        def password() -> bytes:
            if secret is None:
                raise _NoKeyPassword
            return secret.get_secret_value().encode("utf-8")

        key_path = keyfile or certfile
        try:
            context.load_cert_chain(str(certfile), str(keyfile) if keyfile else None, password=password)
        except _NoKeyPassword:
            raise ValueError(
                f"the client key {key_path} is encrypted: set EXPORTWATCH_KAFKA_SSL_KEY_PASSWORD"
            ) from None
        except (ssl.SSLError, OSError) as exc:
            if getattr(exc, "reason", None) == "KEY_VALUES_MISMATCH":
                detail = f"the key {key_path} is not the key of the certificate {certfile}"
            elif secret is not None and any(mark in key_path.read_bytes() for mark in _ENCRYPTED):
                detail = f"EXPORTWATCH_KAFKA_SSL_KEY_PASSWORD does not decrypt {key_path}"
            else:
                detail = f"{certfile} or {key_path} is not a PEM certificate and key ({_reason(exc)})"
            raise ValueError(f"the client certificate cannot be loaded: {detail}") from None

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for any aiokafka client (producer, consumer, admin): the bootstrap servers
        and how to connect. The SASL password is in it in clear: never log these."""
        protocol = self.kafka_security_protocol
        options: dict[str, Any] = {"bootstrap_servers": self.servers, "security_protocol": protocol}
        if protocol in TLS_PROTOCOLS:
            options["ssl_context"] = self.ssl_context()
        if protocol in SASL_PROTOCOLS:
            assert self.kafka_sasl_password is not None  # the validator saw to it
            options["sasl_mechanism"] = self.kafka_sasl_mechanism
            options["sasl_plain_username"] = self.kafka_sasl_username
            options["sasl_plain_password"] = self.kafka_sasl_password.get_secret_value()
        return options

    def broker_security(self) -> BaseSecurity | None:
        """FastStream's security object for ``KafkaBroker(security=...)`` (None for PLAINTEXT). It turns it
        into the same aiokafka options as ``client_options`` and describes it in the AsyncAPI document
        (the kind of login, never the credentials)."""
        from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

        protocol = self.kafka_security_protocol
        if protocol == "PLAINTEXT":
            return None
        context = self.ssl_context()
        if protocol == "SSL":
            return BaseSecurity(ssl_context=context, use_ssl=True)
        assert self.kafka_sasl_username is not None and self.kafka_sasl_password is not None
        kind = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}
        return kind[self.kafka_sasl_mechanism or "PLAIN"](
            username=self.kafka_sasl_username,
            password=self.kafka_sasl_password.get_secret_value(),
            ssl_context=context,
            use_ssl=protocol == "SASL_SSL",
        )

    def describe(self) -> str:
        """How the clients connect, for messages and logs: protocol, mechanism and user, no secret."""
        text: str = self.kafka_security_protocol
        if self.kafka_security_protocol in SASL_PROTOCOLS:
            text += f" {self.kafka_sasl_mechanism} as {self.kafka_sasl_username!r}"
        if self.kafka_ssl_certfile is not None and self.kafka_security_protocol in TLS_PROTOCOLS:
            text += " with a client certificate"
        return text


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return str(exc.verify_message or exc.reason or exc)
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc).replace("_", " ").lower()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


class KafkaUnavailable(Exception):
    """No bootstrap server could be reached the way the settings say; the message says why and which
    setting to look at."""


class _Attempt(Exception):
    """One server's failure: what happened, a hint, and whether retrying can help."""

    def __init__(self, server: str, what: str, hint: str, permanent: bool) -> None:
        super().__init__(what)
        self.server, self.what, self.hint, self.permanent = server, what, hint, permanent


def _explain(kafka: KafkaSettings, server: str, exc: BaseException) -> _Attempt:
    from aiokafka import errors

    protocol = kafka.kafka_security_protocol
    if isinstance(exc, errors.KafkaConnectionError) and isinstance(exc.__cause__, OSError):
        exc = exc.__cause__  # the connection broke: say why (a TLS alert, a reset)
    if isinstance(exc, ssl.SSLCertVerificationError):
        ca = f"the CA in {kafka.kafka_ssl_cafile}" if kafka.kafka_ssl_cafile else "the system's trusted CAs"
        return _Attempt(
            server,
            f"its TLS certificate is not trusted ({_reason(exc)})",
            f"{ca} did not sign it, or the host name differs: set EXPORTWATCH_KAFKA_SSL_CAFILE to the CA "
            "that signed the brokers' certificates",
            True,
        )
    if kafka.kafka_ssl_certfile is None:
        tls_hint = (
            "check that this listener speaks TLS, and whether it requires a client certificate "
            "(EXPORTWATCH_KAFKA_SSL_CERTFILE and EXPORTWATCH_KAFKA_SSL_KEYFILE)"
        )
    else:
        tls_hint = "check that this listener speaks TLS and accepts the client certificate's CA"
    if isinstance(exc, ssl.SSLError):
        return _Attempt(server, f"the TLS handshake failed ({_reason(exc)})", tls_hint, True)
    if isinstance(exc, errors.SaslAuthenticationFailed):
        return _Attempt(
            server,
            f"it refused the SASL login as {kafka.kafka_sasl_username!r} with {kafka.kafka_sasl_mechanism} "
            f"({exc.args[0] if exc.args else exc})",
            "check EXPORTWATCH_KAFKA_SASL_USERNAME, EXPORTWATCH_KAFKA_SASL_PASSWORD and "
            "EXPORTWATCH_KAFKA_SASL_MECHANISM",
            True,
        )
    if isinstance(exc, errors.UnsupportedSaslMechanismError):
        return _Attempt(
            server,
            f"it does not offer SASL {kafka.kafka_sasl_mechanism} ({exc.args[0] if exc.args else exc})",
            "set EXPORTWATCH_KAFKA_SASL_MECHANISM to one it offers",
            True,
        )
    if isinstance(exc, socket.gaierror):
        return _Attempt(server, "the host name is unknown", "check EXPORTWATCH_KAFKA_BOOTSTRAP", False)
    if isinstance(exc, ConnectionRefusedError):
        return _Attempt(
            server,
            "connection refused",
            "check that Kafka runs there, or set EXPORTWATCH_KAFKA_BOOTSTRAP to its host:port "
            "(several: comma-separated)",
            False,
        )
    if isinstance(exc, TimeoutError):
        if protocol in TLS_PROTOCOLS:
            hint = (
                "check EXPORTWATCH_KAFKA_BOOTSTRAP, that a firewall lets this host through and that the "
                "listener speaks TLS"
            )
        else:
            hint = "check EXPORTWATCH_KAFKA_BOOTSTRAP and that a firewall lets this host through"
        return _Attempt(server, "no answer", hint, False)
    if protocol in TLS_PROTOCOLS:
        hint = tls_hint
    else:
        hint = (
            f"if the listener expects TLS or a SASL login, set EXPORTWATCH_KAFKA_SECURITY_PROTOCOL (now "
            f"{protocol})"
        )
    what = "the connection closed before Kafka answered"
    if not isinstance(exc, errors.KafkaConnectionError):
        what += f" ({_reason(exc)})"
    return _Attempt(server, what, hint, False)


async def _attempt(kafka: KafkaSettings, server: str, options: dict[str, Any], timeout: float) -> None:
    from aiokafka.conn import collect_hosts, create_conn
    from aiokafka.errors import KafkaError

    ((host, port, _),) = collect_hosts(server, randomize=False)
    try:
        async with asyncio.timeout(timeout):
            conn = await create_conn(
                host,
                port,
                client_id="exportwatch-start-check",
                request_timeout_ms=int(timeout * 1000),
                ssl_context=options.get("ssl_context"),
                security_protocol=kafka.kafka_security_protocol,
                sasl_mechanism=options.get("sasl_mechanism"),
                sasl_plain_username=options.get("sasl_plain_username"),
                sasl_plain_password=options.get("sasl_plain_password"),
            )
    except (OSError, KafkaError) as exc:  # TimeoutError and ssl.SSLError are OSErrors
        raise _explain(kafka, server, exc) from None
    conn.close()


async def check_reachable(kafka: KafkaSettings, timeout: float | None = None) -> None:
    """Return once a bootstrap server answers a Kafka request (after TLS and the SASL login, as every
    client will connect). Retries quietly for ``timeout`` seconds (``kafka_start_timeout_seconds``) while
    servers refuse or do not answer; stops at once when one rejects the certificate or the login. Raises
    KafkaUnavailable with a message that names the servers tried, what happened and what to change."""
    limit = kafka.kafka_start_timeout_seconds if timeout is None else timeout
    deadline = time.monotonic() + limit
    options = kafka.client_options()
    failures: dict[str, _Attempt] = {}
    while True:
        for server in kafka.servers:
            remaining = deadline - time.monotonic()
            if remaining < 0.2:  # too little time for an answer: it would only read as "no answer"
                break
            try:
                await _attempt(kafka, server, options, min(remaining, 5.0))
            except _Attempt as failure:
                failures[server] = failure
                if failure.permanent:
                    raise KafkaUnavailable(_message(kafka, failures, None)) from None
                continue
            return
        remaining = deadline - time.monotonic()
        if remaining < 0.2:
            raise KafkaUnavailable(_message(kafka, failures, limit))
        await asyncio.sleep(min(0.5, remaining))


def _message(kafka: KafkaSettings, failures: dict[str, _Attempt], waited: float | None) -> str:
    how = "" if kafka.kafka_security_protocol == "PLAINTEXT" else f" over {kafka.describe()}"
    when = f" within {waited:g} s" if waited is not None else ""
    if not failures:
        what = f"at {kafka.kafka_bootstrap}: no attempt finished"
    elif len(failures) == 1:
        ((server, failure),) = failures.items()
        what = f"at {server}: {failure.what}"
    else:
        what = "; ".join(f"at {server}: {failure.what}" for server, failure in failures.items())
    hints = "; ".join(dict.fromkeys(failure.hint for failure in failures.values())) or (
        "check EXPORTWATCH_KAFKA_BOOTSTRAP"
    )
    return f"cannot connect to Kafka{how}{when} {what}. {hints[0].upper()}{hints[1:]}."
