"""The background queue: scans and relists paced apart, and no member scanned or listed twice
for one round of work."""

from __future__ import annotations

from nnmatch_matching.matcher.relist_queue import RelistQueue


def test_scans_and_relists_are_taken_up_to_their_own_limits_in_arrival_order() -> None:
    queue = RelistQueue()
    queue.relist(["a", "b", "d"])
    queue.rescan(["c", "e"])

    assert queue.take(1, 2) == (["c"], ["a", "b"])
    assert queue.take(0, 5) == ([], ["d"])
    assert queue.take(5, 0) == (["e"], [])
    assert len(queue) == 0


def test_a_scanned_member_is_not_relisted_again_for_a_relist_it_had_waiting() -> None:
    """A cold start queues every member's scan, and a change then queues relists for the
    lists it enters: each member gets one list, not two."""
    queue = RelistQueue()
    queue.rescan(["a", "b", "c"])
    queue.relist(["b", "c", "d"])

    assert queue.take(2, 0) == (["a", "b"], [])
    assert queue.take(3, 3) == (["c"], ["d"])
    assert len(queue) == 0


def test_a_relist_of_a_member_whose_scan_waits_is_that_scan() -> None:
    """Relists come before the refresh's scans; a member waiting for both is scanned once, when
    its relist comes up, and its queued scan is gone."""
    queue = RelistQueue()
    queue.rescan(["a", "b"])
    queue.relist(["b", "c"])

    assert queue.take(0, 2) == (["b"], ["c"])
    assert queue.rescans == 1
    assert queue.take(5, 5) == (["a"], [])
    assert len(queue) == 0


def test_what_is_owed_is_each_kind_of_work_in_arrival_order() -> None:
    queue = RelistQueue()
    queue.relist(["c", "b"])
    queue.rescan(["a", "b"])

    assert queue.owed() == (["a", "b"], ["c", "b"])
    assert queue.relists == 2


def test_work_given_back_goes_to_the_front() -> None:
    queue = RelistQueue()
    queue.rescan(["a", "b"])
    rescan, relist = queue.take(1, 1)
    queue.give_back(rescan, relist)

    assert queue.take(2, 0) == (["a", "b"], [])


def test_an_imports_lists_are_held_while_it_runs_and_others_are_not() -> None:
    queue = RelistQueue()
    queue.relist_after_import(["a", "b"])
    queue.relist(["c", "a"])  # a live change alters a as well

    assert queue.take(0, 5, importing=True) == ([], ["c", "a"]), "a: ranked now, once"
    assert queue.relists == 1
    assert "b" in queue
    queue.relist_after_import(["b", "d"])
    assert queue.take(0, 5, importing=True) == ([], [])
    assert queue.owed() == ([], ["b", "d"]), "a snapshot keeps the held lists"
    assert queue.take(0, 5) == ([], ["b", "d"]), "the import paused: each once"
    assert len(queue) == 0
