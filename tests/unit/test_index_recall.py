"""Index recall measured against numpy brute force, not against the index itself.

Flat must find exactly numpy's top 10; the approximate kinds reach a stated floor on clustered
vectors and a weakened graph measurably does not; the recall function gives the known fraction
on hand-made results; no kind ever returns a removed or replaced member.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nnmatch.events import VectorKind
from nnmatch_matching.matcher.index import INDEX_KINDS, IndexKind, IndexOptions, Matrix, VectorIndex
from nnmatch_tools.recall import K, main, recall, synthetic_vectors

MEMBERS = 1500
DIMENSIONS = 32
QUERIES = 200
FLOOR = 0.9  # recall@10 each approximate kind keeps on clustered vectors with its defaults


@pytest.fixture(scope="module")
def vectors() -> Matrix:
    return synthetic_vectors(MEMBERS, DIMENSIONS, seed=7)[VectorKind.OFFERS]


@pytest.fixture(scope="module")
def queries() -> Matrix:
    rng = np.random.default_rng(11)
    rows = rng.standard_normal((QUERIES, DIMENSIONS)).astype(np.float32)
    unit: Matrix = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    return unit


def _ids(count: int) -> list[str]:
    return [f"m{i}" for i in range(count)]


def _brute_force(vectors: Matrix, queries: Matrix, alive: list[int]) -> list[list[str]]:
    """Top-K ids by exact inner product with numpy alone, among the `alive` rows."""
    scores = queries @ vectors[alive].T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :K]
    return [[f"m{alive[c]}" for c in row] for row in order]


def _index(vectors: Matrix, kind: IndexKind, **options: int) -> VectorIndex:
    index = VectorIndex(DIMENSIONS, IndexOptions(kind=kind, **options))
    index.upsert_many(_ids(len(vectors)), vectors)
    return index


def _found(index: VectorIndex, queries: Matrix) -> list[list[str]]:
    return [[member for member, _ in hits] for hits in index.search(queries, K)]


def test_recall_is_the_share_of_the_exact_hits_found() -> None:
    assert recall([["a", "b"], ["c", "d"]], [["b", "x"], ["c", "d"]]) == 0.75
    assert recall([["a", "b", "c", "d"]], [["d", "e", "f", "g"]]) == 0.25
    assert recall([["a", "b"]], [[]]) == 0.0
    assert recall([["a", "b"]], [["b", "a"]]) == 1.0, "order within the top K does not count"


def test_recall_of_results_missing_three_of_each_ten_is_point_seven(
    vectors: Matrix, queries: Matrix
) -> None:
    exact = _brute_force(vectors, queries, list(range(MEMBERS)))
    wrong = [[*hits[:7], "nobody-1", "nobody-2", "nobody-3"] for hits in exact]

    assert recall(exact, wrong) == pytest.approx(0.7)


def test_flat_finds_exactly_the_brute_force_top_ten(vectors: Matrix, queries: Matrix) -> None:
    exact = _brute_force(vectors, queries, list(range(MEMBERS)))

    found = _found(_index(vectors, "flat"), queries)

    assert recall(exact, found) == 1.0
    assert [set(f) for f in found] == [set(e) for e in exact]


@pytest.mark.parametrize("kind", [k for k in INDEX_KINDS if k != "flat"])
def test_approximate_kinds_reach_the_floor_on_clustered_vectors(
    kind: IndexKind, vectors: Matrix, queries: Matrix
) -> None:
    exact = _brute_force(vectors, queries, list(range(MEMBERS)))

    measured = recall(exact, _found(_index(vectors, kind), queries))

    assert FLOOR <= measured <= 1.0


def test_a_weakened_graph_measurably_misses_neighbours(vectors: Matrix, queries: Matrix) -> None:
    exact = _brute_force(vectors, queries, list(range(MEMBERS)))
    weak = _index(vectors, "hnsw", hnsw_m=4, hnsw_ef_search=1, hnsw_ef_construction=4)
    default = _index(vectors, "hnsw")

    weak_recall = recall(exact, _found(weak, queries))

    assert weak_recall < FLOOR, "the check must be able to see an index that misses"
    assert weak_recall < recall(exact, _found(default, queries))


@pytest.mark.parametrize("kind", INDEX_KINDS)
def test_removed_and_replaced_members_never_come_back(
    kind: IndexKind, vectors: Matrix, queries: Matrix
) -> None:
    index = _index(vectors, kind)
    removed = list(range(0, MEMBERS, 10))  # 10 %: past hnsw's rebuild fraction on the way
    for row in removed:
        index.remove(f"m{row}")
    # A replaced member must not be found where its old vector was.
    index.upsert_many(["m1"], -vectors[1:2])
    alive = [row for row in range(MEMBERS) if row % 10]

    found = _found(index, np.concatenate([queries, vectors[removed], vectors[1:2]]))

    gone = {f"m{row}" for row in removed}
    assert not gone & {member for hits in found for member in hits}
    assert "m1" not in found[-1]
    exact = _brute_force(np.concatenate([vectors[:1], -vectors[1:2], vectors[2:]]), queries, alive)
    assert recall(exact, found[:QUERIES]) >= (1.0 if kind == "flat" else FLOOR)


def test_the_recall_command_reports_every_kind_against_flat(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["--synthetic", "1500", "--dimensions", "32", "--queries", "100", "--out", str(tmp_path)]
    )

    assert code == 0
    [written] = tmp_path.glob("index-recall-*.json")
    report = json.loads(written.read_text())
    results = report["results"]
    assert set(results) == set(INDEX_KINDS)
    for kind in ("sq8", "hnsw"):
        assert FLOOR <= results[kind]["recall_at_10"] <= 1.0
        assert FLOOR <= results[kind]["recall_at_10_after_removals"] <= 1.0
    assert all(r["removed_returned"] == 0 for r in results.values())
    assert (report["members"], report["dimensions"], report["queries"]) == (1500, 32, 200)
    assert "hnsw" in capsys.readouterr().out
