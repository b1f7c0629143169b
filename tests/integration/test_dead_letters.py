"""A bad record on profiles.v1 goes to profiles.v1.dlq with its cause; the partition flows on.

A record from a newer release, with fields this one does not know, is not a bad record.
"""

from __future__ import annotations

import base64
import json

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from redis.asyncio import Redis

from nnmatch.events import DeadLetter, ProfileUpserted, ProfileVectorsComputed, decode_event
from nnmatch.member_keys import RedisMemberKeys
from nnmatch.profile import MemberProfile
from nnmatch.shredding import seal_events
from nnmatch_matching.bootstrap import build_app
from nnmatch_matching.settings import MatchingSettings
from tests.support import (
    AMINA,
    KOFI,
    Namespace,
    eventually,
    produce_raw,
    read_all,
    read_topic,
    serving,
)

pytestmark = pytest.mark.integration


def _upsert(member_id: str, profile: dict[str, object]) -> bytes:
    event = ProfileUpserted(
        producer="tests",
        member_id=member_id,
        version=1,
        profile=MemberProfile.model_validate(profile),
    )
    return event.model_dump_json().encode()


async def test_malformed_records_are_dead_lettered_with_cause_and_good_ones_still_flow(
    namespace: Namespace,
) -> None:
    good = json.loads(_upsert("dlq-x", AMINA))
    poison: list[tuple[bytes, bytes | None]] = [
        (b"dlq-1", b"{not json"),
        (b"dlq-2", b"[1, 2, 3]"),
        (b"dlq-3", json.dumps({**good, "type": "SomethingElse"}).encode()),
        (b"dlq-4", json.dumps({**good, "schema_version": 2}).encode()),
        (b"dlq-5", json.dumps({k: v for k, v in good.items() if k != "profile"}).encode()),
        (b"dlq-6", b"\xff\xfe not utf-8"),
    ]
    # One key (one partition) for all, so the good records sit behind the poison ones.
    key = b"same-partition"
    items: list[tuple[bytes, bytes | None]] = [(b"dlq-good-1", _upsert("dlq-good-1", AMINA))]
    items += [(key, value) for _, value in poison]
    items += [(b"dlq-good-2", _upsert("dlq-good-2", KOFI))]
    await produce_raw(namespace, "profiles.v1", items)

    app = build_app(MatchingSettings(**namespace.settings(roles=["embedder"])))
    async with serving(app):
        vectors = await read_topic(namespace, "profile-vectors.v1", count=2, timeout=60)
        letters_raw = await read_topic(namespace, "profiles.v1.dlq", count=len(poison), timeout=30)

    embedded = sorted(decode_event(r.value, (ProfileVectorsComputed,)).member_id for r in vectors)
    assert embedded == ["dlq-good-1", "dlq-good-2"]
    letters = [decode_event(r.value, (DeadLetter,)) for r in letters_raw]
    assert len(letters) == len(poison)
    by_value = {base64.b64decode(d.value_b64 or ""): d for d in letters}
    expected_causes = [
        "not JSON",
        "expected a JSON object",
        "unexpected event type",
        "unsupported schema_version 2",
        "invalid ProfileUpserted",
        "not JSON",
    ]
    for (_, value), cause in zip(poison, expected_causes, strict=True):
        letter = by_value[value or b""]
        assert cause in letter.error, (cause, letter.error)
        assert letter.original_topic == namespace.topic("profiles.v1")
        assert letter.key == "same-partition"
        assert letter.consumer_group == "nnmatch-embedder"
        assert letter.producer == "matching"
    assert len({(d.partition, d.offset) for d in letters}) == len(poison)


async def _caught_up(namespace: Namespace, group: str, topic: str) -> bool:
    """True once `group` has committed every partition of `topic` to its end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=namespace.stack.kafka.address, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        name = namespace.topic(topic)
        await consumer.topics()
        tps = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or ())]
        ends = await consumer.end_offsets(tps)
        committed = {tp: await consumer.committed(tp) or 0 for tp in tps}
        return all(committed[tp] >= ends[tp] for tp in tps)
    finally:
        await consumer.stop()


async def test_a_record_from_a_newer_release_is_processed_and_an_incompatible_one_dead_lettered(
    namespace: Namespace,
) -> None:
    """The evolution rule (docs/EVENTS.md) during a rolling upgrade, on the real broker: fields
    today's embedder does not know, at the top and nested in the profile, are ignored; another
    schema_version, a changed type or a removed field still reach the DLQ with the cause."""
    today = json.loads(_upsert("newer-1", AMINA))
    profile = today["profile"]
    newer = today | {
        "trace_id": "abc",  # a field a newer producer added
        "profile": profile
        | {"pronouns": "she/her", "offers": profile["offers"] | {"hours_per_month": 4}},
    }
    incompatible: list[tuple[bytes, str]] = [
        (json.dumps(newer | {"schema_version": 2}).encode(), "newer, incompatible release"),
        (json.dumps(newer | {"version": "three"}).encode(), "invalid ProfileUpserted: version"),
        (
            json.dumps({k: v for k, v in newer.items() if k != "profile"}).encode(),
            "invalid ProfileUpserted: profile: Field required",
        ),
    ]
    items: list[tuple[bytes, bytes | None]] = [(b"newer-1", json.dumps(newer).encode())]
    items += [(b"newer-1", value) for value, _ in incompatible]
    items += [(b"today-1", _upsert("today-1", KOFI))]
    await produce_raw(namespace, "profiles.v1", items)

    app = build_app(MatchingSettings(**namespace.settings(roles=["embedder"])))
    async with serving(app):
        vectors = await read_topic(namespace, "profile-vectors.v1", count=2, timeout=60)
        await eventually(lambda: _caught_up(namespace, "nnmatch-embedder", "profiles.v1"))
    letters_raw = await read_all(namespace, "profiles.v1.dlq")

    events = {
        e.member_id: e for e in (decode_event(r.value, (ProfileVectorsComputed,)) for r in vectors)
    }
    assert sorted(events) == ["newer-1", "today-1"]
    assert events["newer-1"].card.display_name == AMINA["display_name"]
    letters = [decode_event(r.value, (DeadLetter,)) for r in letters_raw]
    by_value = {base64.b64decode(d.value_b64 or ""): d.error for d in letters}
    assert sorted(by_value) == sorted(value for value, _ in incompatible)
    for value, cause in incompatible:
        assert cause in by_value[value], (cause, by_value[value])


async def test_an_erased_members_sealed_record_is_skipped_not_dead_lettered(
    namespace: Namespace,
) -> None:
    """Crypto-shredding: once the member's key is gone their old records are as deleted."""
    client = Redis.from_url(namespace.stack.redis.address)
    try:
        keys = RedisMemberKeys(client, namespace.redis_prefix)
        events = [
            ProfileUpserted.model_validate_json(_upsert(member, profile))
            for member, profile in (("shred-gone", AMINA), ("shred-kept", KOFI))
        ]
        sealed = await seal_events(keys, events)
        await keys.delete("shred-gone")
    finally:
        await client.aclose()
    values = [v for v in sealed if v is not None]
    assert len(values) == 2
    assert AMINA["display_name"].encode() not in values[0]  # sealed before it left
    await produce_raw(namespace, "profiles.v1", [(b"shred-gone", values[0])])
    await produce_raw(namespace, "profiles.v1", [(b"shred-kept", values[1])])

    app = build_app(MatchingSettings(**namespace.settings(roles=["embedder"])))
    async with serving(app):
        await read_topic(namespace, "profile-vectors.v1", count=1, timeout=60)
        await eventually(lambda: _caught_up(namespace, "nnmatch-embedder", "profiles.v1"))
    vectors = await read_all(namespace, "profile-vectors.v1")
    letters = await read_all(namespace, "profiles.v1.dlq")

    assert [r.key for r in vectors] == [b"shred-kept"]
    assert letters == []
