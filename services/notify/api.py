"""The subscriptions API: ``/v1/subscriptions``, ``/v1/silences``, ``/v1/dead`` and ``/v1/tokens``,
behind bearer tokens.

Each token belongs to an owner, who sees and changes only their own subscriptions and silences; the
admin token (``EXPORTWATCH_NOTIFY_ADMIN_TOKEN``) sees everything. Someone else's subscription answers
404, exactly like a missing one; so that creating cannot probe ids either, an id chosen on creation
starts with the owner's name and "-". The admin acts as the owner "admin", which no token may be given.
Secrets (webhook URLs, signing keys) are accepted but never shown
back: responses show ``(hidden)`` in their place.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr, ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route

from schemas import Alert, Evidence, EvidenceKind, Notification, Severity
from services.common.addresses import TargetPolicy
from services.common.config import error_message, error_path
from services.notify.channels.base import DeliveryError, utcnow
from services.notify.channels.http import check_url
from services.notify.core.model import (
    ADMIN_OWNER,
    API_CHANNEL_TYPES,
    CHANNEL_TYPES,
    DEFAULT_MAX_RECIPIENTS,
    ID_RULE,
    OWNER_RULE,
    Silence,
    SilenceSpec,
    SlackSettings,
    Subscription,
    SubscriptionSpec,
    WebhookSettings,
    chosen_id_prefix,
    is_owner_name,
    is_reserved_owner,
    is_safe_id,
    known_ids,
)
from services.notify.core.ratelimit import Pace
from services.notify.core.vocabulary import Vocabulary
from services.notify.dispatcher import Dispatcher
from services.notify.store.repository import NotifyStore, new_id, spec_json

log = logging.getLogger("exportwatch.notify.api")
HIDDEN = "(hidden)"
SHARED = Vocabulary.shared()
MAX_BODY = 64 * 1024
TEST_SENDS_BURST = 3  # test sends an owner may ask for back to back, within the hourly rate
DATABASE_RETRY_SECONDS = 5  # Retry-After of a 503 when the database failed to answer
# The database failed (refused or dropped the connection, a lock or pool wait timed out), not the caller:
# asyncpg raises OSError itself when it cannot connect; SQLAlchemy wraps the driver's other errors.
DATABASE_FAILURES = (DBAPIError, PoolTimeout, OSError)


@dataclass(frozen=True)
class Caller:
    owner: str
    admin: bool


class ApiError(Exception):
    """An answer other than success: ``problems`` are ``place: message`` lines, ``details`` the same
    problems as objects (``location``, ``message``, and for an unknown id its ``value`` and the
    ``suggestion``, the closest known id or null)."""

    def __init__(
        self,
        status: int,
        message: str,
        problems: list[str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = problems or []
        self.details = details or []


def _error(exc: ApiError) -> JSONResponse:
    body: dict[str, Any] = {"error": exc.message}
    if exc.problems:
        body["problems"] = exc.problems
    if exc.details:
        body["details"] = exc.details
    headers = {"www-authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse(body, status_code=exc.status, headers=headers)


def _try_again(status: int, message: str, seconds: int) -> JSONResponse:
    """A refusal that will pass later: Retry-After, and the same wait in the body for readers of JSON."""
    return JSONResponse(
        {"error": f"{message}; try again in {seconds} s", "retry_after_seconds": seconds},
        status_code=status,
        headers={"retry-after": str(seconds)},
    )


MAX_PROBLEMS = 50  # in one answer; a body of thousands of bad ids gets the first ones and a count


def _printable(value: object) -> object:
    """A value from the body as it can be shown back: cut at 200 characters, and a lone surrogate
    (which JSON can carry but UTF-8 cannot) escaped."""
    if not isinstance(value, str):
        return value
    return value[:200].encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass
class Problems:
    """Every problem of a body, gathered so that one answer lists them all."""

    details: list[dict[str, Any]] = field(default_factory=list)

    def add(self, location: str, message: str) -> None:
        self.details.append({"location": location, "message": message})

    def add_errors(self, exc: ValidationError) -> None:
        """Each validation error; an unknown id with its value and suggestion. Other values are never
        shown back: they may be secrets."""
        for err in exc.errors(include_url=False):
            detail: dict[str, Any] = {"location": error_path(err["loc"]), "message": error_message(err)}
            ctx = err.get("ctx") or {}
            if err["type"] == "unknown_id":
                detail.update(value=_printable(ctx.get("value")), suggestion=ctx.get("suggestion"))
            self.details.append(detail)

    def located(self, prefix: str) -> bool:
        """Whether a problem is at ``prefix`` or under it."""
        return any(
            d["location"] == prefix or d["location"].startswith((f"{prefix}.", f"{prefix}["))
            for d in self.details
        )

    def error(self, message: str) -> ApiError | None:
        """The 422 answer listing every problem, or None when there is none."""
        if not self.details:
            return None
        shown = self.details[:MAX_PROBLEMS]
        lines = [f"{d['location']}: {d['message']}" for d in shown]
        more = len(self.details) - len(shown)
        if more > 0:
            lines.append(f"and {more} more")
        return ApiError(422, message, lines, shown)


def public_view(sub: Subscription) -> dict[str, Any]:
    """A subscription as the API shows it: secrets replaced, the URL reduced to scheme and host."""
    data = sub.model_dump(mode="json")
    channel = data["channel"]
    if isinstance(sub.channel, SlackSettings | WebhookSettings):
        parts = urlsplit(sub.channel.url.get_secret_value())
        channel["url"] = f"{parts.scheme}://{parts.hostname}/… {HIDDEN}"
    if isinstance(sub.channel, WebhookSettings):
        channel["secret"] = HIDDEN
    return data


def _silence_view(silence: Silence, now: dt.datetime) -> dict[str, Any]:
    data = silence.model_dump(mode="json", exclude={"duration"})  # stored as its ends_at
    data["state"] = "active" if silence.active(now) else ("pending" if now < silence.starts_at else "expired")
    return data


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "channel":
            out[key] = _merge(out[key], value)
        elif key == "channel" and isinstance(value, dict) and isinstance(out.get(key), dict):
            # Same channel type: keep the stored secrets unless new ones are given.
            same = value.get("type", out[key].get("type")) == out[key].get("type")
            out[key] = {**out[key], **value} if same else value
        else:
            out[key] = value
    return out


def _spec_dict(sub: Subscription) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(spec_json(sub))
    return loaded


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


class Api:
    def __init__(
        self,
        store: NotifyStore,
        dispatcher: Dispatcher,
        admin_token: SecretStr | None,
        clock: Callable[[], dt.datetime] = utcnow,
        vocabulary: Vocabulary = SHARED,
        test_sends_per_hour: int = 30,
        max_recipients: int = DEFAULT_MAX_RECIPIENTS,
        *,
        targets: TargetPolicy,
    ) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.targets = targets  # where subscription URLs may point (the channels' own policy)
        self.admin_token = admin_token.get_secret_value() if admin_token else None
        self.clock = clock
        self.known_ids = known_ids(vocabulary, max_recipients)  # ids filters may name
        # Test sends go out at once to recipients the owner chose: paced per owner, refused beyond. The
        # pace is kept in the database, shared by every replica (SendPacingStore.reserve).
        self.test_sends_per_hour = test_sends_per_hour
        self.test_sends = Pace(test_sends_per_hour / 3600.0, burst=min(TEST_SENDS_BURST, test_sends_per_hour))
        self._routes: list[BaseRoute] = []

    # --- plumbing ------------------------------------------------------------------------------

    async def _caller(self, request: Request) -> Caller:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "send a bearer token: Authorization: Bearer <token>")
        if self.admin_token and hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return Caller(ADMIN_OWNER, True)
        found = await self.store.tokens.owner_of(token)
        if found is None:
            raise ApiError(401, "unknown or revoked token")
        if is_reserved_owner(found[0]) and not found[1]:
            # A token given the admin's owner name before it was reserved: it must not act as the admin.
            raise ApiError(401, f"tokens for the owner {found[0]!r} are refused: use the admin token")
        return Caller(found[0], found[1])

    @staticmethod
    async def _json(request: Request) -> dict[str, Any]:
        # Refused as soon as it is known to be too large (declared, or while it streams in), never
        # read whole first.
        too_large = ApiError(413, f"request body over {MAX_BODY // 1024} KiB")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY:
            raise too_large
        raw = bytearray()
        async for part in request.stream():
            raw += part
            if len(raw) > MAX_BODY:
                raise too_large
        try:
            body = json.loads(bytes(raw) or b"{}")
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nesting too deep
            raise ApiError(400, "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object")
        return body

    async def _own_subscription(self, caller: Caller, subscription_id: str) -> Subscription:
        # Ids are safe ids: anything else is missing (and never reaches the database, which may not
        # even take it: PostgreSQL refuses NUL characters).
        sub = await self.store.subscriptions.get(subscription_id) if is_safe_id(subscription_id) else None
        if sub is None or (not caller.admin and sub.owner != caller.owner):
            raise ApiError(404, f"no subscription {subscription_id!r}")
        return sub

    def _owner_for(self, caller: Caller, body: dict[str, Any], *, everyone: bool = False) -> str:
        """The owner a body acts for; ``everyone`` allows "*" (an admin's silence for all owners)."""
        owner = body.pop("owner", None)
        if owner is None or owner == caller.owner:
            return caller.owner
        if not caller.admin:
            raise ApiError(403, "only the admin token can act for another owner")
        if not isinstance(owner, str) or not (is_owner_name(owner) or (everyone and owner == "*")):
            raise ApiError(422, f"owner: {OWNER_RULE}")
        return owner

    async def _validate_spec(self, caller: Caller, data: dict[str, Any]) -> SubscriptionSpec:
        """The subscription in ``data``, or ApiError 422 listing every problem at once: the fields, the
        ids of the filters (each unknown one with the closest known id), the channel type and URL."""
        problems = Problems()
        spec: SubscriptionSpec | None = None
        try:
            spec = SubscriptionSpec.model_validate(data, context=self.known_ids)
        except ValidationError as exc:
            problems.add_errors(exc)
        raw = data.get("channel")
        channel: dict[str, Any] = raw if isinstance(raw, dict) else {}
        kind = spec.channel.type if spec is not None else channel.get("type")
        if kind in CHANNEL_TYPES and kind not in API_CHANNEL_TYPES and not caller.admin:
            problems.add(
                "channel.type", f"channel type {kind!r} writes on the server: only the admin may use it"
            )
        url: str | None = None
        if spec is not None and isinstance(spec.channel, SlackSettings | WebhookSettings):
            url = spec.channel.url.get_secret_value()
        elif kind in ("slack", "webhook") and isinstance(channel.get("url"), str):
            wrong = problems.located("channel.url") or problems.located(f"channel.{kind}.url")
            url = None if wrong else channel["url"]
        if url is not None:
            problem = await check_url(url, self.targets)
            if problem:
                problems.add("channel.url", problem)
        error = problems.error("invalid subscription")
        if error is not None or spec is None:
            raise error or ApiError(422, "invalid subscription")
        return spec

    def route(
        self, handler: Callable[[Request, Caller], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                caller = await self._caller(request)
                return await handler(request, caller)
            except ApiError as exc:
                return _error(exc)
            except Exception as exc:
                # A bug, not the caller's doing: answered in the API's format, never as a plain-text
                # traceback. Only the exception's type is logged: its text may hold a subscriber's URL.
                log.error(
                    "unexpected error answering a request",
                    extra={"method": request.method, "route": handler.__name__, "error": type(exc).__name__},
                )
                return JSONResponse({"error": "internal error"}, status_code=500)

        return endpoint

    # --- subscriptions ---------------------------------------------------------------------------

    async def list_subscriptions(self, request: Request, caller: Caller) -> Response:
        owner = request.query_params.get("owner") if caller.admin else caller.owner
        if owner is not None and not is_safe_id(owner):
            raise ApiError(422, f"owner: {ID_RULE}")
        subs = await self.store.subscriptions.all(owner)
        return JSONResponse({"subscriptions": [public_view(s) for s in subs]})

    async def create_subscription(self, request: Request, caller: Caller) -> Response:
        body = await self._json(request)
        owner = self._owner_for(caller, body)
        chosen = body.pop("id", None)
        sub_id = chosen or new_id("sub")
        if not is_safe_id(sub_id):
            raise ApiError(422, f"id: {ID_RULE}")
        prefix = chosen_id_prefix(owner)
        if chosen and not (caller.admin and owner == caller.owner) and not sub_id.startswith(prefix):
            # Ids are unique across owners: a "taken" answer for someone else's id would reveal that it
            # exists, so an id one chooses is in one's own range, whether or not it is taken.
            raise ApiError(
                422,
                "invalid subscription",
                [f"id: an id you choose must start with {prefix!r} (or leave it out for one made for you)"],
            )
        spec = await self._validate_spec(caller, body)
        now = self.clock()
        sub = Subscription.from_spec(
            spec, id=sub_id, owner=owner, origin="api", created_at=now, updated_at=now
        )
        if not await self.store.subscriptions.create(sub):
            raise ApiError(409, f"a subscription {sub_id!r} exists already")
        log.info(
            "subscription created",
            extra={"subscription_id": sub.id, "owner": owner, "channel": spec.channel.type},
        )
        return JSONResponse(
            public_view(sub), status_code=201, headers={"location": f"/v1/subscriptions/{sub.id}"}
        )

    async def get_subscription(self, request: Request, caller: Caller) -> Response:
        sub = await self._own_subscription(caller, request.path_params["id"])
        return JSONResponse(public_view(sub))

    async def change_subscription(self, request: Request, caller: Caller) -> Response:
        sub = await self._own_subscription(caller, request.path_params["id"])
        if sub.origin != "api":
            raise ApiError(
                409, f"subscription {sub.id!r} is managed in the {sub.origin} configuration; change it there"
            )
        body = await self._json(request)
        body.pop("id", None)
        body.pop("owner", None)
        data = body if request.method == "PUT" else _merge(_spec_dict(sub), body)
        spec = await self._validate_spec(caller, data)
        updated = Subscription.from_spec(
            spec,
            id=sub.id,
            owner=sub.owner,
            origin=sub.origin,
            created_at=sub.created_at,
            updated_at=max(self.clock(), sub.updated_at + dt.timedelta(microseconds=1)),
        )
        if not await self.store.subscriptions.replace(updated):
            raise ApiError(404, f"no subscription {sub.id!r}")
        log.info("subscription changed", extra={"subscription_id": sub.id, "owner": sub.owner})
        return JSONResponse(public_view(updated))

    async def delete_subscription(self, request: Request, caller: Caller) -> Response:
        sub = await self._own_subscription(caller, request.path_params["id"])
        if sub.origin != "api":
            raise ApiError(409, f"subscription {sub.id!r} is managed in the {sub.origin} configuration")
        await self.store.subscriptions.delete(sub.id, self.clock())
        log.info("subscription deleted", extra={"subscription_id": sub.id, "owner": sub.owner})
        return Response(status_code=204)

    async def test_subscription(self, request: Request, caller: Caller) -> Response:
        sub = await self._own_subscription(caller, request.path_params["id"])
        try:
            wait = await self.store.test_sends.reserve(caller.owner, self.test_sends, self.clock)
        except DATABASE_FAILURES as exc:
            # Only the type is logged: a driver's message may carry the database URL.
            log.warning(
                "test send not paced: the database failed",
                extra={"owner": caller.owner, "error": type(exc).__name__},
            )
            return _try_again(503, "the database is unavailable, nothing was sent", DATABASE_RETRY_SECONDS)
        if wait > 0:
            return _try_again(
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
            return JSONResponse(
                {
                    "delivered": False,
                    "reason": exc.reason.value,
                    "detail": exc.detail,
                    "retryable": exc.reason.retryable,
                },
                status_code=502,
            )
        return JSONResponse({"delivered": True, "notification_id": notification.id})

    # --- silences --------------------------------------------------------------------------------

    async def list_silences(self, request: Request, caller: Caller) -> Response:
        now = self.clock()
        expired = request.query_params.get("expired") in ("1", "true", "yes")
        silences = await self.store.silences.all(
            owner=None if caller.admin else caller.owner, now=None if expired else now
        )
        return JSONResponse({"silences": [_silence_view(s, now) for s in silences]})

    async def create_silence(self, request: Request, caller: Caller) -> Response:
        body = await self._json(request)
        owner = self._owner_for(caller, body, everyone=True)
        try:
            spec = SilenceSpec.model_validate(body, context=self.known_ids)
        except ValidationError as exc:
            problems = Problems()
            problems.add_errors(exc)
            raise problems.error("invalid silence") or ApiError(422, "invalid silence") from None
        now = self.clock()
        try:  # in UTC, as stored: an offset at the edge of the calendar (year 1 or 9999) overflows
            starts = (spec.starts_at or now).astimezone(dt.UTC)
            ends = spec.end(starts).astimezone(dt.UTC)
        except OverflowError:
            raise ApiError(422, "invalid silence", ["starts_at, ends_at: out of range"]) from None
        if ends <= max(starts, now):
            raise ApiError(422, "invalid silence", ["ends_at: must be after starts_at and in the future"])
        if spec.subscription_id is not None:
            target = await self._own_subscription(caller, spec.subscription_id)
            if owner not in ("*", target.owner):  # it would never mute anything
                raise ApiError(
                    422, "invalid silence", [f"subscription_id: the subscription is not {owner!r}'s"]
                )
        silence = Silence(
            id=new_id("sil"),
            owner=owner,
            created_by=caller.owner,
            filters=spec.filters,
            comment=spec.comment,
            subscription_id=spec.subscription_id,
            starts_at=starts,
            ends_at=ends,
            created_at=now,
        )
        await self.store.silences.add(silence)
        log.info("silence created", extra={"silence_id": silence.id, "owner": owner, "by": caller.owner})
        return JSONResponse(_silence_view(silence, now), status_code=201)

    async def expire_silence(self, request: Request, caller: Caller) -> Response:
        silence_id = request.path_params["id"]
        silence = await self.store.silences.get(silence_id) if is_safe_id(silence_id) else None
        if silence is None or (not caller.admin and silence.owner != caller.owner):
            raise ApiError(404, f"no silence {request.path_params['id']!r}")
        await self.store.silences.expire(silence.id, self.clock())
        return Response(status_code=204)

    # --- dead notifications and tokens -----------------------------------------------------------

    async def list_dead(self, request: Request, caller: Caller) -> Response:
        subscription_id = request.query_params.get("subscription")
        if subscription_id is not None and not is_safe_id(subscription_id):
            return JSONResponse({"dead": []})  # no subscription has such an id
        dead = await self.store.deliveries.dead_notifications(
            owner=None if caller.admin else caller.owner, subscription_id=subscription_id
        )
        return JSONResponse({"dead": [d.as_json() for d in dead]})

    async def create_token(self, request: Request, caller: Caller) -> Response:
        if not caller.admin:
            raise ApiError(403, "only the admin token can create tokens")
        body = await self._json(request)
        owner = body.get("owner")
        if not is_owner_name(owner):
            raise ApiError(422, f"owner: {OWNER_RULE}")
        # Printable characters only: no NUL (PostgreSQL refuses it), no lone surrogate (not UTF-8).
        label = "".join(c for c in str(body.get("label") or "") if c.isprintable())[:200]
        token = await self.store.tokens.add(owner, self.clock(), label=label)
        log.info("token created", extra={"owner": owner})
        return JSONResponse({"owner": owner, "token": token}, status_code=201)

    async def no_route(self, request: Request) -> Response:
        """Anything else under /v1/: a JSON 405 (with Allow) for a known path, a JSON 404 otherwise."""
        allowed: set[str] = set()
        for route in self._routes:
            if isinstance(route, Route) and route.matches(request.scope)[0] is not Match.NONE:
                allowed |= route.methods or set()
        if allowed:
            return JSONResponse(
                {"error": f"method {request.method} not allowed here"},
                status_code=405,
                headers={"allow": ", ".join(sorted(allowed))},
            )
        return JSONResponse({"error": "no such endpoint"}, status_code=404)

    def routes(self) -> list[BaseRoute]:
        self._routes = self._own_routes()
        catch_all = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        return [*self._routes, Route("/v1/{rest:path}", self.no_route, methods=catch_all)]

    def _own_routes(self) -> list[BaseRoute]:
        r = self.route
        return [
            Route("/v1/subscriptions", r(self.list_subscriptions), methods=["GET"]),
            Route("/v1/subscriptions", r(self.create_subscription), methods=["POST"]),
            Route("/v1/subscriptions/{id}", r(self.get_subscription), methods=["GET"]),
            Route("/v1/subscriptions/{id}", r(self.change_subscription), methods=["PUT", "PATCH"]),
            Route("/v1/subscriptions/{id}", r(self.delete_subscription), methods=["DELETE"]),
            Route("/v1/subscriptions/{id}/test", r(self.test_subscription), methods=["POST"]),
            Route("/v1/silences", r(self.list_silences), methods=["GET"]),
            Route("/v1/silences", r(self.create_silence), methods=["POST"]),
            Route("/v1/silences/{id}", r(self.expire_silence), methods=["DELETE"]),
            Route("/v1/dead", r(self.list_dead), methods=["GET"]),
            Route("/v1/tokens", r(self.create_token), methods=["POST"]),
        ]
