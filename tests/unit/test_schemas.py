"""The event contract: validation, unknown fields kept, readable errors, JSON Schemas kept current."""

from __future__ import annotations

import json
from typing import Any

import pytest

from schemas import Alert, InvalidEvent, LicenceRecord, NewsArticle, export, parse_event


def test_checked_in_json_schemas_are_current() -> None:
    for name, text in export.render().items():
        path = export.SCHEMA_DIR / name
        assert path.is_file(), f"{path} missing: run `exportwatch schemas`"
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run `exportwatch schemas`"


def test_every_field_is_documented() -> None:
    for model in (NewsArticle, LicenceRecord, Alert):
        schema = model.model_json_schema()
        undocumented = [
            k
            for k, v in schema["properties"].items()
            if "description" not in v and k not in ("type", "severity", "evidence", "items", "decision")
        ]
        assert not undocumented, f"{model.__name__}: {undocumented}"


def test_real_samples_parse(news_samples: dict[str, dict[str, Any]]) -> None:
    for doc in news_samples.values():
        event = parse_event(json.dumps(doc))
        assert isinstance(event, NewsArticle)
        assert event.published_at.tzinfo is not None


def test_unknown_fields_are_kept() -> None:
    doc = {
        "type": "news_article",
        "id": "n1",
        "source": "s",
        "url": "https://x.org/a",
        "title": "t",
        "body": "b",
        "language": "fr",
        "published_at": "2024-01-01T00:00:00Z",
        "future_field": [1, 2],
    }
    event = parse_event(json.dumps(doc).encode())
    assert json.loads(event.model_dump_json())["future_field"] == [1, 2]


def test_licence_record_round_trip() -> None:
    doc = {
        "type": "licence_record",
        "id": "l1",
        "authority": "UK",
        "licensing_country": "GB",
        "destination_country": "EG",
        "destination_name": "Egypt",
        "exporter": None,
        "end_user": None,
        "items": [{"control_code": "5A001.j", "description": "IP network surveillance"}],
        "value": 120000,
        "currency": "GBP",
        "decision": "granted",
        "decided_on": "2014-03-01",
        "source_url": None,
    }
    event = parse_event(doc)
    assert isinstance(event, LicenceRecord)
    assert parse_event(event.model_dump_json()) == event


@pytest.mark.parametrize(
    ("raw", "reason", "mentions"),
    [
        (b"{not json", "invalid_json", "JSON"),
        (b"\xff\xfe\x00", "invalid_encoding", "not UTF-8: invalid start byte at byte 0"),
        (
            b'{"type": "news_article", "id": "caf\xe9"}',
            "invalid_encoding",
            "invalid continuation byte at byte 35",
        ),
        (b'{"type": "news_article", "id": "\xed\xa0\x80"}', "invalid_encoding", "not UTF-8"),
        ('{"type": "news_article", "id": "caf\u00e9"'.encode(), "invalid_json", "EOF"),
        (b"[1, 2]", "invalid_event", "object"),
        (b'{"type": "tweet", "id": "x"}', "unknown_event_type", "news_article"),
        (b'{"id": "x"}', "unknown_event_type", "type"),
        (
            b'{"type": "news_article", "id": "x", "source": "s", "url": "u", "title": "t", "body": "b",'
            b' "published_at": "2024-01-01T00:00:00"}',
            "invalid_event",
            "published_at",
        ),
        (
            b'{"type": "licence_record", "id": "x", "authority": "a", "licensing_country": "United Kingdom",'
            b' "decision": "granted"}',
            "invalid_event",
            "licensing_country",
        ),
        (
            b'{"type": "licence_record", "id": "x", "authority": "a", "licensing_country": "GB",'
            b' "decision": "maybe"}',
            "invalid_event",
            "decision",
        ),
    ],
)
def test_invalid_events_have_reason_and_detail(raw: bytes, reason: str, mentions: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_event(raw)
    assert info.value.reason == reason
    assert mentions in info.value.detail
