"""Slack incoming webhooks: one Block Kit message per notification. The URL is a secret: never logged.

Slack answers errors with a short code in the body (400 ``invalid_payload``, 403 ``action_prohibited``,
404 ``no_service``/``channel_not_found``, 410 ``channel_is_archived``); all are permanent, and the code
is kept in the error detail."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import Field

from schemas import Notification
from services.notify.channels.base import ChannelContext, ChannelType, target_id
from services.notify.channels.http import post
from services.notify.core.fields import ChannelConfig, HttpUrl
from services.notify.core.slack import render

USER_AGENT = "ExportWatch-Slack/1"


class SlackSettings(ChannelConfig):
    type: Literal["slack"]
    url: HttpUrl = Field(description="Slack incoming-webhook URL. Secret: never logged or shown.")


class SlackChannel:
    type = "slack"

    def __init__(self, settings: SlackSettings, ctx: ChannelContext) -> None:
        self._url = settings.url.get_secret_value()
        self._ctx = ctx
        self.target = target_id("slack", self._url)

    def __repr__(self) -> str:
        return f"SlackChannel(target={self.target})"

    async def send(self, notification: Notification) -> None:
        body = json.dumps(render(notification), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {"content-type": "application/json; charset=utf-8", "user-agent": USER_AGENT}
        await post(self._ctx, self._url, body, headers)


SLACK = ChannelType("slack", SlackSettings, SlackChannel, per_second=1.0)
