"""What both HTTP APIs (ingest's ``POST /v1/events``, notify's ``/v1/...``) share: bearer tokens, bodies
read with a size limit, JSON decoded and validated, and every refusal answered as RFC 9457 problem
details, with one status for one situation:

====================================================  ======  ==========================
situation                                             status  ``type`` (after the prefix)
====================================================  ======  ==========================
no ``Authorization: Bearer <token>`` (or malformed)   401     ``missing-credentials``
a token that is unknown or revoked                    401     ``invalid-token``
authenticated, but not allowed to do this             403     ``forbidden``
no such resource (or someone else's)                  404     ``not-found``
body larger than the limit                            413     ``body-too-large``
a declared content type that is not JSON              415     ``unsupported-media-type``
the body is not JSON (syntax, encoding, shape)        400     ``invalid-json``
JSON, but its content is invalid (schema, values)     422     ``invalid-body``
too many requests (a pace)                            429     ``rate-limited``
the database or the broker unavailable, starting up   503     ``unavailable``
====================================================  ======  ==========================

Every 401 carries ``WWW-Authenticate: Bearer`` (with ``error="invalid_token"`` for a token that is not
accepted, RFC 6750); 429 and 503 carry ``Retry-After``. Per-field problems are the extension member
``errors``: objects with ``location`` and ``message`` at least."""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

from services.common.config import error_message, error_path

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:exportwatch:problem:"
MAX_ERRORS = 50  # per-field problems listed in one answer; more are counted

TITLES = {
    "missing-credentials": "Authentication required",
    "invalid-token": "Token not accepted",
    "forbidden": "Not allowed",
    "not-found": "Not found",
    "method-not-allowed": "Method not allowed",
    "conflict": "Conflict",
    "body-too-large": "Request body too large",
    "unsupported-media-type": "Unsupported media type",
    "invalid-json": "Body is not valid JSON",
    "invalid-body": "Invalid request body",
    "rate-limited": "Too many requests",
    "unavailable": "Service unavailable",
    "internal": "Internal error",
    "delivery-failed": "Delivery failed",
}

# Declared content types a JSON body may come with. No content type at all is accepted too, and so is
# curl's default for ``-d`` (form-urlencoded), which would otherwise refuse the documented curl examples.
JSON_MEDIA_TYPES = frozenset(
    {
        "application/json",
        "application/x-ndjson",
        "application/jsonl",
        "application/json-lines",
        "application/x-jsonlines",
        "text/plain",
        "application/x-www-form-urlencoded",
    }
)


class ApiProblem(Exception):
    """A refusal, raised anywhere below a route and answered by :meth:`response`. ``kind`` is one of
    :data:`TITLES`; ``extensions`` are further members of the body (``errors``, ``max_items``...)."""

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = extensions

    def body(self, instance: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": TYPE_PREFIX + self.kind,
            "title": TITLES.get(self.kind, self.kind),
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            out["instance"] = instance
        out.update(self.extensions)
        return out

    def response(self, request: Request | None = None) -> JSONResponse:
        instance = request.url.path if request is not None else None
        return JSONResponse(
            self.body(instance), status_code=self.status, headers=self.headers, media_type=PROBLEM_JSON
        )


# --- the situations ------------------------------------------------------------------------------


def missing_credentials() -> ApiProblem:
    return ApiProblem(
        401,
        "missing-credentials",
        "send a bearer token: Authorization: Bearer <token>",
        headers={"www-authenticate": "Bearer"},
    )


def invalid_token(detail: str = "unknown or revoked token") -> ApiProblem:
    return ApiProblem(
        401, "invalid-token", detail, headers={"www-authenticate": 'Bearer error="invalid_token"'}
    )


def forbidden(detail: str) -> ApiProblem:
    return ApiProblem(403, "forbidden", detail)


def not_found(detail: str) -> ApiProblem:
    return ApiProblem(404, "not-found", detail)


def conflict(detail: str) -> ApiProblem:
    return ApiProblem(409, "conflict", detail)


def too_large(limit: int, **extensions: Any) -> ApiProblem:
    return ApiProblem(413, "body-too-large", f"request body over {limit} bytes", limit=limit, **extensions)


def invalid_json(detail: str = "the body is not valid JSON", **extensions: Any) -> ApiProblem:
    return ApiProblem(400, "invalid-json", detail, **extensions)


def invalid_body(detail: str, errors: list[dict[str, Any]] | None = None, **extensions: Any) -> ApiProblem:
    """422; ``errors`` are listed up to :data:`MAX_ERRORS` (``more_errors`` counts the rest)."""
    listed = list(errors or [])
    if len(listed) > MAX_ERRORS:
        extensions["more_errors"] = len(listed) - MAX_ERRORS
        listed = listed[:MAX_ERRORS]
    return ApiProblem(422, "invalid-body", detail, errors=listed, **extensions)


def try_later(status: int, detail: str, seconds: int, **extensions: Any) -> ApiProblem:
    """429 (``rate-limited``) or 503 (``unavailable``): Retry-After, and the same wait in the body as
    ``retry_after_seconds`` for readers of JSON."""
    kind = "rate-limited" if status == 429 else "unavailable"
    return ApiProblem(
        status,
        kind,
        f"{detail}; try again in {seconds} s",
        headers={"retry-after": str(seconds)},
        retry_after_seconds=seconds,
        **extensions,
    )


def internal_error() -> ApiProblem:
    return ApiProblem(500, "internal", "internal error")


# --- reading a request ---------------------------------------------------------------------------


def bearer_token(request: Request) -> str:
    """The token of ``Authorization: Bearer <token>`` (the scheme in any case); a missing or malformed
    header raises the 401 ``missing-credentials``."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise missing_credentials()
    return token


def same_secret(presented: str, secret: str) -> bool:
    """Whether two secrets are equal, in time that does not depend on where they differ."""
    return hmac.compare_digest(presented.encode(), secret.encode())


def matches_any(presented: str, secrets: Iterable[str]) -> bool:
    """Whether ``presented`` is one of ``secrets``, compared with every one, always: the time taken
    says nothing about which one nearly matched."""
    matches = [same_secret(presented, s) for s in secrets]
    return any(matches)


def check_content_type(request: Request) -> None:
    """Refuses (415) a declared content type that cannot be JSON: ``application/json`` and the other
    JSON types (``+json``, JSON Lines), ``text/plain``, curl's default and none at all pass; a charset
    other than UTF-8 does not."""
    declared = request.headers.get("content-type")
    if declared is None:
        return
    media, _, params = declared.partition(";")
    media = media.strip().lower()
    charset = ""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    json_like = media in JSON_MEDIA_TYPES or (media.startswith("application/") and media.endswith("+json"))
    if not json_like or charset not in ("", "utf-8", "utf8"):
        raise ApiProblem(
            415,
            "unsupported-media-type",
            f"content type {declared[:100]!r} is not accepted: send application/json (UTF-8)",
        )


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it is known to be larger than ``limit`` bytes: from its
    declared length, or while it streams in, never read whole first."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    raw = bytearray()
    async for part in request.stream():
        raw += part
        if len(raw) > limit:
            raise too_large(limit)
    return bytes(raw)


def decode_object(raw: bytes, *, empty: dict[str, Any] | None = None) -> dict[str, Any]:
    """A body that must be one JSON object; an empty body is ``empty`` when given, else refused. Not
    JSON, or not an object: 400 ``invalid-json``."""
    if not raw.strip() and empty is not None:
        return dict(empty)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nesting too deep
        raise invalid_json() from None
    if not isinstance(body, dict):
        raise invalid_json("the body must be a JSON object")
    return body


async def read_object(request: Request, limit: int, *, empty: dict[str, Any] | None = None) -> dict[str, Any]:
    """:func:`check_content_type`, :func:`read_body` and :func:`decode_object` in one."""
    check_content_type(request)
    return decode_object(await read_body(request, limit), empty=empty)


def printable(value: object) -> object:
    """A value from a body as it can be shown back: cut at 200 characters, and a lone surrogate (which
    JSON can carry but UTF-8 cannot) escaped."""
    if not isinstance(value, str):
        return value
    return value[:200].encode("utf-8", "backslashreplace").decode("utf-8")


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Each validation error as ``{location, message}``; an unknown id (error type ``unknown_id``) with
    its ``value`` and ``suggestion``. Other values are never shown back: they may be secrets."""
    out: list[dict[str, Any]] = []
    for err in exc.errors(include_url=False):
        entry: dict[str, Any] = {"location": error_path(err["loc"]), "message": error_message(err)}
        ctx = err.get("ctx") or {}
        if err["type"] == "unknown_id":
            entry.update(value=printable(ctx.get("value")), suggestion=ctx.get("suggestion"))
        out.append(entry)
    return out
