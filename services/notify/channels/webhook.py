"""Generic webhooks: each notification is one signed CloudEvent (structured mode) POSTed to the
subscriber's URL. The URL and the signing secret are secrets: never logged.

Headers: ``content-type: application/cloudevents+json``, ``ExportWatch-Signature: t=…,v1=…`` (HMAC-SHA256
of ``f"{t}."`` + body, signed again at every attempt), ``Idempotency-Key`` (the notification id, the same
across retries) and ``user-agent: ExportWatch-Webhook/1``."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from schemas import Notification
from services.notify.channels.base import ChannelContext, ChannelType, target_id
from services.notify.channels.http import post
from services.notify.core.cloudevents import CONTENT_TYPE, to_cloudevent
from services.notify.core.fields import ChannelConfig, HttpUrl
from services.notify.core.signing import SIGNATURE_HEADER, sign

__all__ = ["USER_AGENT", "WEBHOOK", "WebhookChannel", "WebhookSettings"]

USER_AGENT = "ExportWatch-Webhook/1"


class WebhookSettings(ChannelConfig):
    type: Literal["webhook"]
    url: HttpUrl = Field(description="Where CloudEvents are POSTed. Secret: never logged or shown.")
    secret: SecretStr = Field(
        description="Shared key for the HMAC-SHA256 signature (at least 16 characters). Secret."
    )

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("the signing secret must have at least 16 characters")
        return value


def encode(notification: Notification, source: str) -> bytes:
    """The request body: the CloudEvent as compact UTF-8 JSON."""
    event = to_cloudevent(notification, source)
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class WebhookChannel:
    type = "webhook"

    def __init__(self, settings: WebhookSettings, ctx: ChannelContext) -> None:
        self._url = settings.url.get_secret_value()
        self._secret = settings.secret.get_secret_value()
        self._ctx = ctx
        self.target = target_id("webhook", self._url)

    def __repr__(self) -> str:
        return f"WebhookChannel(target={self.target})"

    async def send(self, notification: Notification) -> None:
        body = encode(notification, self._ctx.source)
        timestamp = int(self._ctx.clock().timestamp())
        headers = {
            "content-type": CONTENT_TYPE,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
            "idempotency-key": notification.id,
            "user-agent": USER_AGENT,
        }
        await post(self._ctx, self._url, body, headers)


WEBHOOK = ChannelType("webhook", WebhookSettings, WebhookChannel, per_second=10.0)
