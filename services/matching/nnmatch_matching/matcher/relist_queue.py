"""Members whose lists or caches wait for the background (background.py), in arrival order.

Pure. Bounded by the community: each member is queued at most once per kind of work, so a
burst of changes grows it to at most every member, never without end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable


class RelistQueue:
    def __init__(self) -> None:
        self._relist: dict[str, None] = {}  # lists to rank from the caches and publish
        self._rescan: dict[str, None] = {}  # caches to scan again first
        self._after_import: dict[str, None] = {}  # lists an import altered: held while it runs

    def __len__(self) -> int:
        return len(self._relist) + len(self._rescan) + len(self._after_import)

    def __contains__(self, member_id: object) -> bool:
        """True if the member's list (or its cache, then its list) waits for the background."""
        return (
            member_id in self._relist
            or member_id in self._rescan
            or member_id in self._after_import
        )

    @property
    def rescans(self) -> int:
        """Caches waiting to be scanned again."""
        return len(self._rescan)

    @property
    def relists(self) -> int:
        """Lists waiting to be ranked from their caches (an import's held ones included)."""
        return len(self._relist) + len(self._after_import)

    def owed(self) -> tuple[list[str], list[str]]:
        """The scans and the lists waiting (a snapshot keeps them: a restart owes them)."""
        return list(self._rescan), [*self._relist, *self._after_import]

    def relist(self, member_ids: Iterable[str]) -> None:
        self._relist.update(dict.fromkeys(member_ids))

    def relist_after_import(self, member_ids: Iterable[str]) -> None:
        """Lists an import altered: `take` holds them while it runs (`ImportPause`), then
        ranks each once. One already waiting as an ordinary relist stays one."""
        self._after_import.update(dict.fromkeys(m for m in member_ids if m not in self._relist))

    def rescan(self, member_ids: Iterable[str]) -> None:
        self._rescan.update(dict.fromkeys(member_ids))

    def take(
        self, scans: int, relists: int, importing: bool = False
    ) -> tuple[list[str], list[str]]:
        """Up to `scans` members to scan again, then up to `relists` lists to rank; a scanned
        member is relisted too, which answers a relist it had waiting, and a relist of a
        member whose scan waits is that scan (at a cold start every member waits for both:
        one scan and one list each, not two). Relists are paced apart from scans: a change's
        lists do not wait behind a refresh of everyone. While `importing`, the lists an
        import altered are held; after it, they join the others."""
        if not importing and self._after_import:
            self._relist.update(self._after_import)
            self._after_import = {}
        rescan = _pop(self._rescan, scans)
        for member_id in rescan:
            self._relist.pop(member_id, None)
            self._after_import.pop(member_id, None)
        relist: list[str] = []
        for member_id in _pop(self._relist, relists):
            self._after_import.pop(member_id, None)  # ranked now, on what holds now
            if member_id in self._rescan:
                del self._rescan[member_id]
                rescan.append(member_id)
            else:
                relist.append(member_id)
        return rescan, relist

    def relist_first(self, member_ids: Iterable[str]) -> None:
        """These lists before every other waiting list (a relist of a member whose scan waits
        is that scan, see `take`)."""
        first = dict.fromkeys(member_ids)
        self._relist = {**first, **self._relist}
        for member_id in first:
            self._after_import.pop(member_id, None)

    def give_back(self, rescan: Iterable[str], relist: Iterable[str]) -> None:
        """Work taken but not done (a failure): at the front again."""
        self._rescan = {**dict.fromkeys(rescan), **self._rescan}
        self._relist = {**dict.fromkeys(relist), **self._relist}


BULK_SHARE = 0.1
"""An import that has brought this share of the members indexed is a bulk load: its members'
scans are deferred to one scan of everyone when it pauses (`ImportPause.defers`). Scanned one
at a time, each costs a pass over everyone (about 9 ms at 22,000 members, 110 a second, in a
static-tier load of 55,000); a scan of everyone in blocks costs about a tenth of that per
member, so deferring wins once an import is about a tenth of the index."""


class ImportPause:
    """While a bulk import streams in, the background ranks none of the lists it alters.

    Each member an import brings changes hundreds of others' lists, and the next one changes
    many of them again: ranked as they come, every list is ranked, published, and opened and
    held by notifications many times over, on the cores the embedder needs. Held in the queue
    instead (`RelistQueue.relist_after_import`, each member once), they are ranked when no
    imported record has come for `quiet_s` seconds; the imported members' own lists wait with
    them (`MatchChangedMembers`). A member's own edit, and the lists it alters, are ranked as
    always. `quiet_s` 0: no pause.

    An import as large as `bulk_share` of the index goes further: from then until it pauses
    its members are only indexed, their scans owed (`MatchEngine.defer`), and the pause scans
    every cache once instead (`take_deferred`, background.py)."""

    def __init__(
        self,
        quiet_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        bulk_share: float = BULK_SHARE,
    ) -> None:
        self.quiet_s = quiet_s
        self.bulk_share = bulk_share
        self._clock = clock
        self._last: float | None = None
        self._arrived = 0  # imported members applied since this import began
        self._deferring = False

    @property
    def enabled(self) -> bool:
        return self.quiet_s > 0

    @property
    def imported(self) -> int:
        """Imported members applied since the import streaming now (or the last) began."""
        return self._arrived

    @property
    def deferring(self) -> bool:
        """This import's scans are deferred to its pause."""
        return self._deferring

    def arrived(self, members: int = 1) -> None:
        """Imported members' vectors were applied (a record after a pause begins an import)."""
        if not self.streaming():
            self._arrived = 0
        self._arrived += members
        self._last = self._clock()

    def streaming(self) -> bool:
        """True while the last imported record is less than `quiet_s` seconds old."""
        return self._last is not None and self._clock() - self._last < self.quiet_s

    def defers(self, indexed: int) -> bool:
        """Whether the import streaming now defers its members' scans: once it has brought
        `bulk_share` of the `indexed` members, until it pauses."""
        if not self._deferring and self.streaming():
            self._deferring = self._arrived >= self.bulk_share * indexed
        return self._deferring

    def take_deferred(self) -> bool:
        """True once when an import that deferred its scans has paused: scan everyone now."""
        if self._deferring and not self.streaming():
            self._deferring = False
            return True
        return False


def _pop(queue: dict[str, None], limit: int) -> list[str]:
    taken: list[str] = []
    for member_id in queue:
        if len(taken) >= limit:
            break
        taken.append(member_id)
    for member_id in taken:
        del queue[member_id]
    return taken
