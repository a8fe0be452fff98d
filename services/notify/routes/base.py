"""What every route of notify's API shares: the caller a bearer token stands for, the body read as a JSON
object, the subscription a caller may see, and problems gathered into one 422."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.requests import Request

from services.common import httpapi
from services.common.addresses import TargetPolicy
from services.common.httpapi import ApiProblem
from services.notify.core.model import (
    ADMIN_OWNER,
    OWNER_RULE,
    Subscription,
    is_owner_name,
    is_reserved_owner,
    is_safe_id,
)
from services.notify.core.ratelimit import Pace
from services.notify.dispatcher import Dispatcher
from services.notify.store.repository import NotifyStore

HIDDEN = "(hidden)"
MAX_BODY = 64 * 1024
DATABASE_RETRY_SECONDS = 5  # Retry-After of a 503 when the database failed to answer
# The database failed (refused or dropped the connection, a lock or pool wait timed out), not the caller:
# asyncpg raises OSError itself when it cannot connect; SQLAlchemy wraps the driver's other errors.
DATABASE_FAILURES = (DBAPIError, PoolTimeout, OSError)


@dataclass(frozen=True)
class Caller:
    owner: str
    admin: bool


def invalid_field(location: str, message: str, detail: str | None = None) -> ApiProblem:
    """A 422 for one problem at ``location``."""
    return httpapi.invalid_body(
        detail or f"{location}: {message}", [{"location": location, "message": message}]
    )


@dataclass
class Problems:
    """Every problem of a body, gathered so that one answer lists them all."""

    details: list[dict[str, Any]] = field(default_factory=list)

    def add(self, location: str, message: str) -> None:
        self.details.append({"location": location, "message": message})

    def add_errors(self, exc: ValidationError) -> None:
        self.details.extend(httpapi.field_errors(exc))

    def located(self, prefix: str) -> bool:
        """Whether a problem is at ``prefix`` or under it."""
        return any(
            d["location"] == prefix or d["location"].startswith((f"{prefix}.", f"{prefix}["))
            for d in self.details
        )

    def error(self, message: str) -> ApiProblem | None:
        """The 422 answer listing every problem, or None when there is none."""
        return httpapi.invalid_body(message, self.details) if self.details else None


class ApiBase:
    """The state and plumbing the route classes share; ``Api`` (services/notify/api.py) sets it up."""

    store: NotifyStore
    dispatcher: Dispatcher
    targets: TargetPolicy  # where subscription URLs may point
    admin_token: str | None
    clock: Callable[[], dt.datetime]
    known_ids: Any
    test_sends_per_hour: int
    test_sends: Pace
    public_url: str | None  # the address researchers reach notify at, when configured

    def base_url(self, request: Request) -> str:
        """Where links to this service point: the configured public address, else the request's own."""
        return (self.public_url or str(request.base_url)).rstrip("/")

    async def _caller(self, request: Request) -> Caller:
        token = httpapi.bearer_token(request)
        if self.admin_token and httpapi.same_secret(token, self.admin_token):
            return Caller(ADMIN_OWNER, True)
        found = await self.store.tokens.owner_of(token)
        if found is None:
            raise httpapi.invalid_token()
        if is_reserved_owner(found[0]) and not found[1]:
            # A token given the admin's owner name before it was reserved: it must not act as the admin.
            raise httpapi.invalid_token(f"tokens for the owner {found[0]!r} are refused: use the admin token")
        return Caller(found[0], found[1])

    @staticmethod
    async def _json(request: Request) -> dict[str, Any]:
        # An empty body is an empty object: DELETE-like POSTs and PATCHes of nothing need no body.
        return await httpapi.read_object(request, MAX_BODY, empty={})

    async def _own_subscription(self, caller: Caller, subscription_id: str) -> Subscription:
        # Ids are safe ids: anything else is missing (and never reaches the database, which may not
        # even take it: PostgreSQL refuses NUL characters).
        sub = await self.store.subscriptions.get(subscription_id) if is_safe_id(subscription_id) else None
        if sub is None or (not caller.admin and sub.owner != caller.owner):
            raise httpapi.not_found(f"no subscription {subscription_id!r}")
        return sub

    def _owner_for(self, caller: Caller, body: dict[str, Any], *, everyone: bool = False) -> str:
        """The owner a body acts for; ``everyone`` allows "*" (an admin's silence for all owners)."""
        owner = body.pop("owner", None)
        if owner is None or owner == caller.owner:
            return caller.owner
        if not caller.admin:
            raise httpapi.forbidden("only the admin token can act for another owner")
        if not isinstance(owner, str) or not (is_owner_name(owner) or (everyone and owner == "*")):
            raise invalid_field("owner", OWNER_RULE)
        return owner
