"""The matching stores' contract (tests/unit/test_matching_stores.py) on the real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from nnmatch_matching.embedding.model_status import ModelStatusStore, RedisModelStatus
from nnmatch_matching.matcher.feedback_store import FeedbackStore, RedisFeedbackStore
from nnmatch_matching.matcher.store import MatchesStore, RedisMatchesStore
from tests.support import Namespace
from tests.unit.test_matching_stores import (  # noqa: F401  (collected here on the real Redis)
    test_a_stored_list_is_the_latest_one_and_an_erasure_deletes_it,
    test_erasures_are_noted_only_while_a_change_runs_and_cleared_when_it_completes,
    test_feedback_keeps_the_action_in_force_per_pair_and_loads_back,
    test_forgetting_a_member_erases_their_feedback_and_every_mention_of_them,
    test_one_replica_holds_the_re_embed_lease,
    test_the_status_round_trips_and_completes_only_the_model_it_names,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis(namespace: Namespace) -> AsyncIterator[Redis]:
    client = Redis.from_url(namespace.stack.redis.address)
    yield client
    await client.aclose()


@pytest.fixture
def matches_store(redis: Redis, namespace: Namespace) -> MatchesStore:
    return RedisMatchesStore(redis, namespace.redis_prefix)


@pytest.fixture
def feedback_store(redis: Redis, namespace: Namespace) -> FeedbackStore:
    return RedisFeedbackStore(redis, namespace.redis_prefix)


@pytest.fixture
def status_store(redis: Redis, namespace: Namespace) -> ModelStatusStore:
    return RedisModelStatus(redis, namespace.redis_prefix)
