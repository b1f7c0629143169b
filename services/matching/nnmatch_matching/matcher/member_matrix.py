"""Each member's vector of one kind, held once: rows of a matrix we own, ids mapped in one place.

The matcher scores by matrix products over these rows (`MatchEngine.scans`) and hub search
scans them (`search.py`); nothing searches a FAISS index in the service, so none is kept
beside the matrix (it doubled the memory, and `IndexIDMap2.remove_ids` rebuilt its id map on
every upsert). `index.VectorIndex` (FAISS) remains for measuring approximate indexes against
exact search (`python -m nnmatch_tools.recall`).

Vectors are held on `exact_dots`' grid, where every inner product of two rows is exact in
float32: a pair's dot is the same to the bit from either side, in any block and by any BLAS
kernel, so the scans may use whichever product is fastest for their block.

A replaced member keeps its row; a removed member's row is zeroed and reused by the next new
member. The matrix grows by doubling, so its rows stay put between growths (callers re-read it
after an upsert).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from nnmatch_matching.matcher.exact_dots import on_exact_grid

Matrix = npt.NDArray[np.float32]
FIRST_ROWS = 1024
GRID_CHUNK = 4096
"""Rows put on the grid at a time: a bulk upsert's copies of the rows stay a few MB."""


class MemberMatrix:
    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions
        self._matrix: Matrix = np.zeros((FIRST_ROWS, dimensions), dtype=np.float32)
        self._rows: dict[str, int] = {}
        self._free: list[int] = []
        self._used = 0  # rows handed out so far (live or free)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, member_id: object) -> bool:
        return member_id in self._rows

    @property
    def matrix(self) -> Matrix:
        """The rows as held (read-only by convention; replaced when it grows)."""
        return self._matrix

    @property
    def rows(self) -> dict[str, int]:
        """Member id → row of `matrix` (read-only by convention)."""
        return self._rows

    def _row_for(self, member_id: str) -> int:
        row = self._rows.get(member_id)
        if row is not None:
            return row
        row = self._free.pop() if self._free else self._used
        self._used = max(self._used, row + 1)
        if row >= len(self._matrix):
            grown = np.zeros((2 * len(self._matrix), self.dimensions), dtype=np.float32)
            grown[: len(self._matrix)] = self._matrix
            self._matrix = grown
        self._rows[member_id] = row
        return row

    def upsert_many(self, member_ids: Sequence[str], vectors: Matrix) -> None:
        """Insert or replace, each vector rounded onto the exact grid (`on_exact_grid`); the
        last vector wins when an id repeats."""
        latest = {member_id: i for i, member_id in enumerate(member_ids)}
        if not latest:
            return
        rows = np.asarray([self._row_for(m) for m in latest], dtype=np.int64)
        picked = np.asarray(list(latest.values()), dtype=np.int64)
        for start in range(0, len(rows), GRID_CHUNK):
            chunk = slice(start, start + GRID_CHUNK)
            self._matrix[rows[chunk]] = on_exact_grid(vectors[picked[chunk]])

    def remove(self, member_id: str) -> bool:
        row = self._rows.pop(member_id, None)
        if row is None:
            return False
        self._matrix[row] = 0.0
        self._free.append(row)
        return True

    def vectors(self, member_ids: Sequence[str]) -> Matrix:
        """A copy of the members' vectors, in that order (all held)."""
        return self._matrix[[self._rows[m] for m in member_ids]]
