"""Why a message or an input item went to the dead-letter topic: the one list of reasons.

A dead letter's ``reason`` is one of these strings on the wire (``DeadLetter.reason``), and the
``reason`` label of every ``exportwatch_<service>_deadletters_total`` counter. Parsers, consumers and
the push API take their reasons from here, so a new reason is added once, and a metric's label starts
at zero on every service that can give it.

Bytes that decode in no encoding tried are ``invalid_encoding`` wherever they are found: an event
(JSON) that is not UTF-8, refused whole, a row of a CSV file, or the entries of a feed (whose damaged
entries are still published; the feed is reported once). The detail says which. (Up to 0.2.0 the
parsers of files and feeds called it ``wrong_encoding``.)
"""

from __future__ import annotations

from enum import StrEnum


class DeadLetterReason(StrEnum):
    """A dead letter's reason: its value is the string on the wire and the metric label."""

    # An event (JSON) that cannot be read: parse_event, the JSON Lines parser, match, the push API.
    INVALID_JSON = "invalid_json"
    INVALID_ENCODING = "invalid_encoding"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    INVALID_EVENT = "invalid_event"
    # Larger than a consumer takes, or a CSV row longer than a row can be.
    TOO_LARGE = "too_large"
    # A consumer failed on a valid event (a bug): the partition moves on.
    PROCESSING_ERROR = "processing_error"
    DELIVERY_FAILED = "delivery_failed"
    # Ingest's parsers: feeds, CSV files, file types.
    INVALID_FEED = "invalid_feed"
    MISSING_LINK = "missing_link"
    NO_TEXT = "no_text"
    INVALID_CSV = "invalid_csv"
    INVALID_DATE = "invalid_date"
    INVALID_VALUE = "invalid_value"
    INVALID_DECISION = "invalid_decision"
    MISSING_FIELD = "missing_field"
    UNSUPPORTED_SOURCE = "unsupported_source"


EVENT_REASONS: tuple[DeadLetterReason, ...] = (
    DeadLetterReason.INVALID_JSON,
    DeadLetterReason.INVALID_ENCODING,
    DeadLetterReason.UNKNOWN_EVENT_TYPE,
    DeadLetterReason.INVALID_EVENT,
)
"""The reasons ``parse_event`` refuses an event with."""

CONSUMER_REASONS: tuple[DeadLetterReason, ...] = (
    *EVENT_REASONS,
    DeadLetterReason.TOO_LARGE,
    DeadLetterReason.PROCESSING_ERROR,
    DeadLetterReason.DELIVERY_FAILED,
)
"""The reasons a consumer (match, notify) dead-letters a record with; their metric series start at 0."""
