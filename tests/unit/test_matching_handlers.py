"""The matching handlers on fakes: in-memory stores and publisher, a 4-d engine, a stand-in model.

Each test runs a handler the way its consumer does (a batch of decoded records) and checks what
was published and stored; the real-broker tests keep only the paths that cross Kafka and Redis.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TypeVar

import pytest

from nnmatch.events import (
    Event,
    FeedbackAction,
    FeedbackGiven,
    MatchesComputed,
    ProfileDeleted,
    ProfileUpserted,
    ProfileVectorsComputed,
)
from nnmatch.messaging import Inbound
from nnmatch.observability import Metrics
from nnmatch.publishing import InMemoryPublisher
from nnmatch.topics import MATCHES, PROFILE_VECTORS
from nnmatch_matching.embedding.embedding_cache import MemoryEmbeddingCache
from nnmatch_matching.embedding.handlers import EmbedderState, EmbedProfiles
from nnmatch_matching.embedding.model_status import MemoryModelStatus, ModelWatch, announce
from nnmatch_matching.matcher.engine import LogPosition, MatchEngine
from nnmatch_matching.matcher.exclusions import PairFeedback
from nnmatch_matching.matcher.feedback_store import MemoryFeedbackStore
from nnmatch_matching.matcher.handlers import (
    ApplyFeedback,
    MatchChangedMembers,
    MatcherState,
    ModelAhead,
    RerankAfterModelChange,
)
from nnmatch_matching.matcher.store import MemoryMatchesStore
from nnmatch_matching.metrics import MatchingMetrics
from tests.unit.builders import E0, E1, amina, mentee_vectors, mentor_vectors, vectors_event
from tests.unit.test_embedding_cache import CountingEmbedder

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
MODEL = "test-model@1"
ME = "me-mentor"
E = TypeVar("E", bound=Event)


class Fakes:
    """A matcher on fakes: what the handlers share, and the fakes to look into."""

    def __init__(self, *members: ProfileVectorsComputed, top_n: int = 2) -> None:
        self.engine = MatchEngine(dimensions=4, top_n=top_n, model_id=MODEL)
        for offset, event in enumerate(members):
            self.engine.apply(event, LogPosition(0, offset))
        self.next_offset = len(members)
        self.publisher = InMemoryPublisher()
        self.matches = MemoryMatchesStore()
        self.feedback = MemoryFeedbackStore()
        self.status = MemoryModelStatus()
        self.metrics = MatchingMetrics(Metrics("tests"))
        self.state = MatcherState(
            engine=self.engine,
            lock=asyncio.Lock(),
            matches=self.matches,
            feedback=self.feedback,
            publisher=self.publisher,
            clock=lambda: NOW,
            metrics=self.metrics,
            watch=ModelWatch(self.status, lambda: self.engine.model_id, interval_s=0),
        )

    def records(self, *items: tuple[str, E | None]) -> list[Inbound[E]]:
        """Records at the next offsets of partition 0, as a consumer batch."""
        batch = [
            Inbound(key, event, "topic", 0, self.next_offset + i, 0)
            for i, (key, event) in enumerate(items)
        ]
        self.next_offset += len(items)
        return batch

    def published_lists(self) -> dict[str, list[str]]:
        """The last list published per member, as candidate ids."""
        lists: dict[str, list[str]] = {}
        for record in self.publisher.on(MATCHES):
            assert isinstance(record.event, MatchesComputed)
            lists[record.key] = [s.member_id for s in record.event.suggestions]
        return lists

    async def stored(self, member_id: str) -> list[str] | None:
        computed = await self.matches.get(member_id)
        return None if computed is None else [s.member_id for s in computed.suggestions]


def _mentee_of_model(member_id: str, model_id: str) -> ProfileVectorsComputed:
    member = mentee_vectors(member_id, 0).card
    return vectors_event(member_id, member, profile=E0, offers=E1, seeks=E0, model_id=model_id)


def _feedback(member_id: str, candidate_id: str, action: FeedbackAction) -> FeedbackGiven:
    return FeedbackGiven(
        producer="tests", member_id=member_id, candidate_id=candidate_id, action=action
    )


def _skipped(metrics: MatchingMetrics, reason: str) -> float:
    return float(metrics.skipped_vectors.labels(reason)._value.get())


async def test_a_vectors_batch_publishes_and_stores_the_lists_of_changed_members() -> None:
    fakes = Fakes()
    batch = fakes.records(
        (ME, mentor_vectors(ME)), ("m0", mentee_vectors("m0", 0)), ("m1", mentee_vectors("m1", 1))
    )

    rejections = await MatchChangedMembers(fakes.state)(batch)

    assert rejections == []
    assert fakes.published_lists()[ME] == ["m0", "m1"]
    assert set(fakes.published_lists()) == {ME, "m0", "m1"}
    assert await fakes.stored(ME) == ["m0", "m1"]
    [published] = [r.event for r in fakes.publisher.on(MATCHES) if r.key == ME]
    assert await fakes.matches.get(ME) == published, "the stored list is the published one"


async def test_a_new_member_reaches_the_lists_of_members_it_fits() -> None:
    fakes = Fakes(mentor_vectors(ME), mentee_vectors("m1", 1))

    await MatchChangedMembers(fakes.state)(fakes.records(("m0", mentee_vectors("m0", 0))))

    assert fakes.published_lists()[ME] == ["m0", "m1"], "ME is re-ranked by reverse update"
    assert await fakes.stored(ME) == ["m0", "m1"]


async def test_a_tombstone_removes_the_member_their_feedback_and_their_stored_list() -> None:
    fakes = Fakes(mentor_vectors(ME), mentee_vectors("m0", 0), mentee_vectors("m1", 1))
    await fakes.feedback.put_many(
        [
            PairFeedback(ME, "m1", FeedbackAction.ACCEPT),
            PairFeedback("m0", ME, FeedbackAction.ACCEPT),
        ]
    )
    fakes.engine.exclusions.load(await fakes.feedback.load_all())
    await MatchChangedMembers(fakes.state)(fakes.records(("m2", mentee_vectors("m2", 2))))
    assert await fakes.stored("m0") is not None

    await MatchChangedMembers(fakes.state)(fakes.records(("m0", None)))

    assert "m0" not in fakes.engine
    assert not fakes.engine.exclusions.mentions("m0")
    assert await fakes.feedback.load_all() == [PairFeedback(ME, "m1", FeedbackAction.ACCEPT)]
    assert await fakes.stored("m0") is None
    assert fakes.published_lists()[ME] == ["m2"], "ME's list no longer holds m0 (m1 accepted)"


async def test_a_record_older_than_the_one_applied_is_skipped() -> None:
    fakes = Fakes(mentor_vectors(ME))
    handler = MatchChangedMembers(fakes.state)
    newer = Inbound("m0", mentee_vectors("m0", 0, profile_version=2), "topic", 0, 10, 0)
    await handler([newer])
    fakes.publisher.records.clear()

    older = Inbound("m0", mentee_vectors("m0", 5, profile_version=1), "topic", 0, 9, 0)
    assert await handler([older]) == []

    assert fakes.engine.profile_version("m0") == 2
    assert fakes.publisher.records == [], "nothing changed, nothing published"


async def test_vectors_of_a_retired_model_are_skipped_and_of_an_unknown_model_refused() -> None:
    fakes = Fakes(mentor_vectors(ME))
    await fakes.status.put(announce(announce(None, "old-model@1"), MODEL), NOW)
    old = _mentee_of_model("m0", "old-model")
    unknown = _mentee_of_model("m1", "other")

    rejections = await MatchChangedMembers(fakes.state)(fakes.records(("m0", old), ("m1", unknown)))

    assert [r.record.key for r in rejections] == ["m1"], "dead-lettered, with the reason"
    assert "m0" not in fakes.engine
    assert _skipped(fakes.metrics, "retired_model") == 1


async def test_vectors_of_a_model_announced_after_start_fail_the_batch() -> None:
    fakes = Fakes(mentor_vectors(ME))
    await fakes.status.put(announce(announce(None, MODEL), "next-model@1"), NOW)
    ahead = _mentee_of_model("m0", "next-model")

    with pytest.raises(ModelAhead):
        await MatchChangedMembers(fakes.state)(fakes.records(("m0", ahead)))


async def test_while_a_model_change_runs_only_erasures_re_rank() -> None:
    fakes = Fakes(mentor_vectors(ME), mentee_vectors("m0", 0), mentee_vectors("m1", 1))
    await MatchChangedMembers(fakes.state)(fakes.records(("m2", mentee_vectors("m2", 2))))
    await fakes.status.put(announce(announce(None, "old-model@1"), MODEL), NOW)  # switching
    fakes.publisher.records.clear()

    await MatchChangedMembers(fakes.state)(
        fakes.records(("m3", mentee_vectors("m3", 0)), ("m0", None))
    )

    assert "m3" in fakes.engine, "indexed meanwhile"
    assert set(fakes.published_lists()) == {ME}, "only who listed the erased one is re-ranked"
    assert "m0" not in fakes.published_lists()[ME]
    assert fakes.state.watch.owed


async def test_after_a_model_change_everyone_is_re_ranked_once() -> None:
    fakes = Fakes(mentor_vectors(ME), mentee_vectors("m0", 0), mentee_vectors("m1", 1))
    changed = announce(announce(None, "old-model@1"), MODEL)
    await fakes.status.put(changed, NOW)
    await fakes.status.complete(MODEL, NOW)
    rerank = RerankAfterModelChange(fakes.state, chunk=2)

    assert await rerank.step()
    assert not await rerank.step(), "once"

    assert set(fakes.published_lists()) == {ME, "m0", "m1"}
    status = await fakes.status.get()
    assert status is not None
    assert not status.rerank_owed


async def test_a_block_excludes_both_ways_is_stored_and_re_ranks_both() -> None:
    fakes = Fakes(mentor_vectors(ME), mentee_vectors("m0", 0), mentee_vectors("m1", 1))
    mentor2 = mentor_vectors("mentor-2")
    await MatchChangedMembers(fakes.state)(fakes.records(("mentor-2", mentor2)))
    fakes.publisher.records.clear()

    given = _feedback(ME, "m0", FeedbackAction.BLOCK)
    assert await ApplyFeedback(fakes.state)(fakes.records((ME, given))) == []

    lists = fakes.published_lists()
    assert set(lists) == {ME, "m0"}, "both sides of the block are re-ranked"
    assert "m0" not in lists[ME]
    assert ME not in lists["m0"]
    assert lists["m0"][0] == "mentor-2", "the other mentor takes the place"
    assert await fakes.feedback.get(ME) == {"m0": FeedbackAction.BLOCK}
    assert await fakes.stored(ME) == lists[ME]


async def test_a_dismissal_re_ranks_only_the_member_who_gave_it() -> None:
    fakes = Fakes(mentor_vectors(ME), mentee_vectors("m0", 0), mentee_vectors("m1", 1))

    await ApplyFeedback(fakes.state)(
        fakes.records((ME, _feedback(ME, "m0", FeedbackAction.DISMISS)))
    )

    assert fakes.published_lists() == {ME: ["m1"]}


async def test_feedback_naming_a_member_the_matcher_does_not_hold_is_dropped() -> None:
    fakes = Fakes(mentor_vectors(ME))

    rejections = await ApplyFeedback(fakes.state)(
        fakes.records((ME, _feedback(ME, "erased", FeedbackAction.BLOCK)))
    )

    assert rejections == []
    assert await fakes.feedback.load_all() == []
    assert not fakes.engine.exclusions.mentions("erased")
    assert fakes.publisher.records == []


async def test_feedback_on_oneself_is_refused() -> None:
    fakes = Fakes(mentor_vectors(ME))

    rejections = await ApplyFeedback(fakes.state)(
        fakes.records((ME, _feedback(ME, ME, FeedbackAction.ACCEPT)))
    )

    assert [r.record.key for r in rejections] == [ME]
    assert await fakes.feedback.load_all() == []


class Embedder:
    """The embedder role on fakes."""

    def __init__(self) -> None:
        self.model = CountingEmbedder()
        self.cache = MemoryEmbeddingCache()
        self.publisher = InMemoryPublisher()
        self.erased: list[tuple[list[str], int]] = []  # (members, records published before)
        self.state = EmbedderState(
            self.model,
            self.cache,
            self.publisher,
            MatchingMetrics(Metrics("tests")),
            asyncio.Lock(),
        )
        self.handler = EmbedProfiles(self.state, on_erased=self._on_erased)

    async def _on_erased(self, member_ids: Sequence[str]) -> None:
        self.erased.append((list(member_ids), len(self.publisher.records)))


def _profile(member_id: str, version: int, **overrides: object) -> ProfileUpserted:
    return ProfileUpserted(
        producer="tests", member_id=member_id, version=version, profile=amina(**overrides)
    )


def _inbound(
    *items: tuple[str, ProfileUpserted | ProfileDeleted | None],
) -> list[Inbound[ProfileUpserted | ProfileDeleted]]:
    return [Inbound(key, event, "profiles", 0, i, 0) for i, (key, event) in enumerate(items)]


async def test_the_embedder_publishes_each_members_latest_profile_and_caches_it() -> None:
    role = Embedder()

    await role.handler(_inbound(("m-1", _profile("m-1", 1)), ("m-1", _profile("m-1", 2))))

    [record] = role.publisher.on(PROFILE_VECTORS)
    assert isinstance(record.event, ProfileVectorsComputed)
    assert (record.key, record.event.profile_version) == ("m-1", 2), "latest state wins"
    assert role.cache.entries["m-1"].profile_version == 2
    assert len(role.model.seen) == 3, "three texts of one profile"


async def test_an_erasure_publishes_a_tombstone_and_forgets_the_cached_vectors() -> None:
    role = Embedder()
    await role.handler(_inbound(("m-1", _profile("m-1", 1))))

    deleted = ProfileDeleted(producer="tests", member_id="m-1")
    await role.handler(_inbound(("m-1", deleted), ("m-1", None)))

    assert role.publisher.on(PROFILE_VECTORS)[-1].event is None
    assert role.cache.entries == {}
    assert role.erased == [(["m-1"], 1)], "heard of before its tombstone was published"


async def test_a_failed_vectors_publish_leaves_the_cache_as_it_was() -> None:
    role = Embedder()
    role.publisher.fail_next = ConnectionError("broker away")

    with pytest.raises(ConnectionError):
        await role.handler(_inbound(("m-1", _profile("m-1", 1))))

    assert role.cache.entries == {}, "a redelivery embeds again rather than trusting the cache"
