"""The AsyncAPI 3.0 document of every Kafka topic and message, generated from what the services declare
(``services/common/messaging/declarations.py``) and the pydantic models in ``schemas/``. ``exportwatch
asyncapi`` writes ``docs/asyncapi.json``; a test keeps it current.

Each service is made by its own ``create_service`` with the default settings (nothing started or
connected), and FastStream's generator (``faststream.specification.AsyncAPI``) describes what its broker
consumes. Our consumers take raw batches, so FastStream cannot infer their payloads, and every service
publishes through its ``Publisher`` (plain aiokafka): what each sends is what it declares
(``service.declarations.produces``: topic, model, description, the same declarations its publisher is
made with), added here as documentation-only FastStream publishers, on the services' brokers made for
this document only (ingest, which consumes nothing, has none: it gets one here). The three services'
documents are then merged: every topic once as a channel with one message (the topic's
model, which consumers receive too), and an operation per service and topic it receives from (with its
consumer group) or sends to.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, SecretStr

from schemas import Alert, DeadLetter, LicenceRecord, NewsArticle, topics
from services.common.messaging.declarations import Produces
from services.common.runtime import Service

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker

DOCUMENT = Path(__file__).resolve().parents[1] / "docs" / "asyncapi.json"
SERVICES = ("ingest", "match", "notify")
SERVER = "kafka"
KAFKA_BINDING_VERSION = "0.4.0"  # the version FastStream writes in its channel bindings
HEADERS = "MessageHeaders"


@dataclass(frozen=True)
class Topic:
    """What travels on one topic: its short name (for operation ids), the model, what it is for and
    what the Kafka message key is."""

    name: str
    title: str
    model: type[BaseModel]
    description: str
    key: str


TOPICS: dict[str, Topic] = {
    topics.NEWS: Topic(
        "news",
        "News article",
        NewsArticle,
        "News articles, press releases and reports, one message per revision. Ingest publishes each "
        "new article once and, when its source corrects it, again with the same id and the next "
        "`revision`; other producers may publish here too (with `ingested_at` null). Read by match.",
        "the article id (`id`), UTF-8: every revision of an article lands on the same partition.",
    ),
    topics.LICENCES: Topic(
        "licences",
        "Licence record",
        LicenceRecord,
        "Export licences granted, refused or revoked, one message per revision (a corrected record "
        "comes again with the same id and the next `revision`). Published by ingest, read by match.",
        "the licence record id (`id`), UTF-8: every revision of a record lands on the same partition.",
    ),
    topics.ALERTS: Topic(
        "alerts",
        "Alert",
        Alert,
        "Alerts: an event matched against the watchlists, with the evidence. Alert ids are "
        "deterministic (same event, same rule, same id), so an event read twice gives the same alert "
        "twice, which notify records once. Published by match, read by notify.",
        "the alert id (`id`), UTF-8.",
    ),
    topics.DEADLETTER: Topic(
        "deadletter",
        "Dead letter",
        DeadLetter,
        "Input a service could not process, with the reason and the original bytes (base64). Every "
        "service sends here; no ExportWatch service reads it: it is for operators.",
        "the key of the rejected message (UTF-8, invalid bytes replaced); when it had none, "
        "`topic:partition:offset` of the rejected record, or, for input that did not come from a topic, "
        "where it came from (the source and file).",
    ),
}

INFO_DESCRIPTION = (
    "The Kafka topics of ExportWatch and the messages on them. Ingest publishes news articles and "
    "export-licence records, match turns them into alerts, and notify delivers the alerts to subscribers "
    "(Slack, signed CloudEvents webhooks carrying a Notification, e-mail: none of that is on Kafka). Every "
    "service sends what it cannot process to the dead-letter topic.\n\n"
    "Messages are JSON (UTF-8). Their schemas are those of `schemas/jsonschema/`, made from the pydantic "
    "models in `schemas/`: unknown fields are allowed, so producers can add optional fields before "
    "consumers know them; any other change needs a new topic version. Consumers read in batches as "
    "consumer groups and commit offsets only once everything a batch produced is acknowledged, so a "
    "message may be delivered more than once: ids are stable, and repeats are harmless.\n\n"
    "Generated from what the services declare by `exportwatch asyncapi`; do not edit by hand."
)

SERVER_DESCRIPTION = (
    "The default bootstrap server (EXPORTWATCH_KAFKA_BOOTSTRAP); `exportwatch stack` runs an embedded "
    "Kafka-compatible broker (Tansu) instead, and production uses Apache Kafka (compose.yaml). A service "
    "(or `exportwatch topics`) creates missing topics with EXPORTWATCH_TOPIC_PARTITIONS partitions "
    "(default 4) and EXPORTWATCH_TOPIC_REPLICATION replicas (default 1)."
)

HEADERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Kafka record headers (values UTF-8).",
    "properties": {
        "content-type": {"type": "string", "const": "application/json", "description": "Always set."},
    },
    "required": ["content-type"],
}


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("exportwatch")
    except PackageNotFoundError:
        return "unknown"


def create_services(workdir: Path, ingest_sources: Sequence[Path] = ()) -> dict[str, Service]:
    """The three services with their default settings, nothing started or connected; their databases
    are SQLite files in ``workdir`` (never opened). ``ingest_sources``: folders ingest would watch (the
    tests use one so the per-source metrics have series)."""
    from services.common.settings import CommonSettings
    from services.ingest.app import create_service as create_ingest
    from services.ingest.settings import IngestSettings
    from services.match.app import create_service as create_match
    from services.match.settings import MatchSettings
    from services.notify.app import create_service as create_notify
    from services.notify.settings import NotifySettings

    # model_construct: the defaults as declared, without reading EXPORTWATCH_* (the document must not
    # depend on the environment it is generated in).
    common = CommonSettings.model_construct()
    ingest = IngestSettings.model_construct(
        common=common,
        database_url=SecretStr(f"sqlite:///{workdir / 'ingest.db'}"),
        sources=list(ingest_sources),
    )
    match = MatchSettings.model_construct(common=common)
    notify = NotifySettings.model_construct(
        common=common, database_url=SecretStr(f"sqlite:///{workdir / 'notify.db'}")
    )
    return {
        "ingest": create_ingest(ingest),
        "match": create_match(match, sighup=False),
        "notify": create_notify(notify),
    }


def document_broker(service: Service) -> KafkaBroker:
    """The service's FastStream broker (its consumers), or for a service that consumes nothing a new
    one, never connected, to describe what it sends."""
    from services.common.runtime import make_broker

    return service.broker if service.broker is not None else make_broker(service.settings, service.name)


def declare_publishers(name: str, broker: KafkaBroker, declared: Sequence[Produces]) -> None:
    """Documentation-only FastStream publishers for what a service declares it sends (never used to
    publish)."""
    for produces in declared:
        topic = produces.topic
        if topic not in TOPICS:
            raise ValueError(f"{name} produces {topic}, which TOPICS does not describe")
        if produces.model is not TOPICS[topic].model:
            raise ValueError(
                f"{name} declares {produces.model.__name__} on {topic}, not {TOPICS[topic].model}"
            )
        broker.publisher(
            topic,
            title=f"{name}-{TOPICS[topic].name}-producer",
            description=produces.description,
            schema=produces.model,
        )


def faststream_document(name: str, broker: KafkaBroker) -> dict[str, Any]:
    """FastStream's AsyncAPI 3.0.0 document of one service's broker, as JSON data."""
    from faststream.specification import AsyncAPI

    spec = AsyncAPI(broker, title=name, schema_version="3.0.0").to_specification()
    document: dict[str, Any] = spec.to_jsonable()
    return document


def _resolve(document: Mapping[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _first_paragraph(text: str | None) -> str:
    paragraph = (text or "").strip().split("\n\n")[0]
    return " ".join(paragraph.split())


def _message(topic: str) -> dict[str, Any]:
    doc = TOPICS[topic]
    return {
        "name": doc.model.__name__,
        "title": doc.title,
        "summary": _first_paragraph(doc.model.__doc__),
        "contentType": "application/json",
        "headers": {"$ref": f"#/components/schemas/{HEADERS}"},
        "payload": {"$ref": f"#/components/schemas/{doc.model.__name__}"},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": doc.key[:1].upper() + doc.key[1:]},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _channel(topic: str) -> dict[str, Any]:
    doc = TOPICS[topic]
    return {
        "address": topic,
        "title": f"{doc.title}s",
        "description": f"{doc.description}\n\nMessage key: {doc.key}",
        "servers": [{"$ref": f"#/servers/{SERVER}"}],
        "messages": {doc.model.__name__: {"$ref": f"#/components/messages/{doc.model.__name__}"}},
        "bindings": {"kafka": {"topic": topic, "bindingVersion": KAFKA_BINDING_VERSION}},
    }


class _Merger:
    """Collects the services' FastStream documents into one."""

    def __init__(self) -> None:
        self.server: dict[str, Any] | None = None
        self.schemas: dict[str, Any] = {HEADERS: HEADERS_SCHEMA}
        self.channels: dict[str, Any] = {}
        self.operations: dict[str, Any] = {}
        self.tags: list[dict[str, str]] = []

    def add(self, name: str, broker: KafkaBroker, document: Mapping[str, Any]) -> None:
        self.tags.append({"name": name, "description": _first_paragraph(_app_doc(name))})
        self._server(document)
        consumers = _consumers(name, broker)
        for operation in document.get("operations", {}).values():
            channel = _resolve(document, operation["channel"]["$ref"])
            topic = channel["address"]
            if topic not in TOPICS:
                raise ValueError(f"{name} uses topic {topic}, which TOPICS does not describe")
            action = operation["action"]
            if action == "send":
                self._payloads(name, topic, document, operation)
            elif action != "receive":
                raise ValueError(f"{name}: unexpected operation {action} on {topic}")
            self._operation(name, topic, action, channel.get("description"), consumers.get(topic))

    def _server(self, document: Mapping[str, Any]) -> None:
        servers = list(document.get("servers", {}).values())
        if len(servers) != 1:
            raise ValueError(f"expected one server per broker, got {len(servers)}")
        server = {
            "host": servers[0]["host"],
            "protocol": servers[0]["protocol"],
            "description": SERVER_DESCRIPTION,
        }
        if self.server is not None and server != self.server:
            raise ValueError(f"the services' brokers differ: {server} and {self.server}")
        self.server = server

    def _payloads(
        self, name: str, topic: str, document: Mapping[str, Any], operation: Mapping[str, Any]
    ) -> None:
        """Take the payload schema FastStream made of the declared publisher's model, with the schemas
        it references, into components/schemas."""
        schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
        expected = TOPICS[topic].model.__name__
        for ref in operation["messages"]:
            message = _resolve(document, _resolve(document, ref["$ref"])["$ref"])
            payload_ref = message["payload"]["$ref"]
            if payload_ref != f"#/components/schemas/{expected}":
                raise ValueError(f"{name} sends {payload_ref} on {topic}, not {expected}")
        for key, schema in schemas.items():
            if key in self.schemas and self.schemas[key] != schema:
                raise ValueError(f"two different schemas are named {key}")
            self.schemas[key] = schema

    def _operation(
        self, name: str, topic: str, action: str, description: str | None, consumer: _Consumer | None
    ) -> None:
        doc = TOPICS[topic]
        key = f"{name}-{action}-{doc.name}"
        if key in self.operations:
            raise ValueError(f"{name} {action}s {topic} twice")
        verb = "receives" if action == "receive" else "sends"
        operation: dict[str, Any] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{topic}"},
            "messages": [{"$ref": f"#/channels/{topic}/messages/{doc.model.__name__}"}],
            "title": f"{name} {verb} {doc.title.lower()}s",
            "tags": [{"name": name}],
        }
        if description:
            operation["description"] = description
        if action == "receive":
            if consumer is None:
                raise ValueError(f"{name} receives {topic} but no consumer of it was found")
            operation["summary"] = (
                f"Consumer group {consumer.group_id}, batches of up to {consumer.max_records} records."
            )
            operation["bindings"] = {
                "kafka": {
                    "groupId": {"type": "string", "enum": [consumer.group_id]},
                    "clientId": {"type": "string", "enum": [consumer.client_id]},
                    "bindingVersion": KAFKA_BINDING_VERSION,
                }
            }
        self.operations[key] = operation
        self.channels.setdefault(topic, _channel(topic))

    def document(self) -> dict[str, Any]:
        sent = {
            o["channel"]["$ref"].removeprefix("#/channels/")
            for o in self.operations.values()
            if o["action"] == "send"
        }
        missing = sorted(set(self.channels) - sent)
        if missing:
            raise ValueError(f"no service declares what it sends on {', '.join(missing)}")
        self.schemas.pop("EmptyPayload", None)  # FastStream's payload of our raw batch consumers
        return {
            "asyncapi": "3.0.0",
            "info": {
                "title": "ExportWatch",
                "version": package_version(),
                "description": INFO_DESCRIPTION,
                "tags": self.tags,
            },
            "defaultContentType": "application/json",
            "servers": {SERVER: self.server},
            "channels": self.channels,
            "operations": self.operations,
            "components": {
                "messages": {TOPICS[t].model.__name__: _message(t) for t in self.channels},
                "schemas": self.schemas,
            },
        }


def _app_doc(name: str) -> str | None:
    import importlib

    return importlib.import_module(f"services.{name}.app").__doc__


@dataclass(frozen=True)
class _Consumer:
    group_id: str
    client_id: str
    max_records: int


def _consumers(name: str, broker: KafkaBroker) -> dict[str, _Consumer]:
    """Topic -> the service's consumer of it (as FastStream registered it)."""
    from faststream.kafka.subscriber.usecase import BatchSubscriber, LogicSubscriber

    groups: dict[str, _Consumer] = {}
    for subscriber in broker.subscribers:
        if not isinstance(subscriber, LogicSubscriber):
            raise TypeError(f"{name}: not a Kafka consumer: {subscriber!r}")
        group_id, client_id = subscriber.group_id, subscriber.client_id
        if not group_id or not client_id:
            raise ValueError(f"{name}: a consumer without a consumer group or client id")
        batch = subscriber.max_records if isinstance(subscriber, BatchSubscriber) else 1
        consumer = _Consumer(group_id, client_id, batch or 1)
        for topic in subscriber.topic_names:
            if topic in groups:
                raise ValueError(f"{name} consumes {topic} twice")
            groups[topic] = consumer
    return groups


def build() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of ExportWatch, as JSON data."""
    merger = _Merger()
    with tempfile.TemporaryDirectory(prefix="exportwatch-asyncapi-") as workdir:
        services = create_services(Path(workdir))
        for name in SERVICES:
            service = services[name]
            broker = document_broker(service)
            declare_publishers(name, broker, service.declarations.produces)
            merger.add(name, broker, faststream_document(name, broker))
    return merger.document()


def render() -> str:
    """The document as it is checked in: sorted keys, 2-space indent, a trailing newline."""
    return json.dumps(build(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
