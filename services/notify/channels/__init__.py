"""The channel registry: one line per channel type, from its settings model to its class."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.notify.channels.base import Channel, ChannelContext
from services.notify.channels.console import ConsoleChannel, FileChannel
from services.notify.channels.email import EmailChannel
from services.notify.channels.slack import SlackChannel
from services.notify.channels.webhook import WebhookChannel
from services.notify.core.model import ChannelSettings

REGISTRY: dict[str, Callable[[Any, ChannelContext], Channel]] = {
    "slack": SlackChannel,
    "webhook": WebhookChannel,
    "email": EmailChannel,
    "console": ConsoleChannel,
    "file": FileChannel,
}


def build_channel(settings: ChannelSettings, ctx: ChannelContext) -> Channel:
    """The channel for one subscription's settings."""
    return REGISTRY[settings.type](settings, ctx)
