"""Malformed records of every kind, on every topic a service consumes, reach the DLQ once.

For each consumed topic (profiles.v1 by the embedder and by the notifications eraser,
profile-vectors.v1 by the matcher, matches.v1 by the notifier and the list-freshness tracker,
feedback.v1 by the matcher and by the introductions consumer, contacts.v1 by the contacts
projector, deliveries.v1 by the re-drive consumer) bad records are written into one partition
between good ones. Every bad record must reach `<topic>.dlq` exactly once per consumer group,
with its cause and whole provenance; the good records before and after them must take effect
(nothing stalls), and the group's committed offset must reach the end of the partition.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from redis.asyncio import Redis

import nnmatch
from nnmatch.contact import Channel, ContactDetails, DeliverySettings, Preferences, QuietHours
from nnmatch.events import (
    MAX_RECORD_BYTES,
    ContactUpserted,
    DeadLetter,
    DeliveryRequested,
    FeedbackAction,
    FeedbackGiven,
    MatchesComputed,
    ProfileDeleted,
    ProfileUpserted,
    ProfileVectorsComputed,
    Suggestion,
    decode_event,
    encode_event,
    encode_vector,
)
from nnmatch.profile import MemberProfile
from nnmatch.topics import ensure_topics
from nnmatch_matching.bootstrap import EMBEDDER_GROUP, FEEDBACK_GROUP, MATCHER_GROUP
from nnmatch_matching.bootstrap import build_app as build_matching
from nnmatch_matching.settings import MatchingSettings
from nnmatch_notifications.bootstrap import (
    CONTACTS_GROUP,
    ERASURE_GROUP,
    INTRODUCTIONS_GROUP,
    NOTIFIER_GROUP,
    REDRIVE_GROUP,
)
from nnmatch_notifications.bootstrap import build_app as build_notifications
from nnmatch_notifications.contacts import RedisContacts
from nnmatch_notifications.health import HealthStore
from nnmatch_notifications.inbox import ItemKind, NewItem
from nnmatch_notifications.settings import NotificationsSettings
from nnmatch_notifications.store import RedisInbox
from tests.support import AMINA, KOFI, Namespace, eventually, read_all, read_topic, serving

pytestmark = pytest.mark.integration

EXAMPLES = Path(nnmatch.__file__).resolve().parent / "examples"
PARTITION = 0
POISON_KEY = b"poison"


@dataclass(frozen=True)
class Bad:
    label: str
    key: bytes | None
    value: bytes | None
    cause: str  # a part of the dead letter's error


@dataclass(frozen=True)
class Written:
    offset: int
    key: bytes | None
    value: bytes | None


def _example(path: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / path).read_text())
    return data


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


def malformed(template: dict[str, Any], event_name: str, foreign: dict[str, Any]) -> list[Bad]:
    """The kinds of bad record any topic may see, built around one good event of the topic."""
    member = str(template["member_id"])
    without_member = {k: v for k, v in template.items() if k != "member_id"}
    return [
        Bad("bad JSON", POISON_KEY, b'{"type": "ProfileUpserted", "member_id": ', "not JSON"),
        Bad("not UTF-8", POISON_KEY, b"\xff\xfe\x00\x81 not utf-8 at all", "not JSON"),
        Bad("JSON but not an object", POISON_KEY, b'["a", 1, null]', "expected a JSON object"),
        Bad(
            "unknown schema_version",
            POISON_KEY,
            _json({**template, "schema_version": 99}),
            f"unsupported schema_version 99 for {event_name}",
        ),
        Bad(
            "unknown event type",
            POISON_KEY,
            _json({**template, "type": "ProfileTeleported"}),
            "unexpected event type 'ProfileTeleported'",
        ),
        Bad(
            "another topic's event",
            POISON_KEY,
            _json(foreign),
            f"unexpected event type {foreign['type']!r}",
        ),
        Bad(
            "missing required field",
            POISON_KEY,
            _json(without_member),
            f"invalid {event_name}: member_id: Field required",
        ),
        Bad(
            "field of the wrong type",
            POISON_KEY,
            _json({**template, "occurred_at": "last tuesday"}),
            f"invalid {event_name}: occurred_at",
        ),
        Bad(
            "1 MB string field",
            POISON_KEY,
            _json({**template, "producer": "x" * MAX_RECORD_BYTES}),
            f"exceeds {MAX_RECORD_BYTES}",
        ),
        Bad(
            "oversized field under the record limit",
            POISON_KEY,
            _json({**template, "producer": "p" * 5_000}),
            f"invalid {event_name}: producer",
        ),
        Bad(
            "key is not the member id",
            b"someone-else",
            _json(template),
            f"is not the event's member_id {member!r}",
        ),
    ]


async def write(
    namespace: Namespace, topic: str, items: list[tuple[bytes | None, bytes | None]]
) -> list[Written]:
    """Write raw records, in order, into one partition; returns where each landed."""
    producer = AIOKafkaProducer(
        bootstrap_servers=namespace.stack.kafka.address,
        acks="all",
        enable_idempotence=not namespace.stack.kafka_embedded,
        max_request_size=4 * MAX_RECORD_BYTES,
    )
    await producer.start()
    try:
        written = []
        for key, value in items:
            meta = await producer.send_and_wait(
                namespace.topic(topic), value=value, key=key, partition=PARTITION
            )
            written.append(Written(meta.offset, key, value))
        return written
    finally:
        await producer.stop()


async def committed(namespace: Namespace, group: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=namespace.stack.kafka.address, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(namespace.topic(topic), PARTITION)) or 0
    finally:
        await consumer.stop()


async def dead_letters(namespace: Namespace, topic: str, expected: int) -> list[DeadLetter]:
    """Everything on `<topic>.dlq`: waits for `expected`, then a little longer for extras."""
    await read_topic(namespace, f"{topic}.dlq", count=expected, timeout=60)
    await asyncio.sleep(2)
    return [decode_event(r.value, (DeadLetter,)) for r in await read_all(namespace, f"{topic}.dlq")]


def assert_dead_lettered_once(
    letters: list[DeadLetter],
    namespace: Namespace,
    topic: str,
    group: str,
    service: str,
    bads: list[tuple[Bad, Written]],
) -> None:
    mine = [d for d in letters if d.consumer_group == group]
    per_offset = Counter(d.offset for d in mine)
    assert [o for o, n in per_offset.items() if n > 1] == [], f"{group}: dead-lettered twice"
    by_offset = {d.offset: d for d in mine}
    assert sorted(by_offset) == sorted(w.offset for _, w in bads), f"{group}: wrong records"
    for bad, written in bads:
        letter = by_offset[written.offset]
        assert bad.cause in letter.error, (bad.label, letter.error)
        assert letter.original_topic == namespace.topic(topic), bad.label
        assert letter.partition == PARTITION, bad.label
        assert letter.producer == service, bad.label
        expected_key = bad.key.decode("utf-8", "replace") if bad.key is not None else None
        assert letter.key == expected_key, bad.label
        if bad.value is None:
            assert letter.value_b64 is None, bad.label
            continue
        kept = base64.b64decode(letter.value_b64 or "")
        if letter.value_truncated:  # too big to carry whole: a prefix and the size
            assert len(bad.value) > len(kept) > 0, bad.label
            assert bad.value.startswith(kept), bad.label
            assert letter.value_bytes == len(bad.value), bad.label
        else:
            assert kept == bad.value, bad.label
    assert len(mine) == len(bads)


def _upsert(member_id: str, profile: dict[str, Any]) -> bytes:
    return encode_event(
        ProfileUpserted(
            producer="tests",
            member_id=member_id,
            version=1,
            profile=MemberProfile.model_validate(profile),
        )
    )


def _deleted(member_id: str) -> bytes:
    return encode_event(ProfileDeleted(producer="tests", member_id=member_id))


def _suggestion(member_id: str) -> Suggestion:
    return Suggestion(
        member_id=member_id,
        display_name="Kofi Mensah",
        country="GH",
        score=0.9,
        computed_at=datetime.now(UTC),
    )


async def _seed_inbox(inbox: RedisInbox, member_id: str) -> None:
    item = NewItem(
        candidate_id="someone",
        kind=ItemKind.SUGGESTION,
        created_at=datetime.now(UTC),
        suggestion=_suggestion("someone"),
    )
    assert await inbox.add_new(member_id, [item], 5) == 1


async def test_profiles_v1_bad_records_reach_the_dlq_once_per_consumer_and_nothing_stalls(
    namespace: Namespace,
) -> None:
    """Both consumers of profiles.v1: the embedder and the notifications eraser."""
    await ensure_topics(namespace.kafka())
    template = json.loads(_upsert("m-template", AMINA))
    too_long_bio = {**template, "profile": {**template["profile"], "bio": "b" * 9_000}}
    bads = malformed(template, "ProfileUpserted", _example("feedback.v1/1/FeedbackGiven.json"))
    bads += [
        Bad("bio past its limit", POISON_KEY, _json(too_long_bio), "profile.bio"),
        Bad("tombstone with an empty key", b"", None, "null value"),
    ]
    before: list[tuple[bytes | None, bytes | None]] = [
        (b"m-a", _upsert("m-a", AMINA)),
        (b"m-b", _deleted("m-b")),
    ]
    after: list[tuple[bytes | None, bytes | None]] = [
        (b"m-c", _upsert("m-c", KOFI)),
        (b"m-d", _deleted("m-d")),
        (b"m-d", None),  # the tombstone that follows an erasure
    ]
    redis = Redis.from_url(namespace.stack.redis.address)
    inbox = RedisInbox(redis, namespace.redis_prefix, 50)
    try:
        for member in ("m-b", "m-d", "m-e"):
            await _seed_inbox(inbox, member)
        written = await write(
            namespace, "profiles.v1", before + [(b.key, b.value) for b in bads] + after
        )
        end = written[-1].offset + 1
        poisoned = list(zip(bads, written[len(before) : len(before) + len(bads)], strict=True))

        matching = build_matching(MatchingSettings(**namespace.settings(roles=["embedder"])))
        notifications = build_notifications(NotificationsSettings(**namespace.settings()))
        async with serving(notifications), serving(matching):
            raw_vectors = await read_topic(namespace, "profile-vectors.v1", count=4, timeout=120)

            async def erased() -> bool:
                return (await inbox.unread("m-b"), await inbox.unread("m-d")) == (0, 0)

            await eventually(erased, timeout=60)
            letters = await dead_letters(namespace, "profiles.v1", 2 * len(bads))
            for group in (EMBEDDER_GROUP, ERASURE_GROUP):

                async def caught_up(group: str = group) -> bool:
                    return await committed(namespace, group, "profiles.v1") == end

                await eventually(caught_up, timeout=30)

        # Good records before and after the bad ones took effect.
        vectors = {
            r.key.decode(): decode_event(r.value, (ProfileVectorsComputed,)).member_id
            if r.value is not None
            else None
            for r in raw_vectors
        }
        assert vectors == {"m-a": "m-a", "m-b": None, "m-c": "m-c", "m-d": None}
        assert await inbox.unread("m-e") == 1, "the eraser erased a member nobody deleted"
        assert_dead_lettered_once(
            letters, namespace, "profiles.v1", EMBEDDER_GROUP, "matching", poisoned
        )
        assert_dead_lettered_once(
            letters, namespace, "profiles.v1", ERASURE_GROUP, "notifications", poisoned
        )
        assert len(letters) == 2 * len(bads)
    finally:
        await redis.aclose()


def _vectors_event(member_id: str, seed: int, model_id: str | None = None) -> dict[str, Any]:
    data = _example("profile-vectors.v1/1/ProfileVectorsComputed.json")
    rng = np.random.default_rng(seed)
    vectors = {}
    for kind in data["vectors"]:
        vector = rng.normal(size=data["model"]["dimensions"]).astype(np.float32)
        vectors[kind] = encode_vector(vector / np.linalg.norm(vector))
    model = data["model"] | ({"id": model_id} if model_id else {})
    return data | {
        "event_id": f"00000000-0000-4000-8000-{seed:012d}",
        "member_id": member_id,
        "vectors": vectors,
        "model": model,
    }


async def test_profile_vectors_v1_bad_records_reach_the_dlq_once_and_the_matcher_flows(
    namespace: Namespace,
) -> None:
    await ensure_topics(namespace.kafka())
    template = _vectors_event("m-template", 1)
    card = template["card"]
    dims = template["model"]["dimensions"]
    short = encode_vector(np.ones(dims - 1, dtype=np.float32))
    nan = encode_vector(np.full(dims, math.nan, dtype=np.float32))
    vectors = template["vectors"]
    bads = malformed(
        template, "ProfileVectorsComputed", _example("matches.v1/1/MatchesComputed.json")
    )
    bads += [
        Bad(
            "vector not base64",
            POISON_KEY,
            _json(template | {"vectors": vectors | {"seeks": "@@not base64@@"}}),
            "seeks vector is not base64",
        ),
        Bad(
            "vector of the wrong size",
            POISON_KEY,
            _json(template | {"vectors": vectors | {"offers": short}}),
            f"offers vector has {4 * (dims - 1)} bytes",
        ),
        Bad(
            "vector of NaN",
            POISON_KEY,
            _json(template | {"vectors": vectors | {"profile": nan}}),
            "profile vector holds NaN",
        ),
        Bad(
            "a vector kind missing",
            POISON_KEY,
            _json(template | {"vectors": {"profile": vectors["profile"]}}),
            "vectors missing: offers, seeks",
        ),
        Bad(
            "card name past its limit",
            POISON_KEY,
            _json(template | {"card": card | {"display_name": "n" * 500}}),
            "card.display_name",
        ),
        Bad(
            "vectors of another model",
            b"m-other",
            _json(_vectors_event("m-other", 9, model_id="some/other-model")),
            "vectors of some/other-model",
        ),
    ]
    before: list[tuple[bytes | None, bytes | None]] = [(b"m-a", _json(_vectors_event("m-a", 2)))]
    after: list[tuple[bytes | None, bytes | None]] = [(b"m-c", _json(_vectors_event("m-c", 3)))]
    written = await write(
        namespace, "profile-vectors.v1", before + [(b.key, b.value) for b in bads] + after
    )
    end = written[-1].offset + 1
    poisoned = list(zip(bads, written[1 : 1 + len(bads)], strict=True))

    app = build_matching(MatchingSettings(**namespace.settings(roles=["matcher"])))
    async with serving(app):

        async def both_matched() -> set[str]:
            records = await read_all(namespace, "matches.v1")
            seen = {decode_event(r.value, (MatchesComputed,)).member_id for r in records}
            return seen if {"m-a", "m-c"} <= seen else set()

        matched = await eventually(both_matched, timeout=60)
        letters = await dead_letters(namespace, "profile-vectors.v1", len(bads))

        async def caught_up() -> bool:
            return await committed(namespace, MATCHER_GROUP, "profile-vectors.v1") == end

        await eventually(caught_up, timeout=30)
        assert app.state.services.engine is not None
        assert sorted(app.state.services.engine.members) == ["m-a", "m-c"]

    assert matched == {"m-a", "m-c"}, "a bad record made it into the index"
    assert_dead_lettered_once(
        letters, namespace, "profile-vectors.v1", MATCHER_GROUP, "matching", poisoned
    )
    assert len(letters) == len(bads)


def _matches_event(member_id: str, candidate: str) -> dict[str, Any]:
    event = MatchesComputed(
        producer="matching",
        member_id=member_id,
        profile_version=1,
        model_id="sentence-transformers/all-MiniLM-L6-v2@53aa51172d14",
        suggestions=[_suggestion(candidate)],
    )
    data: dict[str, Any] = json.loads(encode_event(event))
    return data


async def test_matches_v1_bad_records_reach_the_dlq_once_per_consumer_and_inboxes_still_fill(
    namespace: Namespace,
) -> None:
    await ensure_topics(namespace.kafka())
    template = _matches_event("m-template", "m-x")
    suggestion = template["suggestions"][0]
    bads = malformed(template, "MatchesComputed", _example("feedback.v1/1/FeedbackGiven.json"))
    bads += [
        Bad("tombstone on a delete-policy topic", b"m-a", None, "null value"),
        Bad(
            "suggested name past its limit",
            POISON_KEY,
            _json(template | {"suggestions": [suggestion | {"display_name": "n" * 500}]}),
            "suggestions.0.display_name",
        ),
        Bad(
            "too many suggestions",
            POISON_KEY,
            _json(template | {"suggestions": [suggestion] * 101}),
            "suggestions: List should have at most 100 items",
        ),
        Bad(
            "score NaN",
            POISON_KEY,
            json.dumps(template | {"suggestions": [suggestion | {"score": math.nan}]}).encode(),
            "suggestions.0.score",
        ),
    ]
    before: list[tuple[bytes | None, bytes | None]] = [
        (b"m-a", _json(_matches_event("m-a", "m-x")))
    ]
    after: list[tuple[bytes | None, bytes | None]] = [(b"m-c", _json(_matches_event("m-c", "m-y")))]
    written = await write(
        namespace, "matches.v1", before + [(b.key, b.value) for b in bads] + after
    )
    end = written[-1].offset + 1
    poisoned = list(zip(bads, written[1 : 1 + len(bads)], strict=True))

    redis = Redis.from_url(namespace.stack.redis.address)
    inbox = RedisInbox(redis, namespace.redis_prefix, 50)
    try:
        app = build_notifications(NotificationsSettings(**namespace.settings()))
        async with serving(app):

            async def delivered() -> bool:
                return (await inbox.unread("m-a"), await inbox.unread("m-c")) == (1, 1)

            await eventually(delivered, timeout=60)
            # One group reads the topic for the inbox and the list-freshness tracker (product
            # health): each bad record is opened, and dead-lettered, once.
            letters = await dead_letters(namespace, "matches.v1", len(bads))

            async def caught_up() -> bool:
                return await committed(namespace, NOTIFIER_GROUP, "matches.v1") == end

            await eventually(caught_up, timeout=30)
        items_a, _ = await inbox.page("m-a", 10, None)
        items_c, _ = await inbox.page("m-c", 10, None)
        assert [i.suggestion.member_id for i in items_a] == ["m-x"]
        assert [i.suggestion.member_id for i in items_c] == ["m-y"]
        assert await inbox.unread("m-template") == 0, "a bad record reached an inbox"
        assert_dead_lettered_once(
            letters, namespace, "matches.v1", NOTIFIER_GROUP, "notifications", poisoned
        )
        assert len(letters) == len(bads)
        # The list-freshness tracker saw both good lists through the same consumer.
        health = HealthStore(redis, namespace.redis_prefix)
        for member_id in ("m-a", "m-c"):
            assert await redis.zscore(health.list_at, member_id) is not None
    finally:
        await redis.aclose()


def _feedback(member_id: str, candidate_id: str, action: FeedbackAction) -> bytes:
    return encode_event(
        FeedbackGiven(
            producer="matching", member_id=member_id, candidate_id=candidate_id, action=action
        )
    )


def _with_member(example: str, member_id: str) -> dict[str, Any]:
    return _example(example) | {"member_id": member_id}


async def test_feedback_v1_bad_records_reach_the_dlq_once_per_consumer_and_nothing_stalls(
    namespace: Namespace,
) -> None:
    """Both consumers of feedback.v1: the matcher's exclusions and the introductions."""
    await ensure_topics(namespace.kafka())
    template = json.loads(_feedback("m-template", "m-x", FeedbackAction.DISMISS))
    bads = malformed(template, "FeedbackGiven", _example("matches.v1/1/MatchesComputed.json"))
    bads += [
        Bad("unknown action", POISON_KEY, _json(template | {"action": "like"}), "action"),
        Bad(
            "candidate id not an id",
            POISON_KEY,
            _json(template | {"candidate_id": "a b/c"}),
            "candidate_id",
        ),
        Bad("tombstone on a delete-policy topic", b"m-a", None, "null value"),
    ]
    # Well formed, but the matcher refuses it (the introductions consumer just skips it).
    on_themself = Bad(
        "feedback on themself",
        b"m-a",
        _feedback("m-a", "m-a", FeedbackAction.ACCEPT),
        "gave feedback on themself",
    )
    # m-a and m-b accept each other around the bad records: an introduction for both.
    before: list[tuple[bytes | None, bytes | None]] = [
        (b"m-a", _feedback("m-a", "m-b", FeedbackAction.ACCEPT))
    ]
    after: list[tuple[bytes | None, bytes | None]] = [
        (b"m-b", _feedback("m-b", "m-a", FeedbackAction.ACCEPT))
    ]
    middle = [*bads, on_themself]
    # Feedback is only kept about members the matcher holds: m-a and m-b are indexed first.
    await write(
        namespace,
        "profile-vectors.v1",
        [(b"m-a", _json(_vectors_event("m-a", 2))), (b"m-b", _json(_vectors_event("m-b", 3)))],
    )

    redis = Redis.from_url(namespace.stack.redis.address)
    inbox = RedisInbox(redis, namespace.redis_prefix, 50)

    async def introductions(member_id: str) -> list[str]:
        items, _ = await inbox.page(member_id, 10, None)
        return [i.suggestion.member_id for i in items if i.kind == ItemKind.INTRODUCTION]

    try:
        matching = build_matching(MatchingSettings(**namespace.settings(roles=["matcher"])))
        notifications = build_notifications(NotificationsSettings(**namespace.settings()))
        async with serving(notifications), serving(matching):
            engine = matching.state.services.engine
            assert engine is not None

            async def indexed() -> bool:
                return "m-a" in engine and "m-b" in engine

            await eventually(indexed, timeout=60)
            written = await write(
                namespace, "feedback.v1", before + [(b.key, b.value) for b in middle] + after
            )
            end = written[-1].offset + 1
            poisoned = list(zip(middle, written[1 : 1 + len(middle)], strict=True))

            async def introduced() -> bool:
                return (await introductions("m-a"), await introductions("m-b")) == (
                    ["m-b"],
                    ["m-a"],
                )

            await eventually(introduced, timeout=60)
            letters = await dead_letters(namespace, "feedback.v1", 2 * len(bads) + 1)
            for group in (FEEDBACK_GROUP, INTRODUCTIONS_GROUP):

                async def caught_up(group: str = group) -> bool:
                    return await committed(namespace, group, "feedback.v1") == end

                await eventually(caught_up, timeout=30)
            assert engine.excludes("m-a", "m-b")
            assert engine.excludes("m-b", "m-a")
            assert not engine.excludes("m-template", "m-x"), "a bad record was applied"

        # Suggestions of each other may be there too (the matcher ranked them before the
        # accepts); nothing of the bad records is.
        items_a, _ = await inbox.page("m-a", 10, None)
        assert {i.suggestion.member_id for i in items_a} == {"m-b"}
        assert await inbox.unread("m-template") == 0
        assert_dead_lettered_once(
            letters, namespace, "feedback.v1", FEEDBACK_GROUP, "matching", poisoned
        )
        assert_dead_lettered_once(
            letters, namespace, "feedback.v1", INTRODUCTIONS_GROUP, "notifications", poisoned[:-1]
        )
        assert len(letters) == 2 * len(bads) + 1
    finally:
        await redis.aclose()


async def test_contacts_v1_bad_records_reach_the_dlq_once_and_the_projection_flows(
    namespace: Namespace,
) -> None:
    await ensure_topics(namespace.kafka())
    example = "contacts.v1/1/ContactUpserted.json"
    template = _with_member(example, "m-template")
    settings = template["settings"]
    preferences = settings["preferences"]
    bads = malformed(template, "ContactUpserted", _example("feedback.v1/1/FeedbackGiven.json"))
    bads += [
        Bad(
            "not an e-mail address",
            POISON_KEY,
            _json(template | {"settings": settings | {"contact": {"email": "not-an-email"}}}),
            "settings.contact.email",
        ),
        Bad(
            "unknown time zone",
            POISON_KEY,
            _json(
                template
                | {
                    "settings": settings
                    | {
                        "preferences": preferences
                        | {"quiet_hours": {"start": "22:00", "end": "07:00", "tz": "Mars/Base"}}
                    }
                }
            ),
            "unknown time zone 'Mars/Base'",
        ),
    ]
    good_a = _with_member(example, "m-a")
    good_c = _with_member(example, "m-c")
    good_c["settings"] = settings | {"contact": {"email": "kofi@example.org"}}
    written = await write(
        namespace,
        "contacts.v1",
        [(b"m-a", _json(good_a))] + [(b.key, b.value) for b in bads] + [(b"m-c", _json(good_c))],
    )
    end = written[-1].offset + 1
    poisoned = list(zip(bads, written[1 : 1 + len(bads)], strict=True))

    redis = Redis.from_url(namespace.stack.redis.address)
    contacts = RedisContacts(redis, namespace.redis_prefix)
    try:
        app = build_notifications(NotificationsSettings(**namespace.settings()))
        async with serving(app):

            async def projected() -> tuple[str | None, str | None] | None:
                a, c = (await contacts.get("m-a")), (await contacts.get("m-c"))
                both = (a.contact.email, c.contact.email)
                return both if None not in both else None

            emails = await eventually(projected, timeout=60)
            letters = await dead_letters(namespace, "contacts.v1", len(bads))

            async def caught_up() -> bool:
                return await committed(namespace, CONTACTS_GROUP, "contacts.v1") == end

            await eventually(caught_up, timeout=30)
        assert emails == ("amina@example.org", "kofi@example.org")
        assert (await contacts.get("m-template")).contact.email is None, "a bad record landed"
        decode_event(_json(good_a), (ContactUpserted,))  # the good ones really are good
        assert_dead_lettered_once(
            letters, namespace, "contacts.v1", CONTACTS_GROUP, "notifications", poisoned
        )
        assert len(letters) == len(bads)
    finally:
        await redis.aclose()


async def test_deliveries_v1_bad_records_reach_the_dlq_once_and_redrives_flow(
    namespace: Namespace,
) -> None:
    await ensure_topics(namespace.kafka())
    example = "deliveries.v1/1/DeliveryRequested.json"
    template = _with_member(example, "m-template")
    bads = malformed(template, "DeliveryRequested", _example("feedback.v1/1/FeedbackGiven.json"))
    bads += [
        Bad("unknown channel", POISON_KEY, _json(template | {"channel": "pigeon"}), "channel"),
        Bad("no items", POISON_KEY, _json(template | {"items": []}), "items"),
        Bad("tombstone on a delete-policy topic", b"m-a", None, "null value"),
    ]
    written = await write(
        namespace,
        "deliveries.v1",
        [(b"m-a", _json(_with_member(example, "m-a")))]
        + [(b.key, b.value) for b in bads]
        + [(b"m-c", _json(_with_member(example, "m-c")))],
    )
    end = written[-1].offset + 1
    poisoned = list(zip(bads, written[1 : 1 + len(bads)], strict=True))
    decode_event(_json(_with_member(example, "m-a")), (DeliveryRequested,))

    redis = Redis.from_url(namespace.stack.redis.address)
    pending = f"{namespace.redis_prefix}pending:"
    # Both members get e-mail but are in quiet hours now: the scheduler holds what is re-driven
    # (back in their pending deliveries), where the test can see it arrived.
    now = datetime.now(UTC)
    quiet = QuietHours(
        start=(now - timedelta(hours=2)).time(), end=(now + timedelta(hours=2)).time(), tz="UTC"
    )
    contacts = RedisContacts(redis, namespace.redis_prefix)
    for member in ("m-a", "m-c"):
        await contacts.put(
            member,
            DeliverySettings(
                contact=ContactDetails(email=f"{member}@example.org"),
                preferences=Preferences(
                    channels=[Channel.IN_APP, Channel.EMAIL], quiet_hours=quiet
                ),
            ),
            now,
        )
    try:
        app = build_notifications(NotificationsSettings(**namespace.settings()))
        async with serving(app):

            async def requeued() -> bool:
                a = await redis.hexists(f"{pending}m-a", "m-0042")
                c = await redis.hexists(f"{pending}m-c", "m-0042")
                return bool(a and c)

            await eventually(requeued, timeout=60)
            letters = await dead_letters(namespace, "deliveries.v1", len(bads))

            async def caught_up() -> bool:
                return await committed(namespace, REDRIVE_GROUP, "deliveries.v1") == end

            await eventually(caught_up, timeout=30)
        assert not await redis.exists(f"{pending}m-template"), "a bad record was re-driven"
        assert_dead_lettered_once(
            letters, namespace, "deliveries.v1", REDRIVE_GROUP, "notifications", poisoned
        )
        assert len(letters) == len(bads)
    finally:
        await redis.aclose()
