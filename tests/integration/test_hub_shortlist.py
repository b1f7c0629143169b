"""A hub's shared shortlist: the store's contract on Redis and on the fake, and the routes
over the real broker and Redis — every leader of the hub sees one list, it is bounded, only
visible members go on it, and erasing a member takes them off every hub's list."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from nnmatch.auth import DevSigningKey, Role
from nnmatch_profiles.bootstrap import build_app
from nnmatch_profiles.settings import ProfilesSettings
from nnmatch_profiles.shortlist_store import (
    MAX_SHORTLIST,
    MemoryShortlistStore,
    RedisShortlistStore,
    ShortlistFull,
    ShortlistStore,
)
from nnmatch_profiles.shortlists import ShortlistService
from nnmatch_tools import devstack
from tests.support import (
    AMINA,
    KOFI,
    NAIROBI_HUB,
    STATE_DIR,
    Namespace,
    as_hub,
    as_member,
    redis_mentions,
    serving,
)

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
HUB = "yail-lagos"


def _leader(member_id: str, hub_id: str = HUB) -> dict[str, str]:
    """A hub token as the identity provider gives one of the hub's leaders: their own
    subject, the hub's claim."""
    key = DevSigningKey.load_or_create(devstack.dev_auth_dir(STATE_DIR))
    return {"authorization": f"Bearer {key.mint(Role.HUB, member_id, hub=hub_id)}"}


@pytest.fixture(params=["redis", "memory"])
async def store(
    request: pytest.FixtureRequest, namespace: Namespace
) -> AsyncIterator[ShortlistStore]:
    if request.param == "memory":
        yield MemoryShortlistStore()
        return
    client = Redis.from_url(namespace.stack.redis.address)
    try:
        yield RedisShortlistStore(client, namespace.redis_prefix)
    finally:
        await client.aclose()


async def _ids(store: ShortlistStore, hub_id: str) -> list[str]:
    return [s.member_id for s in await store.members(hub_id)]


async def test_a_shortlist_keeps_members_once_in_the_order_added(store: ShortlistStore) -> None:
    await store.add("h-1", "m-b", NOW, limit=10)
    await store.add("h-1", "m-a", NOW + timedelta(seconds=1), limit=10)
    await store.add("h-1", "m-b", NOW + timedelta(seconds=2), limit=10)  # already there

    listed = await store.members("h-1")
    assert [s.member_id for s in listed] == ["m-b", "m-a"]
    assert listed[0].added_at == NOW
    assert await store.remove("h-1", "m-b") is True
    assert await store.remove("h-1", "m-b") is False
    assert await _ids(store, "h-1") == ["m-a"]
    assert await _ids(store, "h-other") == []


async def test_a_full_shortlist_refuses_a_new_member_but_not_one_it_holds(
    store: ShortlistStore,
) -> None:
    for i in range(3):
        await store.add("h-1", f"m-{i}", NOW, limit=3)

    with pytest.raises(ShortlistFull, match="3 members"):
        await store.add("h-1", "m-new", NOW, limit=3)
    await store.add("h-1", "m-0", NOW, limit=3)
    assert await _ids(store, "h-1") == ["m-0", "m-1", "m-2"]


async def test_forgetting_a_member_takes_them_off_every_hubs_list(store: ShortlistStore) -> None:
    for hub_id in ("h-1", "h-2"):
        await store.add(hub_id, "m-x", NOW, limit=10)
        await store.add(hub_id, "m-y", NOW, limit=10)
    await store.remove("h-2", "m-x")
    await store.add("h-3", "m-x", NOW, limit=10)
    await store.forget_hub("h-3")

    assert await store.forget_member("m-x") == ["h-1"]
    assert await _ids(store, "h-1") == ["m-y"]
    assert await _ids(store, "h-2") == ["m-y"]
    assert await store.forget_member("m-x") == []


async def test_a_forgotten_hub_leaves_no_key_behind(namespace: Namespace) -> None:
    client = Redis.from_url(namespace.stack.redis.address)
    try:
        store = RedisShortlistStore(client, namespace.redis_prefix)
        await store.add("h-gone", "m-z", NOW, limit=10)
        await store.forget_hub("h-gone")
    finally:
        await client.aclose()

    mentions = await redis_mentions(namespace.stack.redis.address, namespace.redis_prefix, "m-z")
    assert mentions == []


def _app(namespace: Namespace) -> FastAPI:
    return build_app(ProfilesSettings(**namespace.settings()))


async def test_every_leader_of_a_hub_reads_and_changes_one_shortlist(
    namespace: Namespace,
) -> None:
    hidden = AMINA | {"visibility": {"discoverable": False, "show_organisation": True}}
    async with serving(_app(namespace)) as operator:
        for member_id, body in (("sl-amina", AMINA), ("sl-kofi", KOFI), ("sl-hidden", hidden)):
            assert (await operator.put(f"/v1/members/{member_id}", json=body)).status_code == 201
        first, second = _leader("lead-1"), _leader("lead-2")

        added = await operator.put(f"/v1/hubs/{HUB}/shortlist/sl-amina", headers=first)
        again = await operator.put(f"/v1/hubs/{HUB}/shortlist/sl-amina", headers=second)
        await operator.put(f"/v1/hubs/{HUB}/shortlist/sl-kofi", headers=second)
        seen_by_first = await operator.get(f"/v1/hubs/{HUB}/shortlist", headers=first)
        seen_by_hub = await operator.get(f"/v1/hubs/{HUB}/shortlist", headers=as_hub(HUB))
        hidden_member = await operator.put(f"/v1/hubs/{HUB}/shortlist/sl-hidden", headers=first)
        absent_member = await operator.put(f"/v1/hubs/{HUB}/shortlist/sl-absent", headers=first)
        other_hub = await operator.get(f"/v1/hubs/{HUB}/shortlist", headers=as_hub("yail-accra"))
        member = await operator.put(
            f"/v1/hubs/{HUB}/shortlist/sl-kofi", headers=as_member("sl-kofi")
        )
        removed = await operator.delete(f"/v1/hubs/{HUB}/shortlist/sl-amina", headers=first)
        removed_again = await operator.delete(f"/v1/hubs/{HUB}/shortlist/sl-amina", headers=first)
        by_operator = await operator.get(f"/v1/hubs/{HUB}/shortlist")

    assert added.status_code == 200, added.text
    assert added.json()["limit"] == MAX_SHORTLIST
    assert [s["member_id"] for s in again.json()["items"]] == ["sl-amina"]
    for page in (seen_by_first, seen_by_hub):
        assert [s["member_id"] for s in page.json()["items"]] == ["sl-amina", "sl-kofi"]
    # A hidden member reads exactly like one that does not exist.
    assert (hidden_member.status_code, absent_member.status_code) == (404, 404)
    assert hidden_member.json()["detail"].replace("sl-hidden", "?") == absent_member.json()[
        "detail"
    ].replace("sl-absent", "?")
    assert (other_hub.status_code, member.status_code) == (403, 403)
    assert [s["member_id"] for s in removed.json()["items"]] == ["sl-kofi"]
    assert removed_again.status_code == 200
    assert [s["member_id"] for s in by_operator.json()["items"]] == ["sl-kofi"]


async def test_a_full_shortlist_answers_409_with_the_reason(namespace: Namespace) -> None:
    app = _app(namespace)
    service: ShortlistService = app.state.services.shortlists
    service.limit = 2  # the same path as at MAX_SHORTLIST, without 50 profiles
    async with serving(app) as operator:
        for i in range(3):
            assert (await operator.put(f"/v1/members/full-{i}", json=KOFI)).status_code == 201
        hub = as_hub(HUB)
        answers = [
            await operator.put(f"/v1/hubs/{HUB}/shortlist/full-{i}", headers=hub) for i in range(3)
        ]
        listed = await operator.get(f"/v1/hubs/{HUB}/shortlist", headers=hub)

    assert [a.status_code for a in answers] == [200, 200, 409]
    assert "remove one first" in answers[2].json()["detail"]
    assert [s["member_id"] for s in listed.json()["items"]] == ["full-0", "full-1"]


async def test_erasing_a_member_takes_them_off_every_hubs_shortlist(namespace: Namespace) -> None:
    async with serving(_app(namespace)) as operator:
        for member_id, body in (("er-amina", AMINA), ("er-kofi", KOFI)):
            assert (await operator.put(f"/v1/members/{member_id}", json=body)).status_code == 201
        for hub_id in ("yail-lagos", "yail-accra"):
            hub = as_hub(hub_id)
            for member_id in ("er-amina", "er-kofi"):
                put = await operator.put(f"/v1/hubs/{hub_id}/shortlist/{member_id}", headers=hub)
                assert put.status_code == 200, put.text

        erased = await operator.delete("/v1/members/er-amina", headers=as_member("er-amina"))
        lists = [
            (await operator.get(f"/v1/hubs/{hub_id}/shortlist")).json()["items"]
            for hub_id in ("yail-lagos", "yail-accra")
        ]

    assert erased.status_code == 202
    assert [[s["member_id"] for s in items] for items in lists] == [["er-kofi"], ["er-kofi"]]
    mentions = await redis_mentions(
        namespace.stack.redis.address, namespace.redis_prefix, "er-amina"
    )
    assert [m for m in mentions if not m.endswith("audit:log")] == []


async def test_deleting_a_hub_deletes_its_shortlist(namespace: Namespace) -> None:
    async with serving(_app(namespace), headers=as_hub("gone-hub")) as hub:
        assert (await hub.put("/v1/hubs/gone-hub", json=NAIROBI_HUB)).status_code == 201
    async with serving(_app(namespace)) as operator:
        assert (await operator.put("/v1/members/gd-kofi", json=KOFI)).status_code == 201
        listed = await operator.put("/v1/hubs/gone-hub/shortlist/gd-kofi")
        deleted = await operator.delete("/v1/hubs/gone-hub")
        after = await operator.get("/v1/hubs/gone-hub/shortlist")

    assert [s["member_id"] for s in listed.json()["items"]] == ["gd-kofi"]
    assert deleted.status_code == 202
    assert after.json()["items"] == []
    mentions = await redis_mentions(
        namespace.stack.redis.address, namespace.redis_prefix, "gone-hub"
    )
    assert [m for m in mentions if "shortlist" in m] == []
