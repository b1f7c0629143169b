"""Consumers of the matching service: thin steps from records to domain calls to events."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram

from nnmatch.events import (
    MatchesComputed,
    MemberCard,
    ProfileDeleted,
    ProfileUpserted,
    ProfileVectorsComputed,
    VectorKind,
    encode_vector,
)
from nnmatch.messaging import Inbound, Publisher, Rejection
from nnmatch.observability import Metrics
from nnmatch.topics import MATCHES, PROFILE_VECTORS
from nnmatch_matching.embedder import Embedder, embed_documents
from nnmatch_matching.engine import LogPosition, MatchEngine, ModelMismatch
from nnmatch_matching.store import RedisMatchesStore
from nnmatch_matching.texts import member_texts, text_hash

log = logging.getLogger(__name__)

ProfileEvent = ProfileUpserted | ProfileDeleted


class MatchingMetrics:
    """The matching service's own series, beside the shared Kafka/HTTP ones."""

    def __init__(self, metrics: Metrics) -> None:
        reg = metrics.registry
        self.pipeline_latency = metrics.pipeline_latency
        self.embedded_texts = Counter(
            "nnmatch_embedding_texts_total", "Texts embedded (chunks pooled).", registry=reg
        )
        self.embedding_seconds = Histogram(
            "nnmatch_embedding_batch_duration_seconds",
            "Time to embed one batch of profiles.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=reg,
        )
        self.index_members = Gauge(
            "nnmatch_index_members", "Members held in the matcher's index.", registry=reg
        )
        self.matches_computed = Counter(
            "nnmatch_matches_computed_total",
            "Members whose suggestions were recomputed.",
            registry=reg,
        )
        self.ranking_seconds = Histogram(
            "nnmatch_ranking_batch_duration_seconds",
            "Time to search and re-rank one batch of affected members.",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=reg,
        )


def latest_per_member(batch: Sequence[Inbound[ProfileEvent]]) -> list[Inbound[ProfileEvent]]:
    """Only the last record of each member in a batch matters (latest state wins)."""
    latest: dict[str, Inbound[ProfileEvent]] = {}
    for record in batch:
        if record.key is not None:
            latest.pop(record.key, None)
            latest[record.key] = record
    return list(latest.values())


class EmbedProfiles:
    """profiles.v1 → profile-vectors.v1: three vectors per member, or a tombstone on erasure."""

    def __init__(self, embedder: Embedder, publisher: Publisher, metrics: MatchingMetrics) -> None:
        self._embedder = embedder
        self._publisher = publisher
        self._metrics = metrics

    async def __call__(self, batch: list[Inbound[ProfileEvent]]) -> Sequence[Rejection]:
        records = latest_per_member(batch)
        upserts = [r for r in records if isinstance(r.event, ProfileUpserted)]
        gone = [r.key for r in records if not isinstance(r.event, ProfileUpserted) and r.key]
        outgoing: list[tuple[str, ProfileVectorsComputed | None]] = [(m, None) for m in gone]
        if upserts:
            outgoing.extend(await self._embed(upserts))
        await self._publisher.publish_many(PROFILE_VECTORS, outgoing)
        observe_age(self._metrics, "embedded", [r.event for r in records])
        return []

    async def _embed(
        self, upserts: list[Inbound[ProfileEvent]]
    ) -> list[tuple[str, ProfileVectorsComputed | None]]:
        events = [r.event for r in upserts if isinstance(r.event, ProfileUpserted)]
        texts = [member_texts(e.profile) for e in events]
        documents = [t[kind] for t in texts for kind in VectorKind]
        with self._metrics.embedding_seconds.time():
            # The model runs in a worker thread so health and metrics stay responsive.
            matrix = await asyncio.to_thread(embed_documents, self._embedder, documents)
        self._metrics.embedded_texts.inc(len(documents))
        kinds = list(VectorKind)
        out: list[tuple[str, ProfileVectorsComputed | None]] = []
        for i, (event, member_texts_) in enumerate(zip(events, texts, strict=True)):
            rows = matrix[i * len(kinds) : (i + 1) * len(kinds)]
            out.append(
                (
                    event.member_id,
                    ProfileVectorsComputed(
                        producer=self._publisher.service,
                        member_id=event.member_id,
                        profile_version=event.version,
                        model=self._embedder.model,
                        vectors={k: encode_vector(rows[j]) for j, k in enumerate(kinds)},
                        text_hashes={k: text_hash(member_texts_[k]) for k in kinds},
                        card=MemberCard.from_profile(event.profile),
                    ),
                )
            )
        return out


class MatchChangedMembers:
    """profile-vectors.v1 → index → matches.v1 for changed members and those they affect."""

    def __init__(
        self,
        engine: MatchEngine,
        publisher: Publisher,
        store: RedisMatchesStore,
        clock: Callable[[], datetime],
        metrics: MatchingMetrics,
    ) -> None:
        self._engine = engine
        self._publisher = publisher
        self._store = store
        self._clock = clock
        self._metrics = metrics

    async def __call__(self, batch: list[Inbound[ProfileVectorsComputed]]) -> Sequence[Rejection]:
        rejections: list[Rejection] = []
        applied: list[ProfileVectorsComputed] = []
        changed: set[str] = set()
        removed: set[str] = set()
        for record in batch:
            if record.key is None:
                continue
            position = LogPosition(record.partition, record.offset)
            if self._engine.is_stale(record.key, position):
                continue
            if record.event is None:
                self._engine.remove(record.key, position)
                removed.add(record.key)
                changed.discard(record.key)
                continue
            try:
                self._engine.apply(record.event, position)
            except ModelMismatch as exc:
                rejections.append(Rejection(record, str(exc)))
                continue
            applied.append(record.event)
            changed.add(record.key)
            removed.discard(record.key)
        self._metrics.index_members.set(len(self._engine))
        with self._metrics.ranking_seconds.time():
            targets = self._engine.affected_by(changed, removed)
            results = await asyncio.to_thread(self._engine.matches_for, targets, self._clock())
        model_id = self._engine.model_id or ""
        events = [
            MatchesComputed(
                producer=self._publisher.service,
                member_id=member_id,
                profile_version=self._engine.profile_version(member_id),
                model_id=model_id,
                suggestions=suggestions,
            )
            for member_id, suggestions in sorted(results.items())
        ]
        await self._publisher.publish_many(MATCHES, [(e.member_id, e) for e in events])
        await self._store.put_many(events)
        await self._store.delete_many(sorted(removed))
        self._metrics.matches_computed.inc(len(events))
        observe_age(self._metrics, "matched", applied)
        return rejections


def observe_age(
    metrics: MatchingMetrics,
    stage: str,
    events: Sequence[ProfileEvent | ProfileVectorsComputed | None],
) -> None:
    """How old each upstream event is now that this stage's output is published."""
    now = time.time()
    histogram = metrics.pipeline_latency.labels(stage)
    for event in events:
        if event is not None:
            histogram.observe(max(0.0, now - event.occurred_at.timestamp()))
