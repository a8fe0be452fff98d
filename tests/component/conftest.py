"""The component layer: each service's real handlers and subscribers, as its create_service wires them,
on FastStream's in-memory TestKafkaBroker (no broker process, no network)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from faststream.kafka.testing import FakeProducer


@pytest.fixture(autouse=True)
def batches_as_aiokafka_hands_them(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A batch subscriber gets its records as a tuple from the real consumer (aiokafka's getmany, which
    services/common/pipeline.py relies on) but as a list from FastStream's test producer: hand it the
    tuple the real consumer gives."""
    execute = FakeProducer._execute_handler

    async def as_a_tuple(self: FakeProducer, msg: Any, topic: str, handler: Any) -> Any:
        return await execute(self, tuple(msg) if isinstance(msg, list) else msg, topic, handler)

    monkeypatch.setattr(FakeProducer, "_execute_handler", as_a_tuple)
    yield
