"""The member key store's contract, run on Redis and on the in-memory fake alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from nnmatch.member_keys import MemberKeys, MemoryMemberKeys, RedisMemberKeys
from tests.support import Namespace, redis_mentions

pytestmark = pytest.mark.integration


@pytest.fixture(params=["redis", "memory"])
async def keys(request: pytest.FixtureRequest, namespace: Namespace) -> AsyncIterator[MemberKeys]:
    if request.param == "memory":
        yield MemoryMemberKeys()
        return
    client = Redis.from_url(namespace.stack.redis.address)
    yield RedisMemberKeys(client, namespace.redis_prefix)
    await client.aclose()


async def test_a_key_is_created_once_and_then_read(keys: MemberKeys) -> None:
    created = await keys.get_or_create_many(["m-a", "m-b"])
    again = await keys.get_or_create_many(["m-a"])

    assert set(created) == {"m-a", "m-b"}
    assert again["m-a"] == created["m-a"]
    assert await keys.get_many(["m-a", "m-b", "m-none"]) == created


async def test_concurrent_creators_agree_on_one_key(keys: MemberKeys) -> None:
    results = await asyncio.gather(*(keys.get_or_create_many(["m-race"]) for _ in range(10)))

    assert len({r["m-race"].key_id for r in results}) == 1


async def test_erasure_leaves_no_key_and_a_later_write_does_not_make_one(keys: MemberKeys) -> None:
    await keys.get_or_create_many(["m-gone"])

    await keys.delete("m-gone")

    assert await keys.get_many(["m-gone"]) == {}
    assert await keys.get_or_create_many(["m-gone"]) == {}


async def test_the_members_own_write_revives_them_with_a_new_key(keys: MemberKeys) -> None:
    old = (await keys.get_or_create_many(["m-back"]))["m-back"]
    await keys.delete("m-back")

    new = (await keys.get_or_create_many([], revive=["m-back"]))["m-back"]

    assert new.key_id != old.key_id
    assert await keys.get_many(["m-back"]) == {"m-back": new}


async def test_no_redis_key_names_the_member(namespace: Namespace) -> None:
    client = Redis.from_url(namespace.stack.redis.address)
    try:
        keys = RedisMemberKeys(client, namespace.redis_prefix)
        await keys.get_or_create_many(["m-named"])
        await keys.delete("m-named")
    finally:
        await client.aclose()

    assert (
        await redis_mentions(namespace.stack.redis.address, namespace.redis_prefix, "m-named") == []
    )
