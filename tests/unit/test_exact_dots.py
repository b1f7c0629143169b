"""Vectors on the exact grid (`exact_dots`): every inner product is exact in float32, so a
pair's dot is the same to the bit from either side, in any block and by either BLAS kernel."""

from __future__ import annotations

import numpy as np
import pytest

from nnmatch.events import MAX_VECTOR_LENGTH
from nnmatch_matching.matcher.exact_dots import GRID_NORM, ZERO_BELOW, on_exact_grid
from nnmatch_matching.matcher.member_matrix import MemberMatrix

DIMS = 384


def _units(rng: np.random.Generator, count: int) -> np.ndarray:
    vectors = rng.normal(size=(count, DIMS)).astype(np.float32)
    units: np.ndarray = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(
        np.float32
    )
    return units


def _finest_exponents(grid: np.ndarray) -> np.ndarray:
    """Each row's smallest e with row * 2^e all integers (its integers then the shortest;
    0 for a zero row), read from the components' float mantissas, not from the grid's code."""
    mantissas, powers = np.frexp(grid.astype(np.float64))
    integers = np.rint(np.ldexp(np.abs(mantissas), 24)).astype(np.int64)  # float32: 24 bits
    zero = integers == 0
    lowest_bit = np.where(zero, 1, integers & -integers)
    trailing = np.log2(lowest_bit).astype(np.int64)
    needed = np.where(zero, np.iinfo(np.int64).min, 24 - trailing - powers)
    return np.where(zero.all(axis=1), 0, needed.max(axis=1))


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
    exponents = _finest_exponents(grid)
    integers = np.ldexp(grid.astype(np.float64), exponents[:, None])
    assert np.array_equal(integers, np.rint(integers))
    assert (np.einsum("ij,ij->i", integers, integers) <= GRID_NORM**2).all()
    # The exponent follows the length: 2^12 / |v| rounded down to a power of two, or one less.
    assert set(exponents[: len(units)].tolist()) <= {11, 12}
    assert exponents[-4] in {8, 9}  # length 5
    assert exponents[-3] in {20, 21}  # length 1e-3
    assert exponents[-1] in {-4, -3}  # length 3e4
    # Each component moves by at most half a step of the grid it was rounded on, which is
    # the finest grid that holds it (or finer, where all its integers came out even).
    steps = np.ldexp(1.0, -exponents)
    moved = np.abs(grid.astype(np.float64) - vectors.astype(np.float64))
    assert (moved <= steps[:, None] / 2).all()
    finer = moved[: len(units)].max(axis=1) <= 2.0**-13
    assert 0.3 < finer.mean() < 0.7  # about half the unit vectors fit the finer grid
    assert not grid[-2].any()  # the zero vector stays zero
    assert all(np.any(row) for i, row in enumerate(grid) if i != len(grid) - 2)
    assert np.array_equal(on_exact_grid(grid), grid)  # idempotent


def test_the_grid_holds_lengths_it_keeps_exact_and_is_idempotent_at_its_edges() -> None:
    rng = np.random.default_rng(4)
    units = _units(rng, 400).astype(np.float64)
    # Just above the shortest length held: rounding may take a row under it; then it is
    # held as zeros, and a second pass agrees either way.
    near_zero = units * ZERO_BELOW * (1 + rng.uniform(0, 1e-3, size=(len(units), 1)))
    once = on_exact_grid(near_zero)
    assert np.array_equal(on_exact_grid(once), once)
    zeroed = ~once.any(axis=1)
    assert 0 < zeroed.sum() < len(once)  # the edge is crossed both ways in this sample
    assert not on_exact_grid(units[:3] * ZERO_BELOW / 2).any()
    # The longest held is held; longer, or not finite, is refused (events refuse it too).
    longest = on_exact_grid(units[:3] * MAX_VECTOR_LENGTH * 0.999)
    assert np.isfinite(longest).all()
    assert np.isfinite(longest @ longest.T).all()  # float32 products: no overflow
    with pytest.raises(ValueError, match="at most 2\\^60"):
        on_exact_grid(units[:1] * MAX_VECTOR_LENGTH * 2)
    with pytest.raises(ValueError, match="NaN or infinity"):
        on_exact_grid(np.full((1, DIMS), np.inf))


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
