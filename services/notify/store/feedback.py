"""Researchers' feedback on alerts (table ``notify_feedback``).

CONTRACT (issue 19): the signatures below are what the API, the console and the export call; their
bodies are being written (branch ``feedback``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from schemas import Alert
from services.common.db import Section


@dataclass(frozen=True)
class Feedback:
    """One researcher's judgement of one alert."""

    alert_id: str
    owner: str
    relevant: bool
    reason: str | None  # one of services.notify.core.feedback.REASONS, or None
    note: str | None
    rule: str
    language: str | None
    event_type: str
    created_at: dt.datetime
    updated_at: dt.datetime


class FeedbackStore(Section):
    async def put(
        self, alert: Alert, owner: str, relevant: bool, reason: str | None, note: str | None, now: dt.datetime
    ) -> Feedback:
        """Record (or replace) ``owner``'s judgement of ``alert``."""
        raise NotImplementedError

    async def get(self, alert_id: str, owner: str) -> Feedback | None:
        raise NotImplementedError

    async def delete(self, alert_id: str, owner: str) -> bool:
        raise NotImplementedError

    async def of_owner(self, owner: str, limit: int = 500) -> list[Feedback]:
        """``owner``'s judgements, newest first."""
        raise NotImplementedError
