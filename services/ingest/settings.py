"""Settings of the ingest service (``EXPORTWATCH_INGEST_*``, plus the common ``EXPORTWATCH_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import PathList, SecretList, ServiceSettings


class IngestSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EXPORTWATCH_INGEST_", extra="ignore")

    http_port: int = Field(default=8081, description="Port of /v1/events, /metrics and /healthz.")
    sources: PathList = Field(
        default_factory=list,
        description="Files or folders to read at start: *.jsonl (contract events), *.xml/*.rss/*.atom "
        "(feeds), CAAT values *.csv. JSON list or comma-separated in the environment.",
    )
    feed_language: str | None = Field(
        default=None, description="Language of local feeds when they don't say."
    )
    api_tokens: SecretList = Field(
        default_factory=list, description="Bearer tokens accepted by POST /v1/events; empty = API closed."
    )
    max_body_bytes: int = Field(default=5_000_000, ge=1024, description="Largest accepted push body.")
    max_event_bytes: int = Field(default=1_000_000, ge=1024, description="Largest accepted single event.")
