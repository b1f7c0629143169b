"""Dense vectors held on a grid where every inner product is exact in float32.

The caches compare a pair's odds computed from its two sides, in different blocks of a
matrix product; BLAS sums a dot product in an order that depends on the block and the
kernel (matrix–matrix or matrix–vector), so float32 dots of arbitrary vectors differ in the
last bit from either side for many pairs. Rounding each vector to integers k times a power
of two 2^-e, the integers' length ‖k‖ at most 2^12, makes every product of two components an
integer times 2^-(e_x+e_y) and every partial sum, in any order, an integer no larger than
‖k_x‖‖k_y‖ <= 2^24 (Cauchy–Schwarz) times the same power: float32 holds each one exactly, so
any kernel, block or order gives the same dot to the bit. The lengths held are kept between
`ZERO_BELOW` and `MAX_VECTOR_LENGTH`, so that every nonzero partial sum is a normal float32
(neither subnormal nor overflowing).

The price is precision: a unit vector's components move by at most 2^-13 (e = 12, about half
of them) or 2^-12 (e = 11, where the rounded integers would be too long at 12), a cosine by at
most about 2 · sqrt(d)/2 · 2^-11, 1e-2 at 384 dimensions. On 55,000 random unit vectors of 384
dimensions a pair's cosine moved by 1.2e-4 on average, and by at most 9.2e-4 in a sample of a
million pairs (measured while writing this; not in bench/results).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from nnmatch.events import MAX_VECTOR_LENGTH

Matrix = npt.NDArray[np.float32]
GRID_NORM = 2.0**12
"""The largest length ‖k‖ of a vector's integers: two such multiply and sum to at most 2^24."""
ZERO_BELOW = 2.0**-50
"""Vectors held shorter than this are held as zeros: two vectors at least this long have
exponents summing to at most 124, so the smallest nonzero product stays a normal float32."""


def on_exact_grid(vectors: npt.ArrayLike) -> Matrix:
    """Each row rounded to k * 2^-e, k integers with ‖k‖ <= `GRID_NORM`: e per row, so that no
    row's length matters, the largest its length allows, or one less where the integers
    rounded at that one are too long. Idempotent: a row on the grid stays as it is.

    Row by row: the matcher grids one event's vectors at a time, where a dozen numpy calls
    over a batch of one cost four times these few (7 against 33 µs a row, measured while
    writing this). Raises ValueError
    on a row longer than `MAX_VECTOR_LENGTH` or not finite (events are checked for both)."""
    rows = np.asarray(vectors)
    if rows.ndim != 2:
        raise ValueError(f"expected a matrix of vectors, got shape {rows.shape}")
    grid: Matrix = np.zeros(rows.shape, dtype=np.float32)
    for i, row in enumerate(rows):
        grid[i] = _row_on_grid(row.astype(np.float64))
    return grid


def _row_on_grid(row: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    if not np.isfinite(row).all():
        raise ValueError("a vector with NaN or infinity is not held")
    length = math.sqrt(float(row @ row))
    if length > MAX_VECTOR_LENGTH:
        raise ValueError(f"a vector of norm {length:.3g} is not held: at most 2^60")
    if length < ZERO_BELOW:
        return np.zeros_like(row)
    # From the exponent that scales the row's length to at most 2^12 (a hair over for a
    # float32 unit vector whose length rounds above 1), one step down if the rounded integers
    # are too long: then |v| 2^e <= 2^11 (1 + 2^-20), and rounding adds at most sqrt(d)/2.
    exponent = math.floor(math.log2(GRID_NORM * (1 + 2.0**-20) / length))
    integers = np.rint(row * 2.0**exponent)  # times a power of two: exact
    squares = float(integers @ integers)
    if squares > GRID_NORM * GRID_NORM:
        exponent -= 1
        integers = np.rint(row * 2.0**exponent)
        squares = float(integers @ integers)
    if math.sqrt(squares) * 2.0**-exponent < ZERO_BELOW:  # as held, so a second pass agrees
        return np.zeros_like(row)
    gridded: npt.NDArray[np.float64] = integers * 2.0**-exponent
    return gridded
