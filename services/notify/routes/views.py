"""Subscriptions and silences as the API shows them, and the body a PATCH is merged into."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from services.notify.core.model import Silence, Subscription
from services.notify.routes.base import HIDDEN
from services.notify.store.repository import spec_json


def public_view(sub: Subscription) -> dict[str, Any]:
    """A subscription as the API shows it: secrets replaced, a secret URL (a channel's ``url``) reduced
    to its scheme and host."""
    data = sub.model_dump(mode="json")
    channel = data["channel"]
    for name in type(sub.channel).model_fields:  # every channel alike: its secret fields
        value = getattr(sub.channel, name)
        if not isinstance(value, SecretStr):
            continue
        if name == "url":
            parts = urlsplit(value.get_secret_value())
            channel["url"] = f"{parts.scheme}://{parts.hostname}/… {HIDDEN}"
        else:
            channel[name] = HIDDEN
    return data


def silence_view(silence: Silence, now: dt.datetime) -> dict[str, Any]:
    data = silence.model_dump(mode="json", exclude={"duration"})  # stored as its ends_at
    data["state"] = "active" if silence.active(now) else ("pending" if now < silence.starts_at else "expired")
    return data


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "channel":
            out[key] = merge(out[key], value)
        elif key == "channel" and isinstance(value, dict) and isinstance(out.get(key), dict):
            # Same channel type: keep the stored secrets unless new ones are given.
            same = value.get("type", out[key].get("type")) == out[key].get("type")
            out[key] = {**out[key], **value} if same else value
        else:
            out[key] = value
    return out


def spec_dict(sub: Subscription) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(spec_json(sub))
    return loaded
