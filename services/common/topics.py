"""Creating our topics, and the embedded broker's add-on: re-creating topics it has lost (it forgets
everything on restart) and checking that they exist around each publish.

Why the add-on: after a restart, the embedded broker (Tansu 0.6, memory storage) acknowledges a produce
to a topic it no longer has, and drops the message. A producer that still has the topics in its
metadata cache keeps sending and counts every message as published: ingest recorded events as
published that no one would ever read, and match alerts that never reached notify. So on that broker
every batch is published only while the topics exist, asked of the broker itself (never a client's
cache) before the send and again after the acknowledgements; a batch whose topics were missing at
either moment fails and is published again (ingest answers 503, a consumed batch is read again) once
the topic watcher has re-created them.

Apache Kafka keeps its topics across restarts and answers a produce to a topic it does not have with
an error (auto-creation is off in production), so there the checks would only cost two admin requests
per batch and a new admin client every few seconds. Which of the two a service uses is decided once,
by ``topic_guard`` from the ``EXPORTWATCH_KAFKA_EMBEDDED`` setting; the publishing code receives a
``TopicGuard`` and never asks which broker it is on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Coroutine, Sequence
from typing import Any, Protocol

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, UnknownTopicOrPartitionError

from services.common.kafka import KafkaSettings

log = logging.getLogger("exportwatch.topics")


async def _create_missing(
    admin: AIOKafkaAdminClient, names: Sequence[str], partitions: int, replication: int
) -> list[str]:
    existing = set(await admin.list_topics())
    missing = [n for n in names if n not in existing]
    if not missing:
        return []
    try:
        response = await admin.create_topics(
            [NewTopic(n, num_partitions=partitions, replication_factor=replication) for n in missing]
        )
    except TopicAlreadyExistsError:
        return []
    for topic, code, *_ in getattr(response, "topic_errors", []):
        # 36 = TOPIC_ALREADY_EXISTS: another replica won the race, which is fine.
        if code not in (0, 36):
            raise KafkaError(f"creating topic {topic} failed with error code {code}")
    return missing


async def ensure_topics(
    kafka: KafkaSettings,
    names: Sequence[str],
    partitions: int,
    replication: int = 1,
    timeout: float = 30.0,
) -> list[str]:
    """Create whichever of ``names`` do not exist; retry until ``timeout``. Returns the created ones."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(**kafka.client_options(), request_timeout_ms=5000)
        try:
            await admin.start()
            created = await _create_missing(admin, names, partitions, replication)
            if created:
                log.info("created topics", extra={"topics": ",".join(created)})
            return created
        except (KafkaError, OSError) as exc:
            last = exc
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
        await asyncio.sleep(0.25)
    raise TimeoutError(f"could not create topics on {kafka.kafka_bootstrap}: {last!r}")


async def watch_topics(
    kafka: KafkaSettings,
    names: Sequence[str],
    partitions: int,
    replication: int = 1,
    interval: float = 5.0,
) -> None:
    """Forever: every ``interval`` seconds, re-create any of our topics the broker has lost. Part of the
    embedded broker's add-on (``EmbeddedTopicGuard``): each round opens an admin client of its own."""
    while True:
        await asyncio.sleep(interval)
        try:
            created = await ensure_topics(kafka, names, partitions, replication, timeout=interval)
        except (TimeoutError, KafkaError, OSError) as exc:
            log.warning("topic check failed", extra={"error": repr(exc)})
            continue
        if created:
            log.warning("broker had lost topics; re-created them", extra={"topics": ",".join(created)})


class TopicLister(Protocol):
    """What the guard asks of an admin client: the topics the broker has now."""

    async def list_topics(self) -> list[str]: ...


Send = Callable[[], Awaitable[Sequence[object]]]


async def require_topics(admin: TopicLister, names: Collection[str]) -> None:
    """Raise UnknownTopicOrPartitionError unless every topic in ``names`` exists on the broker now."""
    if not names:
        return
    missing = set(names) - set(await admin.list_topics())
    if missing:
        raise UnknownTopicOrPartitionError(f"topics missing on the broker: {', '.join(sorted(missing))}")


async def send_while_topics_exist(
    admin: TopicLister,
    names: Collection[str],
    count: int,
    send: Send,
) -> list[object]:
    """``send()``'s results (one per message, exceptions included) if every topic in ``names`` existed on
    the broker before the send and still exists after the acknowledgements; otherwise ``count`` copies
    of the error, as if no message had been acknowledged (an acknowledged message may have been
    dropped). Not sent at all when a topic is already missing before."""
    try:
        await require_topics(admin, names)
    except (KafkaError, OSError) as exc:  # TimeoutError is an OSError
        return [exc] * count
    results = list(await send())
    try:
        await require_topics(admin, names)
    except (KafkaError, OSError) as exc:  # TimeoutError is an OSError
        log.warning(
            "topics lost while publishing; the batch will be published again", extra={"error": str(exc)}
        )
        return [exc] * count
    return results


class TopicGuard:
    """How a batch is published with respect to lost topics: on a broker that keeps its topics (Apache
    Kafka, the default) a send is just the send, with no admin request and no topic watcher.

    ``publish`` returns ``send()``'s results, one per message, exceptions included; ``admin`` is only
    used by a guard whose ``lists_topics`` is true (a producer opens one only for such a guard)."""

    lists_topics: bool = False

    async def publish(
        self, admin: TopicLister | None, names: Collection[str], count: int, send: Send
    ) -> list[object]:
        return list(await send())

    def watcher(
        self, kafka: KafkaSettings, names: Sequence[str], partitions: int, replication: int
    ) -> Coroutine[Any, Any, None] | None:
        """The background job that re-creates lost topics, or None when the broker never loses them."""
        return None


class EmbeddedTopicGuard(TopicGuard):
    """The embedded broker's add-on (see the module's docstring): a batch counts as published only if
    its topics existed on the broker before the send and still do after the acknowledgements, and a
    watcher re-creates lost topics every few seconds."""

    lists_topics = True

    async def publish(
        self, admin: TopicLister | None, names: Collection[str], count: int, send: Send
    ) -> list[object]:
        if admin is None:
            raise RuntimeError("the embedded broker's topic guard needs an admin client")
        return await send_while_topics_exist(admin, names, count, send)

    def watcher(
        self, kafka: KafkaSettings, names: Sequence[str], partitions: int, replication: int
    ) -> Coroutine[Any, Any, None] | None:
        return watch_topics(kafka, names, partitions, replication)


def topic_guard(kafka_embedded: bool) -> TopicGuard:
    """The one place that decides: the embedded broker's add-on when ``EXPORTWATCH_KAFKA_EMBEDDED`` is
    set (the local stack and the tests set it), the plain send otherwise (Apache Kafka, production)."""
    return EmbeddedTopicGuard() if kafka_embedded else TopicGuard()
