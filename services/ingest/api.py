"""``POST /v1/events``: events pushed by integrators, authenticated by bearer tokens, accepted only once
published (the broker acknowledged them)."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable

import pydantic_core
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from schemas import InvalidEvent, parse_event
from services.ingest.core.results import Event
from services.ingest.ingestor import Ingestor
from services.ingest.settings import IngestSettings

log = logging.getLogger("exportwatch.ingest")


def _load_json(data: bytes) -> object:
    """``data`` read by the parser the events themselves are read with (pydantic's): it refuses what
    json.loads would let through or crash on (lone surrogates, nesting too deep for the recursion limit,
    integers too long to convert), so a whole body is judged exactly like one line. Raises ValueError."""
    return pydantic_core.from_json(data)


def split_body(body: bytes) -> list[tuple[int, bytes | dict[str, object]]]:
    """A pushed body as (line number, item): one JSON object, a JSON array (numbered from 1), or JSON
    Lines. Raises InvalidEvent when a JSON array is itself unreadable."""
    stripped = body.strip()
    if stripped.startswith(b"["):
        try:
            items = _load_json(stripped)
        except ValueError as exc:
            raise InvalidEvent("invalid_json", f"the JSON array is not valid JSON: {exc}") from None
        if not isinstance(items, list):  # pragma: no cover - a body opening with "[" is an array
            raise InvalidEvent("invalid_json", "the body is not a JSON array")
        return [
            (i, item if isinstance(item, dict) else json.dumps(item).encode())
            for i, item in enumerate(items, start=1)
        ]
    if stripped.startswith(b"{") and b"\n" in stripped:
        # One pretty-printed object spans lines; JSON Lines has one object per line.
        try:
            whole = _load_json(stripped)
        except ValueError:
            whole = None
        if isinstance(whole, dict):
            return [(1, whole)]
    return [(n, line) for n, line in enumerate(stripped.splitlines(), start=1) if line.strip()]


def _check_event(event: Event) -> None:
    """What the schema allows but ingest cannot keep: an id with a NUL character (PostgreSQL text and
    most Kafka tools cannot hold one). Raises InvalidEvent."""
    if "\x00" in event.id:
        raise InvalidEvent("invalid_event", "id: must not contain a NUL character (\\u0000)")


def _error(status: int, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def push_route(settings: IngestSettings, ingestor: Ingestor, ready: Callable[[], bool]) -> Route:
    tokens = [t.get_secret_value().encode() for t in settings.api_tokens]

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
            items = split_body(bytes(body))
        except InvalidEvent as exc:
            return _error(400, exc.detail, errors=[{"line": 1, "reason": exc.reason, "detail": exc.detail}])
        events: list[Event] = []
        errors: list[dict[str, object]] = []
        for line, item in items:
            try:
                if isinstance(item, bytes) and len(item) > settings.max_event_bytes:
                    raise InvalidEvent("too_large", f"event larger than {settings.max_event_bytes} bytes")
                parsed = parse_event(item)
                _check_event(parsed)
                events.append(parsed)
            except InvalidEvent as exc:
                errors.append({"line": line, "reason": exc.reason, "detail": exc.detail})
        if errors:
            # All or nothing: the caller fixes the lines named and sends the body again.
            return _error(400, "invalid events; nothing was accepted", errors=errors)
        try:
            _, results = await ingestor.ingest(events, "api", label="api", keep=True)
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
