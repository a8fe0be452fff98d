"""What the delivery queue takes in and hands out: consumed alerts with their targets, claims, and
notifications ready to send or dead."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas import Alert
from services.notify.core.planning import Target


@dataclass(frozen=True)
class Intake:
    """A consumed alert and the subscriptions it goes to."""

    alert: Alert
    payload: str
    targets: Sequence[Target]


@dataclass
class IntakeResult:
    queued: int = 0
    silenced: int = 0
    duplicate: int = 0
    by_channel: dict[tuple[str, str], int] = field(default_factory=dict)  # (channel, outcome) -> n
    earliest_due: dt.datetime | None = None

    def count(self, channel: str, outcome: str) -> None:
        self.by_channel[(channel, outcome)] = self.by_channel.get((channel, outcome), 0) + 1


@dataclass(frozen=True)
class Claim:
    id: str
    in_doubt: bool  # the previous holder's lease ran out: it may or may not have sent it


@dataclass(frozen=True)
class Pending:
    """A claimed notification with what is needed to send it."""

    id: str
    subscription_id: str
    channel: str
    kind: str
    group_key: str
    period_start: dt.datetime | None
    period_end: dt.datetime | None
    attempts: int
    first_attempt_at: dt.datetime
    created_at: dt.datetime
    alerts: list[Alert]


@dataclass(frozen=True)
class DeadNotification:
    id: str
    subscription_id: str
    owner: str | None
    channel: str
    kind: str
    alert_ids: list[str]
    attempts: int
    reason: str | None
    detail: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None

    def as_json(self) -> dict[str, Any]:
        """How the API and ``exportwatch notify dead --json`` show it."""
        return {
            "id": self.id,
            "subscription_id": self.subscription_id,
            "owner": self.owner,
            "channel": self.channel,
            "kind": self.kind,
            "alerts": self.alert_ids,
            "attempts": self.attempts,
            "reason": self.reason,
            "detail": self.detail,
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }
