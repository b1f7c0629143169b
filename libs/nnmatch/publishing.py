"""The seam every handler publishes through: a Protocol, and an in-memory fake for unit tests.

`nnmatch.messaging.Publisher` is the Kafka implementation (acks=all, waves per key, topics
re-checked after a failure); `InMemoryPublisher` records what would have been sent, and can
be told to fail, so handlers are tested in milliseconds without a broker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from nnmatch.events import DeadLetter, Event
from nnmatch.topics import TopicSpec


class EventPublisher(Protocol):
    """Publishes events (None: a tombstone) keyed by id, returning once all are acknowledged."""

    service: str

    async def publish(self, spec: TopicSpec, key: str, event: Event | None) -> None: ...

    async def publish_many(
        self, spec: TopicSpec, items: Sequence[tuple[str, Event | None]]
    ) -> None: ...

    async def dead_letter(self, spec: TopicSpec, letters: Sequence[DeadLetter]) -> None: ...

    def topic(self, spec: TopicSpec) -> str: ...


@dataclass
class Published:
    """One record the fake accepted: its contract topic name, key and event (None: tombstone)."""

    topic: str
    key: str
    event: Event | None


@dataclass
class InMemoryPublisher:
    """Keeps every record in order; `fail_next` makes the next publish raise (a broker away)."""

    service: str = "tests"
    records: list[Published] = field(default_factory=list)
    fail_next: BaseException | None = None

    async def publish(self, spec: TopicSpec, key: str, event: Event | None) -> None:
        await self.publish_many(spec, [(key, event)])

    async def publish_many(
        self, spec: TopicSpec, items: Sequence[tuple[str, Event | None]]
    ) -> None:
        self._maybe_fail()
        self.records.extend(Published(spec.name, key, event) for key, event in items)

    async def dead_letter(self, spec: TopicSpec, letters: Sequence[DeadLetter]) -> None:
        self._maybe_fail()
        self.records.extend(Published(spec.dlq, d.key or "", d) for d in letters)

    def topic(self, spec: TopicSpec) -> str:
        return spec.name

    def on(self, spec: TopicSpec) -> list[Published]:
        """What was published to `spec`, in order."""
        return [r for r in self.records if r.topic == spec.name]

    def _maybe_fail(self) -> None:
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
