"""A publish that outlasts the producer's timeout is retried, not the ranking (issue 15).

The matcher's vectors consumer runs in-process on a broker of its own (devstack on free ports
in tmp_path: pausing it never touches the broker other tests share). The broker is paused
(SIGSTOP) right after the first ranking, longer than the producer's request timeout, so the
publish of that batch's lists fails; once it is back every list reaches matches.v1, and no
batch was redelivered or ranked twice.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from nnmatch.events import Event, ProfileVectorsComputed, Suggestion
from nnmatch.member_keys import MemoryMemberKeys
from nnmatch.messaging import Inbound, Publisher, Rejection, make_broker, subscribe_batches
from nnmatch.observability import Metrics
from nnmatch.settings import ServiceSettings
from nnmatch.topics import MATCHES, PROFILE_VECTORS, ensure_topics, topic_name
from nnmatch_matching.matcher.handlers import MatchChangedMembers
from nnmatch_tools import devstack
from nnmatch_tools.ports import free_port
from tests.support import eventually
from tests.unit.builders import mentee_vectors, mentor_vectors
from tests.unit.test_matching_handlers import Fakes

pytestmark = pytest.mark.integration

GROUP = "backpressure-matcher"
# The publisher's own; the consumer keeps the default, which outlasts the pause and a join.
REQUEST_TIMEOUT_MS = 2_000
PAUSE_S = 6.0  # past the request timeout, within the consumer's session timeout (10 s)
MENTEES = 30


@pytest.fixture
def broker_pid_and_address(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """A private broker (and Redis, which devstack brings along) for this test alone."""
    state_dir = tmp_path / "stack"
    stack = devstack.up(
        state_dir, kafka_port=free_port(), redis_port=free_port(), environ={}, timeout=60
    )
    assert stack.kafka.pid is not None, "a broker started here, so it can be paused"
    try:
        yield stack.kafka.pid, stack.kafka.address
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(stack.kafka.pid, signal.SIGCONT)  # a stopped process cannot handle SIGTERM
        devstack.down(state_dir)


async def _keys_on(settings: ServiceSettings, topic: str, expected: set[str]) -> set[str]:
    """The keys on `topic` from its start, read until all `expected` came or 20 s passed."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    keys: set[str] = set()
    try:

        async def all_came() -> bool:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                keys.update(r.key.decode() for r in records if r.key is not None)
            return expected <= keys

        await eventually(all_came, timeout=20)
    finally:
        await consumer.stop()
    return keys


async def test_a_publish_outlasting_the_timeout_is_retried_without_re_ranking(
    broker_pid_and_address: tuple[int, str],
) -> None:
    pid, address = broker_pid_and_address
    settings = ServiceSettings(
        kafka_bootstrap_servers=address,
        kafka_enable_idempotence=False,  # the embedded broker (Tansu)
        kafka_partitions=1,
        kafka_publish_max_in_flight=8,
        topic_prefix="backpressure.",
        service_name="matching",
        log_format="text",
    )
    await ensure_topics(settings.kafka())
    metrics = Metrics("matching")
    broker = make_broker(settings)
    impatient = settings.model_copy(update={"kafka_request_timeout_ms": REQUEST_TIMEOUT_MS})
    producer = make_broker(impatient)
    publisher = Publisher(producer, impatient, metrics, keys=MemoryMemberKeys())
    fakes = Fakes(top_n=3)
    fakes.state = replace(fakes.state, publisher=publisher)

    rankings: list[set[str]] = []
    paused = threading.Event()
    ranking = fakes.engine.matches_for

    def rank_then_pause_the_broker(
        targets: Iterable[str], now: datetime
    ) -> dict[str, list[Suggestion]]:
        """The first ranking stops the broker as it returns: its publish meets a dead broker."""
        results = ranking(targets, now)
        rankings.append(set(results))
        if not paused.is_set():
            paused.set()
            os.kill(pid, signal.SIGSTOP)
            threading.Timer(PAUSE_S, os.kill, (pid, signal.SIGCONT)).start()
        return results

    fakes.engine.matches_for = rank_then_pause_the_broker  # type: ignore[method-assign,assignment]
    delivered: list[tuple[int, int]] = []
    batches = 0
    handler = MatchChangedMembers(fakes.state)

    async def counting(batch: list[Inbound[ProfileVectorsComputed]]) -> Sequence[Rejection]:
        nonlocal batches
        batches += 1
        delivered.extend((r.partition, r.offset) for r in batch)
        return await handler(batch)

    consumer = subscribe_batches(
        broker, publisher, settings, metrics, PROFILE_VECTORS, GROUP, counting
    )
    vectors: list[tuple[str, Event | None]] = [("mentor", mentor_vectors("mentor"))]
    vectors += [(f"m{i}", mentee_vectors(f"m{i}", i)) for i in range(MENTEES)]
    await producer.connect()
    await broker.start()
    try:
        await publisher.publish_many(PROFILE_VECTORS, vectors)
        members = {key for key, _ in vectors}
        await eventually(lambda: _stored(fakes, members), timeout=30)
        on_matches = await _keys_on(settings, topic_name(MATCHES, settings.kafka()), members)
    finally:
        await broker.stop()
        await producer.stop()

    matches_topic = topic_name(MATCHES, settings.kafka())
    vectors_topic = topic_name(PROFILE_VECTORS, settings.kafka())
    assert paused.is_set(), "the broker was paused during a publish"
    assert sorted(delivered) == sorted(set(delivered)), "no batch was redelivered"
    assert metrics.handler_failures.labels(vectors_topic, GROUP)._value.get() == 0
    assert len(rankings) == batches, "each batch ranked once, the failed publish included"
    assert members <= set().union(*rankings)
    assert members <= on_matches, "every computed list reached matches.v1"
    assert metrics.produce_failures.labels(matches_topic)._value.get() >= 1, "a publish failed"
    assert fakes.state.metrics.publish_retries._value.get() >= 1, "and was retried"
    assert consumer.consecutive_failures == 0


async def _stored(fakes: Fakes, members: set[str]) -> bool:
    for member in members:
        if await fakes.matches.get(member) is None:
            return False
    return True
