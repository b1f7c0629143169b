"""The Redis adapters against a real Redis: never-twice inbox, paging, version-guarded writes."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from nnmatch.events import Suggestion
from nnmatch.profile import MemberProfile, StoredProfile
from nnmatch_notifications.inbox import ItemKind, NewItem
from nnmatch_notifications.store import RedisInbox
from nnmatch_profiles.store import RedisProfileStore
from tests.support import AMINA, Namespace

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


@pytest.fixture
async def redis(namespace: Namespace) -> AsyncIterator[Redis]:
    client = Redis.from_url(namespace.stack.redis.address)
    yield client
    await client.aclose()


def _item(candidate: str, score: float = 0.5) -> NewItem:
    suggestion = Suggestion(
        member_id=candidate,
        display_name=candidate.upper(),
        country="KE",
        score=score,
        computed_at=NOW,
    )
    return NewItem(
        candidate_id=candidate, kind=ItemKind.SUGGESTION, created_at=NOW, suggestion=suggestion
    )


async def test_a_pair_enters_the_inbox_once_even_when_offered_concurrently(
    namespace: Namespace, redis: Redis
) -> None:
    inbox = RedisInbox(redis, namespace.redis_prefix, max_items=100)
    results = await asyncio.gather(*(inbox.add_new("m-a", [_item("m-b")], 5) for _ in range(10)))
    again = await inbox.add_new("m-a", [_item("m-b"), _item("m-c")], 5)
    items, _ = await inbox.page("m-a", 10, None)

    assert sum(results) == 1
    assert again == 1
    assert [i.suggestion.member_id for i in items] == ["m-c", "m-b"]
    assert await inbox.unread("m-a") == 2


async def test_inbox_pages_newest_first_without_gaps_or_repeats(
    namespace: Namespace, redis: Redis
) -> None:
    inbox = RedisInbox(redis, namespace.redis_prefix, max_items=100)
    for i in range(7):
        await inbox.add_new("m-p", [_item(f"c-{i}")], 1)
    seen: list[str] = []
    cursor = None
    while True:
        items, cursor = await inbox.page("m-p", 3, cursor)
        seen += [i.suggestion.member_id for i in items]
        if cursor is None:
            break

    assert seen == [f"c-{i}" for i in reversed(range(7))]


async def test_a_slow_older_write_never_rolls_a_profile_back(
    namespace: Namespace, redis: Redis
) -> None:
    store = RedisProfileStore(redis, namespace.redis_prefix)
    profile = MemberProfile.model_validate(AMINA)
    newer = StoredProfile(member_id="v-1", version=3, updated_at=NOW, profile=profile)
    older = StoredProfile(
        member_id="v-1",
        version=2,
        updated_at=NOW - timedelta(seconds=1),
        profile=profile.model_copy(update={"headline": "old"}),
    )
    await store.put_many([newer])
    await store.put_many([older])
    kept = await store.get("v-1")
    versions = await store.next_versions(["v-2", "v-2", "v-3"])

    assert kept is not None
    assert kept.version == 3
    assert kept.profile.headline == AMINA["headline"]
    assert versions == [1, 2, 1]
    assert await store.delete("v-1") is True
    assert await store.get("v-1") is None


async def test_erasing_a_member_removes_every_inbox_item_about_them_and_keeps_them_out(
    namespace: Namespace, redis: Redis
) -> None:
    inbox = RedisInbox(redis, namespace.redis_prefix, max_items=100)
    await inbox.add_new("m-a", [_item("m-x"), _item("m-b")], 5)
    await inbox.add_new("m-c", [_item("m-x")], 5)
    await inbox.add_new("m-x", [_item("m-a")], 5)

    removed = await inbox.erase("m-x")
    late = await inbox.add_new("m-b", [_item("m-x")], 5)  # a matches record from before
    own_late = await inbox.add_new("m-x", [_item("m-a")], 5)  # one about the erased member
    a_items, _ = await inbox.page("m-a", 10, None)
    c_items, _ = await inbox.page("m-c", 10, None)
    keys = [k.decode() async for k in redis.scan_iter(match=f"{namespace.redis_prefix}*")]

    assert removed == 2
    assert late == 0
    assert own_late == 0
    assert [i.suggestion.member_id for i in a_items] == ["m-b"]
    assert c_items == []
    assert await inbox.unread("m-a") == 1
    assert await inbox.unread("m-c") == 0
    assert [k for k in keys if "m-x" in k] == []  # not even the marker names the member
    marker = (
        f"{namespace.redis_prefix}erased:{hashlib.sha1(b'm-x', usedforsecurity=False).hexdigest()}"
    )
    assert 0 < await redis.ttl(marker) <= 86_400


async def test_a_pair_comes_back_only_after_the_cooling_off_and_shows_once(
    namespace: Namespace, redis: Redis
) -> None:
    inbox = RedisInbox(redis, namespace.redis_prefix, max_items=100, cooling_off_s=1)
    first = await inbox.add_new("m-a", [_item("m-x")], 5)
    again = await inbox.add_new("m-a", [_item("m-x")], 5)  # a redelivered record
    await asyncio.sleep(1.1)
    later = await inbox.add_new("m-a", [_item("m-x")], 5)
    items, _ = await inbox.page("m-a", 10, None)

    assert (first, again, later) == (1, 0, 1)
    assert [i.suggestion.member_id for i in items] == ["m-x"]  # the newest, once
    never = RedisInbox(redis, namespace.redis_prefix + "never:", max_items=100)
    await never.add_new("m-a", [_item("m-x")], 5)
    await asyncio.sleep(1.1)
    assert await never.add_new("m-a", [_item("m-x")], 5) == 0  # default: never again
