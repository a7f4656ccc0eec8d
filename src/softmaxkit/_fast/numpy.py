"""NumPy on the CPU: the softmax family in cache-sized row blocks, on every core.

The reference makes a dozen passes over its input, each through main memory.
Here the rows are cut into blocks of about 1 MiB, which stay in the core's L2
cache while NumPy's SIMD ufuncs (``maximum.reduce``, ``exp``, ``log1p``) make
their passes over them: main memory sees the input read once and the output
written once, as a copy would. Blocks are shared among threads (NumPy releases
the GIL inside ufuncs), one per core.

Each block uses the reference's arithmetic (shift by the row maximum, the
normaliser split as ``log(c) + log1p(rest / c)``), so results agree with the
reference to a few ulp. A block with a non-finite row maximum (an all ``-inf``
row, a ``+inf`` entry, a NaN) is handed to the reference itself, so every edge
case is the reference's. 16-bit floats decline (the reference computes them
in float32). See docs/performance.md for the measurements behind the choices.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import array_api_compat.numpy as xp_numpy  # the namespace the reference gets for NumPy
import numpy as np

from . import register

BLOCK_BYTES = 1 << 20  # ~1 MiB of input per block: fits L2 with its temporaries
SMALL = 1 << 15  # elements below which one block on this thread beats the pool's overhead
_THREADS = max(1, min(8, os.cpu_count() or 1))
_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="softmaxkit")
    return _POOL


def _as_rows(
    x: np.ndarray, axes: tuple[int, ...]
) -> tuple[np.ndarray, tuple[int, ...], tuple[int, ...]] | None:
    """``x`` as a C-contiguous (rows, K) matrix with the reduced axes last, with the
    shape of the moved array and the axis order that moved it (to undo the move);
    None for what the fast path does not take (16-bit floats, 0-d, empty)."""
    if x.dtype not in (np.float32, np.float64) or x.ndim == 0 or x.size == 0:
        return None
    order = (*(a for a in range(x.ndim) if a not in axes), *axes)
    moved = x if order == tuple(range(x.ndim)) else np.transpose(x, order)
    k = math.prod(x.shape[a] for a in axes)
    return np.ascontiguousarray(moved).reshape(-1, k), moved.shape, order


def _back(out_rows: np.ndarray, moved_shape: tuple[int, ...], order: tuple[int, ...]) -> np.ndarray:
    out = out_rows.reshape(moved_shape)
    if order == tuple(range(len(order))):
        return out
    return np.ascontiguousarray(np.transpose(out, np.argsort(order)))


def _blocks(n: int, k: int, itemsize: int, work: Callable[[int, int], None]) -> None:
    """Run ``work(start, stop)`` over row blocks, on the pool when it pays."""
    rows = max(1, BLOCK_BYTES // max(1, k * itemsize))
    starts = list(range(0, n, rows))
    if n * k < SMALL or len(starts) == 1 or _THREADS == 1:
        for s in starts:
            work(s, min(n, s + rows))
        return

    def run(my: list[int]) -> None:
        for s in my:
            work(s, min(n, s + rows))

    list(_pool().map(run, [starts[t::_THREADS] for t in range(_THREADS)]))


_local = threading.local()


def _scratch(shape: tuple[int, int], dtype: Any, slot: str) -> np.ndarray:
    """A per-thread buffer reused across blocks: allocating a fresh 1 MiB array per
    block costs page faults (the kernel's zeroing) that would dominate."""
    key = (slot, np.dtype(dtype).str)
    buf = getattr(_local, "bufs", None)
    if buf is None:
        buf = _local.bufs = {}
    arr = buf.get(key)
    size = shape[0] * shape[1]
    if arr is None or arr.size < size:
        arr = buf[key] = np.empty(max(size, 1), dtype=dtype)
    return arr[:size].reshape(shape)


def _row_max(x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(argmax, max)`` per row (max with keepdims) in one pass, or None when a row
    maximum is not finite (NaN, ``+inf``, all ``-inf``: the reference's cases)."""
    at = np.argmax(x, axis=1)
    m = x[np.arange(x.shape[0]), at].reshape(-1, 1)
    return (at, m) if np.all(np.isfinite(m)) else None


def _shifted_into(x: np.ndarray, m: np.ndarray, temperature: float, d: np.ndarray) -> None:
    """``d = (x - m) / T``; differences below -fmax become -inf, the rounded value."""
    with np.errstate(over="ignore"):
        np.subtract(x, m, out=d)
        if temperature != 1.0:
            np.divide(d, temperature, out=d)


def _normaliser(e: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """With ``e = exp(d)`` written: the normaliser and its log ``log1p(rest)``.

    ``rest`` is the sum of ``e`` without the one entry at ``at`` (an argmax,
    where ``e`` is exactly 1): the same array the reference sums when the maximum
    is unique, so the same rounding; with ties it also holds the other maxima's
    1s, and ``log1p(c - 1 + rest)`` equals the reference's ``log(c) + log1p(rest / c)``
    to a few ulp. ``e`` is left unchanged.
    """
    rows = np.arange(e.shape[0])
    e[rows, at] = 0.0
    rest = np.sum(e, axis=1, keepdims=True)
    e[rows, at] = 1.0
    return 1.0 + rest, np.log1p(rest)


def _masked(x: np.ndarray, where: np.ndarray | None) -> np.ndarray:
    return x if where is None else np.where(where, x, -np.inf).astype(x.dtype, copy=False)


Body = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], None]


def _rowwise(
    x: Any, axes: tuple[int, ...], where: Any, name: str, option: Any, width: int | None, body: Body
) -> tuple[np.ndarray, tuple[int, ...], tuple[int, ...]] | None:
    """Run ``body(block, argmax, max, out_block)`` over row blocks of ``x``.

    The output has ``width`` columns (None: as many as the input). A block with a
    non-finite row maximum gets ``REFERENCES[name](xp, block, (1,), option, None)``
    instead. Returns ``(out, moved_shape, order)``, or None to decline.
    """
    from ..activations import REFERENCES

    prepared = _as_rows(_masked(x, where), axes) if isinstance(x, np.ndarray) else None
    if prepared is None:
        return None
    rows, moved_shape, order = prepared
    out = np.empty((rows.shape[0], width or rows.shape[1]), dtype=rows.dtype)
    reference = REFERENCES[name]

    def work(a: int, b: int) -> None:
        block = rows[a:b]
        found = _row_max(block)
        if found is None:
            out[a:b] = reference(xp_numpy, block, (1,), option, None)
        else:
            body(block, *found, out[a:b])

    _blocks(rows.shape[0], rows.shape[1], rows.itemsize, work)
    return out, moved_shape, order


@register("softmax", "numpy")
def softmax(x: Any, *, axes: tuple[int, ...], temperature: float, where: Any) -> Any:
    def body(block: np.ndarray, at: np.ndarray, m: np.ndarray, o: np.ndarray) -> None:
        _shifted_into(block, m, temperature, o)
        np.exp(o, out=o)
        total, _ = _normaliser(o, at)
        np.divide(o, total, out=o)

    done = _rowwise(x, axes, where, "softmax", temperature, None, body)
    return NotImplemented if done is None else _back(*done)


@register("log_softmax", "numpy")
def log_softmax(x: Any, *, axes: tuple[int, ...], temperature: float, where: Any) -> Any:
    def body(block: np.ndarray, at: np.ndarray, m: np.ndarray, o: np.ndarray) -> None:
        _shifted_into(block, m, temperature, o)
        e = _scratch(o.shape, o.dtype, "e")
        np.exp(o, out=e)
        _, log_norm = _normaliser(e, at)
        np.subtract(o, log_norm, out=o)

    done = _rowwise(x, axes, where, "log_softmax", temperature, None, body)
    return NotImplemented if done is None else _back(*done)


@register("logsumexp", "numpy")
def logsumexp(x: Any, *, axes: tuple[int, ...], keepdims: bool, where: Any) -> Any:
    def body(block: np.ndarray, at: np.ndarray, m: np.ndarray, o: np.ndarray) -> None:
        e = _scratch(block.shape, block.dtype, "e")
        _shifted_into(block, m, 1.0, e)
        np.exp(e, out=e)
        _, log_norm = _normaliser(e, at)
        np.add(m, log_norm, out=o)

    # the reference fallback keeps the reduced axis, so its (rows, 1) fits `out`
    done = _rowwise(x, axes, where, "logsumexp", True, 1, body)
    if done is None:
        return NotImplemented
    kept = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
    result = done[0].reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))
    return result.reshape(kept) if keepdims else result


@register("softmax_cross_entropy", "numpy")
def cross_entropy(
    z: Any,
    *,
    labels: Any,
    weights: Any,
    label_smoothing: float,
    temperature: float,
    want_loss: bool,
    want_grad: bool,
    grad_scale: Any = None,
) -> Any:
    """Per-row weighted loss ``w_i l_i`` and gradient ``w_i (p_i - y_i) / (T S)`` for
    integer labels (rows with weight 0 give 0), from one shifted block at a time;
    ``S`` is ``grad_scale`` (the total weight for a mean, None for 1).

    ``z`` is (n, K) with the class axis last; ``labels`` are in [0, K) where
    ``weights > 0``. Returns ``(rows, grad)`` (either may be None).
    """
    if not isinstance(z, np.ndarray) or z.dtype not in (np.float32, np.float64) or z.ndim != 2:
        return NotImplemented
    n, k = z.shape
    if n == 0 or k == 0:
        return NotImplemented
    z = np.ascontiguousarray(z)
    rows_out = np.empty(n if want_loss else 0, dtype=z.dtype)
    grad = np.empty_like(z) if want_grad else np.empty((0, k), dtype=z.dtype)
    eps = float(label_smoothing)
    divisor = 1.0 if grad_scale is None else float(grad_scale)
    safe_labels = np.where(weights > 0, labels, 0).astype(np.intp)
    from ..activations import log_softmax_and_softmax

    def work(a: int, b: int) -> None:
        block = z[a:b]
        lab = safe_labels[a:b]
        w = weights[a:b]
        idx = np.arange(b - a)
        found = _row_max(block)
        if found is None:
            logp, p = log_softmax_and_softmax(xp_numpy, block, (1,), temperature)
        else:
            at, m = found
            logp = _scratch(block.shape, block.dtype, "logp")
            _shifted_into(block, m, temperature, logp)
            p = grad[a:b] if want_grad else _scratch(block.shape, block.dtype, "p")
            np.exp(logp, out=p)
            total, log_norm = _normaliser(p, at)
            np.subtract(logp, log_norm, out=logp)
            np.divide(p, total, out=p)
        active = w > 0
        if want_loss:
            if eps > 0.0:
                # -sum_j y_j log p_j with y = (1 - eps) onehot + eps / K, term by term
                # and summed in the reference's order.
                terms = _scratch(logp.shape, logp.dtype, "terms")
                np.multiply(logp, eps / k, out=terms)
                terms[idx, lab] = logp[idx, lab] * ((1.0 - eps) + eps / k)
                loss = -np.sum(terms, axis=1)
            else:
                loss = -logp[idx, lab]
            rows_out[a:b] = w * np.where(active, loss, 0)
        if want_grad:
            g = grad[a:b]
            at_label = p[idx, lab]
            if g is not p:
                np.copyto(g, p)
            if eps > 0.0:
                np.subtract(g, eps / k, out=g)
            # the target entry as the reference forms it: (1 - eps) * 1 + eps / K
            g[idx, lab] = at_label - ((1.0 - eps) + eps / k)
            factor = w / temperature if temperature != 1.0 else w
            if divisor != 1.0:
                factor = factor / divisor
            np.multiply(g, np.where(active, factor, 0)[:, None], out=g)
            if not np.all(active):
                g[~active] = 0  # also clears NaN rows that carry no weight

    _blocks(n, k, z.itemsize, work)
    return (rows_out if want_loss else None), (grad if want_grad else None)


@register("softmax_jacobian", "numpy")
def softmax_jacobian(s: Any, *, axis: int) -> Any:
    """``diag(s) - s s^T`` written once into the output, block by block on every core.

    The off-diagonal entries are ``-(s_i * s_j)`` and the diagonal ``s_i * (1 - s_i)``,
    the reference's two products, so the result is the reference's to the bit;
    the output (K times the input) is the whole cost, and it is written once.
    """
    prepared = _as_rows(s, (axis,)) if isinstance(s, np.ndarray) else None
    if prepared is None:
        return NotImplemented
    rows, moved_shape, _ = prepared
    k = rows.shape[1]
    out = np.empty((rows.shape[0], k, k), dtype=s.dtype)

    def work(a: int, b: int) -> None:
        sb, ob = rows[a:b], out[a:b]
        np.multiply(sb[:, :, None], sb[:, None, :], out=ob)
        np.negative(ob, out=ob)
        ob.reshape(b - a, k * k)[:, :: k + 1] = sb * (1 - sb)

    _blocks(rows.shape[0], k * k, s.itemsize, work)
    return out.reshape((*moved_shape[:-1], k, k))
