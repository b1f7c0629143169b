"""The matching stores' contract (tests/unit/test_matching_stores.py) on the real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from nnmatch_matching.embedding.model_status import ModelStatusStore, RedisModelStatus
from nnmatch_matching.matcher.feedback_store import FeedbackStore, RedisFeedbackStore
from nnmatch_matching.matcher.store import MatchesStore, RedisMatchesStore
from tests.support import Namespace
from tests.unit.test_matching_stores import *  # noqa: F403 - its tests, run here on Redis

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis(namespace: Namespace) -> AsyncIterator[Redis]:
    client = Redis.from_url(namespace.stack.redis.address)
    yield client
    await client.aclose()


@pytest.fixture  # type: ignore[no-redef]
def matches_store(redis: Redis, namespace: Namespace) -> MatchesStore:
    return RedisMatchesStore(redis, namespace.redis_prefix)


@pytest.fixture  # type: ignore[no-redef]
def feedback_store(redis: Redis, namespace: Namespace) -> FeedbackStore:
    return RedisFeedbackStore(redis, namespace.redis_prefix)


@pytest.fixture  # type: ignore[no-redef]
def status_store(redis: Redis, namespace: Namespace) -> ModelStatusStore:
    return RedisModelStatus(redis, namespace.redis_prefix)
