"""The pure part of `nnmatch dlq redrive`: which topic, and what a dead letter re-publishes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest

from nnmatch.events import DeadLetter, FeedbackAction, FeedbackGiven, encode_event
from nnmatch.redrive import (
    Backlog,
    DlqRecord,
    RedriveError,
    Republish,
    Skip,
    Summary,
    describe,
    plan,
    resolve_topic,
)
from nnmatch.topics import ALL_TOPICS, MATCHES

TARGET = "acme.matches.v1"
RAW = b'{"type": "MatchesComputed", "broken": \xff\xfe}'


def _letter(**overrides: Any) -> DeadLetter:
    fields: dict[str, Any] = {
        "producer": "notifications",
        "original_topic": TARGET,
        "partition": 2,
        "offset": 41,
        "key": "m-0007",
        "value_b64": base64.b64encode(RAW).decode("ascii"),
        "error": "invalid MatchesComputed: suggestions: Field required",
        "consumer_group": "nnmatch-notifier",
        "occurred_at": datetime(2026, 11, 23, 13, 0, tzinfo=UTC),
    } | overrides
    return DeadLetter(**fields)


def _record(value: bytes | None, offset: int = 5) -> DlqRecord:
    return DlqRecord(partition=0, offset=offset, key=b"m-0007", value=value)


def test_contract_names_resolve_to_their_spec() -> None:
    assert resolve_topic("matches.v1") is MATCHES
    assert [resolve_topic(spec.name) for spec in ALL_TOPICS] == list(ALL_TOPICS)


def test_an_unknown_topic_is_refused_naming_the_valid_ones() -> None:
    with pytest.raises(RedriveError) as caught:
        resolve_topic("matches")
    message = str(caught.value)
    assert all(spec.name in message for spec in ALL_TOPICS)


@pytest.mark.parametrize(
    ("given", "hint"),
    [("matches.v1.dlq", "not its dead-letter topic: matches.v1"), ("acme.matches.v1", "prefix")],
)
def test_near_misses_get_a_hint(given: str, hint: str) -> None:
    with pytest.raises(RedriveError, match="unknown topic") as caught:
        resolve_topic(given)
    assert hint in str(caught.value)


def test_an_envelope_republishes_the_original_key_and_raw_bytes() -> None:
    letter = _letter()
    outcome = plan(_record(encode_event(letter)), TARGET)
    assert isinstance(outcome, Republish)
    assert outcome.key == b"m-0007"
    assert outcome.value == RAW  # byte for byte, not valid UTF-8 included
    assert outcome.letter == letter


def test_a_record_without_key_is_republished_without_key() -> None:
    outcome = plan(_record(encode_event(_letter(key=None))), TARGET)
    assert isinstance(outcome, Republish)
    assert outcome.key is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty record"),
        (b"{not json", "undecodable envelope: not JSON"),
        (b"[1]", "undecodable envelope: expected a JSON object"),
        (
            encode_event(
                FeedbackGiven(
                    producer="t", member_id="m-1", candidate_id="m-2", action=FeedbackAction.ACCEPT
                )
            ),
            "undecodable envelope: unexpected event type 'FeedbackGiven'",
        ),
        (encode_event(_letter(value_b64="not base64!")), "value_b64 is not base64"),
        (encode_event(_letter(original_topic="other.matches.v1")), "names topic"),
        (
            encode_event(_letter(value_truncated=True, value_bytes=900_000)),
            "value of 900000 bytes was cut",
        ),
        (encode_event(_letter(value_b64=None)), "no value"),
        (encode_event(_letter(key="m-" + "x" * 10 + "… (3000 characters)")), "key was cut"),
        (encode_event(_letter(key="m-\ufffd")), "not UTF-8"),
    ],
)
def test_what_cannot_be_restored_exactly_stays_put_with_the_reason(
    value: bytes | None, reason: str
) -> None:
    outcome = plan(_record(value), TARGET)
    assert isinstance(outcome, Skip)
    assert reason in outcome.reason


def test_a_row_shows_where_why_and_who_but_never_the_value() -> None:
    letter = _letter()
    row = describe(_record(encode_event(letter), offset=9), TARGET, committed=None)
    assert (row.dlq_offset, row.original_partition, row.original_offset) == (9, 2, 41)
    assert (row.key, row.service, row.state) == ("m-0007", "notifications", "pending")
    assert row.error == letter.error
    assert row.time == datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    shown = repr(row)
    assert letter.value_b64 is not None
    assert letter.value_b64 not in shown
    assert 'MatchesComputed", "broken' not in shown


def test_a_row_states_what_the_group_did_with_it() -> None:
    good = _record(encode_event(_letter()), offset=3)
    bad = _record(b"garbage", offset=4)
    assert describe(good, TARGET, committed=4).state == "re-driven"
    assert describe(bad, TARGET, committed=5).state == "skipped"
    assert describe(bad, TARGET, committed=4).state == "pending"
    undecodable = describe(bad, TARGET, committed=None)
    assert undecodable.key is None
    assert undecodable.service is None
    assert "undecodable envelope" in undecodable.error


def test_long_errors_are_shortened_to_one_line() -> None:
    row = describe(
        _record(encode_event(_letter(error="line one\nline two " + "x" * 500))), TARGET, None
    )
    assert "\n" not in row.error
    assert len(row.error) <= 200
    assert row.error.startswith("line one line two")


def test_summary_and_backlog_count() -> None:
    summary = Summary(target=TARGET, dlq=f"{TARGET}.dlq")
    good = _record(encode_event(_letter()), offset=1)
    bad = _record(b"garbage", offset=2)
    summary.record(good, plan(good, TARGET))
    summary.record(bad, plan(bad, TARGET))
    assert summary.redriven == [good]
    assert [(s.offset, s.reason[:20]) for s in summary.skipped] == [(2, "undecodable envelope")]
    assert Backlog(start={0: 3, 1: 5}, end={0: 10, 1: 5}).pending == 7
