"""A model change re-embeds everyone in the background: the matching service in-process (both
roles, the real model) over the real broker and Redis.

The service runs with model id A over a few members, then restarts with model id B (same
weights: only the id differs, which is enough to be another model). Without any new profile
event every member gets vectors of B; a member updated while the service was down, and one
updated right after the restart, keep their newest profile; a member erased while it was down
is not revived; the matcher ends with everyone on B and a list for everyone, and nothing is
dead-lettered.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from nnmatch.events import (
    MatchesComputed,
    ProfileDeleted,
    ProfileUpserted,
    ProfileVectorsComputed,
    decode_event,
)
from nnmatch.profile import MemberProfile
from nnmatch.topics import ensure_topics
from nnmatch_matching.bootstrap import build_app
from nnmatch_matching.embedding.model_status import ModelStatus, RedisModelStatus
from nnmatch_matching.matcher.engine import MatchEngine
from nnmatch_matching.settings import MatchingSettings
from tests.support import (
    AMINA,
    KOFI,
    Namespace,
    as_member,
    eventually,
    latest_values,
    produce_raw,
    read_all,
    read_topic,
    redis_mentions,
    serving,
)

pytestmark = pytest.mark.integration

MEMBERS = [f"re-{i}" for i in range(6)]
UPDATED_WHILE_DOWN, UPDATED_DURING, ERASED = MEMBERS[0], MEMBERS[1], MEMBERS[5]


def _profile(i: int, **changes: Any) -> dict[str, Any]:
    base = AMINA if i % 2 == 0 else KOFI
    return {**base, "display_name": f"{base['display_name']} {i}", **changes}


def _upsert(member_id: str, version: int, profile: dict[str, Any]) -> tuple[bytes, bytes]:
    event = ProfileUpserted(
        producer="tests",
        member_id=member_id,
        version=version,
        profile=MemberProfile.model_validate(profile),
    )
    return member_id.encode(), event.model_dump_json().encode()


def _app(namespace: Namespace, model_id: str) -> Any:
    return build_app(
        MatchingSettings(
            **namespace.settings(
                embedding_model_id=model_id,
                search_dense=False,
                reembed_batch_members=2,
                reembed_pause_s=0.2,
            )
        )
    )


async def _status(namespace: Namespace) -> ModelStatus | None:
    from redis.asyncio import Redis

    redis = Redis.from_url(namespace.stack.redis.address)
    try:
        return await RedisModelStatus(redis, namespace.redis_prefix).get()
    finally:
        await redis.aclose()


async def _listed(client: httpx.AsyncClient, member_id: str) -> list[str]:
    response = await client.get(f"/v1/members/{member_id}/matches", headers=as_member(member_id))
    return [i["member_id"] for i in response.json()["items"]] if response.is_success else []


async def _metric(client: httpx.AsyncClient, sample: str) -> float:
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[1])
    return 0.0


async def test_a_model_change_re_embeds_everyone_and_the_matcher_follows(
    namespace: Namespace,
) -> None:
    await ensure_topics(namespace.kafka())
    await produce_raw(
        namespace, "profiles.v1", [_upsert(m, 1, _profile(i)) for i, m in enumerate(MEMBERS)]
    )

    first = _app(namespace, "model-a")
    async with serving(first) as client:
        engine: MatchEngine = first.state.services.engine

        async def all_listed_on_a() -> bool:
            lists = [await _listed(client, m) for m in MEMBERS]
            return len(engine) == len(MEMBERS) and all(lists)

        await eventually(all_listed_on_a, timeout=120)
        model_a = engine.model_id
        assert model_a is not None
        assert model_a.startswith("model-a@")
    assert await _status(namespace) == ModelStatus(current=model_a, ranked=model_a)

    # While the service is down: one member changes, one is erased.
    deleted = ProfileDeleted(producer="tests", member_id=ERASED).model_dump_json().encode()
    await produce_raw(
        namespace,
        "profiles.v1",
        [
            _upsert(UPDATED_WHILE_DOWN, 2, _profile(0, bio="Now I map soil moisture with drones.")),
            (ERASED.encode(), deleted),
            (ERASED.encode(), None),
        ],
    )

    second = _app(namespace, "model-b")
    async with serving(second) as client:
        engine = second.state.services.engine
        model_b = engine.model_id
        assert model_b is not None
        assert model_b.startswith("model-b@")
        # Right after the restart, while the re-embed runs (or just after: either way).
        await produce_raw(
            namespace, "profiles.v1", [_upsert(UPDATED_DURING, 2, _profile(1, country="NG"))]
        )
        live = [m for m in MEMBERS if m != ERASED]

        async def switched_and_ranked() -> ModelStatus | None:
            status = await _status(namespace)
            done = status is not None and status.complete and status.ranked == model_b
            everyone = sorted(engine.members) == live and all(
                engine.profile_version(m) == (2 if m in (UPDATED_WHILE_DOWN, UPDATED_DURING) else 1)
                for m in live
            )
            return status if done and everyone else None

        status = await eventually(switched_and_ranked, timeout=180)
        assert status.retired == (model_a,)
        assert status.replacing == model_a
        reembedded = await _metric(client, 'nnmatch_reembed_members_total{outcome="reembedded"}')
        current = await _metric(client, 'nnmatch_reembed_members_total{outcome="current"}')
        assert reembedded + current == len(live), "each member once, by the re-embed or live"
        assert reembedded >= len(live) - 2, "only the two updated ones may have gone live first"
        assert await _metric(client, "nnmatch_reembed_remaining_members") == 0

        async def everyone_has_a_list_on_b() -> bool:
            records = await read_all(namespace, "matches.v1")
            on_b = {
                e.member_id
                for e in (decode_event(r.value, (MatchesComputed,)) for r in records)
                if e.model_id == model_b and e.suggestions
            }
            return on_b == set(live)

        await eventually(everyone_has_a_list_on_b, timeout=60)
        for member in live:
            assert ERASED not in await _listed(client, member)

    vectors = await latest_values(namespace, "profile-vectors.v1")
    assert vectors[ERASED.encode()] is None, "the erased member was not revived"
    latest = {
        k.decode(): decode_event(v, (ProfileVectorsComputed,))
        for k, v in vectors.items()
        if v is not None
    }
    assert sorted(latest) == live
    assert {f"{e.model.id}@{e.model.version}" for e in latest.values()} == {model_b}
    assert latest[UPDATED_WHILE_DOWN].profile_version == 2
    assert latest[UPDATED_DURING].profile_version == 2
    assert latest[UPDATED_DURING].card.country == "NG"
    profiles = await read_all(namespace, "profiles.v1")
    assert len(profiles) == len(MEMBERS) + 4, "the re-embed wrote no profile event"
    for topic in ("profiles.v1.dlq", "profile-vectors.v1.dlq"):
        assert await read_topic(namespace, topic, count=1, timeout=2) == [], topic
    assert not await redis_mentions(namespace.stack.redis.address, namespace.redis_prefix, ERASED)


async def test_the_walk_finds_the_end_of_every_partition_written_in_batches(
    namespace: Namespace,
) -> None:
    """The re-embed walks profiles.v1 up to the end offsets seen at its start (the replays
    likewise, `kafka_clients.end_offsets`). Profiles written in batches (as the bulk import's
    publisher writes them) must all be inside: the Tansu dev broker lists a partition's end as
    its last batch's first offset + 1, which hid 238 of 2,000 imported members from a
    re-embed, so they left the index after the change."""
    from aiokafka import TopicPartition

    from nnmatch import kafka_clients
    from nnmatch.kafka_clients import end_offsets

    await ensure_topics(namespace.kafka())
    members = [f"batch-{i:04d}" for i in range(3000)]  # 500 a partition: batches past a fetch
    await produce_raw(
        namespace,
        "profiles.v1",
        [_upsert(m, 1, _profile(i)) for i, m in enumerate(members)],
        batched=True,
    )
    consumer = kafka_clients.consumer(
        namespace.kafka(), client_id="walk-ends", group_id=None, enable_auto_commit=False
    )
    await kafka_clients.start(consumer, namespace.kafka())
    try:
        topic = namespace.topic("profiles.v1")
        await consumer.topics()
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        ends = await end_offsets(consumer, tps)
    finally:
        await consumer.stop()
    assert sum(ends.values()) == len(members)
