"""``/v1/subscriptions``: list, create, read, change and delete subscriptions."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from pydantic import SecretStr, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.common import httpapi
from services.notify.channels import REGISTRY
from services.notify.channels.http import check_url
from services.notify.core.model import (
    API_CHANNEL_TYPES,
    CHANNEL_TYPES,
    ID_RULE,
    Subscription,
    SubscriptionSpec,
    chosen_id_prefix,
    is_safe_id,
)
from services.notify.routes.base import ApiBase, Caller, Problems, invalid_field
from services.notify.routes.views import merge, public_view, spec_dict
from services.notify.store.repository import new_id

log = logging.getLogger("exportwatch.notify.api")


class SubscriptionRoutes(ApiBase):
    async def _validate_spec(self, caller: Caller, data: dict[str, Any]) -> SubscriptionSpec:
        """The subscription in ``data``, or a 422 listing every problem at once: the fields, the ids of
        the filters (each unknown one with the closest known id), the channel type and URL."""
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
        # Every channel whose settings have a secret ``url`` (Slack, webhooks, any added since): checked
        # now against the address policy, so a refused address is an error at once, not a dead letter.
        url: str | None = None
        secret_url = getattr(spec.channel, "url", None) if spec is not None else None
        if isinstance(secret_url, SecretStr):
            url = secret_url.get_secret_value()
        elif kind in REGISTRY and "url" in REGISTRY[kind].settings.model_fields:
            wrong = problems.located("channel.url") or problems.located(f"channel.{kind}.url")
            url = None if wrong or not isinstance(channel.get("url"), str) else channel["url"]
        if url is not None:
            problem = await check_url(url, self.targets)
            if problem:
                problems.add("channel.url", problem)
        error = problems.error("invalid subscription")
        if error is not None or spec is None:
            raise error or httpapi.invalid_body("invalid subscription")
        return spec

    async def list_subscriptions(self, request: Request, caller: Caller) -> Response:
        owner = request.query_params.get("owner") if caller.admin else caller.owner
        if owner is not None and not is_safe_id(owner):
            raise invalid_field("owner", ID_RULE)
        subs = await self.store.subscriptions.all(owner)
        return JSONResponse({"subscriptions": [public_view(s) for s in subs]})

    async def create_subscription(self, request: Request, caller: Caller) -> Response:
        sub = await self.add_subscription(caller, await self._json(request))
        return JSONResponse(
            public_view(sub), status_code=201, headers={"location": f"/v1/subscriptions/{sub.id}"}
        )

    async def add_subscription(self, caller: Caller, body: dict[str, Any]) -> Subscription:
        """Create the subscription ``body`` describes (the API's and the console's one way), or raise
        the ApiProblem that says what is wrong."""
        owner = self._owner_for(caller, body)
        chosen = body.pop("id", None)
        sub_id = chosen or new_id("sub")
        if not is_safe_id(sub_id):
            raise invalid_field("id", ID_RULE)
        prefix = chosen_id_prefix(owner)
        if chosen and not (caller.admin and owner == caller.owner) and not sub_id.startswith(prefix):
            # Ids are unique across owners: a "taken" answer for someone else's id would reveal that it
            # exists, so an id one chooses is in one's own range, whether or not it is taken.
            message = f"an id you choose must start with {prefix!r} (or leave it out for one made for you)"
            raise invalid_field("id", message, "invalid subscription")
        spec = await self._validate_spec(caller, body)
        now = self.clock()
        sub = Subscription.from_spec(
            spec, id=sub_id, owner=owner, origin="api", created_at=now, updated_at=now
        )
        if not await self.store.subscriptions.create(sub):
            raise httpapi.conflict(f"a subscription {sub_id!r} exists already")
        log.info(
            "subscription created",
            extra={"subscription_id": sub.id, "owner": owner, "channel": spec.channel.type},
        )
        return sub

    async def get_subscription(self, request: Request, caller: Caller) -> Response:
        sub = await self._own_subscription(caller, request.path_params["id"])
        view = public_view(sub)
        # Whether a personal feed URL exists (never the URL: it is shown once, when made).
        feed = next(
            (f for f in await self.store.feeds.of_owner(sub.owner) if f.subscription_id == sub.id), None
        )
        view["feed_url_since"] = feed.created_at.isoformat() if feed is not None else None
        return JSONResponse(view)

    async def change_subscription(self, request: Request, caller: Caller) -> Response:
        body = await self._json(request)
        updated = await self.edit_subscription(
            caller, request.path_params["id"], body, replace=request.method == "PUT"
        )
        return JSONResponse(public_view(updated))

    async def edit_subscription(
        self, caller: Caller, subscription_id: str, body: dict[str, Any], *, replace: bool
    ) -> Subscription:
        """Change a subscription (``replace``: ``body`` is the whole of it; otherwise merged in, stored
        secrets kept unless given), or raise the ApiProblem that says what is wrong."""
        sub = await self._own_subscription(caller, subscription_id)
        if sub.origin != "api":
            raise httpapi.conflict(
                f"subscription {sub.id!r} is managed in the {sub.origin} configuration; change it there"
            )
        body.pop("id", None)
        body.pop("owner", None)
        data = body if replace else merge(spec_dict(sub), body)
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
            raise httpapi.not_found(f"no subscription {sub.id!r}")
        log.info("subscription changed", extra={"subscription_id": sub.id, "owner": sub.owner})
        return updated

    async def delete_subscription(self, request: Request, caller: Caller) -> Response:
        await self.remove_subscription(caller, request.path_params["id"])
        return Response(status_code=204)

    async def remove_subscription(self, caller: Caller, subscription_id: str) -> None:
        sub = await self._own_subscription(caller, subscription_id)
        if sub.origin != "api":
            raise httpapi.conflict(f"subscription {sub.id!r} is managed in the {sub.origin} configuration")
        await self.store.subscriptions.delete(sub.id, self.clock())
        log.info("subscription deleted", extra={"subscription_id": sub.id, "owner": sub.owner})
