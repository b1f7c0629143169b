"""The evolution rule (docs/EVENTS.md): readers ignore fields they do not know, writers stay
strict, and a breaking change (another `schema_version`, a wrong type, a missing field) is
still refused with its cause so the consumer dead-letters it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import nnmatch
from nnmatch.events import (
    DeadLetter,
    Event,
    FeedbackAction,
    FeedbackGiven,
    ProfileUpserted,
    UndecodableRecord,
    decode_event,
    encode_event,
)
from nnmatch.topics import ALL_TOPICS

EXAMPLES = Path(nnmatch.__file__).parent / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*/*/*.json"))
SPECS = {spec.name: spec for spec in ALL_TOPICS}
DOCS = Path(__file__).resolve().parents[2] / "docs"


def _accepted(example: Path) -> tuple[type[Event], ...]:
    topic = example.parents[1].name
    return (DeadLetter,) if topic.endswith(".dlq") else SPECS[topic].events


def _objects_only(data: dict[str, Any]) -> dict[str, Any]:
    """Future fields at the top level and inside nested models (not inside maps)."""
    grown = dict(data)
    grown["added_by_a_newer_release"] = "ignored"
    for key, value in data.items():
        if isinstance(value, dict) and key not in {"vectors", "text_hashes", "terms"}:
            grown[key] = value | {"also_new": True}
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            grown[key] = [v | {"also_new": 1} for v in value]
    return grown


@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=lambda p: f"{p.parents[1].name}/{p.name}")
def test_every_event_from_a_newer_release_with_extra_fields_decodes_as_today(
    example: Path,
) -> None:
    today = json.loads(example.read_text())
    newer = _objects_only(today)

    decoded = decode_event(json.dumps(newer).encode(), _accepted(example))

    assert decoded == decode_event(json.dumps(today).encode(), _accepted(example))


def test_unknown_fields_are_ignored_however_deep_they_sit() -> None:
    example = EXAMPLES / "profiles.v1" / "1" / "ProfileUpserted.json"
    today = json.loads(example.read_text())
    newer = today | {"profile": today["profile"] | {"pronouns": "she/her"}, "trace": {"id": 1}}
    newer["profile"]["offers"] = today["profile"]["offers"] | {"budget": 10}

    event = decode_event(json.dumps(newer).encode(), (ProfileUpserted,))

    assert event == decode_event(example.read_bytes(), (ProfileUpserted,))


def test_a_tolerated_record_is_written_again_without_the_unknown_fields() -> None:
    today = _feedback()
    raw = json.dumps(today | {"reason": "spam"}).encode()

    again = json.loads(encode_event(decode_event(raw, (FeedbackGiven,))))

    assert again == today


def test_our_own_code_still_cannot_build_an_event_with_an_unknown_field() -> None:
    with pytest.raises(ValidationError, match="reason"):
        FeedbackGiven(  # type: ignore[call-arg]
            producer="matching",
            member_id="m-1",
            candidate_id="m-2",
            action=FeedbackAction.ACCEPT,
            reason="spam",
        )


def test_strict_validation_outside_decoding_still_refuses_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="reason"):
        FeedbackGiven.model_validate(_feedback() | {"reason": "spam"})


def test_a_higher_schema_version_is_refused_as_a_newer_incompatible_release() -> None:
    message = _refusal(_feedback(schema_version=2))

    assert "unsupported schema_version 2 for FeedbackGiven" in message
    assert "newer, incompatible release" in message


def test_an_older_schema_version_is_refused_without_calling_it_newer() -> None:
    message = _refusal(_feedback(schema_version=0))

    assert "unsupported schema_version 0" in message
    assert "newer" not in message


def test_a_field_whose_type_changed_is_refused_naming_it() -> None:
    message = _refusal(_feedback(action=["accept"], extra_field=1))

    assert message.startswith("invalid FeedbackGiven: action:")


def test_a_removed_required_field_is_refused_naming_it() -> None:
    data = _feedback(extra_field=1)
    del data["member_id"]

    assert "member_id: Field required" in _refusal(data)


def test_the_rule_is_documented_beside_the_asyncapi_document() -> None:
    rule = (DOCS / "EVENTS.md").read_text()

    assert (DOCS / "asyncapi.json").exists()
    for promise in ("ignore", "schema_version", "optional", "never remove", "dead-letter"):
        assert promise in rule, f"docs/EVENTS.md no longer says {promise!r}"


def _feedback(**changes: Any) -> dict[str, Any]:
    event = FeedbackGiven(
        producer="matching", member_id="m-1", candidate_id="m-2", action=FeedbackAction.ACCEPT
    )
    data: dict[str, Any] = json.loads(encode_event(event))
    return data | changes


def _refusal(data: dict[str, Any]) -> str:
    with pytest.raises(UndecodableRecord) as caught:
        decode_event(json.dumps(data).encode(), (FeedbackGiven,))
    return str(caught.value)
