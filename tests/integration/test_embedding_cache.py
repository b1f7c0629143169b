"""Unchanged text is never embedded again: the embedder role in-process with the real model,
over the real broker and Redis.

A card-only change (country) republishes the member's vectors without calling the model; a new
bio sends only the profile text (the one kind it is part of) to the model; an erasure leaves no
cache entry behind.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from nnmatch.events import (
    ProfileDeleted,
    ProfileUpserted,
    ProfileVectorsComputed,
    VectorKind,
    decode_event,
)
from nnmatch.profile import MemberProfile
from nnmatch_matching.bootstrap import build_app
from nnmatch_matching.settings import MatchingSettings
from tests.support import (
    AMINA,
    Namespace,
    eventually,
    produce_raw,
    read_topic,
    redis_mentions,
    serving,
)

pytestmark = pytest.mark.integration

MEMBER = "cache-amina"


def _upsert(version: int, profile: dict[str, Any]) -> bytes:
    event = ProfileUpserted(
        producer="tests",
        member_id=MEMBER,
        version=version,
        profile=MemberProfile.model_validate(profile),
    )
    return event.model_dump_json().encode()


async def _texts(client: httpx.AsyncClient) -> dict[str, float]:
    """nnmatch_embedding_texts_total by outcome, from the service's /metrics."""
    found = {"embedded": 0.0, "reused": 0.0}
    for line in (await client.get("/metrics")).text.splitlines():
        for outcome in found:
            if line.startswith(f'nnmatch_embedding_texts_total{{outcome="{outcome}"}} '):
                found[outcome] = float(line.split()[1])
    return found


async def _vectors(namespace: Namespace, count: int) -> list[ProfileVectorsComputed]:
    records = await read_topic(namespace, "profile-vectors.v1", count=count, timeout=90)
    assert len(records) >= count, f"{len(records)} vector records, expected {count}"
    return [decode_event(r.value, (ProfileVectorsComputed,)) for r in records]


async def test_unchanged_texts_are_reused_and_only_changed_ones_reach_the_model(
    namespace: Namespace,
) -> None:
    app = build_app(MatchingSettings(**namespace.settings(roles=["embedder"])))
    async with serving(app) as client:
        await produce_raw(namespace, "profiles.v1", [(MEMBER.encode(), _upsert(1, AMINA))])
        [first] = await _vectors(namespace, 1)
        assert await _texts(client) == {"embedded": 3, "reused": 0}

        await produce_raw(
            namespace, "profiles.v1", [(MEMBER.encode(), _upsert(2, {**AMINA, "country": "TZ"}))]
        )
        moved = (await _vectors(namespace, 2))[-1]
        assert await _texts(client) == {"embedded": 3, "reused": 3}, "the model was not called"
        assert (moved.profile_version, moved.card.country) == (2, "TZ")
        assert moved.vectors == first.vectors
        assert moved.model == first.model

        bio = {**AMINA, "country": "TZ", "bio": "I now map soil moisture with drones."}
        await produce_raw(namespace, "profiles.v1", [(MEMBER.encode(), _upsert(3, bio))])
        rewritten = (await _vectors(namespace, 3))[-1]
        assert await _texts(client) == {"embedded": 4, "reused": 5}, "only the profile text"
        assert rewritten.profile_version == 3
        assert rewritten.vectors[VectorKind.PROFILE] != first.vectors[VectorKind.PROFILE]
        assert rewritten.vectors[VectorKind.OFFERS] == first.vectors[VectorKind.OFFERS]
        assert rewritten.vectors[VectorKind.SEEKS] == first.vectors[VectorKind.SEEKS]
        assert rewritten.text_hashes[VectorKind.PROFILE] != first.text_hashes[VectorKind.PROFILE]

        cache_keys = await redis_mentions(
            namespace.stack.redis.address, namespace.redis_prefix, MEMBER
        )
        assert cache_keys == [f"{namespace.redis_prefix}embedding:{MEMBER}"]

        deleted = ProfileDeleted(producer="tests", member_id=MEMBER).model_dump_json().encode()
        await produce_raw(
            namespace, "profiles.v1", [(MEMBER.encode(), deleted), (MEMBER.encode(), None)]
        )
        records = await read_topic(namespace, "profile-vectors.v1", count=4, timeout=90)
        assert records[-1].value is None, "the erasure is a tombstone on profile-vectors.v1"

        async def nothing_left() -> bool:
            return not await redis_mentions(
                namespace.stack.redis.address, namespace.redis_prefix, MEMBER
            )

        await eventually(nothing_left, timeout=30)
    # The reused vectors are the very bytes the model made (not re-encoded approximations).
    assert base64.b64decode(moved.vectors[VectorKind.SEEKS]) == base64.b64decode(
        first.vectors[VectorKind.SEEKS]
    )
