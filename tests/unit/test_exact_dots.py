"""Vectors on the exact grid (`exact_dots`): every inner product is exact in float32, so a
pair's dot is the same to the bit from either side, in any block and by either BLAS kernel."""

from __future__ import annotations

import numpy as np
import pytest

from nnmatch_matching.matcher.exact_dots import GRID_NORM, on_exact_grid
from nnmatch_matching.matcher.member_matrix import MemberMatrix

DIMS = 384


def _units(rng: np.random.Generator, count: int) -> np.ndarray:
    vectors = rng.normal(size=(count, DIMS)).astype(np.float32)
    units: np.ndarray = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(
        np.float32
    )
    return units


def _integers(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's integers k and exponent e (row = k * 2^-e), e the largest that holds them."""
    wide = grid.astype(np.float64)
    exponents = np.zeros(len(wide), dtype=np.int64)
    integers = np.zeros_like(wide)
    for i, row in enumerate(wide):
        e = 0
        if row.any():
            e = int(np.ceil(np.log2(GRID_NORM / np.linalg.norm(row))))
            while not (
                np.array_equal(np.ldexp(row, e), np.rint(np.ldexp(row, e)))
                and np.sum(np.ldexp(row, e) ** 2) <= GRID_NORM**2
            ):
                e -= 1
        exponents[i] = e
        integers[i] = np.ldexp(row, e)
    return integers, exponents


def test_a_gridded_vector_is_short_integers_times_a_power_of_two_near_the_vector() -> None:
    rng = np.random.default_rng(3)
    units = _units(rng, 2000)
    odd = np.stack(
        [units[0] * 5, units[1] * 1e-3, np.zeros(DIMS, np.float32), units[2] * 3e4]
    ).astype(np.float32)
    vectors = np.concatenate([units, odd])
    grid = on_exact_grid(vectors)
    assert grid.dtype == np.float32
    assert grid.shape == vectors.shape
    integers, exponents = _integers(grid)
    lengths = np.einsum("ij,ij->i", integers, integers)
    assert (lengths <= GRID_NORM**2).all()
    assert set(exponents[: len(units)].tolist()) <= {11, 12}
    # Each component moves by at most half a step of the grid it was rounded on, which is
    # that exponent or one coarser (2k on the finer grid may be short enough where k was not).
    steps = np.ldexp(1.0, -exponents)
    moved = np.abs(grid.astype(np.float64) - vectors.astype(np.float64))
    assert (moved <= steps[:, None] * (1 + 1e-9)).all()
    finer = moved[: len(units)].max(axis=1) <= 2.0**-13
    assert 0.3 < finer.mean() < 0.7  # about half the unit vectors fit the finer grid
    assert not grid[-2].any()  # the zero vector stays zero
    assert all(np.any(row) for i, row in enumerate(grid) if i != len(grid) - 2)
    assert np.array_equal(on_exact_grid(grid), grid)  # idempotent


def test_on_the_grid_every_dot_is_exact_whatever_the_kernel_or_block() -> None:
    rng = np.random.default_rng(5)
    held = on_exact_grid(_units(rng, 3000))
    block = held[:70] @ held.T  # a matrix–matrix product, as a scan's block
    exact = (held[:70].astype(np.float64) @ held.T.astype(np.float64)).astype(np.float32)
    assert np.array_equal(block, exact)
    assert np.array_equal(block[:, :70], block[:, :70].T)  # the same from either side
    for row in range(0, 70, 7):
        assert np.array_equal(held @ held[row], block[row])  # a matrix–vector product
        assert np.array_equal(held[row : row + 2] @ held.T, block[row : row + 2])
    # The grid moves cosines by little: unit vectors' dots stay within 1e-3 of the raw ones.
    raw = _units(np.random.default_rng(5), 3000)
    assert np.abs(block.astype(np.float64) - raw[:70].astype(np.float64) @ raw.T).max() < 1e-3


def test_the_member_matrix_holds_its_vectors_on_the_grid() -> None:
    rng = np.random.default_rng(8)
    vectors = _units(rng, 5000)
    ids = [f"m-{i:05d}" for i in range(len(vectors))]
    matrix = MemberMatrix(DIMS)
    matrix.upsert_many(ids, vectors)  # more rows than one chunk of the grid's work
    assert np.array_equal(matrix.vectors(ids), on_exact_grid(vectors))
    matrix.upsert_many(["m-00007", "m-00007"], vectors[[1, 2]])  # the last one wins
    assert np.array_equal(matrix.vectors(["m-00007"]), on_exact_grid(vectors[[2]]))


def test_the_grid_takes_only_a_matrix() -> None:
    with pytest.raises(ValueError, match="matrix of vectors"):
        on_exact_grid(np.zeros(DIMS, dtype=np.float32))
