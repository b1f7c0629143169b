"""After a model change, re-embed every member in the background from `profiles.v1`.

The embedder announces its model at start (model_status.py). If that is a change, this task
reads the compacted `profiles.v1` from the beginning up to the end offsets seen at its start,
twice: the first pass finds each member's latest record in that range (an erased member's is
its deletion), the second re-embeds those latest profiles in small batches. The live embedder
keeps going meanwhile; both take the same lock around read cache → embed → publish → write
cache, and a member is skipped if the cache already holds vectors of the new model for this
version or any model for a newer one, so a live update always wins over the re-embed.

Resumable: the cache tells who is done, so a restart walks again and embeds only the rest.
A member whose cache shows a newer version made by the old model (an old replica still ran)
is taken up by another pass once its record is inside the range. One replica walks at a time
(a Redis lease); the others take over if its lease lapses.

Other embedder replicas have their own lock. Erasure stays safe across them: each notes an
erasure in Redis before publishing its tombstone, and the walk checks after each batch
(`_undo_erased`). A profile update that another replica publishes in the very moment the
walk handles the same member may end up before the walk's vectors on the topic: that member
then keeps vectors of its previous profile (of the new model) until their next change.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import Counter, Gauge

from nnmatch import kafka_clients
from nnmatch.events import (
    ProfileDeleted,
    ProfileUpserted,
    UndecodableRecord,
    check_key,
)
from nnmatch.member_keys import MemberKeys
from nnmatch.observability import Metrics
from nnmatch.settings import KafkaSettings
from nnmatch.shredding import open_events
from nnmatch.topics import PROFILE_VECTORS, PROFILES, topic_name
from nnmatch_matching.embedding.embedding_cache import CachedEmbedding, model_key
from nnmatch_matching.embedding.handlers import EmbedderState, embed_with_cache
from nnmatch_matching.embedding.model_status import ModelStatusStore

log = logging.getLogger(__name__)

MAX_PASSES = 3
LEASE_MS = 60_000
READ_RECORDS = 500


class ReembedMetrics:
    def __init__(self, metrics: Metrics) -> None:
        reg = metrics.registry
        self.members = Counter(
            "nnmatch_reembed_members_total",
            "Members the background re-embed after a model change handled, by outcome: "
            "reembedded, current (already on the new model: a live update or an earlier run), "
            "newer_elsewhere (a newer profile is embedded by the old model; another pass).",
            ["outcome"],
            registry=reg,
        )
        self.remaining = Gauge(
            "nnmatch_reembed_remaining_members",
            "Members the running re-embed has still to look at (0 when none runs).",
            registry=reg,
        )


@dataclass(frozen=True)
class Latest:
    """Where a member's latest profile record in the walked range is."""

    partition: int
    offset: int


def skip_reason(entry: CachedEmbedding | None, version: int, model: str) -> str | None:
    """Why a member's profile `version` needs no re-embed with `model`, or None if it does."""
    if entry is None:
        return None
    if entry.profile_version > version:
        return "current" if entry.model == model else "newer_elsewhere"
    if entry.model == model and entry.profile_version == version:
        return "current"
    return None


@dataclass
class Reembedder:
    """The background re-embed of one embedder process (see the module docstring)."""

    kafka: KafkaSettings
    state: EmbedderState  # shared with the live embedder: its lock makes them take turns
    status: ModelStatusStore
    progress: ReembedMetrics
    clock: Callable[[], datetime]
    keys: MemberKeys  # opens the sealed profiles it reads
    batch_members: int = 32
    pause_s: float = 0.1
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    erased: set[str] = field(default_factory=set)
    reembedded: int = 0

    async def forget(self, member_ids: Sequence[str]) -> None:
        """Members erased live (before their tombstones): never re-embed them from older records.

        Kept here for this process and in Redis for the walking replica, whichever it is."""
        self.erased.update(member_ids)
        await self.status.note_erased(member_ids)

    async def keep_running(self) -> None:
        """`run_until_done`, retried with backoff while Kafka or Redis is away (background)."""
        delay = 1.0
        while True:
            try:
                await self.run_until_done()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error(
                    "re-embed failed; it resumes where it stopped",
                    extra={"error": f"{type(exc).__name__}: {exc}", "retry_in_s": delay},
                )
                await asyncio.sleep(delay)
                delay = min(30.0, delay * 2)

    async def run_until_done(self) -> None:
        """Re-embed while the announced model is this one and the change is incomplete."""
        model = model_key(self.state.embedder.model)
        while True:
            status = await self.status.get()
            if status is None or status.current != model or not status.switching:
                return
            if await self.status.take_lead(self.owner, LEASE_MS):
                try:
                    await self.run(model, status.replacing)
                finally:
                    await self.status.give_up_lead(self.owner)
                return
            await asyncio.sleep(LEASE_MS / 2000)  # another replica walks; take over if it stops

    async def run(self, model: str, replacing: str) -> None:
        started = time.monotonic()
        log.info("re-embed after a model change started", extra={"model": model, "was": replacing})
        for attempt in range(1, MAX_PASSES + 1):
            deferred = await self._pass(model)
            if not deferred:
                break
            log.warning(
                "members hold newer profiles embedded by another model; another pass",
                extra={"members": deferred, "pass": attempt},
            )
        self.progress.remaining.set(0)
        done = await self.status.complete(model, self.clock())
        log.info(
            "re-embed after a model change finished",
            extra={
                "model": model,
                "reembedded": self.reembedded,
                "seconds": round(time.monotonic() - started, 1),
                "marked_complete": done,
            },
        )

    async def _pass(self, model: str) -> int:
        """One walk over the topic as it is now; returns members left to another pass."""
        consumer = kafka_clients.consumer(
            self.kafka,
            client_id=f"{self.kafka.client_id}-reembed",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await kafka_clients.start(consumer, self.kafka)
        try:
            topic = topic_name(PROFILES, self.kafka)
            await consumer.topics()
            partitions = sorted(consumer.partitions_for_topic(topic) or ())
            tps = [TopicPartition(topic, p) for p in partitions]
            if not tps:
                return 0
            consumer.assign(tps)
            ends = await kafka_clients.end_offsets(consumer, tps)
            latest: dict[str, Latest | None] = {}
            async for member_id, partition, offset, event in _records(
                consumer, tps, ends, self.keys
            ):
                upserted = isinstance(event, ProfileUpserted)
                latest[member_id] = Latest(partition, offset) if upserted else None
            wanted = {m: at for m, at in latest.items() if at is not None}
            return await self._embed_latest(consumer, tps, ends, wanted, model)
        finally:
            await consumer.stop()

    async def _embed_latest(
        self,
        consumer: AIOKafkaConsumer,
        tps: list[TopicPartition],
        ends: dict[TopicPartition, int],
        wanted: dict[str, Latest],
        model: str,
    ) -> int:
        """Second read: re-embed each wanted member's latest profile, a small batch at a time."""
        remaining = len(wanted)
        self.progress.remaining.set(remaining)
        await self.status.progress(self.reembedded, remaining)
        deferred = 0
        batch: list[ProfileUpserted] = []
        async for member_id, partition, offset, event in _records(consumer, tps, ends, self.keys):
            if wanted.get(member_id) != Latest(partition, offset):
                continue
            if isinstance(event, ProfileUpserted):
                batch.append(event)
            if len(batch) >= self.batch_members:
                deferred += await self._embed(batch, model)
                remaining -= len(batch)
                batch = []
                self.progress.remaining.set(remaining)
                await self.status.progress(self.reembedded, remaining)
                await asyncio.sleep(self.pause_s)  # low priority: the live embedder goes first
        if batch:
            deferred += await self._embed(batch, model)
        return deferred

    async def _embed(self, batch: list[ProfileUpserted], model: str) -> int:
        """Re-embed the members of `batch` that need it; returns how many were deferred."""
        deferred = 0
        state = self.state
        async with state.lock:
            if not await self.status.take_lead(self.owner, LEASE_MS):
                raise RuntimeError("another embedder took over the re-embed")
            ids = [e.member_id for e in batch]
            erased = self.erased | await self.status.erased_among(ids)
            cached = await state.cache.get_many(ids)
            todo: list[ProfileUpserted] = []
            for event in batch:
                if event.member_id in erased:
                    continue
                reason = skip_reason(cached.get(event.member_id), event.version, model)
                if reason is None:
                    todo.append(event)
                    continue
                self.progress.members.labels(reason).inc()
                deferred += reason == "newer_elsewhere"
            made = await embed_with_cache(state, todo)
            await state.publisher.publish_many(
                PROFILE_VECTORS, [(e.member_id, e) for e in made.events]
            )
            await state.cache.put_many(made.entries)
            await self._undo_erased([e.member_id for e in made.events])
        self.reembedded += len(made.events)
        self.progress.members.labels("reembedded").inc(len(made.events))
        return deferred

    async def _undo_erased(self, published: list[str]) -> None:
        """A member erased (by another replica) while this batch was embedded gets its
        tombstone again after these vectors, and loses the cache entry just written.

        An erasure is noted before its tombstone is published, so one this check misses was
        noted after it, hence tombstoned after these vectors: the end state is erased."""
        late = sorted(
            self.erased.intersection(published) | await self.status.erased_among(published)
        )
        if late:
            await self.state.publisher.publish_many(PROFILE_VECTORS, [(m, None) for m in late])
            await self.state.cache.delete_many(late)
            log.info("re-embed undid members erased meanwhile", extra={"members": len(late)})


async def _records(
    consumer: AIOKafkaConsumer,
    tps: list[TopicPartition],
    ends: dict[TopicPartition, int],
    keys: MemberKeys,
) -> AsyncIterator[tuple[str, int, int, ProfileUpserted | ProfileDeleted | None]]:
    """(member id, partition, offset, event or None for a tombstone) of every profile record
    before `ends`, from the beginning; undecodable ones are left to the live consumer's DLQ,
    and an erased member's (sealed under a key that is gone) read as a tombstone."""
    await consumer.seek_to_beginning(*tps)
    pending = {tp for tp in tps if ends[tp] > 0}
    while pending:
        batches = await consumer.getmany(*pending, timeout_ms=1000, max_records=READ_RECORDS)
        for tp, records in batches.items():
            wanted = [r for r in records if r.offset < ends[tp] and r.key is not None]
            values = [r.value for r in wanted if r.value is not None]
            opened = iter(await open_events(keys, values, (ProfileUpserted, ProfileDeleted)))
            for record in wanted:
                member_id = record.key.decode("utf-8", errors="replace")
                event: ProfileUpserted | ProfileDeleted | None = None
                if record.value is not None:
                    decoded = next(opened)
                    if isinstance(decoded, UndecodableRecord):
                        continue
                    if decoded is not None:
                        try:
                            check_key(member_id, decoded)
                        except UndecodableRecord:
                            continue
                        event = cast(ProfileUpserted | ProfileDeleted, decoded)
                yield member_id, record.partition, record.offset, event
        for tp in list(pending):
            if await consumer.position(tp) >= ends[tp]:
                pending.discard(tp)
