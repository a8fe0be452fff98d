"""Generic webhooks: each notification is one signed CloudEvent (structured mode) POSTed to the
subscriber's URL. The URL and the signing secret are secrets: never logged.

Headers: ``content-type: application/cloudevents+json``, ``ExportWatch-Signature: t=…,v1=…`` (HMAC-SHA256
of ``f"{t}."`` + body, signed again at every attempt), ``Idempotency-Key`` (the notification id, the same
across retries) and ``user-agent: ExportWatch-Webhook/1``."""

from __future__ import annotations

import json

from schemas import Notification
from services.notify.channels.base import ChannelContext, target_id
from services.notify.channels.http import post
from services.notify.core.cloudevents import CONTENT_TYPE, to_cloudevent
from services.notify.core.model import WebhookSettings
from services.notify.core.signing import SIGNATURE_HEADER, sign

__all__ = ["USER_AGENT", "WebhookChannel"]

USER_AGENT = "ExportWatch-Webhook/1"


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
