"""Handing freed heap back to the system (nnmatch.memory), on this process's real allocator
(glibc, as in the images)."""

from __future__ import annotations

import gc
import weakref

from nnmatch.memory import (
    YOUNG_COLLECTION_ALLOCATIONS,
    collect_less_often,
    freeze_long_lived,
    release_free_memory,
    resident_bytes,
)


def test_the_resident_size_is_read_from_proc() -> None:
    size = resident_bytes()
    assert size is not None
    assert size > 10 * 2**20


def test_a_trim_gives_back_what_free_kept() -> None:
    # Blocks small enough for the heap (not mmap'd); the last ones stay, so what is freed
    # below them is a hole that free() keeps for later and only a trim returns.
    blocks = [bytearray(4000) for _ in range(20_000)]
    kept = blocks[-1000:]
    del blocks
    released = release_free_memory("a test")
    assert released is not None, "glibc's malloc_trim was not found"
    assert released > 20 * 2**20, f"only {released / 2**20:.1f} MiB came back"
    assert len(kept) == 1000


class _Card:
    """A long-lived object that can be watched (weakref) once frozen."""


def test_frozen_objects_leave_the_collectors_walks_and_are_still_freed_when_dropped() -> None:
    held = [_Card() for _ in range(10_000)]
    watched = weakref.ref(held[0])
    try:
        walked_before = len(gc.get_objects())
        frozen = freeze_long_lived("a test")
        assert frozen >= len(held)
        walked = len(gc.get_objects())
        assert walked < walked_before - len(held), "collections no longer walk them"
        del held
        assert watched() is None, "a dropped frozen object is still freed"
    finally:
        gc.unfreeze()  # the other tests' objects go back to the collector
    assert gc.get_freeze_count() == 0


def test_the_young_generation_is_collected_less_often() -> None:
    before = gc.get_threshold()
    try:
        collect_less_often()
        assert gc.get_threshold() == (YOUNG_COLLECTION_ALLOCATIONS, before[1], before[2])
    finally:
        gc.set_threshold(*before)
