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


class ImportPause:
    """While a bulk import streams in, the background ranks none of the lists it alters.

    Each member an import brings changes hundreds of others' lists, and the next one changes
    many of them again: ranked as they come, every list is ranked, published, and opened and
    held by notifications many times over, on the cores the embedder needs. Held in the queue
    instead (`RelistQueue.relist_after_import`, each member once), they are ranked when no
    imported record has come for `quiet_s` seconds; the imported members' own lists wait with
    them (`MatchChangedMembers`). A member's own edit, and the lists it alters, are ranked as
    always. `quiet_s` 0: no pause."""

    def __init__(self, quiet_s: float = 0.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.quiet_s = quiet_s
        self._clock = clock
        self._last: float | None = None

    @property
    def enabled(self) -> bool:
        return self.quiet_s > 0

    def arrived(self) -> None:
        """An imported member's vectors were applied."""
        self._last = self._clock()

    def streaming(self) -> bool:
        """True while the last imported record is less than `quiet_s` seconds old."""
        return self._last is not None and self._clock() - self._last < self.quiet_s


def _pop(queue: dict[str, None], limit: int) -> list[str]:
    taken: list[str] = []
    for member_id in queue:
        if len(taken) >= limit:
            break
        taken.append(member_id)
    for member_id in taken:
        del queue[member_id]
    return taken
