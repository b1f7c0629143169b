"""One contract for each matching store, run on the in-memory fake and on Redis (fakeredis here;
tests/integration/test_matching_store_contracts.py runs the same tests on the real Redis).

The handlers are tested on the fakes, so a fake that drifts from its Redis adapter would let a
handler test pass that production fails: these tests hold both to one behaviour.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import fakeredis
import pytest

from nnmatch.events import FeedbackAction, MatchesComputed, Suggestion
from nnmatch_matching.embedding.model_status import (
    MemoryModelStatus,
    ModelStatusStore,
    RedisModelStatus,
    announce,
)
from nnmatch_matching.matcher.exclusions import PairFeedback
from nnmatch_matching.matcher.feedback_store import (
    FeedbackStore,
    MemoryFeedbackStore,
    RedisFeedbackStore,
)
from nnmatch_matching.matcher.store import MatchesStore, MemoryMatchesStore, RedisMatchesStore

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
PREFIX = "nnmatch:test:"
BACKENDS = ["memory", "fakeredis"]

ACCEPT, DISMISS, BLOCK = FeedbackAction.ACCEPT, FeedbackAction.DISMISS, FeedbackAction.BLOCK


@pytest.fixture(params=BACKENDS)
async def matches_store(request: pytest.FixtureRequest) -> AsyncIterator[MatchesStore]:
    if request.param == "memory":
        yield MemoryMatchesStore()
        return
    redis = fakeredis.FakeAsyncRedis()
    yield RedisMatchesStore(redis, PREFIX)
    await redis.aclose()


@pytest.fixture(params=BACKENDS)
async def feedback_store(request: pytest.FixtureRequest) -> AsyncIterator[FeedbackStore]:
    if request.param == "memory":
        yield MemoryFeedbackStore()
        return
    redis = fakeredis.FakeAsyncRedis()
    yield RedisFeedbackStore(redis, PREFIX)
    await redis.aclose()


@pytest.fixture(params=BACKENDS)
async def status_store(request: pytest.FixtureRequest) -> AsyncIterator[ModelStatusStore]:
    if request.param == "memory":
        yield MemoryModelStatus()
        return
    redis = fakeredis.FakeAsyncRedis()
    yield RedisModelStatus(redis, PREFIX)
    await redis.aclose()


def _computed(member_id: str, *candidates: str) -> MatchesComputed:
    return MatchesComputed(
        producer="tests",
        member_id=member_id,
        profile_version=1,
        model_id="m@1",
        suggestions=[
            Suggestion(
                member_id=c,
                score=1.0 - i / 10,
                reasons=[],
                display_name=c,
                country="KE",
                computed_at=NOW,
            )
            for i, c in enumerate(candidates)
        ],
    )


async def test_a_stored_list_is_the_latest_one_and_an_erasure_deletes_it(
    matches_store: MatchesStore,
) -> None:
    other = _computed("m-2", "m-1")
    await matches_store.put_many([_computed("m-1", "m-2"), other])
    await matches_store.put_many([_computed("m-1", "m-3")])

    latest = await matches_store.get("m-1")
    assert latest is not None
    assert [s.member_id for s in latest.suggestions] == ["m-3"]
    await matches_store.delete_many(["m-1", "never-stored"])
    assert await matches_store.get("m-1") is None
    assert await matches_store.get("m-2") == other
    await matches_store.put_many([])
    await matches_store.delete_many([])


async def test_feedback_keeps_the_action_in_force_per_pair_and_loads_back(
    feedback_store: FeedbackStore,
) -> None:
    await feedback_store.put_many(
        [PairFeedback("m-1", "m-2", DISMISS), PairFeedback("m-1", "m-3", ACCEPT)]
    )
    await feedback_store.put_many([PairFeedback("m-1", "m-2", BLOCK)])  # the later word is stored
    await feedback_store.put_many([])

    assert await feedback_store.get("m-1") == {"m-2": BLOCK, "m-3": ACCEPT}
    assert await feedback_store.get("m-2") == {}
    assert sorted(await feedback_store.load_all(), key=lambda p: p.candidate_id) == [
        PairFeedback("m-1", "m-2", BLOCK),
        PairFeedback("m-1", "m-3", ACCEPT),
    ]


async def test_forgetting_a_member_erases_their_feedback_and_every_mention_of_them(
    feedback_store: FeedbackStore,
) -> None:
    await feedback_store.put_many(
        [
            PairFeedback("gone", "m-1", ACCEPT),
            PairFeedback("m-1", "gone", BLOCK),
            PairFeedback("m-1", "m-2", DISMISS),
            PairFeedback("m-2", "gone", DISMISS),
        ]
    )

    await feedback_store.forget_many(["gone"])

    assert await feedback_store.get("gone") == {}
    assert await feedback_store.get("m-1") == {"m-2": DISMISS}
    assert await feedback_store.get("m-2") == {}
    assert await feedback_store.load_all() == [PairFeedback("m-1", "m-2", DISMISS)]


async def test_the_status_round_trips_and_completes_only_the_model_it_names(
    status_store: ModelStatusStore,
) -> None:
    assert await status_store.get() is None
    changed = announce(announce(None, "a@1"), "b@1")
    await status_store.put(changed, NOW)
    assert await status_store.get() == changed

    assert not await status_store.complete("c@1", NOW)
    assert await status_store.complete("b@1", NOW)
    done = await status_store.get()
    assert done is not None
    assert done.rerank_owed
    await status_store.ranked("c@1")
    assert await status_store.get() == done, "a model not current is never marked ranked"
    await status_store.ranked("b@1")
    ranked = await status_store.get()
    assert ranked is not None
    assert not ranked.rerank_owed


async def test_one_replica_holds_the_re_embed_lease(status_store: ModelStatusStore) -> None:
    assert await status_store.take_lead("one", 60_000)
    assert await status_store.take_lead("one", 60_000), "renewed"
    assert not await status_store.take_lead("two", 60_000)
    await status_store.give_up_lead("two")
    assert not await status_store.take_lead("two", 60_000), "only the holder gives it up"
    await status_store.give_up_lead("one")
    assert await status_store.take_lead("two", 60_000)


async def test_erasures_are_noted_only_while_a_change_runs_and_cleared_when_it_completes(
    status_store: ModelStatusStore,
) -> None:
    await status_store.put(announce(None, "a@1"), NOW)
    await status_store.note_erased(["quiet"])
    assert await status_store.erased_among(["quiet"]) == set(), "no change runs"

    await status_store.put(announce(announce(None, "a@1"), "b@1"), NOW)
    await status_store.note_erased(["gone", "also-gone"])
    assert await status_store.erased_among(["gone", "kept"]) == {"gone"}
    assert await status_store.erased_among([]) == set()

    assert await status_store.complete("b@1", NOW)
    assert await status_store.erased_among(["gone", "also-gone"]) == set()
