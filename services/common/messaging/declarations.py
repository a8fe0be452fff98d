"""What a service consumes and produces, declared once: the app wires its consumer and publisher from
these, and ``tools/asyncapi.py`` writes the AsyncAPI document from the same declarations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel


@dataclass(frozen=True)
class Produces:
    """A topic the service publishes to, the model of its messages, and what the service sends there."""

    topic: str
    model: type[BaseModel]
    description: str


@dataclass(frozen=True)
class Consumes:
    """The topics one consumer of the service reads, and what it does with them."""

    topics: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class Declarations:
    """Everything a service says it reads and writes on Kafka."""

    produces: tuple[Produces, ...]
    consumes: Consumes | None = None

    @property
    def produced_topics(self) -> frozenset[str]:
        return frozenset(p.topic for p in self.produces)

    @property
    def consumed_topics(self) -> Sequence[str]:
        return self.consumes.topics if self.consumes is not None else ()
