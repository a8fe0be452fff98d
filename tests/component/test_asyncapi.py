"""The AsyncAPI document (docs/asyncapi.json): current, complete, valid in its structure, and true to
the messages the services really put on the bus."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from schemas import Alert, DeadLetter, LicenceRecord, NewsArticle, export, parse_event, topics
from services.common.messaging.deadletters import dead_letter
from services.common.messaging.publisher import encode
from services.common.settings import CommonSettings
from services.ingest.core.caat import load_ratings, parse_caat_values
from services.ingest.core.feeds import parse_feed
from services.match.core.engine import Matcher
from services.match.settings import MatchSettings
from services.notify.settings import NotifySettings
from tests.alerts import make_alert
from tools import asyncapi
from tools.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "asyncapi.json"
SAMPLES = ROOT / "services" / "ingest" / "samples"
NOW = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
URI = "urn:exportwatch:asyncapi"
KEY = re.compile(r"^[a-zA-Z0-9.\-_]+$")  # AsyncAPI 3.0: keys of channels, operations, components


@pytest.fixture(scope="module")
def rendered() -> str:
    return asyncapi.render()


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return data


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for raw in ref[2:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _payload_ref(doc: dict[str, Any], address: str) -> str:
    (channel,) = [c for c in doc["channels"].values() if c["address"] == address]
    (message_ref,) = channel["messages"].values()
    message = _resolve(doc, message_ref["$ref"])
    ref: str = message["payload"]["$ref"]
    return ref


def _validator(doc: dict[str, Any], ref: str) -> Draft202012Validator:
    registry: Registry[Any] = Registry().with_resource(URI, DRAFT202012.create_resource(doc))
    return Draft202012Validator(
        {"$ref": f"{URI}{ref}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


# -- kept current ------------------------------------------------------------------------------------


def test_checked_in_document_is_current(rendered: str) -> None:
    assert DOCUMENT.is_file(), f"{DOCUMENT} missing: run `exportwatch asyncapi`"
    assert DOCUMENT.read_text(encoding="utf-8") == rendered, (
        f"{DOCUMENT} is stale: run `exportwatch asyncapi`"
    )


def test_document_does_not_depend_on_the_environment(rendered: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPORTWATCH_KAFKA_BOOTSTRAP", "kafka.example:9092")
    monkeypatch.setenv("EXPORTWATCH_MATCH_GROUP_ID", "other-group")
    monkeypatch.setenv("EXPORTWATCH_NOTIFY_DATABASE_URL", "postgresql://nobody@nowhere/db")
    assert asyncapi.render() == rendered


def test_cli_writes_and_checks(
    rendered: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(asyncapi, "render", lambda: rendered)
    out = tmp_path / "docs" / "asyncapi.json"
    assert main(["asyncapi", "--check", "--output", str(out)]) == 1
    assert f"run: exportwatch asyncapi --output {out}" in capsys.readouterr().err
    assert main(["asyncapi", "--output", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == rendered
    assert rendered.endswith("}\n") and '\n  "asyncapi": "3.0.0",\n' in rendered  # 2-space, sorted
    assert main(["asyncapi", "--check", "--output", str(out)]) == 0
    out.write_text(rendered.replace("ExportWatch", "ExportWatsch", 1), encoding="utf-8")
    capsys.readouterr()
    assert main(["asyncapi", "--check", "--output", str(out)]) == 1
    assert "stale AsyncAPI document" in capsys.readouterr().err
    monkeypatch.setattr(asyncapi, "DOCUMENT", out)  # the default output
    assert main(["asyncapi", "--check"]) == 1
    assert "(run: exportwatch asyncapi)" in capsys.readouterr().err
    assert main(["asyncapi"]) == 0
    assert main(["asyncapi", "--check"]) == 0
    assert out.read_text(encoding="utf-8") == rendered


# -- structure ---------------------------------------------------------------------------------------


def test_document_structure(doc: dict[str, Any]) -> None:
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"] == "ExportWatch"
    assert doc["info"]["version"] == asyncapi.package_version() != "unknown"
    assert doc["info"]["description"]
    assert doc["defaultContentType"] == "application/json"
    assert list(doc["servers"]) == ["kafka"]
    server = doc["servers"]["kafka"]
    assert server["protocol"] == "kafka"
    assert server["host"] == CommonSettings.model_fields["kafka_bootstrap"].default
    assert "Apache Kafka" in server["description"]
    for section in (doc["channels"], doc["operations"], *doc["components"].values()):
        for key in section:
            assert KEY.match(key), f"not a valid AsyncAPI key: {key}"
    for ref in _refs(doc):
        _resolve(doc, ref)
    for name, channel in doc["channels"].items():
        assert channel["address"] == name
        assert channel["description"] and "Message key:" in channel["description"]
        assert channel["servers"] == [{"$ref": "#/servers/kafka"}]
        assert channel["bindings"]["kafka"]["topic"] == name
    for name, message in doc["components"]["messages"].items():
        assert message["contentType"] == "application/json"
        assert message["bindings"]["kafka"]["key"]["description"], name
        assert message["payload"]["$ref"].startswith("#/components/schemas/")
    for key, operation in doc["operations"].items():
        assert operation["action"] in ("send", "receive"), key
        channel_ref = operation["channel"]["$ref"]
        assert operation["messages"], key
        for message in operation["messages"]:
            assert message["$ref"].startswith(f"{channel_ref}/messages/"), key


def test_every_topic_is_one_channel(doc: dict[str, Any]) -> None:
    addresses = [c["address"] for c in doc["channels"].values()]
    assert sorted(addresses) == sorted(topics.ALL)
    assert set(asyncapi.TOPICS) == set(topics.ALL)


def test_operations_name_the_right_services(doc: dict[str, Any]) -> None:
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for operation in doc["operations"].values():
        (tag,) = operation["tags"]
        address = _resolve(doc, operation["channel"]["$ref"])["address"]
        found[(tag["name"], operation["action"], address)] = operation
    assert set(found) == {
        ("ingest", "send", topics.NEWS),
        ("ingest", "send", topics.LICENCES),
        ("ingest", "send", topics.DEADLETTER),
        ("match", "receive", topics.NEWS),
        ("match", "receive", topics.LICENCES),
        ("match", "send", topics.ALERTS),
        ("match", "send", topics.DEADLETTER),
        ("notify", "receive", topics.ALERTS),
        ("notify", "send", topics.DEADLETTER),
    }
    groups = {
        "match": MatchSettings.model_fields["group_id"].default,
        "notify": NotifySettings.model_fields["group_id"].default,
    }
    for (service, action, address), operation in found.items():
        if action == "receive":
            kafka = operation["bindings"]["kafka"]
            assert kafka["groupId"] == {"type": "string", "enum": [groups[service]]}, address
            assert kafka["clientId"] == {"type": "string", "enum": [f"exportwatch-{service}"]}
            assert groups[service] in operation["summary"]
        else:
            assert "bindings" not in operation
        assert operation["description"], (service, action, address)
    assert [t["name"] for t in doc["info"]["tags"]] == ["ingest", "match", "notify"]


# -- payloads: the contract, and real messages -------------------------------------------------------


def test_payloads_are_the_json_schema_contract(doc: dict[str, Any]) -> None:
    """Each topic's payload is the checked-in JSON Schema of its model, $defs moved to components."""
    by_model = {model: name for name, model in export.MODELS.items()}
    schemas = doc["components"]["schemas"]
    for address, topic in asyncapi.TOPICS.items():
        ref = _payload_ref(doc, address)
        assert ref == f"#/components/schemas/{topic.model.__name__}"
        text = (export.SCHEMA_DIR / f"{by_model[topic.model]}.v1.json").read_text(encoding="utf-8")
        contract = json.loads(text.replace('"#/$defs/', '"#/components/schemas/'))
        for key in ("$schema", "$id"):
            contract.pop(key)
        for name, definition in contract.pop("$defs", {}).items():
            assert schemas[name] == definition, name
        assert schemas[topic.model.__name__] == contract, address
    assert "Notification" not in schemas  # the webhook body, never on Kafka
    assert "EmptyPayload" not in schemas


def _news() -> list[NewsArticle]:
    articles = []
    for line in (SAMPLES / "news.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            event = parse_event(line)
            assert isinstance(event, NewsArticle)
            articles.append(event)
    feed = (SAMPLES / "watchdog-feed.rss").read_bytes()
    articles += [a for a in parse_feed(feed, "watchdog", NOW) if isinstance(a, NewsArticle)]
    assert len(articles) > 5
    first = articles[0].id
    # As ingest publishes them: ingested, some corrected, some near duplicates of the first.
    return [
        a.model_copy(
            update={"ingested_at": NOW, "revision": 1 + i % 2, "duplicate_of": first if i % 3 else None}
        )
        for i, a in enumerate(articles)
    ]


def _licences() -> list[LicenceRecord]:
    ratings = load_ratings((SAMPLES / "uk-caat-ratings.csv").read_bytes())
    data = (SAMPLES / "uk-caat-values-2014-sample.csv").read_bytes()
    records = [r for r in parse_caat_values(data, "uk-caat", ratings) if isinstance(r, LicenceRecord)]
    assert len(records) > 100
    return [r.model_copy(update={"ingested_at": NOW}) for r in records]


def _alerts(matcher: Matcher, events: list[NewsArticle | LicenceRecord]) -> list[Alert]:
    alerts = [alert for event in events for alert in matcher.evaluate(event, NOW)]
    assert {a.event_type for a in alerts} == {"news_article", "licence_record"}
    return [*alerts, make_alert(), make_alert("alert-2", destinations=[], event_ingested_at=NOW)]


def _dead_letters() -> list[DeadLetter]:
    made = [
        dead_letter(
            "match", "invalid_json", "not valid JSON", b"{oops", topic=topics.NEWS, partition=2, offset=7
        ),
        dead_letter(
            "notify", "invalid_event", "not a valid alert", b"\xff\xfe", topic=topics.ALERTS, key=b"k"
        ),
        dead_letter("ingest", "invalid_csv", "missing columns", b"a,b\n", source="uk: values.csv"),
    ]
    letters = [m.value for m in made if isinstance(m.value, DeadLetter)]
    assert len(letters) == len(made)
    return letters


@pytest.fixture(scope="module")
def examples(matcher: Matcher) -> dict[str, list[BaseModel]]:
    news, licences = _news(), _licences()
    return {
        "NewsArticle": list(news),
        "LicenceRecord": list(licences),
        "Alert": list(_alerts(matcher, [*news, *licences])),
        "DeadLetter": list(_dead_letters()),
    }


def test_every_payload_validates_real_messages(
    doc: dict[str, Any], examples: dict[str, list[BaseModel]]
) -> None:
    for address in topics.ALL:
        ref = _payload_ref(doc, address)
        validator = _validator(doc, ref)
        instances = examples[ref.rsplit("/", 1)[1]]
        assert instances, address
        for instance in instances:
            wire = json.loads(encode(instance))  # the bytes the services publish
            errors = [e.message for e in validator.iter_errors(wire)]
            assert not errors, f"{address}: {errors[:3]}"


def test_payload_schemas_reject_what_consumers_reject(
    doc: dict[str, Any], examples: dict[str, list[BaseModel]]
) -> None:
    alert = json.loads(encode(examples["Alert"][0]))
    news = json.loads(encode(examples["NewsArticle"][0]))
    alerts = _validator(doc, _payload_ref(doc, topics.ALERTS))
    assert not alerts.is_valid({**alert, "score": 1.5})
    assert not alerts.is_valid({**alert, "severity": "urgent"})
    assert not alerts.is_valid({k: v for k, v in alert.items() if k != "summary"})
    assert alerts.is_valid({**alert, "added_later": True})  # unknown fields are allowed
    articles = _validator(doc, _payload_ref(doc, topics.NEWS))
    assert not articles.is_valid({k: v for k, v in news.items() if k != "id"})
    assert not articles.is_valid({**news, "type": "licence_record"})
