"""When to recompute partner lists: changes mark hubs, a recompute runs at most once per
interval. Pure (the caller passes the clock's reading).

A member's update changes their hubs' aggregates, and through them every other hub's list,
so a recompute ranks all pairs (about 100 hubs: cheap); the interval bounds how often a
stream of member updates makes one, as member updates are bounded for member lists.
"""

from __future__ import annotations


class RecomputeSchedule:
    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.marked: set[str] = set()
        self._last: float | None = None

    def mark(self, hub_ids: set[str] | list[str]) -> None:
        self.marked.update(hub_ids)

    def due(self, now: float) -> bool:
        """Something is marked and the last recompute is at least an interval old."""
        if not self.marked:
            return False
        return self._last is None or now - self._last >= self.interval_s

    def take(self, now: float) -> set[str]:
        """The marked hubs, cleared; the recompute starting now counts for the interval."""
        marked, self.marked = self.marked, set()
        self._last = now
        return marked
