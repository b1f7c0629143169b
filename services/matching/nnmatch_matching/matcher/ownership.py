"""Which members' lists this matcher replica ranks and publishes: partition ownership.

Every replica holds the whole index (it reads all partitions of `profile-vectors.v1` in a
consumer group of its own); the shared group `nnmatch-matcher-owners` over the same topic
splits the members between them: a member belongs to the partition its vectors are keyed to,
and that partition to whichever replica the group assigns it. This consumer only holds the
assignment (its partitions are paused, nothing is read or committed); a replica that dies
leaves the group after the session time-out and the others take its partitions.

`on_gained` hears of the partitions each assignment adds, so the new owner can check their
members' lists (`RecheckGained` in handlers.py): the replica that owned them may have died
between applying a change and publishing the lists it altered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from nnmatch import kafka_clients
from nnmatch.settings import KafkaSettings
from nnmatch.topics import PROFILE_VECTORS, topic_name

log = logging.getLogger(__name__)

OWNERS_GROUP = "nnmatch-matcher-owners"
SESSION_TIMEOUT_MS = 10_000  # how long a dead replica keeps its partitions
POLL_INTERVAL_S = 1.0  # far inside max_poll_interval_ms (5 minutes)
SETTLE_TIMEOUT_S = 60.0


class Ownership:
    """The partitions of `profile-vectors.v1` this replica owns, kept by a group membership."""

    def __init__(
        self,
        kafka: KafkaSettings,
        client_id: str,
        on_gained: Callable[[set[int]], None] | None = None,
        group: str = OWNERS_GROUP,
    ) -> None:
        self._kafka = kafka
        self._client_id = client_id
        self._group = group
        self._on_gained = on_gained
        self.partitions: frozenset[int] = frozenset()
        self.assigned = asyncio.Event()  # set once the group gave this replica its first share
        self.settled = asyncio.Event()  # cleared from a revocation until the next assignment
        self._held: frozenset[int] = frozenset()  # before the revocation under way
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    def owns(self, partition: int) -> bool:
        return partition in self.partitions

    async def wait_settled(self, timeout_s: float = SETTLE_TIMEOUT_S) -> None:
        """Return once no rebalance is under way: during one no replica owns anything, and a
        list skipped then would be published by no one. Raises TimeoutError past `timeout_s`
        (the batch fails and is redelivered)."""
        async with asyncio.timeout(timeout_s):
            await self.settled.wait()

    async def start(self, timeout_s: float = 60.0) -> None:
        """Join the group and wait for the first assignment (start-up retries on a time-out)."""
        consumer = kafka_clients.consumer(
            self._kafka,
            client_id=self._client_id,
            group_id=self._group,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=SESSION_TIMEOUT_MS // 4,
        )
        await kafka_clients.start(consumer, self._kafka)
        consumer.subscribe(
            [topic_name(PROFILE_VECTORS, self._kafka)], listener=_Listener(self, consumer)
        )
        self._consumer = consumer
        self._task = asyncio.create_task(self._hold(consumer), name="matcher ownership")
        try:
            async with asyncio.timeout(timeout_s):
                await self.assigned.wait()
        except TimeoutError:
            await self.stop()
            raise

    async def _hold(self, consumer: AIOKafkaConsumer) -> None:
        """Poll (every partition paused: nothing is fetched) so the membership stays alive
        and rebalances are taken part in."""
        while True:
            try:
                # With every partition paused a poll returns at once: pace it, never spin.
                await consumer.getmany(timeout_ms=0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker away: the group takes the partitions back
                log.warning("ownership poll failed", extra={"error": repr(exc)})
            await asyncio.sleep(POLL_INTERVAL_S)

    def _assign(self, partitions: set[int]) -> None:
        """The first assignment gains nothing to check: this process's own consumers start
        after it, from their committed offsets, and redo what a previous run left undone."""
        gained = partitions - self._held if self.assigned.is_set() else set()
        self.partitions = self._held = frozenset(partitions)
        self.assigned.set()
        self.settled.set()
        log.info(
            "matcher partitions assigned",
            extra={"partitions": sorted(partitions), "gained": sorted(gained)},
        )
        if gained and self._on_gained is not None:
            self._on_gained(gained)

    def _revoke(self) -> None:
        self.settled.clear()
        self.partitions = frozenset()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._consumer is not None:
            await self._consumer.stop()  # leaves the group: the others take over at once
            self._consumer = None
        self.partitions = self._held = frozenset()
        self.settled.clear()


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, ownership: Ownership, consumer: AIOKafkaConsumer) -> None:
        self._ownership = ownership
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self._ownership._revoke()  # owns nothing until the group settles again

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        if assigned:
            self._consumer.pause(*assigned)
        self._ownership._assign({tp.partition for tp in assigned})
