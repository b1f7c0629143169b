"""The matcher's consumers: vectors and feedback in, re-ranked lists out on matches.v1.

Every replica applies every record (the whole index on each); `publish_matches` ranks and
publishes only the lists of the members this replica owns (`MatcherState.owner`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from nnmatch.events import FeedbackGiven, MatchesComputed, ProfileVectorsComputed, Suggestion
from nnmatch.messaging import (
    MAX_BACKOFF_SECONDS,
    Inbound,
    Rejection,
    publish_until_acknowledged,
)
from nnmatch.publishing import EventPublisher
from nnmatch.topics import MATCHES
from nnmatch_matching.embedding.embedding_cache import model_key
from nnmatch_matching.embedding.model_status import ModelWatch
from nnmatch_matching.matcher.engine import LogPosition, MatchEngine, ModelMismatch
from nnmatch_matching.matcher.exclusions import PairFeedback, SelfFeedback
from nnmatch_matching.matcher.feedback_store import FeedbackStore
from nnmatch_matching.matcher.relist_queue import ImportPause, RelistQueue
from nnmatch_matching.matcher.store import MatchesStore
from nnmatch_matching.metrics import MatchingMetrics, observe_age

log = logging.getLogger(__name__)


async def run_paced(step: Callable[[], Awaitable[object]], interval_s: float, failed: str) -> None:
    """Start `step` every `interval_s` (at once after one that took longer: its pace is the
    work's, not the work plus a pause) until cancelled; after a failure (Redis or Kafka away)
    wait twice as long each time, up to MAX_BACKOFF_SECONDS, and log `failed`: never spin."""
    pause = interval_s
    while True:
        await asyncio.sleep(pause)
        try:
            started = time.monotonic()
            await step()
            pause = max(0.0, interval_s - (time.monotonic() - started))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            pause = min(MAX_BACKOFF_SECONDS, pause * 2)
            log.warning(failed, extra={"error": repr(exc), "retry_in_s": pause})


class Owner(Protocol):
    """Which members' lists this replica publishes (ownership.py `Ownership`)."""

    def owns(self, partition: int) -> bool: ...

    async def wait_settled(self) -> None: ...


class OwnsAll:
    """A matcher alone: it publishes every member's list."""

    def owns(self, partition: int) -> bool:
        return True

    async def wait_settled(self) -> None:
        return None


@dataclass
class LockWaiters:
    """Batches of changes waiting for the engine lock, and when one last came to wait
    (`time.monotonic()`): the one mutable state the handlers share about the lock."""

    changes: int = 0
    last_change_at: float = -math.inf

    def recent(self, now: float, within_s: float) -> bool:
        """True while a change waits or came to wait within `within_s` of `now`."""
        return self.changes > 0 or now - self.last_change_at < within_s


@dataclass(frozen=True)
class MatcherState:
    """What the matcher's handlers share, built once by the bootstrap.

    `lock` is required and shared: the vectors and feedback consumers and the re-rank after a
    model change all change the engine and rank in a worker thread, which must not overlap.
    """

    engine: MatchEngine
    lock: asyncio.Lock
    matches: MatchesStore
    feedback: FeedbackStore
    publisher: EventPublisher
    clock: Callable[[], datetime]
    metrics: MatchingMetrics
    watch: ModelWatch
    owner: Owner = field(default_factory=OwnsAll)
    """Every replica applies every change; each publishes only the lists it owns."""
    queue: RelistQueue = field(default_factory=RelistQueue)
    """Lists and caches left to the background (background.py)."""
    sync_relists: int = 0
    """Lists a batch of changes re-ranks itself beyond its own (and an erased member's
    listers); the rest are queued, so the next batch's own lists do not wait for them."""
    imports: ImportPause = field(default_factory=ImportPause)
    """While a bulk import streams in, its lists wait in the queue (off by default)."""
    waiting: LockWaiters = field(default_factory=LockWaiters)
    """Who waits for `lock`: while changes arrive, the background hands it to a batch of them
    between the parts of a chunk of relists (background.py), so a change waits for one part,
    not a whole chunk."""


async def owned(state: MatcherState, targets: set[str]) -> set[str]:
    """The members of `targets` whose lists this replica ranks and publishes: those whose
    vectors' partition it owns (waits out a rebalance under way, so none is skipped)."""
    await state.owner.wait_settled()
    members = state.engine.members
    return {m for m in targets if m in members and state.owner.owns(members[m].position.partition)}


class MatchChangedMembers:
    """profile-vectors.v1 → index → matches.v1 for changed members and those they affect.

    An erasure (tombstone) also drops the member's feedback state and every mention of them
    in others' (memory and Redis), and their stored list.

    Vectors of a retired model (model_status.py) are skipped: they are from before a model
    change, not malformed. Vectors of a model the embedder announced after this matcher
    started fail the batch (it is redelivered; readiness says to restart); any other model is
    dead-lettered. While a model change is under way only erasures re-rank (the members who
    listed the erased one); `RerankAfterModelChange` ranks everyone after.
    """

    def __init__(self, state: MatcherState) -> None:
        self._state = state

    def already_applied(self, key: str, partition: int, offset: int) -> bool:
        """True for a record the replay at start applied (and still the member's applied
        one): its own list and the caches it enters are the start refresh's work
        (background.py), or `affected_by`'s (`_unpatched`) when the caches came current from
        a snapshot. Scoring it again would do a cold start's whole work twice, and decoding
        it again costs a core for minutes at 55,000 members, so the consumer commits it
        undecoded (`subscribe_batches`). A tombstone is never one: its Redis side effects are
        this consumer's. Read outside the state's lock: True means the engine holds this very
        record, whatever the ranking thread does next."""
        engine = self._state.engine
        return offset < engine.replayed_to.get(partition, 0) and engine.applied_at(
            key, LogPosition(partition, offset)
        )

    async def __call__(self, batch: list[Inbound[ProfileVectorsComputed]]) -> Sequence[Rejection]:
        await self._state.watch.refresh()
        state = self._state
        state.waiting.changes += 1
        state.waiting.last_change_at = time.monotonic()
        try:
            await state.lock.acquire()
        finally:
            state.waiting.changes -= 1
        try:
            return await self._apply(batch)
        finally:
            state.lock.release()

    async def _apply(self, batch: list[Inbound[ProfileVectorsComputed]]) -> Sequence[Rejection]:
        engine, metrics, watch = self._state.engine, self._state.metrics, self._state.watch
        rejections: list[Rejection] = []
        applied: list[ProfileVectorsComputed] = []
        changed: set[str] = set()
        removed: set[str] = set()
        for record in batch:
            if record.key is None:
                continue
            position = LogPosition(record.partition, record.offset)
            if engine.is_stale(record.key, position):
                continue
            if record.event is not None and self.already_applied(
                record.key, record.partition, record.offset
            ):
                continue  # the consumer passes most of them over undecoded (`already_applied`)
            if record.event is None:
                engine.remove(record.key, position)
                removed.add(record.key)
                changed.discard(record.key)
                continue
            try:
                engine.apply(record.event, position)
            except ModelMismatch as exc:
                if await self._other_model(model_key(record.event.model)):
                    continue
                rejections.append(Rejection(record, str(exc)))
                continue
            applied.append(record.event)
            changed.add(record.key)
            removed.discard(record.key)
        metrics.index_members.set(len(engine))
        await self._state.feedback.forget_many(sorted(removed))
        metrics.holding.set(1 if watch.holding else 0)
        imports = self._state.imports
        latest = {e.member_id: e for e in applied if e.member_id in changed}
        imported = {m for m, e in latest.items() if e.origin == "import" and imports.enabled}
        deferred: set[str] = set()
        if imported:
            imports.arrived(len(imported))  # their own lists wait with the others it alters
            was_deferring = imports.deferring
            if not watch.holding and imports.defers(len(engine)):
                deferred = imported  # a bulk load: scanned all at once when it pauses
                if not was_deferring:
                    sizes = {"imported": imports.imported, "indexed": len(engine)}
                    log.info("bulk import: scans deferred to its pause", extra=sizes)
        live = [e for e in applied if e.member_id not in imported]
        # Who listed an erased member is re-ranked now, whatever the cap.
        first = (changed - imported) | {m for r in removed for m in engine.listed_in.get(r, ())}
        # Scored against everyone in a worker thread (under the lock), off the event loop.
        if watch.holding:
            watch.owed = True
            # Erasure does not wait.
            targets = await asyncio.to_thread(engine.affected_by, (), removed, False)
        elif imports.deferring:
            engine.defer(deferred)
            live_ids = changed - deferred
            targets = await asyncio.to_thread(engine.affected_by, live_ids, removed, False)
        else:
            targets = await asyncio.to_thread(engine.affected_by, changed, removed)
        # A batch of nothing but imported vectors: the lists it alters wait for the import.
        for_import = bool(imported) and not live and not removed
        targets = self._capped(targets, first, for_import)
        sources = [e.source_occurred_at for e in live if e.source_occurred_at is not None]
        try:
            # The oldest change of the batch: end-to-end latency errs on the long side.
            await publish_matches(self._state, targets, source=min(sources) if sources else None)
            await self._state.matches.delete_many(sorted(removed))
        except BaseException:
            # What was decided is not lost with the batch: a redelivered record the replay
            # applied is skipped, and `affected_by` has patched the caches already.
            self._state.queue.relist(sorted(targets))
            raise
        observe_age(metrics, "matched", live)
        return rejections

    def _capped(self, targets: set[str], first: set[str], for_import: bool = False) -> set[str]:
        """The targets re-ranked now: `first`, then others in id order up to the cap; the rest
        are queued for the background (their caches are already patched), held there until
        the import pauses if `for_import`."""
        now = targets & first
        rest = sorted(targets - first)
        if for_import:
            self._state.queue.relist_after_import(rest)
            return now
        room = max(0, self._state.sync_relists - len(now))
        self._state.queue.relist(rest[room:])
        return now | set(rest[:room])

    async def _other_model(self, model: str) -> bool:
        """True if vectors of `model` are to be skipped; raises if this matcher is behind."""
        watch = self._state.watch
        if not watch.retired(model):
            await watch.refresh(force=True)  # announced since the last read?
        if watch.retired(model):
            self._state.metrics.skipped_vectors.labels("retired_model").inc()
            return True
        if watch.ahead(model):
            raise ModelAhead(
                f"the embedder now makes vectors of {model}; this matcher compares "
                f"{self._state.engine.model_id}: restart it (NNMATCH_EMBEDDING_MODEL_ID) to follow"
            )
        return False


class ModelAhead(RuntimeError):
    """The embedder moved to a model this matcher does not compare (it must restart)."""


class RerankAfterModelChange:
    """Once a model change is complete, rank every member once (the matcher held back).

    Runs in the background; also picks up a change finished while no matcher ran (the status
    says no one ranked with the new model yet). Ranks in chunks under the engine lock, so the
    consumers get their turn between chunks.
    """

    def __init__(self, state: MatcherState, chunk: int = 256, interval_s: float = 1.0) -> None:
        self._state = state
        self._chunk = chunk
        self._interval_s = interval_s
        self.reranked = 0

    async def run(self) -> None:
        await run_paced(self.step, self._interval_s, "re-rank after model change failed")

    async def step(self) -> bool:
        """Re-rank everyone if a finished change calls for it; True if it did."""
        engine, watch = self._state.engine, self._state.watch
        status = await watch.refresh(force=True)
        holding = watch.holding
        self._state.metrics.holding.set(1 if holding else 0)
        if status is None or holding or status.current != engine.model_id:
            watch.owed = watch.owed or holding
            return False
        if not (watch.owed or status.rerank_owed):
            return False
        async with self._state.lock:
            engine.refreeze()
            engine.forget_pending()  # every cache is scanned below
        members = sorted(engine.members)
        for start in range(0, len(members), self._chunk):
            async with self._state.lock:
                targets = {m for m in members[start : start + self._chunk] if m in engine}
                # As a refresh does (background.py): the caches of the lists ranked here are
                # scanned by their ranking, the others' cleared.
                ranked_here = await owned(self._state, targets)
                engine.invalidate(targets)
                await publish_matches(self._state, targets)
                await asyncio.to_thread(engine.rescan, engine.unbuilt_of(ranked_here))
        await watch.store.ranked(status.current)
        watch.owed = False
        self.reranked += 1
        log.info(
            "re-ranked every member after the model change",
            extra={"model": status.current, "members": len(members)},
        )
        return True


class RecheckGained:
    """After a rebalance, rank the members of the partitions this replica gained and publish
    the lists that differ from the stored ones (also for members named by `check`: at start,
    those whose stored list is of a retired model).

    The replica that owned them may have died after applying a change (every replica applies
    every change) and before publishing the lists it altered: the others applied it too, but
    did not own those lists then. Runs in the background, in chunks under the engine lock, so
    the consumers get their turn between chunks; lists already current are not published
    again (no doubled deliveries). Members waiting in the background's queue are moved to
    the front of its lists instead (`RelistQueue.relist_first`): it ranks them and publishes
    the owned lists that changed, which is this check, and a refresh under way (every member
    queued for a scan, paced over minutes) would otherwise rank them twice.
    """

    def __init__(self, state: MatcherState, chunk: int = 256, interval_s: float = 0.5) -> None:
        self._state = state
        self._chunk = chunk
        self._interval_s = interval_s
        self._pending: set[int] = set()
        self._members: set[str] = set()
        self.published = 0  # lists published by the checks so far
        self.checks = 0  # checks completed

    def gained(self, partitions: set[int]) -> None:
        """Ownership's callback: check these partitions' members soon."""
        self._pending |= partitions

    def check(self, member_ids: Iterable[str]) -> None:
        """Check these members' lists soon (those this replica owns by then)."""
        self._members.update(member_ids)

    async def run(self) -> None:
        await run_paced(self.step, self._interval_s, "check of gained partitions failed")

    async def step(self) -> int:
        """Check the partitions gained so far; returns the lists published."""
        if not (self._pending or self._members) or self._state.watch.holding:
            return 0  # during a model change everyone is ranked once it is complete
        partitions, self._pending = self._pending, set()
        named, self._members = self._members, set()
        try:
            engine, queue = self._state.engine, self._state.queue
            everyone = named.union(
                m for m, s in list(engine.members.items()) if s.position.partition in partitions
            )
            queue.relist_first(sorted(m for m in everyone if m in queue))
            members = sorted(m for m in everyone if m not in queue)
            published = 0
            for start in range(0, len(members), self._chunk):
                async with self._state.lock:
                    chunk = {m for m in members[start : start + self._chunk] if m in engine}
                    published += await publish_matches(self._state, chunk, only_changed=True)
        except BaseException:
            self._pending |= partitions  # checked again from the start: never skipped
            self._members |= named
            raise
        self.published += published
        self.checks += 1
        log.info(
            "checked the lists of gained partitions",
            extra={
                "partitions": sorted(partitions),
                "members": len(members),
                "published": published,
            },
        )
        return published


async def publish_matches(
    state: MatcherState,
    targets: set[str],
    source: datetime | None = None,
    only_changed: bool = False,
) -> int:
    """Rank those of `targets` this replica owns in a worker thread, publish their lists on
    matches.v1, then store them; returns how many were published. `only_changed`: publish
    only lists that differ from the stored one (`same_list`).

    Stored only once Kafka acknowledged them, so a failed publish leaves the stored lists as
    they were. A failed publish is retried (what was not acknowledged, capped exponential
    backoff) until it succeeds or the task is cancelled; the ranking is never redone for it.
    This is the matcher's back-pressure: the consumers call this under the engine lock and
    FastStream's batch subscriber asks aiokafka for its next batch only once the handler
    returned, so no consumer of the matcher fetches while a publish is retried. (Past the
    consumer's `max_poll_interval_ms`, 5 minutes, it leaves its group and the batch is
    redelivered once the publish went through: ranked again once, not lost.) `source` is when
    the profile event behind this recomputation happened, if one did."""
    engine, publisher, metrics = state.engine, state.publisher, state.metrics
    mine = await owned(state, targets)
    if not mine:
        return 0
    with metrics.ranking_seconds.time():
        results = await asyncio.to_thread(engine.matches_for, mine, state.clock())
    if only_changed:
        stored = await state.matches.get_many(sorted(results))
        results = {
            m: s
            for m, s in results.items()
            if m not in stored
            or not same_list(engine.model_id or "", engine.profile_version(m), s, stored[m])
        }
    model_id = engine.model_id or ""
    events = [
        MatchesComputed(
            producer=publisher.service,
            member_id=member_id,
            profile_version=engine.profile_version(member_id),
            model_id=model_id,
            suggestions=suggestions,
            source_occurred_at=source,
        )
        for member_id, suggestions in sorted(results.items())
    ]
    await publish_until_acknowledged(
        publisher,
        MATCHES,
        [(e.member_id, e) for e in events],
        on_retry=metrics.publish_retries.inc,
    )
    await state.matches.put_many(events)
    metrics.matches_computed.inc(len(events))
    return len(events)


def same_list(
    model_id: str, version: int, suggestions: Sequence[Suggestion], stored: MatchesComputed
) -> bool:
    """True if the stored list is of this model and profile version and shows the same
    members in the same order, with the same names, headlines, countries and reasons: a
    score moved in its 4th place (the exposure counts drift) is not worth a publish, nor a
    notification, but a suggested member's new name or headline is (the lists a change
    alters are published by the background through this check)."""

    def said(items: Sequence[Suggestion]) -> list[object]:
        return [s.model_dump(exclude={"score", "computed_at"}) for s in items]

    return (
        stored.model_id == model_id
        and stored.profile_version == version
        and said(suggestions) == said(stored.suggestions)
    )


class ApplyFeedback:
    """feedback.v1 → exclusions (memory and Redis) → matches.v1 for the members it changes.

    Feedback naming a member the matcher does not hold (erased, or never indexed) is dropped:
    keeping it would leave an erased member's id behind. Every record of a batch is written
    and re-ranked even if memory already had it, so a batch redelivered after a failure
    (Redis or Kafka away) completes what the first attempt left undone.
    """

    def __init__(self, state: MatcherState) -> None:
        self._state = state

    async def __call__(self, batch: list[Inbound[FeedbackGiven]]) -> Sequence[Rejection]:
        async with self._state.lock:
            return await self._apply(batch)

    async def _apply(self, batch: list[Inbound[FeedbackGiven]]) -> Sequence[Rejection]:
        engine, metrics = self._state.engine, self._state.metrics
        rejections: list[Rejection] = []
        in_force: list[PairFeedback] = []
        targets: set[str] = set()
        for record in batch:
            event = record.event
            if event is None:
                continue
            if event.member_id not in engine or event.candidate_id not in engine:
                metrics.feedback.labels(str(event.action), "unknown_member").inc()
                continue
            try:
                pair = engine.record_feedback(event.member_id, event.candidate_id, event.action)
            except SelfFeedback as exc:
                rejections.append(Rejection(record, str(exc)))
                continue
            in_force.append(pair)
            targets.update(engine.members_to_rerank(pair))
            metrics.feedback.labels(str(event.action), "applied").inc()
        await self._state.feedback.put_many(in_force)
        if self._state.watch.holding:
            return rejections  # everyone is re-ranked once the model change is complete
        await publish_matches(self._state, targets)
        return rejections
