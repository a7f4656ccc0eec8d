"""Small helpers shared by the test modules."""

from __future__ import annotations

import mpmath as mp
import numpy as np

# Tolerances for comparing a backend's result with the float64 NumPy result, per dtype.
RTOL = {"bfloat16": 2e-2, "float16": 2e-3, "float32": 2e-6, "float64": 1e-13}
ATOL = {"bfloat16": 2e-2, "float16": 2e-3, "float32": 2e-6, "float64": 1e-13}


def ulp_error(value: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|value - ref| in units of the spacing of float64 at ``ref`` (0 where both agree).

    Infinities must match exactly; they count as 0 ulp when equal and inf otherwise.
    """
    value = np.asarray(value, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    both_inf = np.isinf(ref) & (value == ref)
    finite = np.isfinite(ref)
    err = np.full(ref.shape, np.inf)
    err[both_inf] = 0.0
    err[finite] = np.abs(value[finite] - ref[finite]) / np.spacing(np.abs(ref[finite]))
    return err


# Working precision of the references. 50 significant digits are what the result
# needs, but a sum like exp(0) + exp(-140) keeps its 1e-61 tail, which log-softmax of
# the largest entry *is*, only with more: at 400 digits every contribution a float64
# result can see (down to 1e-330 relative) survives the sum.
DPS = 400


def mp_softmax(row: list[float]) -> list[mp.mpf]:
    """Softmax of one row in high-precision arithmetic (finite entries only)."""
    with mp.workdps(DPS):
        xs = [mp.mpf(v) for v in row]
        total = mp.fsum(mp.exp(v) for v in xs)
        return [mp.exp(v) / total for v in xs]


def mp_logsumexp(row: list[float]) -> mp.mpf:
    """log(sum(exp(row))) in high-precision arithmetic (finite entries only)."""
    with mp.workdps(DPS):
        return mp.log(mp.fsum(mp.exp(mp.mpf(v)) for v in row))


def to_float(values: list[mp.mpf]) -> np.ndarray:
    """Round high-precision values to the nearest float64 (mpmath rounds correctly)."""
    return np.array([float(v) for v in values])
