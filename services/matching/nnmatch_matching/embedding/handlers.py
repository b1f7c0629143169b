"""The embedder's consumer: profiles.v1 → profile-vectors.v1, a thin step over vectorize."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from nnmatch.events import ProfileDeleted, ProfileUpserted, ProfileVectorsComputed
from nnmatch.messaging import Inbound, Publisher, Rejection
from nnmatch.topics import PROFILE_VECTORS
from nnmatch_matching.embedding.embedder import Embedder
from nnmatch_matching.embedding.embedding_cache import EmbeddingCache
from nnmatch_matching.embedding.vectorize import Vectorized, vectorize
from nnmatch_matching.metrics import MatchingMetrics, observe_age

ProfileEvent = ProfileUpserted | ProfileDeleted


def latest_per_member(batch: Sequence[Inbound[ProfileEvent]]) -> list[Inbound[ProfileEvent]]:
    """Only the last record of each member in a batch matters (latest state wins)."""
    latest: dict[str, Inbound[ProfileEvent]] = {}
    for record in batch:
        if record.key is not None:
            latest.pop(record.key, None)
            latest[record.key] = record
    return list(latest.values())


class EmbedProfiles:
    """profiles.v1 → profile-vectors.v1: three vectors per member, or a tombstone on erasure.

    Texts whose hash and model match the member's cache entry keep their cached vector; the
    event is published all the same (the card may have changed). The cache is written after
    Kafka acknowledged the vectors and erased with the member. `lock` is shared with the
    background re-embed (reembed.py): read cache → embed → publish → write cache happens for
    one batch at a time, so a re-embed never overwrites a newer profile's vectors.
    """

    def __init__(
        self,
        embedder: Embedder,
        publisher: Publisher,
        metrics: MatchingMetrics,
        cache: EmbeddingCache,
        lock: asyncio.Lock | None = None,
        on_erased: Callable[[Sequence[str]], Awaitable[None]] | None = None,
    ) -> None:
        self._embedder = embedder
        self._publisher = publisher
        self._metrics = metrics
        self._cache = cache
        self._lock = lock or asyncio.Lock()
        self._on_erased = on_erased

    async def __call__(self, batch: list[Inbound[ProfileEvent]]) -> Sequence[Rejection]:
        records = latest_per_member(batch)
        upserts = [r.event for r in records if isinstance(r.event, ProfileUpserted)]
        gone = [r.key for r in records if not isinstance(r.event, ProfileUpserted) and r.key]
        outgoing: list[tuple[str, ProfileVectorsComputed | None]] = [(m, None) for m in gone]
        if gone and self._on_erased is not None:
            await self._on_erased(gone)  # first: a running re-embed must not revive them
        async with self._lock:
            made = await embed_with_cache(
                self._embedder, self._cache, self._metrics, upserts, self._publisher.service
            )
            outgoing.extend((e.member_id, e) for e in made.events)
            await self._publisher.publish_many(PROFILE_VECTORS, outgoing)
            await self._cache.put_many(made.entries)
            await self._cache.delete_many(gone)
        observe_age(self._metrics, "embedded", [r.event for r in records])
        return []


async def embed_with_cache(
    embedder: Embedder,
    cache: EmbeddingCache,
    metrics: MatchingMetrics,
    upserts: Sequence[ProfileUpserted],
    producer: str,
) -> Vectorized:
    """Vectors of `upserts` from the cache and the model, counted by outcome (not yet stored)."""
    if not upserts:
        return Vectorized([], [], embedded=0, reused=0)
    cached = await cache.get_many([e.member_id for e in upserts])
    with metrics.embedding_seconds.time():
        made = await vectorize(embedder, upserts, cached, producer)
    metrics.embedded_texts.labels("embedded").inc(made.embedded)
    metrics.embedded_texts.labels("reused").inc(made.reused)
    return made
