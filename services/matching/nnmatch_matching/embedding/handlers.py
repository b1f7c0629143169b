"""The embedder's consumer: profiles.v1 → profile-vectors.v1, a thin step over vectorize."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from nnmatch.events import ProfileDeleted, ProfileUpserted, ProfileVectorsComputed
from nnmatch.messaging import Inbound, Rejection, latest_per_key
from nnmatch.publishing import EventPublisher
from nnmatch.topics import PROFILE_VECTORS
from nnmatch_matching.embedding.embedder import Embedder
from nnmatch_matching.embedding.embedding_cache import EmbeddingCache
from nnmatch_matching.embedding.vectorize import Vectorized, vectorize
from nnmatch_matching.metrics import MatchingMetrics, observe_age

ProfileEvent = ProfileUpserted | ProfileDeleted


@dataclass(frozen=True)
class EmbedderState:
    """What the live embedder and the background re-embed share, built once by the bootstrap.

    `lock` is required and shared: read cache → embed → publish → write cache happens for one
    batch at a time, so a re-embed (reembed.py) never overwrites a newer profile's vectors.
    """

    embedder: Embedder
    cache: EmbeddingCache
    publisher: EventPublisher
    metrics: MatchingMetrics
    lock: asyncio.Lock


class EmbedProfiles:
    """profiles.v1 → profile-vectors.v1: three vectors per member, or a tombstone on erasure.

    Texts whose hash and model match the member's cache entry keep their cached vector; the
    event is published all the same (the card may have changed). The cache is written after
    Kafka acknowledged the vectors and erased with the member. `on_erased` hears of erasures
    before their tombstones are published (a running re-embed must not revive them).
    """

    def __init__(
        self,
        state: EmbedderState,
        on_erased: Callable[[Sequence[str]], Awaitable[None]] | None = None,
    ) -> None:
        self._state = state
        self._on_erased = on_erased

    async def __call__(self, batch: list[Inbound[ProfileEvent]]) -> Sequence[Rejection]:
        state = self._state
        records = latest_per_key(batch)
        upserts = [r.event for r in records if isinstance(r.event, ProfileUpserted)]
        gone = [r.key for r in records if not isinstance(r.event, ProfileUpserted) and r.key]
        outgoing: list[tuple[str, ProfileVectorsComputed | None]] = [(m, None) for m in gone]
        if gone and self._on_erased is not None:
            await self._on_erased(gone)
        async with state.lock:
            made = await embed_with_cache(state, upserts)
            outgoing.extend((e.member_id, e) for e in made.events)
            await state.publisher.publish_many(PROFILE_VECTORS, outgoing)
            await state.cache.put_many(made.entries)
            await state.cache.delete_many(gone)
        observe_age(state.metrics, "embedded", [r.event for r in records])
        return []


async def embed_with_cache(state: EmbedderState, upserts: Sequence[ProfileUpserted]) -> Vectorized:
    """Vectors of `upserts` from the cache and the model, counted by outcome (not yet stored)."""
    if not upserts:
        return Vectorized([], [], embedded=0, reused=0)
    cached = await state.cache.get_many([e.member_id for e in upserts])
    with state.metrics.embedding_seconds.time():
        made = await vectorize(state.embedder, upserts, cached, state.publisher.service)
    state.metrics.embedded_texts.labels("embedded").inc(made.embedded)
    state.metrics.embedded_texts.labels("reused").inc(made.reused)
    return made
