"""A FAISS index behind a tiny API (upsert/remove/search/vectors), member ids mapped in one place.

`IndexIDMap2` over exact inner product: on unit vectors that is cosine similarity. Vectors are
also kept in a row matrix we own, so ranking can read any member's vector without FAISS calls.
"""

from __future__ import annotations

from collections.abc import Sequence

import faiss
import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]


class VectorIndex:
    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimensions))
        self._rows: dict[str, int] = {}
        self._names: dict[int, str] = {}
        self._free: list[int] = []
        self._matrix: Matrix = np.zeros((1024, dimensions), dtype=np.float32)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, member_id: object) -> bool:
        return member_id in self._rows

    def _row_for(self, member_id: str) -> int:
        row = self._rows.get(member_id)
        if row is not None:
            self._index.remove_ids(np.asarray([row], dtype=np.int64))  # type: ignore[arg-type]
            return row
        row = self._free.pop() if self._free else len(self._rows) + len(self._free)
        if row >= len(self._matrix):
            grown = np.zeros((len(self._matrix) * 2, self.dimensions), dtype=np.float32)
            grown[: len(self._matrix)] = self._matrix
            self._matrix = grown
        self._rows[member_id] = row
        self._names[row] = member_id
        return row

    def upsert_many(self, member_ids: Sequence[str], vectors: Matrix) -> None:
        """Insert or replace; the last vector wins when an id repeats."""
        latest = {member_id: i for i, member_id in enumerate(member_ids)}
        rows = np.asarray([self._row_for(m) for m in latest], dtype=np.int64)
        batch = np.ascontiguousarray(vectors[list(latest.values())], dtype=np.float32)
        self._matrix[rows] = batch
        self._index.add_with_ids(batch, rows)

    def remove(self, member_id: str) -> bool:
        row = self._rows.pop(member_id, None)
        if row is None:
            return False
        self._index.remove_ids(np.asarray([row], dtype=np.int64))  # type: ignore[arg-type]
        del self._names[row]
        self._matrix[row] = 0.0
        self._free.append(row)
        return True

    def vectors(self, member_ids: Sequence[str]) -> Matrix:
        rows = [self._rows[m] for m in member_ids]
        return self._matrix[rows]

    def search(self, queries: Matrix, k: int) -> list[list[tuple[str, float]]]:
        """Top-k (member id, inner product) per query row, best first."""
        if len(self._rows) == 0 or len(queries) == 0:
            return [[] for _ in range(len(queries))]
        k = min(k, len(self._rows))
        scores, rows = self._index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return [
            [(self._names[int(r)], float(s)) for s, r in zip(srow, rrow, strict=True) if r >= 0]
            for srow, rrow in zip(scores, rows, strict=True)
        ]
