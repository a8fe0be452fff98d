"""``POST /v1/events``: events pushed by integrators, authenticated by bearer tokens, accepted only once
published (the broker acknowledged them). Refusals are problem details (services/common/httpapi.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from schemas import InvalidEvent
from services.common import httpapi
from services.common.httpapi import ApiProblem
from services.ingest.core.push import Invalid, Problem, PushLimits, TooManyItems, read_push
from services.ingest.core.results import Event
from services.ingest.ingestor import Ingestor
from services.ingest.settings import IngestSettings
from services.ingest.store.repository import DatabaseUnavailable

log = logging.getLogger("exportwatch.ingest")
RETRY_SECONDS = 5  # Retry-After when the broker or the database failed
STARTING_RETRY_SECONDS = 2  # Retry-After while the service starts or stops


def _line_errors(problems: list[Problem]) -> list[dict[str, Any]]:
    return [
        {"location": f"line {p.line}", "message": p.detail, "line": p.line, "reason": p.reason}
        for p in problems
    ]


def _invalid(outcome: Invalid) -> ApiProblem:
    """All or nothing: the caller fixes the lines named and sends the body again. A line that is not
    JSON makes the body malformed (400); JSON events the schema refuses are 422."""
    listed = len(outcome.problems)
    shown = f", the first {listed} listed" if listed < outcome.count else ""
    detail = f"{outcome.count} invalid events{shown}; nothing was accepted"
    errors = _line_errors(outcome.problems)
    if any(p.reason == "invalid_json" for p in outcome.problems):
        return httpapi.invalid_json(detail, errors=errors, invalid=outcome.count)
    return ApiProblem(422, "invalid-body", detail, errors=errors, invalid=outcome.count)


def _results(events: list[Event], results: list[Any]) -> dict[str, Any]:
    return {
        "accepted": len(events),
        "ids": [e.id for e in events],
        "results": [
            {
                k: v
                for k, v in {
                    "id": r.id,
                    "status": r.status,
                    "revision": r.revision,
                    "duplicate_of": r.duplicate_of,
                    "reason": r.reason,
                }.items()
                if v is not None
            }
            for r in results
        ],
    }


def push_route(settings: IngestSettings, ingestor: Ingestor, ready: Callable[[], bool]) -> Route:
    tokens = [t.get_secret_value() for t in settings.api_tokens]
    limits = PushLimits(max_items=settings.max_items, max_event_bytes=settings.max_event_bytes)

    async def read_events(request: Request) -> list[Event]:
        httpapi.check_content_type(request)
        body = await httpapi.read_body(request, settings.max_body_bytes)
        if not body.strip():
            raise httpapi.invalid_json("empty body")
        try:
            # In a thread: judging up to max_body_bytes of JSON must not hold up /healthz or other requests.
            outcome = await asyncio.to_thread(read_push, body, limits)
        except InvalidEvent as exc:
            problem = Problem(line=1, reason=exc.reason, detail=exc.detail)
            raise httpapi.invalid_json(exc.detail, errors=_line_errors([problem]), invalid=1) from None
        if isinstance(outcome, TooManyItems):
            detail = (
                f"more than {outcome.limit} events in one request (the limit); send them in several requests"
            )
            raise ApiProblem(413, "body-too-large", detail, max_items=outcome.limit)
        if isinstance(outcome, Invalid):
            raise _invalid(outcome)
        return outcome

    async def publish(events: list[Event], received: dt.datetime) -> list[Any]:
        try:
            _, results = await ingestor.ingest(events, "api", label="api", keep=True, received_at=received)
        except DatabaseUnavailable as exc:
            # Not accepted, so the client sends them again; what reached the broker before the
            # database failed is published again then, with the same ids (repeats are absorbed
            # downstream, losses would not be). /healthz names the check meanwhile.
            log.error("recording pushed events failed", extra={"error": str(exc)})
            raise httpapi.try_later(503, "database unavailable", RETRY_SECONDS) from None
        except Exception:
            log.exception("publishing pushed events failed")
            raise httpapi.try_later(503, "broker unavailable", RETRY_SECONDS) from None
        return list(results)

    async def post_events(request: Request) -> Response:
        # The events' ingested_at: the moment the request arrived, before its body is read or any wait
        # for the ingestor's lock, so the end-to-end latency downstream counts both.
        received = ingestor.clock()
        try:
            if not ready():
                raise httpapi.try_later(503, "starting or stopping", STARTING_RETRY_SECONDS)
            if not httpapi.matches_any(httpapi.bearer_token(request), tokens):
                raise httpapi.invalid_token()
            events = await read_events(request)
            results = await publish(events, received)
        except ApiProblem as problem:
            return problem.response(request)
        return JSONResponse(_results(events, results), status_code=202)

    return Route("/v1/events", post_events, methods=["POST"])
