"""``/v1/silences``: list, create and expire silences."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.common import httpapi
from services.notify.core.model import Silence, SilenceSpec, is_safe_id
from services.notify.routes.base import ApiBase, Caller, Problems, invalid_field
from services.notify.routes.views import silence_view
from services.notify.store.repository import new_id

log = logging.getLogger("exportwatch.notify.api")


class SilenceRoutes(ApiBase):
    async def list_silences(self, request: Request, caller: Caller) -> Response:
        now = self.clock()
        expired = request.query_params.get("expired") in ("1", "true", "yes")
        silences = await self.store.silences.all(
            owner=None if caller.admin else caller.owner, now=None if expired else now
        )
        return JSONResponse({"silences": [silence_view(s, now) for s in silences]})

    async def create_silence(self, request: Request, caller: Caller) -> Response:
        silence = await self.add_silence(caller, await self._json(request))
        return JSONResponse(silence_view(silence, self.clock()), status_code=201)

    async def add_silence(self, caller: Caller, body: dict[str, Any]) -> Silence:
        """Create the silence ``body`` describes (the API's and the console's one way), or raise the
        ApiProblem that says what is wrong."""
        owner = self._owner_for(caller, body, everyone=True)
        try:
            spec = SilenceSpec.model_validate(body, context=self.known_ids)
        except ValidationError as exc:
            problems = Problems()
            problems.add_errors(exc)
            raise problems.error("invalid silence") or httpapi.invalid_body("invalid silence") from None
        now = self.clock()
        try:  # in UTC, as stored: an offset at the edge of the calendar (year 1 or 9999) overflows
            starts = (spec.starts_at or now).astimezone(dt.UTC)
            ends = spec.end(starts).astimezone(dt.UTC)
        except OverflowError:
            raise invalid_field("starts_at, ends_at", "out of range", "invalid silence") from None
        if ends <= max(starts, now):
            raise invalid_field("ends_at", "must be after starts_at and in the future", "invalid silence")
        if spec.subscription_id is not None:
            target = await self._own_subscription(caller, spec.subscription_id)
            if owner not in ("*", target.owner):  # it would never mute anything
                message = f"the subscription is not {owner!r}'s"
                raise invalid_field("subscription_id", message, "invalid silence")
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
        return silence

    async def expire_silence(self, request: Request, caller: Caller) -> Response:
        await self.end_silence(caller, request.path_params["id"])
        return Response(status_code=204)

    async def end_silence(self, caller: Caller, silence_id: str) -> None:
        silence = await self.store.silences.get(silence_id) if is_safe_id(silence_id) else None
        if silence is None or (not caller.admin and silence.owner != caller.owner):
            raise httpapi.not_found(f"no silence {silence_id!r}")
        await self.store.silences.expire(silence.id, self.clock())
