"""What only the Redis adapters can show against a real Redis: the never-twice rule holds under
concurrent writers (Lua scripts), and an erasure leaves no key naming the member. The rest of
their contract runs in test_store_contracts.py on Redis and on the fakes."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from nnmatch_notifications.contacts import RedisContacts
from nnmatch_notifications.outbox import RedisOutbox
from nnmatch_notifications.store import RedisInbox
from tests.support import Namespace
from tests.unit.test_notifications_stores import EMAIL, item, shown

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


@pytest.fixture
async def redis(namespace: Namespace) -> AsyncIterator[Redis]:
    client = Redis.from_url(namespace.stack.redis.address)
    yield client
    await client.aclose()


async def test_a_pair_enters_the_inbox_once_even_when_offered_concurrently(
    namespace: Namespace, redis: Redis
) -> None:
    inbox = RedisInbox(redis, namespace.redis_prefix, max_items=100)
    results = await asyncio.gather(*(inbox.add_new("m-a", [item("m-b")], 5) for _ in range(10)))

    assert sum(results) == 1
    assert await shown(inbox, "m-a") == ["m-b"]


async def test_only_one_of_concurrent_senders_claims_a_member(
    namespace: Namespace, redis: Redis
) -> None:
    inbox = RedisInbox(redis, namespace.redis_prefix, max_items=100)
    outbox = RedisOutbox(redis, namespace.redis_prefix)
    await inbox.add_new_many([("m-s", [item("c-1")])], 5, {"m-s": NOW})
    claims = await asyncio.gather(*(outbox.claim("m-s") for _ in range(10)))

    assert sum(claim is not None for claim in claims) == 1


async def test_an_erasure_leaves_no_key_naming_the_member_and_a_day_long_marker(
    namespace: Namespace, redis: Redis
) -> None:
    inbox = RedisInbox(redis, namespace.redis_prefix, max_items=100)
    outbox = RedisOutbox(redis, namespace.redis_prefix)
    await RedisContacts(redis, namespace.redis_prefix).put("m-x", EMAIL, NOW)
    await inbox.add_new_many(
        [("m-a", [item("m-x")]), ("m-x", [item("m-a")])], 5, {"m-x": NOW}, update_ids=["u", "u"]
    )
    assert await redis.exists(f"{namespace.redis_prefix}applied:m-x")
    await inbox.accept("m-x", "m-a", (item("m-a"), item("m-x")), (None, None))
    await inbox.record_joined([("m-x", NOW)])
    await outbox.count_sent("m-x", "2026-11-23", 1)

    await inbox.erase("m-x")
    keys = [k.decode() async for k in redis.scan_iter(match=f"{namespace.redis_prefix}*")]

    assert [k for k in keys if "m-x" in k] == []  # not even the marker names the member
    marker = (
        f"{namespace.redis_prefix}erased:{hashlib.sha1(b'm-x', usedforsecurity=False).hexdigest()}"
    )
    assert 0 < await redis.ttl(marker) <= 86_400
