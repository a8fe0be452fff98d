"""The alert archive's JSON API: ``GET /v1/alerts`` (filtered, newest first, paged by cursor) and
``GET /v1/alerts/{id}`` (one alert with the other copies of its story and who was told).

Every valid token may read every alert; the deliveries of an alert are shown for the caller's own
subscriptions only (all of them for the admin). The query string is read by
``services.notify.core.archive.parse_query``, shared with the CSV and Atom forms and the console.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from schemas import Alert
from services.common import httpapi
from services.notify.core.archive import AuditEntry, QueryProblems, parse_query, query_string
from services.notify.core.vocabulary import Vocabulary
from services.notify.routes.base import ApiBase, Caller

MAX_ALERT_ID = 300  # the archive's id column


def alert_view(alert: Alert) -> dict[str, Any]:
    return alert.model_dump(mode="json")


def copy_view(alert: Alert) -> dict[str, Any]:
    """Another copy of the same story, in a few words."""
    return {
        "id": alert.id,
        "title": alert.title,
        "url": alert.url,
        "source": alert.source,
        "created_at": alert.created_at.isoformat(),
    }


def audit_view(entry: AuditEntry) -> dict[str, Any]:
    return {
        "subscription_id": entry.subscription_id,
        "subscription_name": entry.subscription_name,
        "owner": entry.owner,
        "channel": entry.channel,
        "outcome": entry.outcome,
        "at": entry.at.isoformat(),
        "attempts": entry.attempts,
        "detail": entry.detail,
    }


def grouped_params(request: Request) -> dict[str, list[str]]:
    """The query string, each parameter with all its values, as ``parse_query`` takes it."""
    params: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        params.setdefault(name, []).append(value)
    return params


class AlertRoutes(ApiBase):
    vocabulary: Vocabulary  # ids the destination, technology and vendor filters may name

    async def list_alerts(self, request: Request, _caller: Caller) -> Response:
        try:
            query = parse_query(grouped_params(request), self.vocabulary)
        except QueryProblems as problems:
            raise httpapi.invalid_body(
                "the query string has problems: " + str(problems), problems.details
            ) from None
        page = await self.store.archive.search(query)
        body: dict[str, Any] = {
            "alerts": [alert_view(a) for a in page.alerts],
            "next": None,
            "next_cursor": page.next_cursor,
        }
        headers: dict[str, str] = {}
        if page.next_cursor is not None:
            next_url = str(request.url.replace(query=urlencode(query_string(query, cursor=page.next_cursor))))
            body["next"] = next_url
            headers["link"] = f'<{next_url}>; rel="next"'
        return JSONResponse(body, headers=headers)

    async def get_alert(self, request: Request, caller: Caller) -> Response:
        alert_id = request.path_params["id"]
        found = None
        if 0 < len(alert_id) <= MAX_ALERT_ID and "\x00" not in alert_id:
            found = await self.store.archive.get(alert_id)
        if found is None:
            raise httpapi.not_found(f"no alert {alert_id[:80]!r} in the archive")
        audit = await self.store.archive.audit(found.alert.id, None if caller.admin else caller.owner)
        return JSONResponse(
            {
                "alert": alert_view(found.alert),
                "received_at": found.received_at.isoformat(),
                "story": [copy_view(a) for a in found.story if a.id != found.alert.id],
                "deliveries": [audit_view(e) for e in audit],
            }
        )
