"""``POST /v1/events``: events pushed by integrators, authenticated by bearer tokens, accepted only once
published (the broker acknowledged them)."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from schemas import InvalidEvent
from services.ingest.core.push import Invalid, PushLimits, TooManyItems, read_push
from services.ingest.ingestor import Ingestor
from services.ingest.settings import IngestSettings
from services.ingest.store.repository import DatabaseUnavailable

log = logging.getLogger("exportwatch.ingest")


def _error(status: int, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def push_route(settings: IngestSettings, ingestor: Ingestor, ready: Callable[[], bool]) -> Route:
    tokens = [t.get_secret_value().encode() for t in settings.api_tokens]
    limits = PushLimits(max_items=settings.max_items, max_event_bytes=settings.max_event_bytes)

    def authorised(request: Request) -> bool | None:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return None
        presented = header[7:].strip().encode()
        # Compare with every token, always: the time taken says nothing about which one nearly matched.
        matches = [hmac.compare_digest(presented, t) for t in tokens]
        return any(matches)

    async def post_events(request: Request) -> Response:
        if not ready():
            return JSONResponse(
                {"error": "starting or stopping, retry later"}, status_code=503, headers={"Retry-After": "2"}
            )
        ok = authorised(request)
        if ok is None:
            return JSONResponse(
                {"error": "missing bearer token"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
        if not ok:
            return _error(403, "token not accepted")
        limit = settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            return _error(413, f"body larger than {limit} bytes")
        body = bytearray()
        async for part in request.stream():
            body.extend(part)
            if len(body) > limit:
                return _error(413, f"body larger than {limit} bytes")
        if not body.strip():
            return _error(400, "empty body", errors=[])
        try:
            # In a thread: judging up to max_body_bytes of JSON must not hold up /healthz or other requests.
            outcome = await asyncio.to_thread(read_push, bytes(body), limits)
        except InvalidEvent as exc:
            errors = [{"line": 1, "reason": exc.reason, "detail": exc.detail}]
            return _error(400, exc.detail, invalid=1, errors=errors)
        if isinstance(outcome, TooManyItems):
            message = (
                f"more than {outcome.limit} events in one request (the limit); send them in several requests"
            )
            return _error(413, message, max_items=outcome.limit)
        if isinstance(outcome, Invalid):
            # All or nothing: the caller fixes the lines named and sends the body again.
            listed = len(outcome.problems)
            shown = f", the first {listed} listed" if listed < outcome.count else ""
            return _error(
                400,
                f"{outcome.count} invalid events{shown}; nothing was accepted",
                invalid=outcome.count,
                errors=[{"line": p.line, "reason": p.reason, "detail": p.detail} for p in outcome.problems],
            )
        events = outcome
        try:
            _, results = await ingestor.ingest(events, "api", label="api", keep=True)
        except DatabaseUnavailable as exc:
            # Not accepted, so the client sends them again; what reached the broker before the
            # database failed is published again then, with the same ids (repeats are absorbed
            # downstream, losses would not be). /healthz names the check meanwhile.
            log.error("recording pushed events failed", extra={"error": str(exc)})
            return JSONResponse(
                {"error": "database unavailable, retry later"}, status_code=503, headers={"Retry-After": "5"}
            )
        except Exception:
            log.exception("publishing pushed events failed")
            return JSONResponse(
                {"error": "broker unavailable, retry later"}, status_code=503, headers={"Retry-After": "5"}
            )
        body_out = {
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
        return JSONResponse(body_out, status_code=202)

    return Route("/v1/events", post_events, methods=["POST"])
