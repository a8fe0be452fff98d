"""``/v1/alerts/{id}/feedback`` and ``/v1/feedback``: researchers say whether an alert was relevant, and
why; each researcher sees and changes only their own judgements (the admin lists everyone's)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from schemas import Alert
from services.common import httpapi
from services.notify.core.feedback import NOT_RELEVANT, REASONS, RELEVANT, check
from services.notify.routes.base import ApiBase, Caller, Problems
from services.notify.store.feedback import Feedback

log = logging.getLogger("exportwatch.notify.api")
MAX_ALERT_ID = 300  # the archive's and the feedback table's alert id column


def feedback_view(feedback: Feedback) -> dict[str, Any]:
    """A judgement as the API shows it, the reason with its plain label."""
    return {
        "alert_id": feedback.alert_id,
        "owner": feedback.owner,
        "relevant": feedback.relevant,
        "reason": feedback.reason,
        "reason_label": REASONS.get(feedback.reason) if feedback.reason else None,
        "note": feedback.note,
        "rule": feedback.rule,
        "language": feedback.language,
        "created_at": feedback.created_at.isoformat(),
        "updated_at": feedback.updated_at.isoformat(),
    }


class FeedbackRoutes(ApiBase):
    # Called after every change so the precision metric follows at once (set by Api; None: nothing).
    feedback_changed: Callable[[], Awaitable[None]] | None = None

    @staticmethod
    def _alert_id(request: Request) -> str:
        # An id no alert can have (too long for the column, control characters, which PostgreSQL may
        # refuse outright) is simply not there: never sent to the database.
        alert_id: str = request.path_params["id"]
        if not 0 < len(alert_id) <= MAX_ALERT_ID or not alert_id.isprintable():
            raise httpapi.not_found(f"no alert {alert_id!r} in the archive")
        return alert_id

    async def _archived(self, alert_id: str) -> Alert:
        found = await self.store.archive.get(alert_id)
        if found is None:
            raise httpapi.not_found(f"no alert {alert_id!r} in the archive")
        return found.alert

    async def _changed(self) -> None:
        if self.feedback_changed is not None:
            await self.feedback_changed()

    async def put_feedback(self, request: Request, caller: Caller) -> Response:
        body = await self._json(request)
        problems = Problems()
        for name in sorted(set(body) - {"relevant", "reason", "note"}):
            problems.add(name, "unknown field; a judgement has relevant, reason and note")
        reason, note = body.get("reason") or None, body.get("note") or None
        for location, message in check(body.get("relevant"), reason, note):
            problems.add(location, message)
        error = problems.error("invalid feedback")
        if error is not None:
            raise error
        alert = await self._archived(self._alert_id(request))
        feedback = await self.store.feedback.put(
            alert, caller.owner, body["relevant"], reason, note, self.clock()
        )
        log.info("feedback recorded", extra={"alert_id": alert.id, "owner": caller.owner})
        await self._changed()
        return JSONResponse(feedback_view(feedback))

    async def get_feedback(self, request: Request, caller: Caller) -> Response:
        alert_id = self._alert_id(request)
        feedback = await self.store.feedback.get(alert_id, caller.owner)
        if feedback is None:
            raise httpapi.not_found(f"you have given no feedback on alert {alert_id!r}")
        return JSONResponse(feedback_view(feedback))

    async def delete_feedback(self, request: Request, caller: Caller) -> Response:
        alert_id = self._alert_id(request)
        if not await self.store.feedback.delete(alert_id, caller.owner):
            raise httpapi.not_found(f"you have given no feedback on alert {alert_id!r}")
        await self._changed()
        return Response(status_code=204)

    async def list_feedback(self, request: Request, caller: Caller) -> Response:
        judgements = await self.store.feedback.of_owner(None if caller.admin else caller.owner)
        return JSONResponse(
            {
                "feedback": [feedback_view(f) for f in judgements],
                "reasons": {
                    "relevant": dict(RELEVANT),
                    "not_relevant": dict(NOT_RELEVANT),
                },
            }
        )
