"""The one interface every notification channel implements, and the failure reasons they report."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from schemas import Alert


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
    """A destination for alerts. ``name`` is safe to log and to use as a metric label."""

    name: str

    async def send(self, alert: Alert) -> None:
        """Deliver one alert or raise DeliveryError."""
        ...

    async def close(self) -> None: ...
