"""After a burst of work: freed heap back to the operating system, and what stays alive out
of the cyclic garbage collector's reach.

glibc's malloc keeps what a process frees for its next allocations, in holes between blocks
still in use, and returns only the free top of each heap on its own. After the matcher's
bursts (the replay, a refresh of every member's list) those holes are tens to hundreds of
MiB, counted in its RSS and against its pod's memory limit: at 10,000 members a trim after
the refresh at start took the matcher from 682 to 619 MiB. `malloc_trim(0)` hands every
whole free page back (madvise), at the cost of one walk of the heap; call it when a burst
ends, not on a hot path. Elsewhere than glibc it does nothing.

The matcher holds millions of long-lived objects (cards, candidate ids, words): at 20,000
members 1.1 million, and one full collection of the cyclic collector walked them all in
0.6 s, holding the GIL, at a moment set by allocation counts, not by us: a hub search or an
update that met one waited the whole pause. `freeze_long_lived` collects once and then moves
everything alive into the collector's permanent generation (`gc.freeze`), so later
collections walk only what was allocated since. Reference counting still frees a frozen
object that is dropped; only a frozen cycle would wait (none of these form cycles).
`collect_less_often` raises the youngest generation's threshold from 700 allocations to
`YOUNG_COLLECTION_ALLOCATIONS`: ranking a list allocates hundreds of short-lived objects, and
the default promoted each chunk's lists into the oldest generation and walked it again and
again (at 20,000 members, every list: 15.0 s of 81 s in the collector without both, 7.3 s
with the freeze alone, 2.8 s with both).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import os
from collections.abc import Callable
from functools import cache

log = logging.getLogger(__name__)


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (AttributeError, OSError):
        return None
    return trim


def resident_bytes() -> int | None:
    """This process's resident set size now (None where /proc is not there)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def release_free_memory(after: str) -> int | None:
    """Return the heap's free pages to the system (`after`: the burst that freed them, for the
    log); the bytes the RSS fell by, or None where malloc cannot be trimmed."""
    trim = _malloc_trim()
    if trim is None:
        return None
    before = resident_bytes()
    trim(0)
    now = resident_bytes()
    released = max(0, before - now) if before is not None and now is not None else 0
    log.info(
        "freed memory returned to the system",
        extra={"after": after, "released_mib": round(released / 2**20, 1)},
    )
    return released


YOUNG_COLLECTION_ALLOCATIONS = 50_000
"""Allocations (net of frees) between collections of the youngest generation."""


def collect_less_often() -> None:
    """Collect the young generations after `YOUNG_COLLECTION_ALLOCATIONS`, not 700: for a
    process that allocates in bursts of many short-lived objects (the matcher)."""
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_ALLOCATIONS, middle, oldest)


def freeze_long_lived(after: str) -> int:
    """Collect, then take every object alive out of the cyclic collector's walks (`after`: the
    burst that built them, for the log); the objects frozen so far."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("long-lived objects frozen", extra={"after": after, "frozen": frozen})
    return frozen
