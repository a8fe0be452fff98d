"""The channel registry: one line per channel type. Each channel module defines its settings, its
channel class (sending, and the rendering it needs) and a ``ChannelType`` naming them; everything else
(the subscription's settings union, the type names, who may use it, its rate limit) follows from here.
See "Adding a channel" in CONTRIBUTING.md."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Union

from pydantic import Field

from services.notify.channels.base import Channel, ChannelContext, ChannelType
from services.notify.channels.console import CONSOLE, FILE
from services.notify.channels.email import EMAIL_CHANNEL
from services.notify.channels.slack import SLACK
from services.notify.channels.webhook import WEBHOOK

CHANNELS: tuple[ChannelType, ...] = (
    SLACK,
    WEBHOOK,
    EMAIL_CHANNEL,
    CONSOLE,
    FILE,
)

REGISTRY: dict[str, ChannelType] = {c.name: c for c in CHANNELS}


def build_channel(settings: Any, ctx: ChannelContext) -> Channel:
    """The channel for one subscription's settings."""
    return REGISTRY[settings.type].build(settings, ctx)


def channel_types(*, owners_only: bool = False) -> tuple[str, ...]:
    """The registered type names, in registry order; ``owners_only``: those owners may use."""
    return tuple(c.name for c in CHANNELS if c.owners or not owners_only)


def channel_settings_union() -> Any:
    """The settings of every registered channel, as one union discriminated by ``type``."""
    members = tuple(c.settings for c in CHANNELS)
    return Annotated[Union[members], Field(discriminator="type")]  # noqa: UP007 - built at run time


def channel_rates(per_second: Mapping[str, float] | None = None) -> tuple[tuple[str, float], ...]:
    """(type, messages per second per target) for the channels that are paced: each channel's default,
    or the value ``per_second`` gives for it (the service's settings)."""
    given = dict(per_second or {})
    rates = ((c.name, given.get(c.name, c.per_second)) for c in CHANNELS)
    return tuple((name, rate) for name, rate in rates if rate is not None)
