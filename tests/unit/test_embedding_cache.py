"""Unchanged text is never embedded again: the plan, the vectorizer and both cache adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import fakeredis
import numpy as np
import pytest

from nnmatch.events import EmbeddingModel, ProfileUpserted, VectorKind
from nnmatch_matching.embedding.embedder import Matrix
from nnmatch_matching.embedding.embedding_cache import (
    CachedEmbedding,
    EmbeddingCache,
    MemoryEmbeddingCache,
    RedisEmbeddingCache,
    model_key,
)
from nnmatch_matching.embedding.texts import member_texts
from nnmatch_matching.embedding.vectorize import plan, vectorize
from tests.unit.builders import amina


class CountingEmbedder:
    """A stand-in model: each text's vector from its hash; remembers every text it was given."""

    def __init__(self, model_id: str = "fake", dimensions: int = 8) -> None:
        self.model = EmbeddingModel(id=model_id, version="1", dimensions=dimensions)
        self.seen: list[str] = []

    def encode(self, texts: Sequence[str]) -> Matrix:
        self.seen.extend(texts)
        rows = [np.random.default_rng(abs(hash(t)) % 2**32).normal(size=8) for t in texts]
        matrix = np.asarray(rows, dtype=np.float32)
        normalised: Matrix = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
        return normalised


def _upsert(version: int, **overrides: Any) -> ProfileUpserted:
    return ProfileUpserted(
        producer="tests", member_id="m-1", version=version, profile=amina(**overrides)
    )


def test_a_cache_entry_of_the_same_model_and_text_is_reused_kind_by_kind() -> None:
    before = member_texts(amina())
    after = member_texts(amina(bio="A new bio about soil sensors."))
    entry = CachedEmbedding(
        "fake@1",
        1,
        {k: plan([before], [None], "fake@1").hashes[0][k] for k in VectorKind},
        {k: bytes(32) for k in VectorKind},
    )

    same = plan([before], [entry], "fake@1")
    changed_bio = plan([after], [entry], "fake@1")
    other_model = plan([before], [entry], "other@2")

    assert same.to_embed == []
    assert changed_bio.to_embed == [(0, VectorKind.PROFILE)], "the bio is in the profile text"
    assert set(changed_bio.reused) == {(0, VectorKind.OFFERS), (0, VectorKind.SEEKS)}
    assert len(other_model.to_embed) == 3
    assert not other_model.reused


async def test_a_card_only_change_reuses_every_vector_and_still_makes_the_event() -> None:
    embedder = CountingEmbedder()
    first = await vectorize(embedder, [_upsert(1)], {}, "tests")
    [(member, entry)] = first.entries
    calls = len(embedder.seen)

    moved = await vectorize(embedder, [_upsert(2, country="GH")], {member: entry}, "tests")

    assert (first.embedded, first.reused) == (3, 0)
    assert (moved.embedded, moved.reused) == (0, 3)
    assert len(embedder.seen) == calls, "the model was not called"
    [event] = moved.events
    assert event.card.country == "GH"
    assert event.profile_version == 2
    assert event.vectors == first.events[0].vectors
    assert moved.entries[0][1].profile_version == 2
    assert model_key(event.model) == entry.model == "fake@1"


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[EmbeddingCache]:
    if request.param == "memory":
        yield MemoryEmbeddingCache()
        return
    redis = fakeredis.FakeAsyncRedis()
    yield RedisEmbeddingCache(redis, "nnmatch:test:")
    await redis.aclose()


async def test_the_cache_keeps_vectors_byte_for_byte_and_forgets_on_erasure(
    cache: EmbeddingCache,
) -> None:
    vector = np.arange(8, dtype="<f4").tobytes()
    entry = CachedEmbedding(
        "fake@1", 3, {k: f"h-{k.value}" for k in VectorKind}, {k: vector for k in VectorKind}
    )
    await cache.put_many([("m-1", entry), ("m-2", entry)])

    assert await cache.get_many(["m-1", "m-3"]) == {"m-1": entry}
    await cache.delete_many(["m-1"])
    assert await cache.get_many(["m-1", "m-2"]) == {"m-2": entry}
