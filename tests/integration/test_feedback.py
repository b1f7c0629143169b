"""Feedback over the real broker and Redis: the matching app in-process with the matcher role.

Vectors are written straight onto `profile-vectors.v1` (4-d, as the unit tests build them),
so no embedding model is loaded. A mentor `me` and mentees m0…m3 that fit `me` in that order;
with `top_n=2` the mentor's list is [m0, m1] until feedback changes it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from nnmatch.events import (
    FeedbackAction,
    FeedbackGiven,
    MatchesComputed,
    ProfileVectorsComputed,
    decode_event,
    encode_event,
)
from nnmatch.topics import ensure_topics
from nnmatch_matching.bootstrap import build_app
from nnmatch_matching.deps import MatchingServices
from nnmatch_matching.matcher.engine import MatchEngine
from nnmatch_matching.matcher.feedback_store import RedisFeedbackStore
from nnmatch_matching.settings import MatchingSettings
from tests.support import (
    Namespace,
    as_member,
    eventually,
    produce_raw,
    read_all,
    read_topic,
    redis_mentions,
    serving,
)
from tests.unit.builders import mentee_vectors, mentor_vectors

pytestmark = pytest.mark.integration

ME = "me-mentor"


async def _write_vectors(namespace: Namespace, *events: ProfileVectorsComputed) -> None:
    await produce_raw(
        namespace,
        "profile-vectors.v1",
        [(e.member_id.encode(), encode_event(e)) for e in events],
    )


def _app(namespace: Namespace) -> Any:
    settings = MatchingSettings(
        **namespace.settings(roles=["matcher"], top_n=2, embedding_dimensions=4)
    )
    return build_app(settings)


def _engine(app: FastAPI) -> MatchEngine:
    services: MatchingServices = app.state.services
    assert services.engine is not None, "the matcher role runs"
    return services.engine


@contextlib.asynccontextmanager
async def _feedback_store(namespace: Namespace) -> AsyncIterator[RedisFeedbackStore]:
    """The matcher's feedback in Redis, read as the matcher reads it."""
    redis = Redis.from_url(namespace.stack.redis.address)
    try:
        yield RedisFeedbackStore(redis, namespace.redis_prefix)
    finally:
        await redis.aclose()


async def _listed(client: httpx.AsyncClient, member_id: str) -> list[str]:
    response = await client.get(f"/v1/members/{member_id}/matches", headers=as_member(member_id))
    assert response.status_code == 200, response.text
    return [item["member_id"] for item in response.json()["items"]]


async def _list_becomes(client: httpx.AsyncClient, member_id: str, expected: list[str]) -> None:
    async def check() -> list[str] | None:
        listed = await _listed(client, member_id)
        return listed if listed == expected else None

    try:
        await eventually(check, timeout=60)
    except AssertionError:
        raise AssertionError(
            f"{member_id} lists {await _listed(client, member_id)}, not {expected}"
        ) from None


async def _last_published(namespace: Namespace, member_id: str) -> list[str]:
    records = await read_all(namespace, "matches.v1")
    mine = [
        decode_event(r.value, (MatchesComputed,))
        for r in sorted(records, key=lambda r: r.offset)
        if r.key == member_id.encode()
    ]
    assert mine, f"nothing published on matches.v1 for {member_id}"
    return [s.member_id for s in mine[-1].suggestions]


async def _feedback(
    client: httpx.AsyncClient, member_id: str, candidate_id: str, action: str, *, as_: str = ""
) -> httpx.Response:
    return await client.post(
        f"/v1/members/{member_id}/feedback",
        json={"candidate_id": candidate_id, "action": action},
        headers=as_member(as_ or member_id),
    )


async def test_dismissed_candidate_leaves_the_list_and_the_next_best_takes_its_place(
    namespace: Namespace,
) -> None:
    await ensure_topics(namespace.kafka())
    await _write_vectors(
        namespace, mentor_vectors(ME), *(mentee_vectors(f"m{i}", i) for i in range(4))
    )
    app = _app(namespace)
    async with serving(app) as client:
        await _list_becomes(client, ME, ["m0", "m1"])

        answer = await _feedback(client, ME, "m0", "dismiss")

        assert answer.status_code == 202, answer.text
        assert answer.json()["action"] == "dismiss"
        await _list_becomes(client, ME, ["m1", "m2"])
        assert await _last_published(namespace, ME) == ["m1", "m2"]
        async with _feedback_store(namespace) as store:
            assert await store.get(ME) == {"m0": FeedbackAction.DISMISS}
        # m0 changing its profile does not bring it back.
        await _write_vectors(namespace, mentee_vectors("m0", 0, profile_version=2))
        await eventually(lambda: _published_version(namespace, "m0", 2), timeout=60)
        assert await _listed(client, ME) == ["m1", "m2"]

    records = await read_topic(namespace, "feedback.v1", count=1)
    [given] = [decode_event(r.value, (FeedbackGiven,)) for r in records]
    assert (given.member_id, given.candidate_id, given.action) == (
        ME,
        "m0",
        FeedbackAction.DISMISS,
    )
    assert records[0].key == ME.encode()


async def _published_version(namespace: Namespace, member_id: str, version: int) -> bool:
    records = await read_all(namespace, "matches.v1")
    return any(
        decode_event(r.value, (MatchesComputed,)).profile_version == version
        for r in records
        if r.key == member_id.encode()
    )


async def test_another_members_token_and_bad_bodies_are_refused_and_publish_nothing(
    namespace: Namespace,
) -> None:
    await ensure_topics(namespace.kafka())
    app = build_app(MatchingSettings(**namespace.settings(roles=[])))
    async with serving(app) as client:
        intruder = await _feedback(client, ME, "m0", "block", as_="intruder")
        on_self = await _feedback(client, ME, ME, "dismiss")
        bad_id = await _feedback(client, ME, "not an id!", "dismiss")
        bad_action = await _feedback(client, ME, "m0", "love")

    assert intruder.status_code == 403
    assert intruder.headers["content-type"].startswith("application/problem+json")
    assert ME not in intruder.text
    assert on_self.status_code == 422
    assert on_self.json()["errors"][0]["field"] == "candidate_id"
    assert bad_id.status_code == 422
    assert bad_action.status_code == 422
    assert await read_topic(namespace, "feedback.v1", count=1, timeout=3) == []


async def test_block_is_symmetric_and_survives_a_restart(namespace: Namespace) -> None:
    await ensure_topics(namespace.kafka())
    await _write_vectors(
        namespace, mentor_vectors(ME), mentor_vectors("other-mentor"), mentee_vectors("m0", 0)
    )
    async with serving(_app(namespace)) as client:
        await _list_becomes(client, "m0", [ME, "other-mentor"])
        await _list_becomes(client, ME, ["m0", "other-mentor"])

        answer = await _feedback(client, "m0", ME, "block")

        assert answer.status_code == 202, answer.text
        await _list_becomes(client, "m0", ["other-mentor"])
        await _list_becomes(client, ME, ["other-mentor"])
        assert await _last_published(namespace, ME) == ["other-mentor"]

    # A new matcher (memory gone) re-ranks ME after a profile change: still no m0.
    restarted = _app(namespace)
    async with serving(restarted) as client:
        assert _engine(restarted).excludes(ME, "m0")
        assert _engine(restarted).excludes("m0", ME)
        await _write_vectors(namespace, mentee_vectors("m1", 1), mentor_vectors(ME))
        await _list_becomes(client, ME, ["m1", "other-mentor"])
        assert ME not in await _listed(client, "m0")
        assert await _last_published(namespace, ME) == ["m1", "other-mentor"]


async def test_erasure_leaves_no_feedback_about_the_member_in_memory_or_redis(
    namespace: Namespace,
) -> None:
    gone = "gone-5e1f"
    await ensure_topics(namespace.kafka())
    await _write_vectors(
        namespace,
        mentor_vectors(ME),
        mentor_vectors("other-mentor"),
        mentee_vectors(gone, 0),
        mentee_vectors("m1", 1),
    )
    app = _app(namespace)
    async with serving(app) as client:
        await _list_becomes(client, ME, [gone, "m1"])
        assert (await _feedback(client, gone, "other-mentor", "block")).status_code == 202
        assert (await _feedback(client, ME, gone, "accept")).status_code == 202
        await _list_becomes(client, ME, ["m1", "other-mentor"])
        await _list_becomes(client, gone, [ME, "m1"])
        assert await redis_mentions(namespace.stack.redis.address, namespace.redis_prefix, gone)

        await produce_raw(namespace, "profile-vectors.v1", [(gone.encode(), None)])

        async def forgotten() -> bool:
            return not await redis_mentions(
                namespace.stack.redis.address, namespace.redis_prefix, gone
            )

        await eventually(forgotten, timeout=60)
        assert not _engine(app).exclusions.mentions(gone)
        assert gone not in _engine(app)
        async with _feedback_store(namespace) as store:
            assert await store.get(ME) == {}
            assert await store.load_all() == []
