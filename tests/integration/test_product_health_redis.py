"""Product health's Redis store against a real Redis: segments and list freshness, and the
inbox's erasure taking both with the member (nothing of theirs comes back within the day)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from nnmatch_notifications.health import UNSEEN, HealthStore, Segment
from nnmatch_notifications.store import RedisInbox
from tests.support import Namespace

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis(namespace: Namespace) -> AsyncIterator[Redis]:
    client = Redis.from_url(namespace.stack.redis.address)
    yield client
    await client.aclose()


async def test_segments_and_freshness_are_kept_and_erased_with_the_member(
    namespace: Namespace, redis: Redis
) -> None:
    store = HealthStore(redis, namespace.redis_prefix)
    inbox = RedisInbox(redis, namespace.redis_prefix, max_items=10)
    await store.put_segments([("hr-a", Segment("Africa", "yail-nairobi")), ("hr-b", UNSEEN)])
    await store.note_lists([("hr-a", 100.0, True), ("hr-b", 5000.0, False)])

    assert (await store.segments(["hr-a", "hr-c"])) == {
        "hr-a": Segment("Africa", "yail-nairobi"),
        "hr-c": UNSEEN,
    }
    assert await store.without_fresh_list(stale_before=1000.0) == (1, 1)

    await inbox.erase("hr-a")
    await store.put_segments([("hr-a", Segment("Europe", "other"))])  # a late record
    await store.note_lists([("hr-a", 6000.0, True)])

    assert (await store.segments(["hr-a"]))["hr-a"] == UNSEEN
    assert await store.without_fresh_list(stale_before=1000.0) == (0, 0)
    assert await redis.keys(f"{namespace.redis_prefix}segment:hr-a") == []
