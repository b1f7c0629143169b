"""Each member's best candidates over everyone, kept exact change by change.

Pure numpy, no I/O. Row r holds the member at row r of the engine's `Columns`: up to `size`
candidates (their column rows) with their pair odds, best first, and a `bound` no candidate
outside the cache scores above (-inf: the cache holds every eligible candidate; +inf: not
built, nothing is known). The pair odds are symmetric, so when X changes, X's odds with
everyone (one scan, `MatchEngine._odds_with_everyone`) decide every cache at once: X is
inserted where it reaches the bound, moved where it is held, dropped where it falls below it.
The cache then still holds exactly the best candidates over everyone; a member's list is
shaped from it (`ranking.diverse_within`) unless too many were dropped for that to be certain
(the cache ran dry: the member is scanned again).

Who caches X is read by one comparison over the whole `rows` array (55,000 × 100 int32 is
22 MB, a few milliseconds), not kept as a second index that could disagree with it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

CACHE_K = 100
"""Candidates each member's cache holds by default (`NNMATCH_MATCHER_CACHE_K`). With 50, the
exposure cap pushed the picks of 2 % (5,000 seeded members) to 6.5 % (55,000, during updates)
of the lists below the cache's bound, so they could not be shaped from the cache and scanned
everyone; with 100, 0.04 % at 5,000 (55,000 × 100 × 12 bytes = 66 MB)."""

Rows = npt.NDArray[np.int64]


class CandidateCache:
    def __init__(self, size: int = CACHE_K, rows: int = 1024) -> None:
        if size < 1:
            raise ValueError("a cache holds at least one candidate")
        self.size = size
        self.rows = np.full((rows, size), -1, dtype=np.int32)
        self.odds = np.full((rows, size), -np.inf, dtype=np.float64)
        self.length = np.zeros(rows, dtype=np.int32)
        self.bound = np.full(rows, np.inf, dtype=np.float64)

    def ensure(self, rows: int) -> None:
        """Room for at least `rows` members (grows by doubling, new rows not built)."""
        if rows <= len(self.length):
            return
        grown = max(rows, 2 * len(self.length))
        extra = grown - len(self.length)
        self.rows = np.concatenate([self.rows, np.full((extra, self.size), -1, np.int32)])
        self.odds = np.concatenate([self.odds, np.full((extra, self.size), -np.inf)])
        self.length = np.concatenate([self.length, np.zeros(extra, np.int32)])
        self.bound = np.concatenate([self.bound, np.full(extra, np.inf)])

    def built(self, row: int) -> bool:
        return bool(self.bound[row] < np.inf)

    def built_rows(self, n: int) -> Rows:
        """Rows below `n` whose cache is built."""
        return np.flatnonzero(self.bound[:n] < np.inf)

    def clear(self, row: int) -> None:
        """Forget the member's cache (its own pairs changed): not built until filled again."""
        self.length[row] = 0
        self.rows[row] = -1
        self.odds[row] = -np.inf
        self.bound[row] = np.inf

    def fill(self, row: int, odds: npt.NDArray[np.float64], order: Rows) -> None:
        """Fill from a scan: `odds` per column row (-inf: ineligible), `order` the eligible
        rows best first (ties as the caller breaks them), at least `size + 1` of them if
        there are that many."""
        held = order[: self.size]
        self.length[row] = len(held)
        self.rows[row] = -1
        self.odds[row] = -np.inf
        self.rows[row, : len(held)] = held
        self.odds[row, : len(held)] = odds[held]
        self.bound[row] = float(odds[order[self.size]]) if len(order) > self.size else -np.inf

    def held(self, row: int) -> tuple[Rows, npt.NDArray[np.float64]]:
        """The member's cached candidates (column rows) and their odds, best first."""
        n = int(self.length[row])
        return self.rows[row, :n].astype(np.int64), self.odds[row, :n]

    def holders(self, candidate: int, n: int) -> Rows:
        """Rows below `n` whose cache holds `candidate`."""
        return np.flatnonzero((self.rows[:n] == candidate).any(axis=1))

    def patch(self, row: int, candidate: int, odds: float) -> bool:
        """`candidate` now has `odds` with the member at `row` (-inf: no longer eligible):
        moved, inserted or dropped so the cache stays the best over everyone. True if the
        cache changed. The caller patches built rows only."""
        n = int(self.length[row])
        rows, values = self.rows[row], self.odds[row]
        changed = False
        at = np.flatnonzero(rows[:n] == candidate)
        if len(at):
            i = int(at[0])
            rows[i : n - 1] = rows[i + 1 : n].copy()
            values[i : n - 1] = values[i + 1 : n].copy()
            rows[n - 1], values[n - 1] = -1, -np.inf
            n -= 1
            changed = True
        if np.isfinite(odds) and odds >= self.bound[row]:
            i = int(np.count_nonzero(values[:n] >= odds))  # after its equals
            if i == self.size:  # full, and not above the last: it stays outside
                self.bound[row] = max(float(self.bound[row]), odds)
                self.length[row] = n
                return changed
            if n == self.size:  # full: the last one leaves, and bounds what is outside
                self.bound[row] = max(float(self.bound[row]), float(values[n - 1]))
                n -= 1
            rows[i + 1 : n + 1] = rows[i:n].copy()
            values[i + 1 : n + 1] = values[i:n].copy()
            rows[i], values[i] = candidate, odds
            n += 1
            changed = True
        self.length[row] = n
        return changed

    def purge(self, candidate: int, n: int) -> Rows:
        """Drop a removed member from every cache below row `n` (its row is about to be
        reused); returns the rows that held it. The bounds stay: the caches may run dry."""
        holders = self.holders(candidate, n)
        for row in holders.tolist():
            self.patch(row, candidate, -np.inf)
        return holders
