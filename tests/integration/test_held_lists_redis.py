"""The `HeldLists` contract tests of tests/unit/test_held_lists.py, on Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from nnmatch_notifications.held import HeldLists, RedisHeldLists
from tests.support import Namespace
from tests.unit.test_held_lists import *  # noqa: F403 - its tests, run here on Redis

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis(namespace: Namespace) -> AsyncIterator[Redis]:
    client = Redis.from_url(namespace.stack.redis.address)
    yield client
    await client.aclose()


@pytest.fixture  # type: ignore[no-redef]
def held_lists(namespace: Namespace, redis: Redis) -> HeldLists:
    """Replaces the unit module's fixture: the same tests, on Redis."""
    return RedisHeldLists(redis, namespace.redis_prefix)
