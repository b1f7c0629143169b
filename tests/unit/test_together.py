"""Several handlers under one consumer group: a record refused once is dead-lettered once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nnmatch.messaging import Inbound, Rejection
from nnmatch_notifications.invitation_feeds import Together


class Refusing:
    """Refuses the records at `offsets`; notes every record it was given."""

    def __init__(self, *offsets: int) -> None:
        self.offsets = set(offsets)
        self.seen: list[int] = []

    async def __call__(self, batch: list[Inbound[Any]]) -> Sequence[Rejection]:
        self.seen.extend(r.offset for r in batch)
        return [Rejection(r, f"refused {r.offset}") for r in batch if r.offset in self.offsets]


def _batch(count: int) -> list[Inbound[Any]]:
    return [Inbound(f"m-{i}", None, "matches.v1", 0, i, 0) for i in range(count)]


async def test_a_refused_record_skips_the_later_handlers_and_is_rejected_once() -> None:
    first, second, third = Refusing(1), Refusing(1, 3), Refusing()
    rejected = await Together(first, second, third)(_batch(5))
    assert first.seen == [0, 1, 2, 3, 4]
    assert second.seen == [0, 2, 3, 4]
    assert third.seen == [0, 2, 4]
    assert [(r.record.offset, r.reason) for r in rejected] == [(1, "refused 1"), (3, "refused 3")]


async def test_nothing_refused_every_handler_sees_the_whole_batch() -> None:
    first, second = Refusing(), Refusing()
    assert await Together(first, second)(_batch(3)) == []
    assert first.seen == second.seen == [0, 1, 2]
