"""``POST /v1/tokens``: a token for an owner, made by the admin."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.common import httpapi
from services.notify.core.model import OWNER_RULE, is_owner_name
from services.notify.routes.base import ApiBase, Caller, invalid_field

log = logging.getLogger("exportwatch.notify.api")


class TokenRoutes(ApiBase):
    async def create_token(self, request: Request, caller: Caller) -> Response:
        if not caller.admin:
            raise httpapi.forbidden("only the admin token can create tokens")
        body = await self._json(request)
        owner = body.get("owner")
        if not is_owner_name(owner):
            raise invalid_field("owner", OWNER_RULE)
        # Printable characters only: no NUL (PostgreSQL refuses it), no lone surrogate (not UTF-8).
        label = "".join(c for c in str(body.get("label") or "") if c.isprintable())[:200]
        token = await self.store.tokens.add(owner, self.clock(), label=label)
        log.info("token created", extra={"owner": owner})
        return JSONResponse({"owner": owner, "token": token}, status_code=201)
