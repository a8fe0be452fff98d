"""The one interface every notification channel implements, what it is given to work with, and the
failure reasons it reports."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol

import httpx
from pydantic import SecretStr

from schemas import Notification
from services.common.addresses import TargetPolicy
from services.notify.channels.pool import ClientPool


class Reason(StrEnum):
    """Why a delivery failed; a short fixed list that doubles as a metric label."""

    CLIENT_ERROR = "client_error"
    AUTH_ERROR = "auth_error"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    NETWORK = "network"
    FORBIDDEN_TARGET = "forbidden_target"

    @property
    def retryable(self) -> bool:
        return self in _RETRYABLE


_RETRYABLE = frozenset({Reason.RATE_LIMITED, Reason.SERVER_ERROR, Reason.TIMEOUT, Reason.NETWORK})


class DeliveryError(Exception):
    """A failed delivery: ``reason`` decides retrying; ``detail`` never contains a secret."""

    def __init__(self, reason: Reason, detail: str, retry_after: float | None = None) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after


class Channel(Protocol):
    """A destination for notifications.

    ``type`` (slack, webhook, email, console, file) is safe to log and to use as a metric label.
    ``target`` identifies the destination (a hash of the URL or the recipients, never the secret
    itself): deliveries to one target share its rate limit."""

    type: str
    target: str

    async def send(self, notification: Notification) -> None:
        """Deliver the notification or raise DeliveryError."""
        ...


@dataclass(frozen=True)
class SmtpServer:
    """The mail server notify sends e-mail through (one per service, from the settings)."""

    host: str
    port: int
    security: Literal["starttls", "tls", "none"]
    sender: str
    username: str | None = None
    password: SecretStr | None = None
    timeout: float = 30.0
    ca_file: str | None = None  # extra CA bundle to trust (a private relay; tests with their own CA)


def utcnow() -> dt.datetime:
    """The wall clock every notify component takes by default (tests pass their own)."""
    return dt.datetime.now(dt.UTC)


@dataclass
class ChannelContext:
    """What channels share: one HTTP client (its timeouts), the kept-alive clients deliveries are sent
    through (``clients``, closed by whoever made the context), the address policy, the mail server,
    the clock."""

    http: httpx.AsyncClient
    clients: ClientPool = field(default_factory=ClientPool)
    targets: TargetPolicy = field(default_factory=TargetPolicy)
    smtp: SmtpServer | None = None
    source: str = "urn:exportwatch:notify"  # CloudEvents `source` attribute
    clock: Callable[[], dt.datetime] = utcnow


@dataclass(frozen=True)
class ChannelType:
    """One kind of channel, as the registry (``services.notify.channels``) knows it: its ``name`` (the
    ``type`` of its settings and of its channel object, a metric label, at most 16 characters), its
    ``settings`` model, how to ``build`` a channel from settings and the shared context, whether
    ``owners`` may configure it through the API (False: it acts on the server itself, only the admin and
    the subscriptions file may), and its default rate limit per target (``per_second``; None: none)."""

    name: str
    settings: type[Any]
    build: Callable[[Any, ChannelContext], Channel]
    owners: bool = True
    per_second: float | None = None

    def __post_init__(self) -> None:
        if not 0 < len(self.name) <= 16:
            raise ValueError(f"a channel type name has 1-16 characters, not {self.name!r}")


def target_id(*parts: str) -> str:
    """A short, stable, non-reversible name for a destination (for rate limits and logs)."""
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:16]
