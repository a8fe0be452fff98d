"""Pydantic models of every message on the bus: news articles, licence records, alerts, dead letters.

Field names are a public contract. Adding an optional field is fine; renaming, removing or changing
the meaning of one needs a new topic version. Unknown fields sent by producers are kept
(``extra="allow"``) so that producers can evolve before consumers do.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticSerializationError

from schemas.reasons import DeadLetterReason

CountryCode = Annotated[
    str,
    Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 country code.", examples=["CN"]),
]
EventId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=256,
        description="Stable identifier of the event; also the Kafka message key.",
        examples=["news-5f1c2a9e0b7d4c61"],
    ),
]


_REVISION_DOC = (
    "1 when first published; 2, 3, ... when the source corrected the item (same id, changed content) "
    "and it was published again as an update."
)
_INGESTED_DOC = "When ExportWatch ingested this revision, or null for events from other producers."


class _Open(BaseModel):
    """Base for bus messages: unknown fields are kept, known ones are validated strictly."""

    model_config = ConfigDict(extra="allow", frozen=True, str_strip_whitespace=False)


class NewsArticle(_Open):
    """A news article, press release or report, with its body as plain text."""

    type: Literal["news_article"] = Field(
        default="news_article", description="Discriminator of the event kind."
    )
    id: EventId
    source: str = Field(
        min_length=1,
        description="Where the article comes from: the outlet or feed name.",
        examples=["amnesty.org"],
    )
    url: str = Field(
        min_length=1,
        description="Canonical URL of the article.",
        examples=["https://www.amnesty.org/en/latest/news/2023/06/eu-ai-act/"],
    )
    title: str = Field(
        description="Headline as published.", examples=["EU firms sold facial recognition to China"]
    )
    body: str = Field(description="Plain text of the article, paragraphs separated by blank lines.")
    language: str | None = Field(
        default=None,
        pattern=r"^[a-z]{2}$",
        description="ISO 639-1 language code, or null when unknown.",
        examples=["en", "nl"],
    )
    published_at: AwareDatetime = Field(
        description="Publication time, timezone-aware.", examples=["2023-06-13T09:00:00+00:00"]
    )
    duplicate_of: str | None = Field(
        default=None,
        description="Id of the first copy of the same story (a near duplicate: the same wire story "
        "syndicated by another outlet, slightly edited), or null when this is an original.",
        examples=["news-5f1c2a9e0b7d4c61"],
    )
    revision: int = Field(default=1, ge=1, description=_REVISION_DOC, examples=[1])
    ingested_at: AwareDatetime | None = Field(
        default=None, description=_INGESTED_DOC, examples=["2023-06-13T09:05:12+00:00"]
    )


class Decision(StrEnum):
    """What the export authority decided about a licence."""

    GRANTED = "granted"
    REFUSED = "refused"
    REVOKED = "revoked"
    PENDING = "pending"
    UNKNOWN = "unknown"


class LicenceItem(_Open):
    """One line of goods on a licence."""

    control_code: str | None = Field(
        default=None,
        description="Control-list code as published (e.g. 5A001.j, 5A001j, ML11, End Use), or null.",
        examples=["5A001.j"],
    )
    description: str | None = Field(
        default=None,
        description="Goods description as published, or null.",
        examples=["IP network communications surveillance systems"],
    )


class LicenceRecord(_Open):
    """An export licence (or a group of licences) granted, refused or revoked by an authority."""

    type: Literal["licence_record"] = Field(
        default="licence_record", description="Discriminator of the event kind."
    )
    id: EventId
    authority: str = Field(
        min_length=1,
        description="The export authority or the data set the record comes from.",
        examples=["UK ECJU (via CAAT)"],
    )
    licensing_country: CountryCode = Field(description="ISO alpha-2 code of the licensing state.")
    destination_country: CountryCode | None = Field(
        default=None, description="ISO alpha-2 code of the destination, or null when unknown."
    )
    destination_name: str | None = Field(
        default=None,
        description="Destination as published, or null.",
        examples=["Hong Kong Special Administrative Region"],
    )
    exporter: str | None = Field(default=None, description="Exporting company, when published.")
    end_user: str | None = Field(default=None, description="End user, when published.")
    items: list[LicenceItem] = Field(default_factory=list, description="Goods on the licence.")
    value: float | None = Field(default=None, ge=0, description="Declared value in `currency`.")
    currency: str | None = Field(
        default=None, pattern=r"^[A-Z]{3}$", description="ISO 4217 currency code.", examples=["GBP"]
    )
    decision: Decision = Field(description="The authority's decision.")
    decided_on: dt.date | None = Field(default=None, description="Date of the decision, or null.")
    source_url: str | None = Field(default=None, description="Where the record was published.")
    revision: int = Field(default=1, ge=1, description=_REVISION_DOC, examples=[1])
    ingested_at: AwareDatetime | None = Field(
        default=None, description=_INGESTED_DOC, examples=["2023-06-13T09:05:12+00:00"]
    )


Event = Annotated[NewsArticle | LicenceRecord, Field(discriminator="type")]
_EVENT_ADAPTER: TypeAdapter[NewsArticle | LicenceRecord] = TypeAdapter(Event)


class Severity(StrEnum):
    """How urgently a researcher should look at an alert."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


class EvidenceKind(StrEnum):
    TECHNOLOGY = "technology"
    DESTINATION = "destination"
    ENTITY = "entity"
    CONTROL_CODE = "control_code"


class Evidence(_Open):
    """One piece of text in the event that made the rule fire."""

    field: str = Field(
        description="Path of the event field the text is in: `title`, `body`, `items.0.control_code`.",
        examples=["body"],
    )
    start: int = Field(ge=0, description="Start offset (Python string index) in that field.")
    end: int = Field(ge=0, description="End offset (exclusive) in that field.")
    text: str = Field(description="Exactly `event[field][start:end]` of the original event.")
    snippet: str = Field(description="The text with some context around it, for reading.")
    kind: EvidenceKind = Field(description="What the text was matched as.")
    ref: str = Field(
        description="Id of the watchlist entry it matched: technology id, country code, vendor id or code.",
        examples=["facial-recognition", "CN"],
    )


class LicenceFacts(_Open):
    """What a licence record said, carried on its alert so that a reader (and the archive) has the whole
    licence without the event: who decided, who exports what to whom, for how much, and the decision."""

    authority: str = Field(description="The export authority or data set the record comes from.")
    licensing_country: CountryCode = Field(description="ISO alpha-2 code of the licensing state.")
    destination_name: str | None = Field(default=None, description="Destination as published, or null.")
    exporter: str | None = Field(default=None, description="Exporting company, when published.")
    end_user: str | None = Field(default=None, description="End user, when published.")
    items: list[LicenceItem] = Field(default_factory=list, description="Goods on the licence.")
    value: float | None = Field(default=None, ge=0, description="Declared value in `currency`.")
    currency: str | None = Field(default=None, description="ISO 4217 currency code.")
    decision: Decision = Field(description="The authority's decision.")
    decided_on: dt.date | None = Field(default=None, description="Date of the decision, or null.")


class Alert(_Open):
    """A match of an event against the watchlists, explained."""

    type: Literal["alert"] = Field(default="alert", description="Discriminator of the message kind.")
    id: str = Field(
        min_length=1,
        description="Deterministic id: the same event matched by the same rule always gives the same id.",
    )
    event_type: Literal["news_article", "licence_record"] = Field(description="Kind of event matched.")
    event_id: str = Field(description="Id of the event matched.")
    event_revision: int = Field(
        default=1, ge=1, description="Revision of the event matched (above 1: a corrected record)."
    )
    duplicate_of: str | None = Field(
        default=None,
        description="When the event is a near duplicate of an earlier story: the id of the first copy, "
        "so alerts about one story can be grouped.",
    )
    title: str = Field(description="Title of the article, or a generated title for a licence.")
    url: str | None = Field(default=None, description="Link to the source, when there is one.")
    severity: Severity
    score: float = Field(ge=0, le=1, description="Confidence of the match, 0 to 1.")
    technologies: list[str] = Field(
        default_factory=list, description="Technology category ids (shared domain section 2)."
    )
    destinations: list[CountryCode] = Field(default_factory=list, description="High-risk destinations.")
    entities: list[str] = Field(default_factory=list, description="Vendor ids.")
    control_codes: list[str] = Field(default_factory=list, description="Control codes, canonical form.")
    evidence: list[Evidence] = Field(default_factory=list)
    rule: str = Field(description="Id of the rule that fired.", examples=["news.tech_destination"])
    summary: str = Field(description="One plain sentence saying why this alert was raised.")
    watchlist_version: str = Field(description="Version of the watchlists the alert was made with.")
    created_at: AwareDatetime = Field(description="When the alert was made.")
    event_ingested_at: AwareDatetime | None = Field(
        default=None,
        description="When ExportWatch first took in the event matched (its ingested_at), so the time "
        "from ingestion to delivery can be measured; null when the event did not say.",
    )
    source: str | None = Field(
        default=None,
        description="Where the event came from: the news source id, or the licence's authority; null "
        "from producers that did not say.",
        examples=["reuters-world"],
    )
    language: str | None = Field(
        default=None,
        description="ISO 639-1 code of the article's language, when known; null for licences.",
        examples=["en"],
    )
    licence: LicenceFacts | None = Field(
        default=None, description="For a licence record: what the licence said; null for news."
    )


class DeadLetter(_Open):
    """A message that could not be processed, with the reason and the original bytes."""

    type: Literal["dead_letter"] = "dead_letter"
    service: str = Field(description="Service that rejected the message.", examples=["match"])
    source_topic: str | None = Field(default=None, description="Topic the message was read from.")
    source_partition: int | None = None
    source_offset: int | None = None
    source: str | None = Field(
        default=None, description="Where the input came from when not a topic: a file, a feed, an API call."
    )
    key: str | None = Field(default=None, description="Message key, decoded as UTF-8 with replacement.")
    reason: str = Field(description="Short machine-readable reason.", examples=["invalid_event"])
    detail: str = Field(description="Human-readable explanation of what was wrong.")
    original_base64: str = Field(description="The original bytes, base64-encoded.")
    created_at: AwareDatetime


class InvalidEvent(ValueError):
    """Raised by :func:`parse_event` with a reason code and a readable detail."""

    def __init__(self, reason: DeadLetterReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _describe(exc: ValidationError, limit: int = 5) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def _check_readable_as_json(event: NewsArticle | LicenceRecord) -> None:
    """A decoded object can hold what JSON cannot (json.loads turns "\\ud800" into a lone surrogate, and
    a caller may pass any Python value, or nest deeper than JSON readers go): such an event would be
    accepted here, then fail every attempt to publish it, or be refused by every consumer. So an event
    from an object must read back from its own JSON, as consumers read it. Raises InvalidEvent."""
    try:
        data = event.model_dump_json()
    except PydanticSerializationError as exc:
        message = str(exc)
        if "surrogates not allowed" in message:
            detail = "a string holds a lone surrogate (no Unicode text)"
            raise InvalidEvent(DeadLetterReason.INVALID_ENCODING, detail) from None
        raise InvalidEvent(
            DeadLetterReason.INVALID_EVENT, f"a value cannot be written as JSON: {message[:200]}"
        ) from None
    try:
        _EVENT_ADAPTER.validate_json(data)
    except ValidationError as exc:
        raise InvalidEvent(
            DeadLetterReason.INVALID_EVENT, f"its JSON cannot be read back: {_describe(exc)}"
        ) from None


def parse_event(raw: bytes | str | dict[str, Any]) -> NewsArticle | LicenceRecord:
    """Parse one event from JSON bytes, text or a decoded object; raise InvalidEvent with the reason."""
    try:
        if isinstance(raw, dict):
            event = _EVENT_ADAPTER.validate_python(raw)
            _check_readable_as_json(event)
            return event
        return _EVENT_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0] if exc.error_count() else None
        if first is not None and first["type"] == "json_invalid":
            if isinstance(raw, bytes):  # pydantic reads bytes as JSON first: say when they are no text
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as bad:
                    where = f"{bad.reason} at byte {bad.start}"
                    raise InvalidEvent(DeadLetterReason.INVALID_ENCODING, f"not UTF-8: {where}") from None
            raise InvalidEvent(DeadLetterReason.INVALID_JSON, f"not valid JSON: {first['msg']}") from None
        if first is not None and first["type"] in ("union_tag_not_found", "union_tag_invalid"):
            raise InvalidEvent(
                DeadLetterReason.UNKNOWN_EVENT_TYPE, "field `type` must be 'news_article' or 'licence_record'"
            ) from None
        if first is not None and first["type"] == "model_attributes_type":
            raise InvalidEvent(DeadLetterReason.INVALID_EVENT, "an event must be a JSON object") from None
        raise InvalidEvent(DeadLetterReason.INVALID_EVENT, _describe(exc)) from None
    except UnicodeDecodeError as exc:
        raise InvalidEvent(DeadLetterReason.INVALID_ENCODING, f"not UTF-8: {exc.reason}") from None


class Notification(_Open):
    """What a subscriber receives: one or more alerts about one story, a digest, or a test message.

    Webhook subscribers get it as the ``data`` of a CloudEvent; the other channels render it as text."""

    type: Literal["notification"] = Field(
        default="notification", description="Discriminator of the message kind."
    )
    id: str = Field(
        min_length=1,
        description="Stable id of this notification: the same across retries and re-sends, so a "
        "receiver can drop a copy it has already processed.",
        examples=["ntf-3b9c0e6d2a4f4e11a0c2"],
    )
    kind: Literal["alerts", "digest", "test"] = Field(
        description="`alerts`: alerts about one story, sent as they come; `digest`: the alerts of a "
        "digest period; `test`: a test message asked for by the subscriber."
    )
    subscription_id: str = Field(description="Id of the subscription it was sent for.")
    subscription_name: str = Field(description="Name the owner gave the subscription.")
    story: str | None = Field(
        default=None,
        description="For `alerts`: the event id of the story (the first copy when others are near "
        "duplicates of it); every alert listed is about this story.",
    )
    period_start: AwareDatetime | None = Field(
        default=None, description="For `digest`: start of the period covered."
    )
    period_end: AwareDatetime | None = Field(default=None, description="For `digest`: end of the period.")
    alerts: list[Alert] = Field(description="The alerts, oldest first.")
    created_at: AwareDatetime = Field(description="When the notification was first assembled.")
