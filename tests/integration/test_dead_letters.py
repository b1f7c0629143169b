"""A bad record on profiles.v1 goes to profiles.v1.dlq with its cause; the partition flows on."""

from __future__ import annotations

import base64
import json

import pytest

from nnmatch.events import DeadLetter, ProfileUpserted, ProfileVectorsComputed, decode_event
from nnmatch.profile import MemberProfile
from nnmatch_matching.bootstrap import build_app
from nnmatch_matching.settings import MatchingSettings
from tests.support import AMINA, KOFI, Namespace, produce_raw, read_topic, serving

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
