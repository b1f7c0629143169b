"""The matcher's background re-ranking: what a batch of changes left past its cap, and the
periodic refresh of the caches of the lists this replica ranks.

A change patches every candidate cache at once (cheap) but re-ranks at most
`MatcherState.sync_relists` lists itself; the rest wait in `MatcherState.queue`. The refresh
takes the words' statistics afresh (`MatchEngine.refreeze`) and scans the cache of every
member whose list this replica ranks (the others' are cleared), which also absorbs the
exposure counts' drift: it runs once at start unless the caches came from a snapshot with the
statistics they were scored under (`MatchEngine.caches_current`;
a start without one has no caches), and then every `refresh_interval_s`. Work is paced at
`per_s` members a second, in chunks under the engine lock, so the consumers get their turn
between chunks; lists are published only where they differ from the stored ones. A change's
lists (`relists_per_s`) are paced apart from the refresh's scans (`per_s`): a list costs a
fraction of a scan, and a change's lists must not wait behind a refresh of everyone. While a
bulk import streams in, the lists it altered are held (`ImportPause`): each is ranked once
it pauses; an import large enough to defer its members' scans gets, when it pauses, a refresh
of everyone as fast as the one at start instead. Steps are
short (`interval_s`), so a consumer waits at most one small chunk for the lock. The refresh
at start is not paced (`start_chunk` members a step, as fast as the CPU goes): until it is
done, members have no list, and at 50 members a second 55,000 would wait 18 minutes. When a
refresh's last scan is done, the heap it freed is handed back to the system and what it built
is frozen out of the garbage collector's walks (`nnmatch.memory`; also once the replay at start
is done), so no full collection of millions of objects stalls an update or a search.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable

from nnmatch.memory import freeze_long_lived, release_free_memory
from nnmatch_matching.matcher.handlers import MatcherState, owned, publish_matches, run_paced

log = logging.getLogger(__name__)

STEP_INTERVAL_S = 0.05
"""Seconds between background steps: a consumer waits at most one step's chunk for the lock."""
YIELD_EVERY = 5
"""While changes arrive, lists of a chunk of relists published before the background checks
for a batch of changes waiting for the lock, and gives the rest back to the queue's front if
one is: at 55,000 members a chunk of 20 held the lock about 100 ms, and the vectors consumer,
waiting for it once an edit, was busy 93 % of the time at 5 edits a second (bench/README.md).
Each part is a publish of its own (a Redis read, a Kafka wave, a Redis write), so a quiet
matcher publishes its chunks whole."""
CHANGES_RECENT_S = 1.0
"""A change came to wait for the lock this recently: the background's chunks go in parts."""


def per_step(per_s: float, interval_s: float = STEP_INTERVAL_S) -> int:
    """Members (scans or lists) a step takes to keep a pace of `per_s` a second (at least 1)."""
    return max(1, math.ceil(per_s * interval_s))


class BackgroundRerank:
    def __init__(
        self,
        state: MatcherState,
        per_s: float,
        refresh_interval_s: float,
        interval_s: float = STEP_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        start_chunk: int = 128,
        relists_per_s: float | None = None,
    ) -> None:
        self._state = state
        self._scans = per_step(per_s, interval_s)
        self._relists = per_step(relists_per_s or per_s, interval_s)
        self._start_chunk = max(1, start_chunk)
        self._starting = False  # the refresh at start is under way: chunks of `start_chunk`
        self._refresh_interval_s = refresh_interval_s
        self._interval_s = interval_s
        self._clock = clock
        self._next_refresh = clock()  # once at start, unless the caches are current
        self._started = False
        self._refreshing = False  # a refresh's scans are queued: trim when the last is done
        self.refreshes = 0
        self.published = 0
        self.trims = 0
        self.freezes = 0
        self.yielded = 0  # chunks cut short for a waiting batch of changes

    async def run(self) -> None:
        await run_paced(self.step, self._interval_s, "background re-rank failed")

    async def step(self) -> int:
        """One chunk of the queue (a refresh queued first if due); returns lists published."""
        state = self._state
        state.metrics.queued.labels("relist").set(state.queue.relists)
        state.metrics.queued.labels("rescan").set(state.queue.rescans)
        importing = state.imports.streaming()
        state.metrics.import_streaming.set(1 if importing else 0)
        if state.watch.holding:
            return 0  # everyone is re-ranked once the model change is complete
        if not self._started:  # the first step runs once a snapshot is loaded (or not)
            self._started = True
            freeze_long_lived("the replay at start")
            self.freezes += 1
            # A snapshot taken during a bulk import owes its members' scans: scan everyone.
            cut_short = state.engine.owed_scans >= state.imports.bulk_share * len(state.engine)
            if state.engine.caches_current and self._refresh_interval_s > 0 and not cut_short:
                self._next_refresh = self._clock() + self._refresh_interval_s
        bulk_paused = not importing and state.imports.take_deferred()
        if bulk_paused or self._clock() >= self._next_refresh:
            async with state.lock:
                state.engine.refreeze()
                state.engine.forget_pending()  # owed scans (a bulk import's): this one of everyone
                state.queue.rescan(sorted(state.engine.members))
            self._starting = self.refreshes == 0 or bulk_paused
            self._refreshing = True
            self.refreshes += 1
            interval = self._refresh_interval_s
            self._next_refresh = self._clock() + interval if interval > 0 else math.inf
            log.info(
                "refresh of every member's cache queued",
                extra={"members": len(state.engine), "after_bulk_import": bulk_paused},
            )
        scans = self._start_chunk if self._starting else self._scans
        rescan, relist = state.queue.take(scans, self._relists, importing)
        self._starting = self._starting and state.queue.rescans > 0
        if not (rescan or relist):
            return 0
        try:
            async with state.lock:
                engine = state.engine
                # A cache whose list this replica ranks next is scanned by the ranking
                # (`matches_for`), which keeps the scan for the shaping should the cache run
                # dry; scanned here first, a dry cache was scanned twice. Another replica's
                # members' caches are cleared, not scanned: this replica never ranks their
                # lists (a change decides them by their adopted cut-offs, `affected_by`), and
                # the partitions it gains are ranked from scans (`RecheckGained`). So replicas
                # split the scans of a refresh as they split its lists.
                ranked_here = await owned(state, set(rescan))
                engine.invalidate(rescan)
                targets = {m for m in (*rescan, *relist) if m in engine}
                published = 0
                # While changes arrive, relists alone go in parts, each published before a
                # waiting change goes first. A step with scans (a refresh's, whose caches
                # were just cleared) is not split.
                parts = [relist[i : i + YIELD_EVERY] for i in range(0, len(relist), YIELD_EVERY)]
                arriving = state.waiting.recent(time.monotonic(), CHANGES_RECENT_S)
                if rescan or not parts or not arriving:
                    parts = [sorted(targets)]
                for done, part in enumerate(parts, start=1):
                    chosen = targets.intersection(part)
                    published += await publish_matches(state, chosen, only_changed=True)
                    if state.waiting.changes and done < len(parts):
                        rest = [m for later in parts[done:] for m in later]
                        state.queue.give_back([], rest)
                        relist = relist[: len(relist) - len(rest)]
                        self.yielded += 1
                        break
                # A rebalance meanwhile may have left some of them to another replica.
                await asyncio.to_thread(engine.rescan, engine.unbuilt_of(ranked_here))
        except BaseException:
            state.queue.give_back(rescan, relist)
            raise
        self.published += published
        if self._refreshing and state.queue.rescans == 0:
            self._refreshing = False
            freeze_long_lived("the refresh of every member's cache")
            self.freezes += 1
            await asyncio.to_thread(release_free_memory, "the refresh of every member's cache")
            self.trims += 1
        return published
