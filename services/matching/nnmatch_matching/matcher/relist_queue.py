"""Members whose lists or caches wait for the background (background.py), in arrival order.

Pure. Bounded by the community: each member is queued at most once per kind of work, so a
burst of changes grows it to at most every member, never without end.
"""

from __future__ import annotations

from collections.abc import Iterable


class RelistQueue:
    def __init__(self) -> None:
        self._relist: dict[str, None] = {}  # lists to rank from the caches and publish
        self._rescan: dict[str, None] = {}  # caches to scan again first

    def __len__(self) -> int:
        return len(self._relist) + len(self._rescan)

    @property
    def rescans(self) -> int:
        """Caches waiting to be scanned again."""
        return len(self._rescan)

    def relist(self, member_ids: Iterable[str]) -> None:
        self._relist.update(dict.fromkeys(member_ids))

    def rescan(self, member_ids: Iterable[str]) -> None:
        self._rescan.update(dict.fromkeys(member_ids))

    def take(self, limit: int) -> tuple[list[str], list[str]]:
        """Up to `limit` members: those to scan again (first), then those to relist; a
        scanned member is relisted too, which also answers a relist it had waiting (at a
        cold start every member waits for both: one list each, not two)."""
        rescan = _pop(self._rescan, limit)
        for member_id in rescan:
            self._relist.pop(member_id, None)
        relist = _pop(self._relist, limit - len(rescan))
        return rescan, relist

    def give_back(self, rescan: Iterable[str], relist: Iterable[str]) -> None:
        """Work taken but not done (a failure): at the front again."""
        self._rescan = {**dict.fromkeys(rescan), **self._rescan}
        self._relist = {**dict.fromkeys(relist), **self._relist}


def _pop(queue: dict[str, None], limit: int) -> list[str]:
    taken: list[str] = []
    for member_id in queue:
        if len(taken) >= limit:
            break
        taken.append(member_id)
    for member_id in taken:
        del queue[member_id]
    return taken
