"""The shared batch consumer commits only after the work: a failed batch comes back, whole."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from faststream.kafka import KafkaBroker

from nnmatch.events import ProfileDeleted
from nnmatch.member_keys import MemoryMemberKeys
from nnmatch.messaging import Inbound, Publisher, Rejection, make_broker, subscribe_batches
from nnmatch.observability import Metrics
from nnmatch.settings import ServiceSettings
from nnmatch.topics import PROFILES, ensure_topics
from tests.support import Namespace, eventually, read_topic

pytestmark = pytest.mark.integration

GROUP = "commit-test"


async def _committed(namespace: Namespace) -> int:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=namespace.stack.kafka.address, group_id=GROUP, enable_auto_commit=False
    )
    await consumer.start()
    try:
        topic = namespace.topic("profiles.v1")
        total = 0
        for partition in range(3):
            offset = await consumer.committed(TopicPartition(topic, partition))
            total += offset or 0
        return total
    finally:
        await consumer.stop()


async def _consumer_parts(
    namespace: Namespace,
) -> tuple[ServiceSettings, Metrics, KafkaBroker, Publisher]:
    """Settings, metrics, broker and publisher of a consumer in the test's namespace."""
    settings = ServiceSettings(**namespace.settings(service_name="tests"))
    await ensure_topics(settings.kafka())
    metrics = Metrics("tests")
    broker = make_broker(settings)
    return settings, metrics, broker, Publisher(broker, settings, metrics, keys=MemoryMemberKeys())


async def test_failed_batch_is_redelivered_and_committed_only_after_success(
    namespace: Namespace,
) -> None:
    settings, metrics, broker, publisher = await _consumer_parts(namespace)
    seen: list[str] = []
    attempts = 0

    async def flaky(batch: list[Inbound[ProfileDeleted]]) -> Sequence[Rejection]:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("store unavailable")
        seen.extend(r.key or "" for r in batch)
        return [Rejection(r, "refused by the domain") for r in batch if r.key == "m-2"]

    state = subscribe_batches(broker, publisher, settings, metrics, PROFILES, GROUP, flaky)
    await broker.start()
    try:
        events = [
            (f"m-{i}", ProfileDeleted(producer="tests", member_id=f"m-{i}")) for i in range(5)
        ]
        await publisher.publish_many(PROFILES, events)
        await eventually(lambda: asyncio.sleep(0, result=len(set(seen)) == 5), timeout=60)
        await eventually(lambda: _committed_is(namespace, 5), timeout=30)
    finally:
        await broker.stop()

    assert attempts >= 2
    assert sorted(set(seen)) == [f"m-{i}" for i in range(5)]
    assert state.consecutive_failures == 0
    failures = metrics.handler_failures.labels(namespace.topic("profiles.v1"), GROUP)._value.get()
    assert failures >= 1
    letters = await read_topic(namespace, "profiles.v1.dlq", count=1)
    assert len(letters) == 1
    assert b"refused by the domain" in letters[0].value


async def _committed_is(namespace: Namespace, expected: int) -> bool:
    return await _committed(namespace) == expected


async def test_records_the_handler_already_holds_are_committed_undecoded(
    namespace: Namespace,
) -> None:
    """A matcher's group consumer passes over the records its replay applied: they reach
    neither the key store nor the handler, yet are committed and counted."""
    settings, metrics, broker, publisher = await _consumer_parts(namespace)
    seen: list[str] = []
    asked: list[tuple[str, int, int]] = []

    async def handler(batch: list[Inbound[ProfileDeleted]]) -> Sequence[Rejection]:
        seen.extend(r.key or "" for r in batch)
        return []

    def already_applied(key: str, partition: int, offset: int) -> bool:
        asked.append((key, partition, offset))
        return key in {"m-0", "m-1", "m-2"}

    subscribe_batches(
        broker,
        publisher,
        settings,
        metrics,
        PROFILES,
        GROUP,
        handler,
        already_applied=already_applied,
    )
    await broker.start()
    try:
        events = [
            (f"m-{i}", ProfileDeleted(producer="tests", member_id=f"m-{i}")) for i in range(5)
        ]
        await publisher.publish_many(PROFILES, events)
        await eventually(lambda: _committed_is(namespace, 5), timeout=60)
    finally:
        await broker.stop()

    assert sorted(seen) == ["m-3", "m-4"]
    assert sorted(key for key, _, _ in asked) == [f"m-{i}" for i in range(5)]
    topic = namespace.topic("profiles.v1")
    skipped = metrics.consumed.labels(topic, GROUP, "already_applied")._value.get()
    handled = metrics.consumed.labels(topic, GROUP, "ok")._value.get()
    assert (skipped, handled) == (3, 2)
