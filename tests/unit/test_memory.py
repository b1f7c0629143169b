"""Handing freed heap back to the system (nnmatch.memory), on this process's real allocator
(glibc, as in the images)."""

from __future__ import annotations

from nnmatch.memory import release_free_memory, resident_bytes


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
