"""Kafka topic names: the only place they are spelled out."""

from __future__ import annotations

from typing import Final

NEWS: Final = "exportwatch.news.v1"
LICENCES: Final = "exportwatch.licences.v1"
ALERTS: Final = "exportwatch.alerts.v1"
DEADLETTER: Final = "exportwatch.deadletter.v1"

ALL: Final[tuple[str, ...]] = (NEWS, LICENCES, ALERTS, DEADLETTER)
