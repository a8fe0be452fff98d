"""The ExportWatch contract: pydantic models, topic names and the vocabulary of ids shared by every
service."""

from schemas import topics, vocabulary
from schemas.events import (
    Alert,
    DeadLetter,
    Decision,
    Event,
    Evidence,
    EvidenceKind,
    InvalidEvent,
    LicenceFacts,
    LicenceItem,
    LicenceRecord,
    NewsArticle,
    Notification,
    Severity,
    parse_event,
)
from schemas.reasons import DeadLetterReason

__all__ = [
    "Alert",
    "DeadLetter",
    "DeadLetterReason",
    "Decision",
    "Event",
    "Evidence",
    "EvidenceKind",
    "InvalidEvent",
    "LicenceFacts",
    "LicenceItem",
    "LicenceRecord",
    "NewsArticle",
    "Notification",
    "Severity",
    "parse_event",
    "topics",
    "vocabulary",
]
