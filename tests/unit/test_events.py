"""Event contracts: round trips, and `UndecodableRecord` naming the cause of every bad record."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, time
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from nnmatch.contact import (
    Channel,
    ContactDetails,
    DeliverySettings,
    Frequency,
    Preferences,
    QuietHours,
)
from nnmatch.events import (
    EVENT_TYPES,
    MAX_RECORD_BYTES,
    ContactUpserted,
    DeadLetter,
    DeliveryItem,
    DeliveryRequested,
    EmbeddingModel,
    Event,
    FeedbackAction,
    FeedbackGiven,
    HubDeleted,
    HubPartner,
    HubPartnersComputed,
    HubUpserted,
    MatchesComputed,
    MemberCard,
    MemberSuspended,
    MemberUnsuspended,
    ProfileDeleted,
    ProfileUpserted,
    ProfileVectorsComputed,
    ProjectDeleted,
    ProjectUpserted,
    Reason,
    ReportOutcome,
    ReportResolved,
    Suggestion,
    UndecodableRecord,
    VectorKind,
    decode_event,
    decode_vector,
    encode_event,
    encode_vector,
    event_type_name,
    read_json,
)
from nnmatch.hub import HubProfile, Leader, LeaderRole, ProjectProfile
from nnmatch.topics import FEEDBACK, PROFILES
from tests.unit.builders import amina

AT = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


def _one_of_each() -> list[Event]:
    profile = amina()
    vector = encode_vector(np.full(4, 0.5, dtype=np.float32))
    return [
        ProfileUpserted(producer="profiles", member_id="m-1", version=2, profile=profile),
        ProfileDeleted(producer="profiles", member_id="m-1"),
        ProfileVectorsComputed(
            producer="matching",
            member_id="m-1",
            profile_version=2,
            model=EmbeddingModel(id="mini", version="abc", dimensions=4),
            vectors=dict.fromkeys(VectorKind, vector),
            text_hashes=dict.fromkeys(VectorKind, "0" * 64),
            card=MemberCard.from_profile(profile),
        ),
        MatchesComputed(
            producer="matching",
            member_id="m-1",
            profile_version=2,
            model_id="mini@abc",
            suggestions=[
                Suggestion(
                    member_id="m-2",
                    display_name="Kofi Mensah",
                    country="GH",
                    score=0.83,
                    reasons=[Reason(kind="shared_sdg", text="both work on SDG 2 (Zero hunger)")],
                    computed_at=AT,
                )
            ],
        ),
        HubPartnersComputed(
            producer="matching",
            hub_id="yail-nairobi",
            hub_version=1,
            region="Africa",
            model_id="mini@abc",
            partners=[
                HubPartner(
                    hub_id="yail-lisbon",
                    name="YAIL Lisbon",
                    country="PT",
                    region="Europe",
                    score=0.7,
                    reasons=[
                        Reason(kind="shared_sdg", text="both work on SDG 13 (Climate action)")
                    ],
                )
            ],
        ),
        FeedbackGiven(
            producer="matching", member_id="m-1", candidate_id="m-2", action=FeedbackAction.BLOCK
        ),
        ContactUpserted(
            producer="notifications",
            member_id="m-1",
            settings=DeliverySettings(
                contact=ContactDetails(email="Amina@Example.ORG", share_in_introductions=["email"]),
                preferences=Preferences(
                    channels=[Channel.IN_APP, Channel.EMAIL],
                    frequency=Frequency.DAILY,
                    quiet_hours=QuietHours(start=time(22), end=time(7), tz="Africa/Nairobi"),
                ),
            ),
        ),
        DeliveryRequested(
            producer="notifications",
            member_id="m-1",
            channel=Channel.WEBHOOK,
            items=[
                DeliveryItem(
                    item_id="1-0",
                    kind="suggestion",
                    suggestion=Suggestion(
                        member_id="m-2",
                        display_name="Kofi",
                        country="GH",
                        score=0.5,
                        computed_at=AT,
                    ),
                )
            ],
        ),
        HubUpserted(
            producer="profiles",
            hub_id="yail-nairobi",
            version=1,
            hub=HubProfile(
                name="YAIL Nairobi",
                country="KE",
                languages=["en"],
                leaders=[Leader(member_id="m-1", role=LeaderRole.LEADER)],
            ),
        ),
        HubDeleted(producer="profiles", hub_id="yail-nairobi"),
        ProjectUpserted(
            producer="profiles",
            hub_id="yail-nairobi",
            project_id="p-1",
            version=1,
            project=ProjectProfile(title="Drought watch", languages=["sw"]),
        ),
        ProjectDeleted(producer="profiles", hub_id="yail-nairobi", project_id="p-1"),
        MemberSuspended(producer="profiles", member_id="m-2", operator="op-1"),
        MemberUnsuspended(producer="profiles", member_id="m-2", operator="op-1"),
        ReportResolved(
            producer="profiles",
            report_id="r-" + "0" * 32,
            reporter_id="m-1",
            target_id="m-2",
            outcome=ReportOutcome.DISMISSED,
        ),
        DeadLetter(
            producer="matching",
            original_topic="profiles.v1",
            partition=0,
            offset=7,
            key="m-1",
            value_b64=base64.b64encode(b"{oops").decode("ascii"),
            error="not JSON",
            consumer_group="nnmatch-embedder",
        ),
    ]


def test_there_is_one_test_event_per_event_type() -> None:
    assert {type(e) for e in _one_of_each()} == set(EVENT_TYPES)


@pytest.mark.parametrize("event", _one_of_each(), ids=lambda e: type(e).__name__)
def test_encoded_event_decodes_to_the_same_event(event: Event) -> None:
    raw = encode_event(event)

    assert decode_event(raw, (type(event),)) == event
    assert decode_event(raw, EVENT_TYPES) == event
    assert json.loads(raw)["type"] == event_type_name(type(event))


def _feedback(**changes: Any) -> dict[str, Any]:
    event = FeedbackGiven(
        producer="matching", member_id="m-1", candidate_id="m-2", action=FeedbackAction.ACCEPT
    )
    data: dict[str, Any] = json.loads(encode_event(event))
    return data | changes


def _refusal(raw: bytes, accepted: tuple[type[Event], ...] = FEEDBACK.events) -> str:
    with pytest.raises(UndecodableRecord) as caught:
        decode_event(raw, accepted)
    return str(caught.value)


def test_what_the_fast_reader_refuses_is_read_as_the_standard_library_reads_it() -> None:
    """Records are read by orjson; a NaN (which only the standard reader takes) still reaches
    the model, which refuses it naming the field, and a byte-order mark is still read."""
    assert read_json(b'{"a": NaN}')["a"] != read_json(b'{"a": NaN}')["a"]  # NaN is not NaN
    assert read_json("\ufeff{}".encode()) == {}
    with pytest.raises(json.JSONDecodeError):
        read_json(b'{"a": ')


def test_bytes_that_are_not_json_are_refused_as_not_json() -> None:
    assert _refusal(b"<html>502 Bad Gateway</html>").startswith("not JSON:")


def test_json_nested_past_any_event_is_refused_as_not_json() -> None:
    """Deeper than orjson's 1,024 levels the standard library's reader raised RecursionError,
    which no consumer catches as a bad record: it is a decode error like any other."""
    assert _refusal(b'{"a": ' + b"[" * 5000).startswith("not JSON: nested too deeply")


def test_invalid_utf8_is_refused_as_not_json_naming_the_encoding() -> None:
    message = _refusal(b'{"type": "FeedbackGiven", "producer": "\xff\xfe"}')

    assert message.startswith("not JSON:")
    assert "utf-8" in message


def test_a_json_array_is_refused_as_not_an_object() -> None:
    message = _refusal(json.dumps([_feedback()]).encode())

    assert message == "expected a JSON object, got list"


def test_unknown_event_type_is_refused_naming_it_and_what_the_topic_carries() -> None:
    message = _refusal(json.dumps(_feedback(type="FeedbackExploded")).encode())

    assert "unexpected event type 'FeedbackExploded'" in message
    assert "this topic carries FeedbackGiven" in message


def test_missing_type_is_refused_as_unexpected_event_type() -> None:
    data = _feedback()
    del data["type"]

    assert "unexpected event type None" in _refusal(json.dumps(data).encode())


def test_event_of_a_type_the_topic_does_not_carry_is_refused() -> None:
    raw = json.dumps(_feedback()).encode()

    message = _refusal(raw, PROFILES.events)

    assert message == (
        "unexpected event type 'FeedbackGiven'; this topic carries ProfileUpserted, ProfileDeleted"
    )


def test_a_newer_schema_version_is_refused_naming_the_version() -> None:
    message = _refusal(json.dumps(_feedback(schema_version=2)).encode())

    assert "unsupported schema_version 2 for FeedbackGiven" in message
    assert "reads 1" in message


def test_missing_field_is_refused_naming_the_field() -> None:
    data = _feedback()
    del data["candidate_id"]

    message = _refusal(json.dumps(data).encode())

    assert message.startswith("invalid FeedbackGiven:")
    assert "candidate_id: Field required" in message


def test_invalid_field_value_is_refused_naming_the_field() -> None:
    message = _refusal(json.dumps(_feedback(action="love")).encode())

    assert message.startswith("invalid FeedbackGiven: action:")


def test_record_larger_than_the_limit_is_refused_naming_its_size() -> None:
    valid = json.dumps(_feedback()).encode()
    raw = valid + b" " * (MAX_RECORD_BYTES + 1 - len(valid))

    message = _refusal(raw)

    assert message == f"record of {MAX_RECORD_BYTES + 1} bytes exceeds {MAX_RECORD_BYTES}"


def test_record_of_exactly_the_limit_still_decodes() -> None:
    valid = json.dumps(_feedback()).encode()
    raw = valid + b" " * (MAX_RECORD_BYTES - len(valid))

    event = decode_event(raw, (FeedbackGiven,))

    assert event.candidate_id == "m-2"


@pytest.mark.parametrize("size", [1, 4, 384])
def test_vector_round_trips_exactly_through_its_encoding(size: int) -> None:
    rng = np.random.default_rng(size)
    vector = rng.standard_normal(size).astype(np.float32)
    vector[0] = np.float32(1e-38)  # a value float32 keeps but a decimal print might round

    decoded = decode_vector(encode_vector(vector))

    assert decoded.dtype == np.float32
    assert np.array_equal(decoded, vector)
    assert len(base64.b64decode(encode_vector(vector))) == 4 * size


def test_vector_encoding_is_little_endian_float32() -> None:
    encoded = encode_vector(np.asarray([1.0], dtype=np.float32))

    assert base64.b64decode(encoded) == b"\x00\x00\x80\x3f"


@pytest.mark.parametrize(
    ("value", "cause"),
    [
        (np.nan, "NaN or infinity"),
        (np.inf, "NaN or infinity"),
        (1e38, "norm 1e\\+38 is above 2\\^60"),
    ],
)
def test_a_vectors_event_refuses_a_vector_the_matcher_cannot_hold(value: float, cause: str) -> None:
    """Finite float32s can still be too long for the matcher's exact grid (`exact_dots`):
    the event refuses it with that cause, as it refuses NaN."""
    profile = amina()
    good = encode_vector(np.full(4, 0.5, dtype=np.float32))
    bad = np.full(4, 0.5, dtype=np.float32)
    bad[0] = value
    with pytest.raises(ValidationError, match=cause):
        ProfileVectorsComputed(
            producer="matching",
            member_id="m-1",
            profile_version=2,
            model=EmbeddingModel(id="mini", version="abc", dimensions=4),
            vectors={**dict.fromkeys(VectorKind, good), VectorKind.OFFERS: encode_vector(bad)},
            text_hashes=dict.fromkeys(VectorKind, "0" * 64),
            card=MemberCard.from_profile(profile),
        )
