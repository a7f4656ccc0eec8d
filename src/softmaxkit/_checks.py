"""Small raising validators. Each one says what it expected and what it got."""

from __future__ import annotations

import math
import numbers
import sys
from typing import Any

import numpy as np

from ._array import Array, Namespace, broadcast_shape, host, is_finite_positive


def temperature(value: object, xp: Namespace | None = None, dtype: Any = None) -> float:
    """A temperature must be a finite real number > 0 and, given the dtype the logits
    are computed in, a normal number of that dtype: beyond its largest number (1e300
    for float32 logits) ``x / T`` would divide by the infinity ``T`` rounds to (NaN
    for an infinite ``x``), below its smallest normal by a subnormal or 0."""
    if not is_finite_positive(value):
        raise ValueError(f"expected temperature to be a finite number > 0, got {value!r}")
    T = float(value)  # type: ignore[arg-type]
    if xp is not None and dtype is not None:
        info = xp.finfo(dtype)
        low, high = float(info.smallest_normal), float(info.max)
        if not low <= T <= high:
            text = str(getattr(dtype, "name", dtype))  # NumPy's float32 is a class
            name = text.replace("<class '", "").replace("'>", "").rsplit(".", 1)[-1]
            raise ValueError(
                f"expected a temperature in [{low:.4g}, {high:.4g}], the range of {name}, "
                f"which the logits are computed in, got {value!r}"
            )
    return T


def log_base(base: object) -> float | None:
    """``log(base)`` for a finite base > 0 and != 1; ``None`` (natural log) stays ``None``."""
    if base is None:
        return None
    if not is_finite_positive(base) or float(base) == 1.0:  # type: ignore[arg-type]
        raise ValueError(f"expected base to be None or a finite number > 0 and != 1, got {base!r}")
    return math.log(float(base))  # type: ignore[arg-type]


def fraction(value: object, name: str) -> float:
    """A number in [0, 1] (label smoothing)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"expected {name} in [0, 1], got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"expected {name} in [0, 1], got {value!r}") from None
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"expected {name} in [0, 1], got {value!r}")
    return v


def reduction(value: object) -> str:
    if value not in ("mean", "sum", "none"):
        raise ValueError(f"expected reduction to be 'mean', 'sum' or 'none', got {value!r}")
    return str(value)


def same_shape(a: Array, b: Array, name_a: str, name_b: str, what: str = "") -> None:
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            f"expected {name_b} to have the shape of {name_a}{what}: "
            f"{name_a} has shape {tuple(a.shape)}, {name_b} has shape {tuple(b.shape)}"
        )


def broadcastable_to(a: Array, shape: tuple[int, ...], name: str, target: str) -> None:
    """``a`` must broadcast to ``shape`` without enlarging it."""
    if broadcast_shape(tuple(a.shape), tuple(shape)) != tuple(shape):
        raise ValueError(
            f"expected {name} to broadcast to the shape of {target} {tuple(shape)}, "
            f"got shape {tuple(a.shape)}"
        )


def boolean(xp: Namespace, a: Array, name: str) -> None:
    if not xp.isdtype(a.dtype, "bool"):
        raise TypeError(f"expected a boolean array for {name}, got dtype {a.dtype}")


def nonnegative(xp: Namespace, a: Array, name: str) -> None:
    """Entries >= 0 (NaN passes: NaN in gives NaN out). Skipped where values are
    not readable (:func:`softmaxkit._array.host`)."""
    v = host(a)
    if v is None or v.size == 0:
        return
    if (v < 0).any():
        raise ValueError(f"expected {name} to have no negative entries, got min {float(v.min())}")


def probability_entries(xp: Namespace, a: Array, name: str) -> None:
    """Entries in [0, 1], as a distribution's are (NaN passes: NaN in gives NaN out).

    An entry above 1 is counts or scores passed where probabilities belong (SciPy's
    ``entropy`` renormalises; ours does not), and with it ``p log p`` could overflow.
    Skipped where values are not readable."""
    v = host(a)
    if v is None or v.size == 0:
        return
    ok = ~((v < 0) | (v > 1))  # NaN compares False both ways: it passes
    if not ok.all():
        raise ValueError(
            f"expected {name} to hold probabilities (entries in [0, 1]), got {_first(v, ok)}"
        )


def finite_nonnegative(xp: Namespace, a: Array, name: str) -> None:
    """Weights: finite and >= 0. Skipped where values are not readable."""
    v = host(a)
    if v is None or v.size == 0:
        return
    ok = np.isfinite(v) & (v >= 0)
    if not ok.all():
        raise ValueError(f"expected {name} to be finite and >= 0, got {_first(v, ok)}")


def labels(xp: Namespace, y: Array, n_classes: int, ignore_index: int | None) -> None:
    """Integer labels in ``[0, n_classes)``, except those equal to ``ignore_index``.

    Skipped where values are not readable. The message names the first
    offending value found (the smallest if any is negative, else the largest).
    """
    v = host(y)
    if v is None or v.size == 0:
        return
    if ignore_index is not None:
        v = v[v != ignore_index]
        if v.size == 0:
            return
    lo, hi = int(v.min()), int(v.max())
    bad = lo if lo < 0 else hi if hi >= n_classes else None
    if bad is not None:
        also = f" (or ignore_index={ignore_index})" if ignore_index is not None else ""
        raise ValueError(f"expected class labels in [0, {n_classes}){also}, got {bad}")


def unit_interval(xp: Namespace, a: Array, name: str) -> None:
    """Entries in [0, 1] (binary targets). NaN fails. Skipped where values are not
    readable."""
    v = host(a)
    if v is None or v.size == 0:
        return
    ok = (v >= 0) & (v <= 1)
    if not ok.all():
        raise ValueError(f"expected {name} in [0, 1], got {_first(v, ok)}")


def probability_tolerance(xp: Namespace, dtype: object) -> float:
    """How far from 1 a row of probabilities may sum: ``sqrt(eps)`` of its dtype."""
    return math.sqrt(float(xp.finfo(dtype).eps))


def probabilities(xp: Namespace, y: Array, axis: int, name: str = "target") -> None:
    """Entries >= 0 and each row summing to 1 within ``sqrt(eps)`` of its dtype.

    ``sqrt(eps)`` (1.5e-8 in float64, 3.5e-4 in float32) accepts rounded softmax
    outputs of any width while rejecting unnormalised rows. NaN entries fail.
    Skipped where values are not readable.
    """
    v = host(y)
    if v is None or v.size == 0:
        return
    torch: Any = sys.modules.get("torch")
    if torch is not None and isinstance(y, torch.Tensor):
        v = y.detach()  # an eager CPU tensor: PyTorch's reductions use all its threads
    low = v.min()  # one pass, no temporary (NaN entries fail the sum test below)
    if low < 0:
        raise ValueError(f"expected {name} probabilities >= 0, got an entry {float(low)}")
    tol = probability_tolerance(xp, y.dtype)
    if isinstance(v, np.ndarray):
        total = v.sum(axis=axis, dtype=np.float64 if v.itemsize < 4 else None)
    else:
        wide = v.dtype if v.element_size() >= 4 else torch.float32
        total = v.sum(dim=axis, dtype=wide).double().numpy()
    ok = np.abs(total - 1) <= tol
    if not ok.all():
        raise ValueError(
            f"expected each row of {name} to sum to 1 (within {tol:.1e}), got a row summing to "
            f"{_first(total, ok)}"
        )


def _first(a: Any, ok: Any) -> float:
    """The first entry of ``a`` where ``ok`` is False, for the error message."""
    return float(np.reshape(a[~ok], (-1,))[0])


def nonnegative_number(value: object, name: str) -> float:
    """A finite real number >= 0 (the z-loss coefficient, a scalar ``pos_weight``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"expected {name} to be a finite number >= 0, got {value!r}")
    try:
        v = float(value)
    except OverflowError:  # an int past the floats
        v = math.inf
    if not (0.0 <= v < math.inf):
        raise ValueError(f"expected {name} to be a finite number >= 0, got {value!r}")
    return v


def chunk_size(value: object) -> tuple[int, int | None] | None:
    """None, rows per chunk (an int >= 1), or ``(rows, classes)`` per chunk."""
    parts = value if isinstance(value, tuple) else (value,)
    if value is None:
        return None
    if len(parts) in (1, 2) and all(
        isinstance(p, numbers.Integral) and not isinstance(p, bool) and int(p) >= 1 for p in parts
    ):
        return int(parts[0]), (int(parts[1]) if len(parts) == 2 else None)
    raise ValueError(
        "expected chunk_size to be None, a number of rows >= 1 or a (rows, classes) "
        f"pair of ints >= 1, got {value!r}"
    )
