"""The contracts of tests/unit/test_invitation_stores.py on the Redis adapters against a real
Redis: the fakes the invitation tests use are held to what production does."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from nnmatch_notifications.directory import Directory, RedisDirectory
from nnmatch_notifications.invitation_store import Invitations, RedisInvitations
from tests.support import Namespace
from tests.unit.test_invitation_stores import *  # noqa: F403 - its tests, run here on Redis

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis(namespace: Namespace) -> AsyncIterator[Redis]:
    client = Redis.from_url(namespace.stack.redis.address)
    yield client
    await client.aclose()


@pytest.fixture  # type: ignore[no-redef]
def invitations(namespace: Namespace, redis: Redis) -> Invitations:
    return RedisInvitations(redis, namespace.redis_prefix)


@pytest.fixture  # type: ignore[no-redef]
def directory(namespace: Namespace, redis: Redis) -> Directory:
    return RedisDirectory(redis, namespace.redis_prefix)
