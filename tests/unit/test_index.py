"""The FAISS wrapper: upsert replaces, remove forgets, search is exact, growth loses nothing.

Every kind (flat, sq8, hnsw) answers the same contract; hnsw, which cannot remove, filters its
dead rows and rebuilds once they pile up.
"""

from __future__ import annotations

import numpy as np
import pytest

from nnmatch_matching.matcher.index import INDEX_KINDS, IndexKind, IndexOptions, Matrix, VectorIndex
from tests.unit.builders import E0, E1, E2, E3, unit

INITIAL_ROWS = 1024


def _random_unit_rows(count: int, dimensions: int, seed: int) -> Matrix:
    rows = np.random.default_rng(seed).standard_normal((count, dimensions)).astype(np.float32)
    normed: Matrix = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    return normed


def _search(index: VectorIndex, query: Matrix, k: int) -> list[tuple[str, float]]:
    """One query's hits with scores rounded off float32 noise (1.0000001 → 1.0)."""
    (hits,) = index.search(query[None, :], k)
    return [(member, round(score, 5) + 0.0) for member, score in hits]


def _index_of(**members: Matrix) -> VectorIndex:
    index = VectorIndex(4)
    index.upsert_many(list(members), np.stack(list(members.values())))
    return index


def test_upserted_member_is_found_by_its_own_vector_with_score_one() -> None:
    index = _index_of(a=E0, b=E1, c=unit(1, 1, 0, 0))

    assert _search(index, E1, 1) == [("b", 1.0)]
    assert len(index) == 3
    assert "b" in index


def test_search_returns_inner_products_best_first() -> None:
    index = _index_of(a=E0, b=E1, c=unit(1, 1, 0, 0))

    (hits,) = index.search(E0[None, :], 3)

    assert [member for member, _ in hits] == ["a", "c", "b"]
    assert [score for _, score in hits] == pytest.approx([1.0, 2**-0.5, 0.0], abs=1e-6)


def test_upserting_a_member_again_replaces_its_vector() -> None:
    index = _index_of(a=E0)

    index.upsert_many(["a"], E1[None, :])

    assert len(index) == 1
    assert _search(index, E0, 5) == [("a", 0.0)]
    assert _search(index, E1, 5) == [("a", 1.0)]
    assert np.array_equal(index.vectors(["a"]), E1[None, :])


def test_last_vector_wins_when_an_id_repeats_in_one_batch() -> None:
    index = VectorIndex(4)

    index.upsert_many(["a", "b", "a"], np.stack([E0, E1, E2]))

    assert len(index) == 2
    assert np.array_equal(index.vectors(["a", "b"]), np.stack([E2, E1]))
    assert _search(index, E2, 1) == [("a", 1.0)]


def test_removed_member_is_never_found_and_not_contained() -> None:
    index = _index_of(a=E0, b=E1)

    assert index.remove("a") is True

    assert "a" not in index
    assert len(index) == 1
    assert _search(index, E0, 5) == [("b", 0.0)]


def test_removing_an_unknown_member_says_so() -> None:
    index = _index_of(a=E0)

    assert index.remove("nobody") is False
    assert index.remove("a") is True
    assert index.remove("a") is False


def test_removed_row_is_reused_by_the_next_member() -> None:
    ids = [f"m{i}" for i in range(INITIAL_ROWS)]
    rows = _random_unit_rows(INITIAL_ROWS, 4, seed=1)
    index = VectorIndex(4)
    index.upsert_many(ids, rows)

    index.remove("m10")
    index.upsert_many(["newcomer"], E3[None, :])

    assert index._matrix.shape[0] == INITIAL_ROWS, "a freed row is reused, not a new one grown"
    assert len(index) == INITIAL_ROWS
    assert _search(index, E3, 1) == [("newcomer", 1.0)]
    kept = [m for m in ids if m != "m10"]
    assert np.array_equal(index.vectors(kept), np.delete(rows, 10, axis=0))


def test_search_of_an_empty_index_gives_one_empty_list_per_query() -> None:
    index = VectorIndex(4)

    assert index.search(np.stack([E0, E1]), 5) == [[], []]


def test_search_after_everyone_left_gives_empty_lists() -> None:
    index = _index_of(a=E0)
    index.remove("a")

    assert index.search(E0[None, :], 5) == [[]]


def test_k_larger_than_the_index_is_clamped_to_its_size() -> None:
    index = _index_of(a=E0, b=E1, c=E2)

    hits = index.search(np.stack([E0, E3]), 50)

    assert [len(h) for h in hits] == [3, 3]
    assert all(sorted(m for m, _ in h) == ["a", "b", "c"] for h in hits)


def test_growth_past_the_initial_rows_keeps_every_vector_intact() -> None:
    count = 2 * INITIAL_ROWS + 500
    ids = [f"m{i}" for i in range(count)]
    rows = _random_unit_rows(count, 8, seed=7)
    index = VectorIndex(8)

    for start in range(0, count, 300):
        index.upsert_many(ids[start : start + 300], rows[start : start + 300])

    assert len(index) == count
    assert np.array_equal(index.vectors(ids), rows)
    probes = [0, INITIAL_ROWS - 1, INITIAL_ROWS, 2 * INITIAL_ROWS, count - 1]
    found = index.search(rows[probes], 1)
    assert [hits[0][0] for hits in found] == [ids[p] for p in probes]
    assert all(abs(hits[0][1] - 1.0) < 1e-5 for hits in found)


# -- every kind -------------------------------------------------------------------------------


def _kind_index(kind: IndexKind, count: int, rebuild_fraction: float = 0.2) -> VectorIndex:
    dimensions = 16
    index = VectorIndex(dimensions, IndexOptions(kind=kind, rebuild_fraction=rebuild_fraction))
    rows = _random_unit_rows(count, dimensions, seed=3)
    index.upsert_many([f"m{i}" for i in range(count)], rows)
    return index


@pytest.mark.parametrize("kind", INDEX_KINDS)
def test_every_kind_finds_each_member_by_its_own_vector(kind: IndexKind) -> None:
    rows = _random_unit_rows(300, 16, seed=3)
    index = _kind_index(kind, 300)

    found = index.search(rows, 1)

    assert [hits[0][0] for hits in found] == [f"m{i}" for i in range(300)]
    assert all(abs(hits[0][1] - 1.0) < 0.02 for hits in found)
    assert np.array_equal(index.vectors(["m7"]), rows[7:8]), "the row matrix keeps exact vectors"


@pytest.mark.parametrize("kind", INDEX_KINDS)
def test_every_kind_ranks_like_flat_on_a_small_set(kind: IndexKind) -> None:
    queries = _random_unit_rows(50, 16, seed=11)
    exact = [{m for m, _ in hits} for hits in _kind_index("flat", 500).search(queries, 10)]

    got = [{m for m, _ in hits} for hits in _kind_index(kind, 500).search(queries, 10)]

    recall = sum(len(a & b) for a, b in zip(exact, got, strict=True)) / (10 * len(queries))
    assert recall >= 0.9, recall
    assert all(len(hits) == 10 for hits in got)


@pytest.mark.parametrize("kind", INDEX_KINDS)
def test_every_kind_never_returns_a_removed_or_replaced_vector(kind: IndexKind) -> None:
    rows = _random_unit_rows(200, 16, seed=3)
    index = _kind_index(kind, 200, rebuild_fraction=10.0)  # no rebuild: the filter alone

    assert index.remove("m5") is True
    index.upsert_many(["m6"], rows[100:101])  # m6 now points where m100 does

    assert "m5" not in index
    assert len(index) == 199
    assert all(m != "m5" for m, _ in index.search(rows[5:6], 199)[0])
    (near_old_m6,) = index.search(rows[6:7], 3)
    assert all(m != "m6" for m, _ in near_old_m6), "m6's old vector is gone"
    (near_m100,) = index.search(rows[100:101], 2)
    assert {m for m, _ in near_m100} == {"m6", "m100"}
    assert all(len(hits) == 199 for hits in index.search(rows[:3], 500))


def test_hnsw_filters_dead_rows_and_still_fills_k() -> None:
    index = _kind_index("hnsw", 100, rebuild_fraction=10.0)
    for i in range(0, 60):
        index.remove(f"m{i}")

    assert index.dead_rows == 60
    assert index.rebuilds == 0
    hits = index.search(_random_unit_rows(5, 16, seed=9), 30)
    assert all(len(h) == 30 for h in hits), "searched deeper past the dead rows"
    assert all(int(m[1:]) >= 60 for h in hits for m, _ in h)


def test_hnsw_rebuilds_once_dead_rows_pass_the_fraction_and_reuses_their_rows() -> None:
    rows = _random_unit_rows(100, 16, seed=3)
    index = _kind_index("hnsw", 100, rebuild_fraction=0.1)

    for i in range(9):
        index.remove(f"m{i}")
    assert (index.dead_rows, index.rebuilds) == (9, 0), "9 dead of 91 live: not yet"
    index.remove("m9")

    assert (index.dead_rows, index.rebuilds) == (0, 1)
    assert len(index) == 90
    found = index.search(rows[10:], 1)
    assert [h[0][0] for h in found] == [f"m{i}" for i in range(10, 100)]
    index.upsert_many(["newcomer"], rows[0:1])
    assert index._matrix.shape[0] == INITIAL_ROWS
    assert index._rows["newcomer"] < 100, "a row freed by the rebuild is reused"
    assert index.search(rows[0:1], 1)[0][0][0] == "newcomer"


def test_flat_and_sq8_remove_in_place_without_dead_rows() -> None:
    for kind in ("flat", "sq8"):
        index = _kind_index(kind, 50)
        index.remove("m1")
        index.upsert_many(["m2"], _random_unit_rows(1, 16, seed=5))

        assert (index.dead_rows, index.rebuilds) == (0, 0)
        assert index._index.ntotal == 49


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown index kind"):
        VectorIndex(4, IndexOptions(kind="ivf"))  # type: ignore[arg-type]


def test_sq8_learns_its_ranges_once_it_holds_enough_vectors_and_keeps_every_member() -> None:
    rows = _random_unit_rows(3000, 16, seed=4)
    ids = [f"m{i}" for i in range(3000)]
    index = VectorIndex(16, IndexOptions(kind="sq8"))

    index.upsert_many(ids[:999], rows[:999])
    assert index.rebuilds == 0, "below SQ_TRAIN_MIN: the fixed [-1, 1] range"
    index.upsert_many(ids[999:], rows[999:])

    assert index.rebuilds == 1
    assert len(index) == 3000
    found = index.search(rows[::50], 1)
    assert [hits[0][0] for hits in found] == ids[::50]
    assert all(abs(hits[0][1] - 1.0) < 0.01 for hits in found)
