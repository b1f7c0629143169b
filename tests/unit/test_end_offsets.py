"""`kafka_clients.end_offsets` on a scripted consumer: an empty fetch proves the end only once
the broker has answered since the last records were taken."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from nnmatch import kafka_clients
from nnmatch.kafka_clients import end_offsets

TP = TopicPartition("profiles.v1", 0)


@dataclass
class Record:
    offset: int


@dataclass
class ScriptedConsumer:
    """Listed end `listed`; each `getmany` plays the next step: the records it returns, and
    whether a broker answer was stamped before it (aiokafka's `last_poll_timestamp`)."""

    listed: int
    steps: list[tuple[list[int], bool]]
    stamp: int = 0
    sought: list[int] = field(default_factory=list)
    calls: int = 0

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(tps, self.listed)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.sought.append(offset)

    def last_poll_timestamp(self, tp: TopicPartition) -> int:
        return self.stamp

    async def getmany(self, *tps: TopicPartition, timeout_ms: int) -> dict[TopicPartition, Any]:
        self.calls += 1
        offsets, answered = self.steps.pop(0) if self.steps else ([], True)
        await asyncio.sleep(0.002)  # the next stamp is a later millisecond than records taken
        if answered:
            self.stamp = int(1000 * time.time())
        return {TP: [Record(o) for o in offsets]} if offsets else {}


async def _ends(consumer: ScriptedConsumer) -> int:
    return (await end_offsets(cast(AIOKafkaConsumer, consumer), [TP]))[TP]


async def test_an_empty_fetch_before_any_answer_is_not_the_end() -> None:
    """The flake it fixes: on a loaded machine the first fetch came back empty (its answer
    not in yet) and the walk stopped at the listed end, 962 records short."""
    consumer = ScriptedConsumer(
        listed=1, steps=[([], False), ([], False), ([0, 1, 2, 3, 4], True), ([], True)]
    )
    assert await _ends(consumer) == 5
    assert consumer.sought == [0]


async def test_the_end_is_an_answer_after_the_last_records_that_brought_none() -> None:
    consumer = ScriptedConsumer(listed=3, steps=[([2, 3], True), ([], False), ([], True)])
    assert await _ends(consumer) == 4
    # The answer that brought nothing came during the third call; it is read before the
    # fourth (read after a call, an answer racing its timeout could still hold records).
    assert consumer.calls == 4


async def test_an_empty_partition_is_not_read() -> None:
    consumer = ScriptedConsumer(listed=0, steps=[])
    assert await _ends(consumer) == 0
    assert consumer.calls == 0


async def test_a_topic_still_written_to_stops_after_a_bounded_number_of_fetches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kafka_clients, "END_FETCHES", 3)
    consumer = ScriptedConsumer(listed=1, steps=[([i], True) for i in range(10)])
    assert await _ends(consumer) == 3
    assert consumer.calls == 3


async def test_no_answer_at_all_gives_up_at_the_deadline_with_the_listed_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kafka_clients, "END_WAIT_S", 0.05)
    consumer = ScriptedConsumer(listed=7, steps=[([], False)] * 1000)
    assert await _ends(consumer) == 7
    assert consumer.calls >= 2
