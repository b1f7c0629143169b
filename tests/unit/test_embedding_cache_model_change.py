"""A model change: the announced status, who the re-embed skips (live updates win), and when the
matcher holds back ranking. The status store, the model and the publisher are stand-ins."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from nnmatch.events import Event, ProfileUpserted, ProfileVectorsComputed, VectorKind
from nnmatch.member_keys import MemoryMemberKeys
from nnmatch.observability import Metrics
from nnmatch.publishing import EventPublisher
from nnmatch.settings import KafkaSettings
from nnmatch.topics import TopicSpec
from nnmatch_matching.embedding.embedding_cache import CachedEmbedding, MemoryEmbeddingCache
from nnmatch_matching.embedding.handlers import EmbedderState
from nnmatch_matching.embedding.model_status import (
    MemoryModelStatus,
    ModelStatus,
    ModelWatch,
    announce,
)
from nnmatch_matching.embedding.reembed import Reembedder, ReembedMetrics, skip_reason
from nnmatch_matching.metrics import MatchingMetrics
from tests.unit.builders import amina
from tests.unit.test_embedding_cache import CountingEmbedder

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


def test_a_first_start_is_complete_and_another_model_starts_a_change() -> None:
    first = announce(None, "a@1")
    again = announce(first, "a@1")
    changed = announce(first, "b@1")
    back = announce(ModelStatus("b@1", "a@1", ("a@1",), complete=True, ranked="b@1"), "a@1")

    assert first == ModelStatus(current="a@1", ranked="a@1")
    assert not first.switching
    assert again is first, "the same model keeps the status: a cut-short change resumes"
    assert changed == ModelStatus(
        "b@1", replacing="a@1", retired=("a@1",), complete=False, ranked="a@1"
    )
    assert changed.switching
    assert back.retired == ("b@1",), "a model in use is never retired"


@pytest.mark.parametrize(
    ("cached", "version", "reason"),
    [
        (None, 3, None),
        (("a@1", 3), 3, None),
        (("a@1", 2), 3, None),
        (("b@1", 3), 3, "current"),
        (("b@1", 4), 3, "current"),  # a live update embedded a newer profile: it wins
        (("a@1", 4), 3, "newer_elsewhere"),
        (("b@1", 2), 3, None),
    ],
)
def test_the_re_embed_skips_members_already_on_the_model_or_newer(
    cached: tuple[str, int] | None, version: int, reason: str | None
) -> None:
    entry = (
        None
        if cached is None
        else CachedEmbedding(cached[0], cached[1], dict.fromkeys(VectorKind, "h"), {})
    )
    assert skip_reason(entry, version, "b@1") == reason


@pytest.fixture
def status_store() -> MemoryModelStatus:
    return MemoryModelStatus()  # held to MemoryModelStatus by tests/unit/test_matching_stores.py


async def test_the_matcher_holds_only_while_its_own_model_is_being_filled(
    status_store: MemoryModelStatus,
) -> None:
    engine_model: list[str | None] = ["b@1"]
    watch = ModelWatch(status_store, lambda: engine_model[0], interval_s=3600)
    await status_store.put(announce(announce(None, "a@1"), "b@1"), NOW)

    await watch.refresh()
    assert watch.holding
    assert watch.retired("a@1")
    assert not watch.retired("z@9"), "a model never announced is not skipped: dead letter"
    engine_model[0] = "a@1"
    assert not watch.holding
    assert watch.ahead("b@1"), "this matcher is behind the embedder"

    engine_model[0] = "b@1"
    await status_store.complete("b@1", NOW)
    assert watch.holding, "read at most every interval"
    await watch.refresh(force=True)
    assert not watch.holding


class FakePublisher:
    service = "tests"

    def __init__(self, during: Callable[[], Awaitable[None]] | None = None) -> None:
        self.published: list[tuple[str, Event | None]] = []
        self._during = during

    async def publish_many(
        self, spec: TopicSpec, items: Sequence[tuple[str, Event | None]]
    ) -> None:
        self.published.extend(items)
        if self._during is not None:
            during, self._during = self._during, None
            await during()


def _upsert(member_id: str, version: int) -> ProfileUpserted:
    return ProfileUpserted(producer="tests", member_id=member_id, version=version, profile=amina())


async def test_a_re_embed_batch_never_overwrites_a_newer_or_erased_member(
    status_store: MemoryModelStatus,
) -> None:
    model = "b@1"
    cache = MemoryEmbeddingCache()
    old = CachedEmbedding("a@1", 1, dict.fromkeys(VectorKind, "h"), {})
    cache.entries = {
        "on-old": old,
        "live-won": CachedEmbedding("b@1", 2, dict.fromkeys(VectorKind, "h"), {}),
        "newer-on-old": CachedEmbedding("a@1", 2, dict.fromkeys(VectorKind, "h"), {}),
        "erased": old,
    }
    publisher = FakePublisher()
    reembed = _reembedder(status_store, cache, publisher)
    await reembed.forget(["erased"])

    batch = [_upsert(m, 1) for m in ("on-old", "live-won", "newer-on-old", "erased", "new")]
    deferred = await reembed._embed(batch, model)

    assert deferred == 1, "the newer profile embedded by the old model waits for another pass"
    published: dict[str, Any] = dict(publisher.published)
    assert sorted(published) == ["new", "on-old"]
    assert all(isinstance(e, ProfileVectorsComputed) for e in published.values())
    assert cache.entries["on-old"].model == model
    assert cache.entries["live-won"].profile_version == 2, "the live update was kept"
    assert cache.entries["newer-on-old"].model == "a@1"
    assert reembed.reembedded == 2


def _reembedder(
    status: MemoryModelStatus, cache: MemoryEmbeddingCache, publisher: FakePublisher
) -> Reembedder:
    metrics = Metrics("tests")
    state = EmbedderState(
        CountingEmbedder("b"),
        cache,
        cast(EventPublisher, publisher),
        MatchingMetrics(metrics),
        asyncio.Lock(),
    )
    kafka = KafkaSettings(
        bootstrap_servers="unused:9092",
        partitions=1,
        replication_factor=1,
        topic_prefix="",
        client_id="tests",
        enable_idempotence=False,
    )
    return Reembedder(
        kafka, state, status, ReembedMetrics(metrics), lambda: NOW, MemoryMemberKeys()
    )


async def test_a_member_erased_by_another_replica_is_never_revived(
    status_store: MemoryModelStatus,
) -> None:
    await status_store.put(announce(announce(None, "a@1"), "b@1"), NOW)
    other_replica = _reembedder(status_store, MemoryEmbeddingCache(), FakePublisher())
    await other_replica.forget(["before"])  # erased live elsewhere before this batch

    async def erase_meanwhile() -> None:
        await other_replica.forget(["meanwhile"])  # erased while this batch was embedded

    publisher = FakePublisher(during=erase_meanwhile)
    cache = MemoryEmbeddingCache()
    walker = _reembedder(status_store, cache, publisher)

    await walker._embed([_upsert(m, 1) for m in ("before", "meanwhile", "kept")], "b@1")

    assert [(m, e is None) for m, e in publisher.published] == [
        ("meanwhile", False),
        ("kept", False),
        ("meanwhile", True),  # its tombstone again, after the vectors
    ]
    assert sorted(cache.entries) == ["kept"]
    assert walker.reembedded == 2

    await status_store.complete("b@1", NOW)
    assert await status_store.erased_among(["before", "meanwhile"]) == set(), "cleaned up"
