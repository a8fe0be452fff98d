"""What the notify stores share: the states of a notification, the ids and hashes they make, and how a
subscription's settings are stored (secrets in clear: the database is the one place that keeps them)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notify.core.model import SubscriptionSpec
from services.notify.store import tables

PENDING = ("open", "retry")
FINAL = ("delivered", "dead", "cancelled")


def reveal(value: Any) -> Any:
    """A model dump with secrets in clear (for the database only) and plain JSON types."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [reveal(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    return value


def spec_json(spec: SubscriptionSpec) -> str:
    fields = set(SubscriptionSpec.model_fields)
    return json.dumps(reveal(spec.model_dump(include=fields)), ensure_ascii=False, sort_keys=True)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


async def cancel_pending(
    conn: AsyncConnection, subscription_ids: Sequence[str], now: dt.datetime, why: str
) -> None:
    """Cancel, within the caller's transaction, what waits to be sent to subscriptions that are gone or
    disabled."""
    n = tables.notifications.c
    await conn.execute(
        update(tables.notifications)
        .where(n.subscription_id.in_(subscription_ids), n.status.in_(PENDING))
        .values(status="cancelled", finished_at=now, detail=why, lease_owner=None, lease_until=None)
    )
