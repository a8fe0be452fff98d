"""The archive as files and feeds: ``/v1/alerts.csv`` and ``/v1/alerts.atom`` (bearer token, the same
query string as ``/v1/alerts``), the personal feed URLs of subscriptions (``/v1/subscriptions/{id}/feed``)
and the public, secret-URL feeds themselves (``/feeds/<secret>.atom``, no token: the URL is the key)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from schemas import Alert, Severity
from services.common import httpapi
from services.common.httpserver import FEED_PLACEHOLDER
from services.notify.core import atom, csv_export
from services.notify.core.archive import AlertQuery, QueryProblems, parse_query
from services.notify.core.model import Subscription
from services.notify.core.routing import wants
from services.notify.core.vocabulary import Vocabulary
from services.notify.routes.base import ApiBase, Caller

log = logging.getLogger("exportwatch.notify.api")

CSV_MAX_ROWS = 100_000  # rows of one CSV export; the last line says when it stopped there
CSV_PAGE = 500
FEED_ENTRIES = 50  # entries of a personal feed
FEED_PAGES = 5  # archive pages read to fill a feed whose keyword the archive query cannot apply
FEED_HEADERS = {
    "referrer-policy": "no-referrer",  # the feed URL is a secret: never sent on to the sites it links
    "cache-control": "private, no-store",
    "x-content-type-options": "nosniff",
}
UNKNOWN_FEED = "no feed at this address: it was never made, or it was revoked (make a new one in the console)"


def feed_query(sub: Subscription, limit: int) -> AlertQuery:
    """The archive query closest to a subscription's filters (its keyword is checked afterwards)."""
    f = sub.filters
    at_least = tuple(s for s in Severity if s.rank >= f.min_severity.rank)
    return AlertQuery(
        technologies=tuple(f.technologies),
        destinations=tuple(f.destinations),
        vendors=tuple(f.entities),
        event_types=tuple(f.event_types),
        severities=at_least if len(at_least) < len(Severity) else (),
        limit=limit,
    )


def _feed_problem(problem: httpapi.ApiProblem) -> Response:
    """A problem answer of the feed route, naming its path without the secret."""
    headers = {**problem.headers, **FEED_HEADERS}
    body = problem.body(FEED_PLACEHOLDER)
    return JSONResponse(body, problem.status, headers=headers, media_type=httpapi.PROBLEM_JSON)


class ExportRoutes(ApiBase):
    vocabulary: Vocabulary

    def _export_query(self, request: Request) -> AlertQuery:
        params: dict[str, list[str]] = {}
        for name, value in request.query_params.multi_items():
            params.setdefault(name, []).append(value)
        try:
            return parse_query(params, self.vocabulary)
        except QueryProblems as exc:
            raise httpapi.invalid_body("invalid query: " + str(exc), exc.details) from exc

    async def _all(self, query: AlertQuery) -> AsyncIterator[Alert]:
        """Every alert ``query`` selects, page after page, at most CSV_MAX_ROWS + 1 (to know there are
        more)."""
        page_query = replace(query, limit=CSV_PAGE)
        sent = 0
        while True:
            page = await self.store.archive.search(page_query)
            for alert in page.alerts:
                yield alert
                sent += 1
                if sent > CSV_MAX_ROWS:
                    return
            if page.next_cursor is None or not page.alerts:
                return
            page_query = replace(page_query, cursor=page.next_cursor)

    async def alerts_csv(self, request: Request, caller: Caller) -> Response:
        query = self._export_query(request)

        async def body() -> AsyncIterator[str]:
            yield csv_export.header()
            count = 0
            async for alert in self._all(query):
                count += 1
                if count > CSV_MAX_ROWS:
                    yield csv_export.truncated_note(CSV_MAX_ROWS)
                    return
                yield csv_export.line(alert)

        headers = {
            "content-disposition": 'attachment; filename="exportwatch-alerts.csv"',
            "x-exportwatch-max-rows": str(CSV_MAX_ROWS),
        }
        return StreamingResponse(body(), media_type=csv_export.MEDIA_TYPE, headers=headers)

    async def alerts_atom(self, request: Request, caller: Caller) -> Response:
        query = self._export_query(request)
        page = await self.store.archive.search(query)
        base = self.base_url(request)
        info = atom.FeedInfo(
            id=f"{base}/v1/alerts.atom",
            title="ExportWatch alerts",
            self_url=str(request.url),
            base=base,
            now=self.clock(),
            subtitle="The newest alerts matching the filters of this address.",
        )
        return Response(atom.render_feed(info, page.alerts), media_type=atom.MEDIA_TYPE)

    async def create_feed(self, request: Request, caller: Caller) -> Response:
        sub = await self._own_subscription(caller, request.path_params["id"])
        secret = await self.store.feeds.create(sub.id, sub.owner, self.clock())
        log.info("feed url made", extra={"subscription_id": sub.id, "owner": sub.owner})
        url = f"{self.base_url(request)}/feeds/{secret}.atom"
        message = (
            "Your personal feed address. Keep it private: anyone with it can read this feed. It is shown "
            "only now; making a new one revokes this one."
        )
        return JSONResponse(
            {"url": url, "message": message}, status_code=201, headers={"cache-control": "no-store"}
        )

    async def revoke_feed(self, request: Request, caller: Caller) -> Response:
        sub = await self._own_subscription(caller, request.path_params["id"])
        if not await self.store.feeds.revoke(sub.id):
            raise httpapi.not_found(f"subscription {sub.id!r} has no feed address")
        log.info("feed url revoked", extra={"subscription_id": sub.id, "owner": sub.owner})
        return Response(status_code=204)

    async def personal_feed(self, request: Request) -> Response:
        """The public feed of a secret URL; unknown and revoked secrets get the same 404."""
        try:
            secret = request.path_params["secret"]
            sub_id = await self.store.feeds.subscription_of(secret)
            sub = await self.store.subscriptions.get(sub_id) if sub_id is not None else None
            if sub is None:
                raise httpapi.not_found(UNKNOWN_FEED)
            alerts = await self._wanted(sub)
        except httpapi.ApiProblem as problem:
            return _feed_problem(problem)
        except Exception as exc:
            log.error("unexpected error answering a feed", extra={"error": type(exc).__name__})
            return _feed_problem(httpapi.internal_error())
        base = self.base_url(request)
        info = atom.FeedInfo(
            id=atom.entry_id(f"feed:{sub.id}"),
            title=f"ExportWatch: {sub.name or sub.id}",
            self_url=str(request.url),
            base=base,
            now=self.clock(),
            subtitle="The newest alerts your subscription wants.",
        )
        return Response(atom.render_feed(info, alerts), media_type=atom.MEDIA_TYPE, headers=FEED_HEADERS)

    async def _wanted(self, sub: Subscription) -> list[Alert]:
        query = feed_query(sub, FEED_ENTRIES * 2)
        found: list[Alert] = []
        for _ in range(FEED_PAGES):
            page = await self.store.archive.search(query)
            found.extend(a for a in page.alerts if wants(sub.filters, a))
            if len(found) >= FEED_ENTRIES or page.next_cursor is None:
                break
            query = replace(query, cursor=page.next_cursor)
        return found[:FEED_ENTRIES]
