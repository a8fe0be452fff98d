"""The load harness's ceiling: the run's messages through a bare aiokafka producer and a bare aiokafka
consumer in another process, on the same broker (raw produce→consume throughput on this machine)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

from services.common.kafka import KafkaSettings
from tools.loadtest_events import Workload
from tools.processes import die_with_parent

RAW_TOPIC = "exportwatch.loadtest.raw"


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


def raw_ceiling(bootstrap: str, work: Workload, limit: int) -> dict[str, float]:
    """Produce the run's messages (up to ``limit``, same bytes) with a bare producer while a bare consumer
    in another process reads them: messages per second from the first send to the last message read."""
    from services.common.topics import ensure_topics

    asyncio.run(ensure_topics(KafkaSettings(kafka_bootstrap=bootstrap), [RAW_TOPIC], 4))
    count = min(limit, work.events)
    consumer = subprocess.Popen(
        [sys.executable, "-m", "tools.loadtest", "_raw-consume", bootstrap, RAW_TOPIC, str(count)],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent(),  # noqa: PLW1509 - only calls prctl
    )
    try:
        assert consumer.stdout is not None
        consumer.stdout.readline()  # ready: started and subscribed
        started, produced = asyncio.run(_raw_produce(bootstrap, work, count))
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


async def _raw_produce(bootstrap: str, work: Workload, count: int) -> tuple[float, float]:
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
        for sent, message in enumerate(work.messages()):
            if sent == count:
                break
            pending.append(await producer.send(RAW_TOPIC, message, key=b"raw-%d" % sent))
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
        return started, time.time()
    finally:
        await producer.stop()
