"""Who lists whom, on every replica and after every restart: read from the lists themselves.

A replica ranks only the members it owns (ownership.py), yet its rankings count every
member's exposure (in how many lists a candidate is) and its reverse updates need every
list's members and cut-off. `rebuild_listings` takes them from the stored lists at start-up
(the matches store holds each member's latest published list), so a restart changes nothing;
`ListingsFollower` then reads `matches.v1` (all partitions, no consumer group) from where the
rebuild began and adopts the lists other replicas publish. A replica's own members are left
to its own rankings: their cut-offs there are exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from nnmatch import kafka_clients
from nnmatch.events import MatchesComputed
from nnmatch.member_keys import MemberKeys
from nnmatch.settings import KafkaSettings
from nnmatch.shredding import LIST_HEAD_HEADER, open_list_heads
from nnmatch.topics import MATCHES, topic_name
from nnmatch_matching.matcher.engine import MatchEngine
from nnmatch_matching.matcher.store import MatchesStore

log = logging.getLogger(__name__)

FETCH_RECORDS = 2000


def adopt(engine: MatchEngine, computed: MatchesComputed) -> None:
    """One published list into the engine's listings."""
    suggestions = computed.suggestions
    engine.adopt_list(
        computed.member_id,
        [s.member_id for s in suggestions],
        suggestions[-1].score if suggestions else None,
    )


@dataclass(frozen=True)
class Rebuilt:
    found: int
    """Stored lists read."""
    other_model: list[str]
    """Members whose stored list was ranked with another model than the engine compares: a
    model change finished while their owner was not running. Their owner re-ranks them."""


async def rebuild_listings(engine: MatchEngine, store: MatchesStore, lock: asyncio.Lock) -> Rebuilt:
    """Every held member's stored list into the engine."""
    members = sorted(engine.members)
    stored = await store.get_many(members)
    async with lock:
        for member_id in members:
            if member_id in stored:
                adopt(engine, stored[member_id])
    model = engine.model_id
    other = [m for m, c in stored.items() if model is not None and c.model_id != model]
    log.info(
        "listings rebuilt from the stored lists",
        extra={"lists": len(stored), "other_model": len(other)},
    )
    return Rebuilt(len(stored), other)


class ListingsFollower:
    """Reads `matches.v1` from `start()`'s offsets on and adopts the lists of members for
    which `mine(member_id)` is False, under the engine's lock."""

    def __init__(
        self,
        kafka: KafkaSettings,
        client_id: str,
        engine: MatchEngine,
        lock: asyncio.Lock,
        mine: Callable[[str], bool],
        keys: MemberKeys,
    ) -> None:
        self._kafka = kafka
        self._keys = keys
        self._client_id = client_id
        self._engine = engine
        self._lock = lock
        self._mine = mine
        self._consumer: AIOKafkaConsumer | None = None
        self.adopted = 0

    async def start(self) -> Mapping[int, int]:
        """Assign every partition at its current end; returns those offsets. Call before the
        stored lists are read, so no list published in between is missed."""
        topic = topic_name(MATCHES, self._kafka)
        consumer = kafka_clients.consumer(
            self._kafka,
            client_id=self._client_id,
            group_id=None,
            enable_auto_commit=False,
        )
        await kafka_clients.start(consumer, self._kafka)
        try:
            await consumer.topics()
            tps = [
                TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps) if tps else {}  # may start low: harmless
            for tp, offset in ends.items():
                consumer.seek(tp, offset)
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        return {tp.partition: offset for tp, offset in ends.items()}

    async def run(self) -> None:
        """Follow the topic until cancelled (a broker away: aiokafka reconnects)."""
        assert self._consumer is not None, "start runs first"
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=1000, max_records=FETCH_RECORDS)
                # A list is keyed by its member: this replica's own lists are skipped before
                # they are opened, which was a quarter of a lone replica's time when it ranked
                # everyone; the others' are read for their heads only: opened whole they were
                # a third of each of two replicas' time, their value's two blobs still a fifth
                # (`LIST_HEAD_HEADER` is one small blob).
                theirs_records = [
                    r
                    for records in batches.values()
                    for r in records
                    if r.value is not None and not self._owned_key(r.key)
                ]
                heads = await open_list_heads(
                    self._keys,
                    [r.value for r in theirs_records],
                    [_list_head(r.headers) for r in theirs_records],
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or key store away; a batch whose keys failed
                # is missed until its owners publish their next lists
                log.warning("reading matches.v1 failed", extra={"error": repr(exc)})
                await asyncio.sleep(1.0)
                continue
            # Undecodable lists are not ours to dead-letter (the notifier's consumer does);
            # they and lists of erased members read as None.
            theirs = [h for h in heads if h is not None and not self._mine(h.member_id)]
            if theirs:
                async with self._lock:
                    for head in theirs:
                        self._engine.adopt_list(head.member_id, head.candidates, head.last_score)
                self.adopted += len(theirs)

    def _owned_key(self, key: bytes | None) -> bool:
        """True if a record's key names a member this replica ranks (keyless: opened)."""
        return key is not None and self._mine(key.decode("utf-8", errors="replace"))

    async def stop(self) -> None:
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.stop()
            self._consumer = None


def _list_head(headers: Sequence[tuple[str, bytes]]) -> bytes | None:
    """A record's `LIST_HEAD_HEADER` (None: it has none, as records of older releases)."""
    for name, value in headers:
        if name == LIST_HEAD_HEADER:
            return value
    return None
