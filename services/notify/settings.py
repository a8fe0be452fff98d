"""Settings of the notify service (``EXPORTWATCH_NOTIFY_*``, plus the common ``EXPORTWATCH_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import SecretList, ServiceSettings


class NotifySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EXPORTWATCH_NOTIFY_", extra="ignore")

    http_port: int = Field(default=8083, description="Port of /metrics and /healthz.")
    group_id: str = Field(default="exportwatch-notify", description="Kafka consumer group.")
    console: bool = Field(default=True, description="Print every alert, readable, on standard output.")
    file_path: Path | None = Field(default=None, description="Append every alert as a JSON line here.")
    webhook_urls: SecretList = Field(
        default_factory=list, description="Generic JSON webhooks: one POST per alert. Secret: never logged."
    )
    webhook_allow_private: bool = Field(
        default=False, description="Allow webhook URLs on loopback/private addresses (tests, local stack)."
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_attempts: int = Field(default=5, ge=1, description="Attempts per delivery before dead-lettering.")
    min_severity: str = Field(default="low", pattern="^(low|medium|high|critical)$")
