"""The background queue: scans first, and a scanned member's waiting relist answered by it."""

from __future__ import annotations

from nnmatch_matching.matcher.relist_queue import RelistQueue


def test_scans_come_first_then_relists_in_arrival_order() -> None:
    queue = RelistQueue()
    queue.relist(["a", "b"])
    queue.rescan(["c"])

    assert queue.take(2) == (["c"], ["a"])
    assert queue.take(2) == ([], ["b"])
    assert len(queue) == 0


def test_a_scanned_member_is_not_relisted_again_for_a_relist_it_had_waiting() -> None:
    """A cold start queues every member's scan, and a change then queues relists for the
    lists it enters: each member gets one list, not two."""
    queue = RelistQueue()
    queue.rescan(["a", "b", "c"])
    queue.relist(["b", "c", "d"])

    assert queue.take(2) == (["a", "b"], [])
    assert queue.take(3) == (["c"], ["d"])
    assert len(queue) == 0


def test_work_given_back_goes_to_the_front() -> None:
    queue = RelistQueue()
    queue.rescan(["a", "b"])
    rescan, relist = queue.take(1)
    queue.give_back(rescan, relist)

    assert queue.take(2) == (["a", "b"], [])
