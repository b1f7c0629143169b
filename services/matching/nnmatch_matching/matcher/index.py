"""A FAISS index behind a tiny API (upsert/remove/search/vectors), member ids mapped in one place.

Every kind sits in an `IndexIDMap2` whose ids are rows of a matrix we own, so ranking reads
any member's vector without FAISS calls and a rebuild needs nothing but that matrix.

- `flat`: exact inner product (on unit vectors, cosine similarity); the default.
- `sq8`: 8-bit scalar quantisation, a quarter of the memory. It starts over [-1, 1] (every
  component of a unit vector lies there) and, each time the index has doubled (from
  `SQ_TRAIN_MIN` members on), is rebuilt with per-dimension ranges learnt from the live
  vectors (plus a margin; a vector outside is clamped), so its recall stays close to flat's
  as the members drift from the first ranges (`python -m nnmatch_tools.recall` measures it).
- `hnsw`: a graph (HNSW, M links per node) for sub-linear search. It cannot remove a vector,
  so a replaced or removed member's old row is marked dead, filtered out of every result
  (searching a little deeper to make up for it) and the graph is rebuilt from the live rows
  once the dead exceed `rebuild_fraction` of the live.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import faiss
import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]
IndexKind = Literal["flat", "sq8", "hnsw"]
INDEX_KINDS: tuple[IndexKind, ...] = ("flat", "sq8", "hnsw")
# Kinds whose FAISS index supports remove_ids; the others filter dead rows and rebuild.
REMOVABLE: frozenset[IndexKind] = frozenset({"flat", "sq8"})
SQ_TRAIN_MIN = 1000  # fewer vectors than this do not say much about each dimension's range
SQ_RANGE_MARGIN = 0.1  # of each dimension's learnt range, on both sides, for vectors to come


@dataclass(frozen=True)
class IndexOptions:
    kind: IndexKind = "flat"
    hnsw_m: int = 32
    hnsw_ef_search: int = 128
    hnsw_ef_construction: int = 80
    rebuild_fraction: float = 0.2


def new_faiss_index(
    dimensions: int, options: IndexOptions, training: Matrix | None = None
) -> faiss.IndexIDMap2:
    """An empty, ready-to-add FAISS index of the chosen kind, ids mapped by `IndexIDMap2`.

    `training`: vectors that sq8 learns each dimension's range from (else it uses [-1, 1]).
    """
    inner: faiss.Index
    if options.kind == "flat":
        inner = faiss.IndexFlatIP(dimensions)
    elif options.kind == "sq8" and training is not None and len(training) >= SQ_TRAIN_MIN:
        inner = faiss.IndexScalarQuantizer(
            dimensions, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        inner.sq.rangestat = faiss.ScalarQuantizer.RS_minmax
        inner.sq.rangestat_arg = SQ_RANGE_MARGIN
        inner.train(np.ascontiguousarray(training, dtype=np.float32))
    elif options.kind == "sq8":
        inner = faiss.IndexScalarQuantizer(
            dimensions, faiss.ScalarQuantizer.QT_8bit_uniform, faiss.METRIC_INNER_PRODUCT
        )
        # Unit vectors: every component in [-1, 1]; training on the two corners sets that range.
        corners = np.stack([-np.ones(dimensions), np.ones(dimensions)]).astype(np.float32)
        inner.train(corners)
    elif options.kind == "hnsw":
        inner = faiss.IndexHNSWFlat(dimensions, options.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = options.hnsw_ef_construction
        inner.hnsw.efSearch = options.hnsw_ef_search
    else:
        raise ValueError(f"unknown index kind {options.kind!r}; one of {', '.join(INDEX_KINDS)}")
    return faiss.IndexIDMap2(inner)


class VectorIndex:
    def __init__(self, dimensions: int, options: IndexOptions | None = None) -> None:
        self.dimensions = dimensions
        self.options = options or IndexOptions()
        self.removable = self.options.kind in REMOVABLE
        self._index = new_faiss_index(dimensions, self.options)
        self._rows: dict[str, int] = {}
        self._names: dict[int, str] = {}
        self._free: list[int] = []
        self._dead: set[int] = set()  # rows still in a non-removable index, filtered out
        self._used = 0  # rows handed out so far (live, free or dead)
        self._matrix: Matrix = np.zeros((1024, dimensions), dtype=np.float32)
        self.rebuilds = 0
        self._trained_on = 0  # live vectors sq8's ranges were learnt from

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, member_id: object) -> bool:
        return member_id in self._rows

    @property
    def dead_rows(self) -> int:
        """Rows of replaced or removed members still in a non-removable index."""
        return len(self._dead)

    def _new_row(self, member_id: str) -> int:
        if self._free:
            row = self._free.pop()
        else:
            row = self._used
            self._used += 1
        if row >= len(self._matrix):
            grown = np.zeros((len(self._matrix) * 2, self.dimensions), dtype=np.float32)
            grown[: len(self._matrix)] = self._matrix
            self._matrix = grown
        self._rows[member_id] = row
        self._names[row] = member_id
        return row

    def _row_for(self, member_id: str) -> int:
        row = self._rows.get(member_id)
        if row is None:
            return self._new_row(member_id)
        if self.removable:
            self._index.remove_ids(np.asarray([row], dtype=np.int64))  # type: ignore[arg-type]
            return row
        self._forget_row(member_id, row)
        return self._new_row(member_id)

    def _forget_row(self, member_id: str, row: int) -> None:
        del self._rows[member_id]
        del self._names[row]
        self._matrix[row] = 0.0
        if self.removable:
            self._index.remove_ids(np.asarray([row], dtype=np.int64))  # type: ignore[arg-type]
            self._free.append(row)
        else:
            self._dead.add(row)

    def upsert_many(self, member_ids: Sequence[str], vectors: Matrix) -> None:
        """Insert or replace; the last vector wins when an id repeats."""
        latest = {member_id: i for i, member_id in enumerate(member_ids)}
        if not latest:
            return
        rows = np.asarray([self._row_for(m) for m in latest], dtype=np.int64)
        batch = np.ascontiguousarray(vectors[list(latest.values())], dtype=np.float32)
        self._matrix[rows] = batch
        self._index.add_with_ids(batch, rows)
        self._rebuild_if_worn()
        if self.options.kind == "sq8" and len(self._rows) >= max(
            SQ_TRAIN_MIN, 2 * self._trained_on
        ):
            self.rebuild()

    def remove(self, member_id: str) -> bool:
        row = self._rows.get(member_id)
        if row is None:
            return False
        self._forget_row(member_id, row)
        self._rebuild_if_worn()
        return True

    def _rebuild_if_worn(self) -> None:
        if self._dead and len(self._dead) > self.options.rebuild_fraction * len(self._rows):
            self.rebuild()

    def rebuild(self) -> None:
        """A fresh FAISS index of the live rows only (sq8 relearns its ranges from them); dead
        rows become free for reuse."""
        live = np.asarray(sorted(self._names), dtype=np.int64)
        index = new_faiss_index(self.dimensions, self.options, self._matrix[live])
        self._trained_on = len(live)
        if len(live):
            index.add_with_ids(np.ascontiguousarray(self._matrix[live]), live)
        self._index = index
        self._free.extend(sorted(self._dead, reverse=True))
        self._dead.clear()
        self.rebuilds += 1

    def vectors(self, member_ids: Sequence[str]) -> Matrix:
        rows = [self._rows[m] for m in member_ids]
        return self._matrix[rows]

    def search(self, queries: Matrix, k: int) -> list[list[tuple[str, float]]]:
        """Top-k (member id, inner product) per query row, best first."""
        if len(self._rows) == 0 or len(queries) == 0:
            return [[] for _ in range(len(queries))]
        k = min(k, len(self._rows))
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        total = int(self._index.ntotal)
        # Dead rows take places in a result: fetch deeper, and deeper again where still short.
        fetch = min(total, 2 * k if self._dead else k)
        results = self._search_live(queries, fetch, k)
        while fetch < total:
            short = [i for i, hits in enumerate(results) if len(hits) < k]
            if not short:
                break
            fetch = min(total, fetch * 4)
            for i, hits in zip(short, self._search_live(queries[short], fetch, k), strict=True):
                results[i] = hits
        return results

    def _search_live(self, queries: Matrix, fetch: int, k: int) -> list[list[tuple[str, float]]]:
        scores, rows = self._index.search(queries, fetch)
        names = self._names
        return [
            [(names[int(r)], float(s)) for s, r in zip(srow, rrow, strict=True) if int(r) in names][
                :k
            ]
            for srow, rrow in zip(scores, rows, strict=True)
        ]
