"""The ExportWatch event contract: pydantic models and topic names shared by every service."""

from schemas import topics
from schemas.events import (
    Alert,
    DeadLetter,
    Decision,
    Event,
    Evidence,
    EvidenceKind,
    InvalidEvent,
    LicenceItem,
    LicenceRecord,
    NewsArticle,
    Notification,
    Severity,
    parse_event,
)

__all__ = [
    "Alert",
    "DeadLetter",
    "Decision",
    "Event",
    "Evidence",
    "EvidenceKind",
    "InvalidEvent",
    "LicenceItem",
    "LicenceRecord",
    "NewsArticle",
    "Notification",
    "Severity",
    "parse_event",
    "topics",
]
