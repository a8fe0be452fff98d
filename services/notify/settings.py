"""Settings of the notify service (``EXPORTWATCH_NOTIFY_*``, plus the common ``EXPORTWATCH_*``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings, StrList
from services.notify.core.vocabulary import Vocabulary

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_CODE = re.compile(r"^[A-Z]{2}$")
_EXTRA = (
    "{what} an operator added to match's watchlists (EXPORTWATCH_MATCH_WATCHLIST_DIRS) beyond the shared "
    "vocabulary, comma-separated: subscriptions may name them (others are refused)."
)


class NotifySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EXPORTWATCH_NOTIFY_", extra="ignore")

    http_port: int = Field(
        default=8083, ge=0, le=65535, description="Port of the API, /metrics and /healthz."
    )
    group_id: str = Field(default="exportwatch-notify", description="Kafka consumer group.")
    database_url: SecretStr = Field(
        default=SecretStr("sqlite:///var/notify.db"),
        description="Subscriptions, silences and the delivery log: sqlite:///path or postgresql://…; "
        "by default the SQLite file var/notify.db. Secret: it may hold a password.",
    )
    subscriptions_file: Path | None = Field(
        default=None, description="YAML file of subscriptions kept in git; synced into the database at start."
    )
    admin_token: SecretStr | None = Field(
        default=None, description="Bearer token that sees and changes every subscription. Secret."
    )
    console: bool = Field(
        default=False, description="Built-in subscription: every alert, readable, on stdout."
    )
    file_path: Path | None = Field(
        default=None,
        description="Built-in subscription: every notification appended as a JSON line to this file.",
    )
    extra_technologies: StrList = Field(
        default_factory=list, description=_EXTRA.format(what="Technology ids (e.g. drones)")
    )
    extra_destinations: StrList = Field(
        default_factory=list, description=_EXTRA.format(what="Destination codes (e.g. MN)")
    )
    extra_vendors: StrList = Field(default_factory=list, description=_EXTRA.format(what="Vendor ids"))
    builtin_min_severity: str = Field(
        default="low",
        pattern="^(low|medium|high|critical)$",
        description="Lowest severity the built-in subscriptions (console and file) receive.",
    )
    console_min_severity: str | None = Field(
        default=None,
        pattern="^(low|medium|high|critical)$",
        description="Lowest severity the console shows (default: builtin_min_severity); the local "
        "stack shows high and critical there, so the news a researcher wants first is not buried "
        "under low-severity licence rows, which still reach the file and the webhooks.",
    )
    allow_private_networks: StrList = Field(
        default_factory=list,
        description="Networks (CIDR) webhooks may reach although private or loopback, e.g. 127.0.0.1/32.",
    )
    group_wait_seconds: float = Field(
        default=30.0, ge=0, le=3600, description="How long the first alert of a story waits for others."
    )
    send_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Overall deadline of one send (HTTP request or SMTP session), however slowly the "
        "target answers.",
    )
    retry_attempts: int = Field(default=8, ge=1, description="Attempts before a notification is dead.")
    retry_base_seconds: float = Field(
        default=2.0,
        gt=0,
        description="Backoff after the first failed attempt; it doubles after each failure up to "
        "retry_cap_seconds, each wait drawn between half of it and all of it, and a longer Retry-After "
        "from the target is honoured.",
    )
    retry_cap_seconds: float = Field(default=600.0, gt=0, description="Longest wait between attempts.")
    retry_max_age_seconds: float = Field(
        default=86400.0,
        gt=0,
        description="A notification still failing this long after its first attempt is dead.",
    )
    lease_seconds: float = Field(
        default=120.0,
        gt=0,
        description="How long a claimed notification belongs to one process; after a crash it is sent "
        "again (same id) once this has passed.",
    )
    concurrency: int = Field(default=32, ge=1, description="Notifications being sent at once.")
    poll_seconds: float = Field(default=0.5, gt=0, description="How often the queue is checked.")
    health_threshold_seconds: float = Field(
        default=10.0,
        gt=0,
        description="/healthz answers 503 once reading or writing the database has failed this long "
        "without a success in between.",
    )
    slack_per_second: float = Field(default=1.0, gt=0, description="Messages per second per Slack webhook.")
    webhook_per_second: float = Field(default=10.0, gt=0, description="Requests per second per webhook URL.")
    email_per_second: float = Field(default=2.0, gt=0, description="Messages per second per recipient list.")
    test_sends_per_hour: int = Field(
        default=30,
        ge=1,
        description="Test sends (POST /v1/subscriptions/{id}/test) each owner may ask for per hour, "
        "shared by all replicas, three of them back to back; beyond, 429 with Retry-After.",
    )
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$",
        description="The address researchers reach notify at (the console and the API), such as "
        "https://exportwatch.example.org, when it sits behind a reverse proxy: personal feed addresses and "
        "the links in Atom feeds are built from it. Unset: from the address each request came to.",
        examples=["https://exportwatch.example.org"],
    )
    console_session_hours: float = Field(
        default=12.0,
        gt=0,
        le=24 * 30,
        description="How long a researcher stays signed in to the web console (served at / on the HTTP "
        "port) after signing in with their API token.",
    )
    console_trust_forwarded_proto: bool = Field(
        default=False,
        description="Behind a reverse proxy that ends TLS: trust its X-Forwarded-Proto header, so the "
        "console's session cookie is marked Secure when the researcher's browser used https. Leave off "
        "when clients reach notify directly (they could send the header themselves).",
    )
    console_signin_attempts_per_minute: int = Field(
        default=10,
        ge=1,
        description="Sign-in attempts with a wrong token the console accepts per client address per "
        "minute; beyond, it asks the researcher to wait.",
    )
    max_recipients: int = Field(
        default=10,
        ge=1,
        le=50,
        description="Recipients an e-mail subscription may have (API and subscriptions file); more is "
        "a 422 problem.",
    )
    retention_days: float = Field(
        default=30.0, gt=0, description="Finished notifications and their dedup keys are kept this long."
    )
    archive_days: int = Field(
        default=0,
        ge=0,
        description="Archived alerts (GET /v1/alerts, the console) are kept this many days after they "
        "were made; 0 keeps them forever.",
    )
    cloudevents_source: str = Field(default="urn:exportwatch:notify", description="CloudEvents `source`.")
    smtp_host: str | None = Field(default=None, description="Mail server; e-mail subscriptions need it.")
    smtp_port: int = Field(default=587, ge=1, le=65535, description="Port of the mail server.")
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls",
        description="How the connection to the mail server is protected: `starttls` (upgrade a plain "
        "connection, port 587), `tls` (TLS from the start, port 465) or `none` (a relay on a trusted "
        "network only).",
    )
    smtp_username: str | None = Field(
        default=None, description="User name to log in to the mail server; unset: no login."
    )
    smtp_password: SecretStr | None = Field(
        default=None, description="Password of smtp_username on the mail server. Secret."
    )
    smtp_from: str = Field(
        default="ExportWatch <alerts@exportwatch.invalid>",
        description="The From header of every mail (its address is also the envelope sender); set an "
        "address your mail server may send as.",
    )
    smtp_ca_file: str | None = Field(default=None, description="Extra CA bundle to trust for the relay.")

    @field_validator("extra_technologies", "extra_vendors")
    @classmethod
    def _slugs(cls, values: list[str]) -> list[str]:
        ids = [v.strip().lower() for v in values]
        bad = [v for v in ids if not _SLUG.match(v)]
        if bad:
            raise ValueError(f"ids are lower-case words joined by '-', as in the watchlists, not {bad[0]!r}")
        return ids

    @field_validator("extra_destinations")
    @classmethod
    def _codes(cls, values: list[str]) -> list[str]:
        codes = [v.strip().upper() for v in values]
        bad = [c for c in codes if not _CODE.match(c)]
        if bad:
            raise ValueError(f"destinations are two-letter codes as in the watchlists, not {bad[0]!r}")
        return codes

    def vocabulary(self) -> Vocabulary:
        """The ids subscriptions may filter on: the shared vocabulary and the extra ids above."""
        return Vocabulary.shared(
            technologies=self.extra_technologies,
            destinations=self.extra_destinations,
            vendors=self.extra_vendors,
        )
