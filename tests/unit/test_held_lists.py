"""The `HeldLists` contract, on the in-memory fake; tests/integration/test_held_lists_redis.py
runs the same tests on the Redis adapter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nnmatch.events import MatchesComputed
from nnmatch_notifications.held import HeldLists, MemoryHeldLists

T0 = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


@pytest.fixture
def held_lists() -> HeldLists:
    return MemoryHeldLists()


def _list(member: str, source: datetime | None, version: int = 1) -> MatchesComputed:
    return MatchesComputed(
        producer="matching",
        member_id=member,
        profile_version=version,
        model_id="test",
        suggestions=[],
        source_occurred_at=source,
    )


async def test_import_times_are_recognised_and_others_are_not(held_lists: HeldLists) -> None:
    await held_lists.record_imports([("m-1", T0, 1), ("m-2", T0, 1)])
    edit = T0 + timedelta(milliseconds=5)
    assert await held_lists.imported([T0, edit]) == {T0}


async def test_a_member_is_pending_until_a_list_of_the_imported_version(
    held_lists: HeldLists,
) -> None:
    """m-2 is re-imported (version 3): its lists of version 2 do not count, one of 3 does,
    whatever caused it (a list the matcher's background ranked carries no source)."""
    await held_lists.record_imports([("m-1", T0, 1), ("m-2", T0, 3)])
    assert await held_lists.awaiting_list(["m-1", "m-2", "m-3"]) == {"m-1", "m-2"}
    await held_lists.note_lists([_list("m-2", T0, version=2), _list("m-1", None)])
    assert await held_lists.pending_imports(T0 - timedelta(hours=1)) == 1
    assert await held_lists.awaiting_list(["m-1", "m-2"]) == {"m-2"}
    assert await held_lists.pending_imports(T0 + timedelta(seconds=1)) == 0  # too old to count
    await held_lists.note_lists([_list("m-2", None, version=3)])
    assert await held_lists.pending_imports(T0 - timedelta(hours=1)) == 0


async def test_a_list_read_before_its_import_event_counts(held_lists: HeldLists) -> None:
    """matches.v1 and profiles.v1 are read by different consumers: the list may come first."""
    await held_lists.note_lists([_list("m-1", None, version=2)])
    await held_lists.record_imports([("m-1", T0, 2), ("m-2", T0, 1)])
    assert await held_lists.pending_imports(T0 - timedelta(hours=1)) == 1  # m-2 only
    await held_lists.note_lists([_list("m-2", T0, version=1)])
    assert await held_lists.pending_imports(T0 - timedelta(hours=1)) == 0


async def test_the_latest_held_list_is_released_only_if_still_the_latest(
    held_lists: HeldLists,
) -> None:
    await held_lists.hold([_list("m-1", T0), _list("m-1", T0, version=2)], T0, T0)
    [(event, raw)] = await held_lists.due(T0, 10)
    await held_lists.hold([_list("m-1", T0, version=3)], T0 + timedelta(seconds=30), None)

    assert event.profile_version == 2
    assert await held_lists.holding(["m-1", "m-2"]) == {"m-1"}
    assert await held_lists.last_import_activity() == T0
    assert not await held_lists.release("m-1", raw)  # a newer list came meanwhile
    assert await held_lists.due(T0 + timedelta(seconds=29), 10) == []
    [(newer, newer_raw)] = await held_lists.due(T0 + timedelta(seconds=30), 10)
    assert await held_lists.release("m-1", newer_raw)
    assert await held_lists.holding(["m-1"]) == set()
    assert newer.profile_version == 3


async def test_forgetting_a_member_drops_their_held_list_and_pending_import(
    held_lists: HeldLists,
) -> None:
    await held_lists.record_imports([("m-1", T0, 1)])
    await held_lists.hold([_list("m-1", T0)], T0, T0)
    await held_lists.forget("m-1")
    assert await held_lists.holding(["m-1"]) == set()
    assert await held_lists.due(T0, 10) == []
    assert await held_lists.pending_imports(T0 - timedelta(hours=1)) == 0


async def test_a_list_stamped_with_an_earlier_chunk_of_the_import_counts(
    held_lists: HeldLists,
) -> None:
    later_chunk = T0 + timedelta(seconds=2)
    await held_lists.record_imports([("m-1", T0, 1), ("m-2", later_chunk, 1)])
    # The matcher applied both in one batch and stamped it with the oldest source.
    await held_lists.note_lists([_list("m-1", T0), _list("m-2", T0)])
    assert await held_lists.pending_imports(T0 - timedelta(hours=1)) == 0
