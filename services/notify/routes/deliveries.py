"""Deliveries: ``POST /v1/subscriptions/{id}/test`` (a test message, now, paced per owner) and
``GET /v1/dead`` (notifications that failed for good)."""

from __future__ import annotations

import datetime as dt
import logging
import math

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from schemas import Alert, Evidence, EvidenceKind, Notification, Severity
from services.common import httpapi
from services.common.httpapi import ApiProblem
from services.notify.channels.base import DeliveryError
from services.notify.core.model import is_safe_id
from services.notify.routes.base import DATABASE_FAILURES, DATABASE_RETRY_SECONDS, ApiBase, Caller
from services.notify.store.repository import new_id

log = logging.getLogger("exportwatch.notify.api")


def test_alert(now: dt.datetime) -> Alert:
    title = "ExportWatch test: this subscription works"
    return Alert(
        id=f"test-{now.strftime('%Y%m%dT%H%M%S')}",
        event_type="news_article",
        event_id="test",
        title=title,
        severity=Severity.LOW,
        score=1.0,
        technologies=["facial-recognition"],
        destinations=[],
        evidence=[
            Evidence(
                field="title",
                start=0,
                end=11,
                text=title[:11],
                snippet=title,
                kind=EvidenceKind.TECHNOLOGY,
                ref="test",
            )
        ],
        rule="test",
        summary="A test message asked for through the API; it is not about a real event.",
        watchlist_version="test",
        created_at=now,
    )


class DeliveryRoutes(ApiBase):
    async def test_subscription(self, request: Request, caller: Caller) -> Response:
        notification_id = await self.send_test(caller, request.path_params["id"])
        return JSONResponse({"delivered": True, "notification_id": notification_id})

    async def send_test(self, caller: Caller, subscription_id: str) -> str:
        """Send a test message to one of the caller's subscriptions now (paced per owner): the
        notification's id, or the ApiProblem that says why not (the API's and the console's one way)."""
        sub = await self._own_subscription(caller, subscription_id)
        try:
            wait = await self.store.test_sends.reserve(caller.owner, self.test_sends, self.clock)
        except DATABASE_FAILURES as exc:
            # Only the type is logged: a driver's message may carry the database URL.
            log.warning(
                "test send not paced: the database failed",
                extra={"owner": caller.owner, "error": type(exc).__name__},
            )
            raise httpapi.try_later(
                503, "the database is unavailable, nothing was sent", DATABASE_RETRY_SECONDS
            ) from None
        if wait > 0:
            raise httpapi.try_later(
                429,
                f"too many test sends: at most {self.test_sends_per_hour} per hour per owner",
                max(1, math.ceil(wait)),
            )
        now = self.clock()
        notification = Notification(
            id=new_id("test"),
            kind="test",
            subscription_id=sub.id,
            subscription_name=sub.name,
            alerts=[test_alert(now)],
            created_at=now,
        )
        channel = self.dispatcher.channels.get(sub)
        try:
            await self.dispatcher.send(channel, notification)  # within the same overall deadline
        except DeliveryError as exc:
            raise ApiProblem(
                502,
                "delivery-failed",
                exc.detail,
                delivered=False,
                reason=exc.reason.value,
                retryable=exc.reason.retryable,
            ) from None
        return notification.id

    async def list_dead(self, request: Request, caller: Caller) -> Response:
        subscription_id = request.query_params.get("subscription")
        if subscription_id is not None and not is_safe_id(subscription_id):
            return JSONResponse({"dead": []})  # no subscription has such an id
        dead = await self.store.deliveries.dead_notifications(
            owner=None if caller.admin else caller.owner, subscription_id=subscription_id
        )
        return JSONResponse({"dead": [d.as_json() for d in dead]})
