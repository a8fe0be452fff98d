"""The load harness's ceiling: the run's messages through a bare aiokafka producer and a bare aiokafka
consumer in another process, on the same broker (raw produce→consume throughput on this machine).

The ceiling is the median of several repeats of at least ``RAW_MESSAGES`` messages each (the run's
messages, cycled with keys of their own when the run has fewer): one short run on a shared machine
measured start-up and noise more than the broker (issue 20 item 5c)."""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import subprocess
import sys
import time
from typing import Any

from services.common.kafka import KafkaSettings
from tools.loadtest_events import Workload
from tools.processes import die_with_parent

RAW_TOPIC = "exportwatch.loadtest.raw"
RAW_MESSAGES = 100_000  # the default size of one repeat of the ceiling
RAW_REPEATS = 3


def _client_options(bootstrap: str) -> dict[str, Any]:
    """The harness only ever talks to the embedded broker it started itself: plaintext, whatever the
    EXPORTWATCH_KAFKA_* variables say about another cluster (the services it starts ignore them too)."""
    return KafkaSettings(kafka_bootstrap=bootstrap).client_options()


async def _raw_consume(bootstrap: str, topic: str, count: int, timeout: float) -> dict[str, float]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        **_client_options(bootstrap),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    print(json.dumps({"ready": time.time()}), flush=True)
    got, first, last = 0, 0.0, 0.0
    deadline = time.monotonic() + timeout
    try:
        while got < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                if records and not first:
                    first = time.time()
                got += len(records)
            if batches:
                last = time.time()
    finally:
        await consumer.stop()
    return {"count": got, "first": first, "last": last}


def raw_ceiling(bootstrap: str, work: Workload, limit: int, repeats: int = RAW_REPEATS) -> dict[str, float]:
    """Produce ``limit`` of the run's messages (same bytes, cycled if the run has fewer) with a bare
    producer while a bare consumer in another process reads them, ``repeats`` times, each on a topic of
    its own: the median messages per second from the first send to the last message read, and the
    slowest and fastest repeat's."""
    runs = [_one_ceiling(bootstrap, work, limit, f"{RAW_TOPIC}.{i}") for i in range(max(1, repeats))]
    rates = [r["per_s"] for r in runs]
    middle = sorted(runs, key=lambda r: r["per_s"])[len(runs) // 2]
    return {
        **middle,
        "per_s": statistics.median(rates),
        "produce_per_s": statistics.median(r["produce_per_s"] for r in runs),
        "repeats": len(runs),
        "min_per_s": min(rates),
        "max_per_s": max(rates),
    }


def _one_ceiling(bootstrap: str, work: Workload, count: int, topic: str) -> dict[str, float]:
    from services.common.topics import ensure_topics

    asyncio.run(ensure_topics(KafkaSettings(kafka_bootstrap=bootstrap), [topic], 4))
    consumer = subprocess.Popen(
        [sys.executable, "-m", "tools.loadtest", "_raw-consume", bootstrap, topic, str(count)],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent(),  # noqa: PLW1509 - only calls prctl
    )
    try:
        assert consumer.stdout is not None
        consumer.stdout.readline()  # ready: started and subscribed
        started, produced = asyncio.run(_raw_produce(bootstrap, work, count, topic))
        out, _ = consumer.communicate(None, 600)
    finally:
        if consumer.poll() is None:
            consumer.kill()
    result = json.loads(out.decode().strip().splitlines()[-1])
    elapsed = max(1e-6, result["last"] - started)
    return {
        "messages": count,
        "consumed": result["count"],
        "produce_per_s": count / max(1e-6, produced - started),
        "per_s": result["count"] / elapsed,
        "seconds": elapsed,
    }


async def _raw_produce(bootstrap: str, work: Workload, count: int, topic: str) -> tuple[float, float]:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        **_client_options(bootstrap),
        acks="all",
        linger_ms=5,
        max_batch_size=1024 * 1024,
        max_request_size=4 * 1024 * 1024,
    )
    await producer.start()
    started = time.time()
    try:
        pending = []
        messages = itertools.islice(itertools.cycle(work.messages()), count)
        for sent, message in enumerate(messages):
            pending.append(await producer.send(topic, message, key=b"raw-%d" % sent))
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
        return started, time.time()
    finally:
        await producer.stop()
