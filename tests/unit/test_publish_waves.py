"""Publishing in waves: records of one key keep their order, each key once per wave."""

from __future__ import annotations

from nnmatch.events import Event, FeedbackAction, FeedbackGiven
from nnmatch.messaging import _waves


def _event(member_id: str, candidate_id: str) -> FeedbackGiven:
    return FeedbackGiven(
        producer="tests",
        member_id=member_id,
        candidate_id=candidate_id,
        action=FeedbackAction.ACCEPT,
    )


def _by_key(items: list[tuple[str, Event | None]]) -> dict[str, list[Event | None]]:
    grouped: dict[str, list[Event | None]] = {}
    for key, event in items:
        grouped.setdefault(key, []).append(event)
    return grouped


ITEMS: list[tuple[str, Event | None]] = [
    ("a", _event("a", "x1")),
    ("b", _event("b", "x2")),
    ("a", _event("a", "x3")),
    ("a", None),
    ("c", _event("c", "x5")),
    ("b", _event("b", "x6")),
]


def test_waves_put_each_key_at_most_once_per_wave() -> None:
    waves = _waves(ITEMS)

    assert all(len({key for key, _ in wave}) == len(wave) for wave in waves)
    assert [[key for key, _ in wave] for wave in waves] == [["a", "b", "c"], ["a", "b"], ["a"]]


def test_waves_keep_the_order_of_each_keys_records() -> None:
    waves = _waves(ITEMS)

    flattened = [item for wave in waves for item in wave]
    assert _by_key(flattened) == _by_key(ITEMS)
    assert sorted(map(id, (e for _, e in flattened))) == sorted(map(id, (e for _, e in ITEMS)))


def test_a_tombstone_after_an_event_stays_after_it() -> None:
    upsert = _event("a", "x")

    waves = _waves([("a", upsert), ("a", None)])

    assert waves == [[("a", upsert)], [("a", None)]]


def test_distinct_keys_go_out_in_one_wave_in_input_order() -> None:
    items: list[tuple[str, Event | None]] = [(k, _event(k, "x")) for k in "dcba"]

    assert _waves(items) == [items]


def test_nothing_to_publish_makes_no_waves() -> None:
    assert _waves([]) == []
