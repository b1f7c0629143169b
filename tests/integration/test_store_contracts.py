"""The store contracts of tests/unit/test_notifications_stores.py and
tests/unit/test_profiles_store.py, run on the Redis adapters against a real Redis: the
in-memory fakes the unit tests use are held to what production does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from nnmatch_notifications.contacts import RedisContacts
from nnmatch_notifications.outbox import LEASE_MS, RedisOutbox
from nnmatch_notifications.store import RedisInbox
from nnmatch_profiles.store import ProfileStore, RedisProfileStore
from tests.support import Namespace
from tests.unit.test_notifications_stores import *  # noqa: F403 - its tests, run here on Redis
from tests.unit.test_notifications_stores import MakeStores, Stores
from tests.unit.test_profiles_store import *  # noqa: F403 - its tests, run here on Redis

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis(namespace: Namespace) -> AsyncIterator[Redis]:
    client = Redis.from_url(namespace.stack.redis.address)
    yield client
    await client.aclose()


@pytest.fixture  # type: ignore[no-redef]
def make_stores(namespace: Namespace, redis: Redis) -> MakeStores:
    """Replaces the unit module's fixture: the same tests, on Redis."""
    prefix = namespace.redis_prefix

    def make(*, cooling_off_s: int = 0, lease_ms: int = LEASE_MS, max_items: int = 100) -> Stores:
        return Stores(
            RedisInbox(redis, prefix, max_items, cooling_off_s=cooling_off_s),
            RedisOutbox(redis, prefix, lease_ms),
            RedisContacts(redis, prefix),
            asyncio.sleep,
        )

    return make


@pytest.fixture  # type: ignore[no-redef]
def profile_store(namespace: Namespace, redis: Redis) -> ProfileStore:
    return RedisProfileStore(redis, namespace.redis_prefix)
