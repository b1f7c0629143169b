"""Masking without a branch per element, for the scans of everyone (pure numpy).

`np.where(mask, values, fill)` branches per element: on a mask it cannot predict (the kinds
that fit, who shares a language) it is about 15 times slower than arithmetic, 0.4 ms at
55,000 rows, and a scan of everyone masks several times.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_DROPPED = np.array([-np.inf, 0.0])  # added where a mask is False / True


def zero_unless(
    values: npt.NDArray[np.float64], keep: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float64]:
    """`values` where `keep`, else 0 (finite values): `np.where(keep, values, 0.0)`."""
    out: npt.NDArray[np.float64] = values * keep
    return out


def minus_inf_unless(
    values: npt.NDArray[np.float64], keep: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float64]:
    """`values` where `keep`, else -inf: `np.where(keep, values, -np.inf)`."""
    out: npt.NDArray[np.float64] = values + np.take(_DROPPED, keep.view(np.uint8))
    return out
