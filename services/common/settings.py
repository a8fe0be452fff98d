"""Settings shared by every service, read from ``EXPORTWATCH_*`` environment variables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class CommonSettings(BaseSettings):
    """Broker, topic, HTTP and logging settings shared by every service (``EXPORTWATCH_*``)."""

    model_config = SettingsConfigDict(env_prefix="EXPORTWATCH_", extra="ignore")

    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated host:port."
    )
    topic_partitions: int = Field(default=4, ge=1, description="Partitions per topic when we create topics.")
    topic_replication: int = Field(default=1, ge=1, description="Replication factor when we create topics.")
    create_topics: bool = Field(default=True, description="Create missing topics at start and on recovery.")
    http_host: str = Field(default="127.0.0.1", description="Address of the /metrics and /healthz server.")
    log_format: str = Field(default="text", pattern="^(text|json)$")
    log_level: str = Field(default="INFO")


class ServiceSettings(BaseSettings):
    """Base of each service's own settings (``EXPORTWATCH_<SERVICE>_*``); the shared ones sit in ``common``
    and are read from ``EXPORTWATCH_*``, so one ``EXPORTWATCH_KAFKA_BOOTSTRAP`` serves every service."""

    common: CommonSettings = Field(default_factory=CommonSettings)
    http_port: int = Field(default=8080, ge=0, le=65535, description="Port of /metrics and /healthz.")


def _split(value: object) -> object:
    """Environment lists: a JSON array, or comma-separated values."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


PathList = Annotated[list[Path], NoDecode, BeforeValidator(_split)]
SecretList = Annotated[list[SecretStr], NoDecode, BeforeValidator(_split)]
