"""Settings of the ingest service (``EXPORTWATCH_INGEST_*``, plus the common ``EXPORTWATCH_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.common.settings import NetworkList, PathList, SecretList, ServiceSettings


class IngestSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EXPORTWATCH_INGEST_", extra="ignore")

    http_port: int = Field(
        default=8081, ge=0, le=65535, description="Port of /v1/events, /metrics and /healthz."
    )
    database_url: SecretStr = Field(
        default=SecretStr("sqlite:///var/ingest.db"),
        description="Where ingest keeps what it published and its sources' state: sqlite:///path or "
        "postgresql://user:password@host/db; by default the SQLite file var/ingest.db. Secret: it may hold "
        "a password.",
    )
    sources_file: Path | None = Field(
        default=None, description="YAML file listing feeds, licence data and folders to poll."
    )
    sources: PathList = Field(
        default_factory=list,
        description="Extra files or folders to watch, parser picked by suffix: `*.jsonl` (contract events), "
        "`*.xml`, `*.rss`, `*.atom`, `*.rdf` (feeds), CAAT values `*.csv`. JSON list or comma-separated.",
    )
    feed_language: str | None = Field(
        default=None, description="Language of the `sources` feeds when they don't say."
    )
    url_interval_seconds: float = Field(default=900, gt=0, description="Default poll interval of URLs.")
    folder_interval_seconds: float = Field(
        default=10, gt=0, description="Default scan interval of files and folders."
    )
    backoff_base_seconds: float = Field(default=30, gt=0, description="First retry delay after a failure.")
    backoff_ceiling_seconds: float = Field(default=3600, gt=0, description="Longest retry delay.")
    http_timeout_seconds: float = Field(
        default=30,
        gt=0,
        description="Timeout of each step of fetching a URL (connecting, and each read or write); a feed "
        "that stays silent this long fails the poll and is retried with backoff.",
    )
    max_fetch_bytes: int = Field(default=50_000_000, ge=1024, description="Largest feed or file fetched.")
    allow_insecure_tls: bool = Field(
        default=False, description="Accept invalid TLS certificates (never in production)."
    )
    allow_private_networks: NetworkList = Field(
        default_factory=list,
        description="Networks (CIDR) feed and licence URLs, and every address they redirect to, may reach "
        "although private or loopback, e.g. 127.0.0.1/32 or 10.20.0.0/16 for a feed on your own "
        "network; empty: public addresses only. JSON list or comma-separated.",
    )
    near_duplicate_threshold: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Estimated word-shingle similarity above which an article is a near duplicate.",
    )
    near_duplicate_window_hours: float = Field(
        default=72, gt=0, description="How far apart in publication time two copies of a story may be."
    )
    near_duplicate_max_articles: int = Field(
        default=30_000,
        ge=1,
        description="Most original articles kept in memory for near-duplicate comparison (about 5 KB "
        "each: 30,000 take some 150 MB); past it the earliest published are forgotten before their "
        "window ends. Real feeds bring a few thousand articles a day.",
    )
    languages: list[str] = Field(
        default_factory=lambda: [
            "en",
            "nl",
            "fr",
            "de",
            "es",
            "it",
            "pt",
            "pl",
            "ru",
            "uk",
            "ar",
            "tr",
            "zh",
        ],
        description="Languages the detector chooses from when an article does not state its own.",
    )
    api_tokens: SecretList = Field(
        default_factory=list, description="Bearer tokens accepted by POST /v1/events; empty = API closed."
    )
    max_body_bytes: int = Field(default=5_000_000, ge=1024, description="Largest accepted push body.")
    max_event_bytes: int = Field(default=1_000_000, ge=1024, description="Largest accepted single event.")
    health_threshold_seconds: float = Field(
        default=10.0,
        gt=0,
        description="/healthz answers 503 once reading or writing the database has failed this long "
        "without a successful write in between.",
    )
    max_items: int = Field(
        default=1000,
        ge=1,
        description="Most events in one push request; more are refused with 413 before any is parsed. "
        "1000 is one publishing chunk, so a request's events are published and recorded together, and "
        "judging a full request takes milliseconds and little memory.",
    )
