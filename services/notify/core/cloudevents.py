"""Notifications as CloudEvents 1.0 in structured mode (the whole event is the JSON body). Pure: no I/O."""

from __future__ import annotations

from typing import Any

from schemas import Notification

SPEC_VERSION = "1.0"
EVENT_TYPE = "org.exportwatch.notification.v1"
DATA_SCHEMA = "https://exportwatch.org/schemas/notification.v1.json"
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"


def to_cloudevent(notification: Notification, source: str) -> dict[str, Any]:
    """The CloudEvent carrying ``notification`` as ``data``; its ``id`` is the notification id, the same
    at every retry, so receivers can drop copies."""
    return {
        "specversion": SPEC_VERSION,
        "id": notification.id,
        "source": source,
        "type": EVENT_TYPE,
        "subject": notification.story or notification.subscription_id,
        "time": notification.created_at.isoformat(),
        "datacontenttype": "application/json",
        "dataschema": DATA_SCHEMA,
        "data": notification.model_dump(mode="json"),
    }
