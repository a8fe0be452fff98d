"""Settings shared by every service, read from ``EXPORTWATCH_*`` environment variables."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.common.kafka import KafkaSettings


class CommonSettings(BaseSettings, KafkaSettings):
    """Broker, topic, HTTP and logging settings shared by every service (``EXPORTWATCH_*``). Where Kafka
    is and how to connect to it (TLS, SASL) are the fields of ``KafkaSettings``."""

    model_config = SettingsConfigDict(env_prefix="EXPORTWATCH_", extra="ignore", hide_input_in_errors=True)

    topic_partitions: int = Field(default=4, ge=1, description="Partitions per topic when we create topics.")
    topic_replication: int = Field(default=1, ge=1, description="Replication factor when we create topics.")
    kafka_session_timeout_ms: int = Field(
        default=10_000,
        ge=1_000,
        description="Consumer group session timeout: a consumer silent this long leaves the group. The "
        "local stack lowers it, since the embedded broker makes every group join wait half of it.",
    )
    kafka_heartbeat_interval_ms: int = Field(
        default=3_000, ge=100, description="How often a consumer tells the group it is alive."
    )
    create_topics: bool = Field(default=True, description="Create missing topics at start and on recovery.")
    kafka_embedded: bool = Field(
        default=False,
        description="The broker is the embedded one (Tansu, memory storage), which forgets its topics on "
        "a restart and then acknowledges and drops messages sent to them: each batch is published only "
        "while the broker lists its topics (checked before and after), and lost topics are re-created "
        "every 5 seconds. The local stack and the tests set it; never set it on Apache Kafka.",
    )
    http_host: str = Field(default="127.0.0.1", description="Address of the /metrics and /healthz server.")
    http_header_timeout_seconds: float = Field(
        default=10.0, gt=0, description="A request's headers must arrive within this, however they trickle."
    )
    http_body_timeout_seconds: float = Field(
        default=60.0, gt=0, description="A request's body must arrive within this after its headers."
    )
    http_max_connections: int = Field(
        default=256, ge=1, description="Open HTTP connections at once; beyond it a connection gets a 503."
    )
    log_format: str = Field(
        default="text",
        pattern="^(text|json)$",
        description="Log lines on stderr: `text` for people, `json` (one object a line) for a log collector.",
    )
    log_level: str = Field(
        default="INFO",
        description="Lowest level logged: DEBUG, INFO, WARNING, ERROR or CRITICAL (the libraries' own "
        "chatter stays at their quieter levels).",
    )

    @model_validator(mode="after")
    def _heartbeat_within_session(self) -> CommonSettings:
        if self.kafka_heartbeat_interval_ms >= self.kafka_session_timeout_ms:
            raise ValueError(
                f"kafka_heartbeat_interval_ms ({self.kafka_heartbeat_interval_ms}) must be below "
                f"kafka_session_timeout_ms ({self.kafka_session_timeout_ms})"
            )
        return self


class ServiceSettings(BaseSettings):
    """Base of each service's own settings (``EXPORTWATCH_<SERVICE>_*``); the shared ones sit in ``common``
    and are read from ``EXPORTWATCH_*``, so one ``EXPORTWATCH_KAFKA_BOOTSTRAP`` serves every service."""

    common: CommonSettings = Field(default_factory=CommonSettings)
    http_port: int = Field(default=8080, ge=0, le=65535, description="Port of /metrics and /healthz.")


def settings_problems(exc: ValidationError) -> str:
    """A settings error on one line for a command's stderr, naming the environment variables to change
    and never echoing a value (it may be a password)."""
    classes: list[type[BaseSettings]] = [CommonSettings, *ServiceSettings.__subclasses__()]
    owners = {cls.__name__: cls for cls in classes}
    owner = owners.get(exc.title)
    prefix = str(owner.model_config.get("env_prefix", "")) if owner is not None else ""
    parts = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        message = error["msg"].removeprefix("Value error, ")
        loc = [str(p) for p in error["loc"]]
        if loc and owner is not None and loc[0] in owner.model_fields:
            parts.append(f"{prefix}{loc[0].upper()}: {message}")
        elif loc:
            parts.append(f"{'.'.join(loc)}: {message}")
        else:
            parts.append(message)
    return "invalid settings: " + "; ".join(parts)


def split_list(value: object) -> object:
    """Environment lists: a JSON array, or comma-separated values."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


def networks(values: list[str]) -> list[str]:
    """Each value a network in CIDR form (a bare address is its /32 or /128): checked when the settings
    are read, so a typo stops the service at start naming the variable, instead of allowing nothing."""
    for n, value in enumerate(values, 1):
        try:
            ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            raise ValueError(f"entry {n} is not a network in CIDR form, such as 10.0.0.0/8") from None
    return values


PathList = Annotated[list[Path], NoDecode, BeforeValidator(split_list)]
SecretList = Annotated[list[SecretStr], NoDecode, BeforeValidator(split_list)]
StrList = Annotated[list[str], NoDecode, BeforeValidator(split_list)]
NetworkList = Annotated[list[str], NoDecode, BeforeValidator(split_list), AfterValidator(networks)]
