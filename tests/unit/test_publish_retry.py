"""A failed publish retries the publish of what was computed, never the ranking (issue 15).

On the matcher's fakes: a publisher that fails, then succeeds. And the Kafka publisher's
waves on a stand-in broker: bounded in flight, each key's records in order, only what was not
acknowledged sent again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

import pytest
from aiokafka.errors import KafkaTimeoutError

from nnmatch import messaging
from nnmatch.events import Event, FeedbackAction, FeedbackGiven, Suggestion
from nnmatch.member_keys import MemoryMemberKeys
from nnmatch.messaging import (
    MAX_BACKOFF_SECONDS,
    Publisher,
    PublishIncomplete,
    backoff_delay,
    publish_until_acknowledged,
)
from nnmatch.observability import Metrics
from nnmatch.publishing import InMemoryPublisher
from nnmatch.settings import ServiceSettings
from nnmatch.shredding import open_events
from nnmatch.topics import FEEDBACK, MATCHES, TopicSpec
from nnmatch_matching.matcher.engine import MatchEngine
from nnmatch_matching.matcher.handlers import MatchChangedMembers, publish_matches
from nnmatch_matching.matcher.store import MemoryMatchesStore
from tests.unit.builders import mentee_vectors, mentor_vectors
from tests.unit.test_matching_handlers import ME, Fakes

Items = Sequence[tuple[str, Event | None]]


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retries without waiting; yields the delays the backoff asked for."""
    asked: list[float] = []

    def delay(attempt: int) -> float:
        asked.append(backoff_delay(attempt))
        return 0.0

    monkeypatch.setattr(messaging, "backoff_delay", delay)
    return asked


class FlakyPublisher(InMemoryPublisher):
    """Fails its first `failures` publishes (a broker away), then accepts; sees the store."""

    def __init__(self, failures: int, matches: MemoryMatchesStore | None = None) -> None:
        super().__init__()
        self.failures = failures
        self.attempts: list[list[str]] = []  # the keys each publish_many was given
        self.stored_at_attempt: list[int] = []
        self.retried = asyncio.Event()
        self._matches = matches

    async def publish_many(self, spec: TopicSpec, items: Items) -> None:
        self.attempts.append([key for key, _ in items])
        if self._matches is not None:
            self.stored_at_attempt.append(len(self._matches.lists))
        if len(self.attempts) > 1:
            self.retried.set()
        if len(self.attempts) <= self.failures:
            raise KafkaTimeoutError("broker away")
        await super().publish_many(spec, items)


class CountingEngine:
    """Counts `engine.matches_for` calls (each a ranking) on a real engine."""

    def __init__(self, engine: MatchEngine) -> None:
        self.calls = 0
        ranking = engine.matches_for

        def counted(targets: Iterable[str], now: datetime) -> dict[str, list[Suggestion]]:
            self.calls += 1
            return ranking(targets, now)

        engine.matches_for = counted  # type: ignore[method-assign,assignment]


def _flaky(fakes: Fakes, failures: int) -> FlakyPublisher:
    publisher = FlakyPublisher(failures, fakes.matches)
    fakes.publisher = publisher
    fakes.state = replace(fakes.state, publisher=publisher)
    return publisher


def _retries(fakes: Fakes) -> float:
    return float(fakes.metrics.publish_retries._value.get())


async def test_a_failed_publish_is_retried_without_ranking_again() -> None:
    fakes = Fakes(mentor_vectors(ME), mentee_vectors("m1", 1))
    publisher = _flaky(fakes, failures=3)
    ranking = CountingEngine(fakes.engine)

    batch = fakes.records(("m0", mentee_vectors("m0", 0)))
    rejections = await MatchChangedMembers(fakes.state)(batch)

    assert rejections == [], "the batch succeeds: it is not redelivered"
    assert ranking.calls == 1, "ranked once for the batch, however often the publish failed"
    assert len(publisher.attempts) == 4
    assert all(keys == publisher.attempts[0] for keys in publisher.attempts), "the same lists"
    published = [r.key for r in publisher.on(MATCHES)]
    assert sorted(published) == sorted(set(published)) == sorted(publisher.attempts[0])
    assert set(published) >= {ME, "m0"}
    assert _retries(fakes) == 3


async def test_lists_are_stored_only_once_published() -> None:
    fakes = Fakes(mentor_vectors(ME), mentee_vectors("m1", 1))
    publisher = _flaky(fakes, failures=2)

    await MatchChangedMembers(fakes.state)(fakes.records(("m0", mentee_vectors("m0", 0))))

    assert publisher.stored_at_attempt == [0, 0, 0], "nothing stored while the publish failed"
    for record in publisher.on(MATCHES):
        assert await fakes.matches.get(record.key) == record.event, "stored what was published"


async def test_the_backoff_doubles_and_is_capped(no_backoff: list[float]) -> None:
    fakes = Fakes(mentor_vectors(ME), mentee_vectors("m0", 0))
    _flaky(fakes, failures=9)

    await publish_matches(fakes.state, {ME})

    assert no_backoff == [0.5, 1, 2, 4, 8, 16, *[MAX_BACKOFF_SECONDS] * 3]


async def test_cancellation_stops_the_retries_and_stores_nothing() -> None:
    fakes = Fakes(mentor_vectors(ME), mentee_vectors("m0", 0))
    publisher = _flaky(fakes, failures=10**9)
    task = asyncio.create_task(publish_matches(fakes.state, {ME, "m0"}))
    await asyncio.wait_for(publisher.retried.wait(), timeout=5)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    attempts = len(publisher.attempts)
    for _ in range(20):
        await asyncio.sleep(0)

    assert len(publisher.attempts) == attempts, "no retry after the cancellation"
    assert fakes.matches.lists == {}
    assert publisher.on(MATCHES) == []


class PartialPublisher(InMemoryPublisher):
    """Acknowledges the first `accept` records of its first publish, then fails the rest."""

    def __init__(self, accept: int) -> None:
        super().__init__()
        self.accept = accept
        self.attempts: list[list[str]] = []

    async def publish_many(self, spec: TopicSpec, items: Items) -> None:
        self.attempts.append([key for key, _ in items])
        if len(self.attempts) == 1:
            await super().publish_many(spec, items[: self.accept])
            raise PublishIncomplete(KafkaTimeoutError("broker away"), items[self.accept :])
        await super().publish_many(spec, items)


async def test_only_what_was_not_acknowledged_is_sent_again() -> None:
    publisher = PartialPublisher(accept=2)
    items: list[tuple[str, Event | None]] = [(f"m{i}", _feedback(f"m{i}")) for i in range(5)]

    retries = await publish_until_acknowledged(publisher, FEEDBACK, items)

    assert retries == 1
    assert publisher.attempts == [["m0", "m1", "m2", "m3", "m4"], ["m2", "m3", "m4"]]
    assert [r.key for r in publisher.on(FEEDBACK)] == ["m0", "m1", "m2", "m3", "m4"]


def _feedback(member_id: str, candidate: str = "c") -> FeedbackGiven:
    return FeedbackGiven(
        producer="tests", member_id=member_id, candidate_id=candidate, action=FeedbackAction.ACCEPT
    )


class StandInBroker:
    """What `Publisher` calls of FastStream's broker: counts sends in flight, can fail some."""

    def __init__(self, fail_once: Sequence[tuple[str, str]] = ()) -> None:
        self.in_flight = 0
        self.peak = 0
        self.in_flight_keys: set[str] = set()
        self.overlapping_keys: list[str] = []
        self.acked: list[tuple[str, str]] = []  # (key, candidate) in acknowledgement order
        self.fail_once = set(fail_once)

    async def publish(
        self, body: bytes | None, topic: str, *, key: bytes, headers: dict[str, str] | None
    ) -> None:
        name = key.decode()
        candidate = "" if body is None else await _candidate(body)
        if name in self.in_flight_keys:
            self.overlapping_keys.append(name)
        self.in_flight_keys.add(name)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            for _ in range(3):  # let the others of the wave start
                await asyncio.sleep(0)
            if (name, candidate) in self.fail_once:
                self.fail_once.discard((name, candidate))
                raise KafkaTimeoutError("no acknowledgement in time")
            self.acked.append((name, candidate))
        finally:
            self.in_flight -= 1
            self.in_flight_keys.discard(name)


KEYS = MemoryMemberKeys()  # the stand-in broker opens what the publisher sealed


async def _candidate(body: bytes) -> str:
    [event] = await open_events(KEYS, [body], (FeedbackGiven,))
    assert isinstance(event, FeedbackGiven)
    return event.candidate_id


@pytest.fixture
def no_topic_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a failure `Publisher` re-checks the topics: there is no broker to ask here."""

    async def nothing(_kafka: object) -> None:
        return None

    monkeypatch.setattr(messaging, "ensure_topics", nothing)


def _publisher(broker: StandInBroker, max_in_flight: int) -> Publisher:
    settings = ServiceSettings(kafka_publish_max_in_flight=max_in_flight)
    return Publisher(cast(Any, broker), settings, Metrics("tests"), keys=KEYS)


async def test_no_more_than_the_bound_is_in_flight() -> None:
    broker = StandInBroker()
    items: list[tuple[str, Event | None]] = [(f"m{i}", _feedback(f"m{i}")) for i in range(100)]

    await _publisher(broker, max_in_flight=7).publish_many(FEEDBACK, items)

    assert broker.peak == 7
    assert sorted(broker.acked) == sorted((f"m{i}", "c") for i in range(100))


async def test_each_keys_records_go_one_at_a_time_in_order() -> None:
    broker = StandInBroker()
    items: list[tuple[str, Event | None]] = [
        (key, _feedback(key, f"{key}{n}")) for n in range(4) for key in ("a", "b", "c", "d", "e")
    ]

    await _publisher(broker, max_in_flight=3).publish_many(FEEDBACK, items)

    assert broker.peak <= 3
    assert broker.overlapping_keys == [], "never two records of one key in flight"
    for key in "abcde":
        assert [c for k, c in broker.acked if k == key] == [f"{key}{n}" for n in range(4)]


async def test_a_failed_wave_leaves_pending_what_was_not_acknowledged_in_key_order(
    no_topic_check: None,
) -> None:
    broker = StandInBroker(fail_once=[("a", "a1")])
    items: list[tuple[str, Event | None]] = [
        ("a", _feedback("a", "a0")),
        ("b", _feedback("b", "b0")),
        ("c", _feedback("c", "c0")),
        ("a", _feedback("a", "a1")),
        ("b", _feedback("b", "b1")),
        ("a", _feedback("a", "a2")),
        ("d", _feedback("d", "d0")),
    ]
    publisher = _publisher(broker, max_in_flight=2)

    with pytest.raises(PublishIncomplete) as failed:
        await publisher.publish_many(FEEDBACK, items)

    pending = [(key, _candidate_of(event)) for key, event in failed.value.pending]
    acked_before = list(broker.acked)
    assert ("a", "a1") not in acked_before
    assert pending[0] == ("a", "a1")
    assert pending.index(("a", "a1")) < pending.index(("a", "a2")), "the key's order is kept"
    assert not set(pending) & set(acked_before), "nothing acknowledged is sent again"
    assert set(pending) | set(acked_before) == {(k, _candidate_of(e)) for k, e in items}

    await publish_until_acknowledged(publisher, FEEDBACK, failed.value.pending)

    assert sorted(broker.acked) == sorted((k, _candidate_of(e)) for k, e in items)
    assert [c for k, c in broker.acked if k == "a"] == ["a0", "a1", "a2"]


def _candidate_of(event: Event | None) -> str:
    assert isinstance(event, FeedbackGiven)
    return event.candidate_id
