"""Settings of the match service (``EXPORTWATCH_MATCH_*``, plus the common ``EXPORTWATCH_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import PathList, ServiceSettings
from services.match.core.limits import MAX_BODY_CHARS


class MatchSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EXPORTWATCH_MATCH_", extra="ignore")

    http_port: int = Field(default=8082, ge=0, le=65535, description="Port of /metrics and /healthz.")
    watchlist_dirs: PathList = Field(
        default_factory=list,
        description="Operator watchlist folders loaded after the bundled defaults (they add or override).",
    )
    reload_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How often the watchlist folders are checked for changes (file names, sizes, mtimes); "
        "a change is compiled and swapped in without a restart, and SIGHUP reloads at once. An invalid "
        "file is logged with its file and line and the previous lists stay in use. 0 disables polling "
        "(SIGHUP still reloads).",
    )
    group_id: str = Field(default="exportwatch-match", description="Kafka consumer group.")
    max_batch: int = Field(default=500, ge=1, description="Records per consumed batch.")
    max_body_chars: int = Field(
        default=MAX_BODY_CHARS,
        ge=10_000,
        description="Characters of an article's body that are matched; the rest is not read, and the "
        "alerts of a longer article say so in their summary. Bounds the CPU one huge event can take.",
    )
