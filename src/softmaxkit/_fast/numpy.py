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

import contextlib
import math
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

import array_api_compat.numpy as xp_numpy  # the namespace the reference gets for NumPy
import numpy as np

from . import register

_compiled: ModuleType | None
try:  # the compiled core (setup.py builds it at install; never compiled at import)
    from . import _core as _compiled
except ImportError as _missing:  # no C compiler at install, or the build failed
    _compiled = None
    _COMPILED_MISSING = str(_missing)
else:
    _COMPILED_MISSING = ""

BLOCK_BYTES = 1 << 20  # ~1 MiB of input per block: fits L2 with its temporaries
SHORT_K = 24  # rows up to this long are worked on transposed (see _Short)
SHORT_BLOCK_BYTES = 1 << 19  # a transposed block and its temporaries stay in L2
LINEAR_BLOCK_BYTES = 1 << 21  # rows of X per block of linear_cross_entropy (measured)
SMALL = 1 << 15  # elements below which one block on this thread beats the pool's overhead
COMPILED_K = 32  # linear_cross_entropy's transposed logits go to the compiled core up to this K
COMPILED_BLOCK_BYTES = 1 << 22  # input per block handed to the compiled core
PAGE_BYTES = 1 << 21  # a huge page (x86-64, 4 KiB-page arm64): see _page_starts
_THREADS = max(1, min(8, os.cpu_count() or 1))
_POOL: ThreadPoolExecutor | None = None


def compiled_core() -> str:
    """Which path the NumPy arrays take: the compiled core (and the instruction set it
    runs in), or NumPy alone and why (shown by ``softmaxkit --version``)."""
    if _compiled is not None:
        return (
            f"compiled core ({_compiled.isa()}): softmax, log_softmax, logsumexp and "
            f"cross-entropy rows of any length, linear_cross_entropy up to {COMPILED_K} classes"
        )
    return f"NumPy path only (the compiled core is not built: {_COMPILED_MISSING})"


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


def _page_starts(starts: list[int], out: np.ndarray) -> list[int]:
    """The blocks' first rows moved to the row holding the nearest boundary of a
    2 MiB page of ``out`` (rows along its first axis, C-contiguous), where the
    blocks' outputs are at least a page.

    The compiled core writes a block's tiles from its last to its first, so that
    the system's first touch of each fresh (zeroed on demand) 2 MiB page of the
    output falls in the page's upper half; Linux then zeroes the page upwards,
    which costs less than half of zeroing it downwards on the machine measured
    (see docs/performance.md, "Fourth round"). A page shared by two blocks would be
    touched first wherever the lower block begins, so the blocks meet at pages.
    """
    row_bytes = out.strides[0] if out.ndim else 0
    if len(starts) < 2 or row_bytes <= 0 or (starts[1] - starts[0]) * row_bytes < PAGE_BYTES:
        return starts
    base = out.ctypes.data
    moved = [0]
    for s in starts[1:]:
        boundary = base + s * row_bytes
        boundary = (boundary + PAGE_BYTES // 2) // PAGE_BYTES * PAGE_BYTES  # the nearest
        r = (boundary - base) // row_bytes  # the row holding it goes to the upper block
        if moved[-1] < r < out.shape[0]:
            moved.append(r)
    return moved


def _block_bounds(
    n: int, k: int, itemsize: int, compiled: bool, out: np.ndarray | None
) -> list[tuple[int, int]]:
    """The row blocks ``(start, stop)`` of :func:`_blocks`. Blocks for the compiled
    core are larger (it tiles them itself; fewer blocks, less Python), and meet at
    the 2 MiB pages of its output ``out`` (see _page_starts)."""
    size = BLOCK_BYTES if k > SHORT_K else SHORT_BLOCK_BYTES
    size = COMPILED_BLOCK_BYTES if compiled else size
    rows = max(1, size // max(1, k * itemsize))
    starts = list(range(0, n, rows))
    if compiled and out is not None and out.shape[0] == n and out.flags.c_contiguous:
        starts = _page_starts(starts, out)
    return list(zip(starts, [*starts[1:], n], strict=True))


def _blocks(
    n: int,
    k: int,
    itemsize: int,
    work: Callable[[int, int], None],
    compiled: bool = False,
    out: np.ndarray | None = None,
) -> None:
    """Run ``work(start, stop)`` over the row blocks of :func:`_block_bounds`, on the
    pool when it pays."""
    bounds = _block_bounds(n, k, itemsize, compiled, out)
    if n * k < SMALL or len(bounds) == 1 or _THREADS == 1 or _in_pool() or _inline():
        for s, e in bounds:
            work(s, e)
        return

    # each thread takes the next block when it is free (on a shared machine one core
    # can be slowed; fixed shares would leave the other waiting); the calling thread
    # is one of them, so the work starts without waiting for a pool thread to wake
    queue, lock = iter(bounds), threading.Lock()

    def run() -> None:
        while True:
            with lock:
                block = next(queue, None)
            if block is None:
                return
            work(*block)

    helpers = [_pool().submit(run) for _ in range(_THREADS - 1)]
    try:
        run()
    finally:  # no block still being written when this returns or raises
        for h in helpers:
            h.exception()
    for h in helpers:
        h.result()


def _inline() -> bool:
    """True inside :func:`inline` on this thread."""
    return bool(getattr(_local, "inline", False))


@contextlib.contextmanager
def inline() -> Iterator[None]:
    """Within the block, this thread's calls run on this thread alone.

    For PyTorch's eager path: waking this module's pool between PyTorch's own
    operations makes both pools contend for the cores (PyTorch's threads spin
    for a while after each operation), which costs more than it gains on the
    small pieces PyTorch hands over.
    """
    saved = _inline()
    _local.inline = True
    try:
        yield
    finally:
        _local.inline = saved


def _in_pool() -> bool:
    """True on one of the pool's own threads: work started there runs inline (a
    worker waiting on the pool it occupies could deadlock it)."""
    return threading.current_thread().name.startswith("softmaxkit")


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
    """``d = (x - m) / T`` (``m`` finite); a difference below -fmax becomes -inf, the
    rounded value, except where ``T > 1`` brings it back in range: there
    ``x / T - m / T``, as the reference computes it."""
    saved = None
    if temperature > 1.0 and x.size:
        fmax = np.finfo(x.dtype).max
        # max(m) - fmax may itself overflow to -inf (a negative maximum); then every
        # x - m >= -fmax - m > -fmax, nothing overflows, and the comparison is rightly False
        with np.errstate(over="ignore", invalid="ignore"):
            if np.min(x) < np.max(m) - fmax:  # some x - m overflows (rare: one extra pass)
                saved = x.copy()
    with np.errstate(over="ignore"):
        np.subtract(x, m, out=d)
        if temperature != 1.0:
            np.divide(d, temperature, out=d)
    if saved is not None:
        over = np.isneginf(d) & np.isfinite(saved)
        d[over] = saved[over] / temperature - np.broadcast_to(m, saved.shape)[over] / temperature


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


class _Short:
    """A block of short rows (K <= ``SHORT_K``) shifted and exponentiated, transposed.

    NumPy reduces a length-10 axis slowly (a call per row), but it reduces the
    first axis of a C-contiguous ``(K, rows)`` array as K - 1 elementwise SIMD
    operations between contiguous rows. So the block is copied transposed into a
    cache-resident scratch buffer and every row reduction becomes a column
    reduction there. Holds ``d = (x - m) / T`` and ``e = exp(d)`` as ``(K, rows)``,
    the row maxima ``m``, and the reference's split normaliser: ``count`` of
    entries at the maximum (``d == 0``) and the sum ``rest`` of the others.
    """

    __slots__ = ("count", "d", "e", "m", "rest")

    def __init__(
        self,
        d: np.ndarray,
        e: np.ndarray,
        m: np.ndarray,
        count: np.ndarray | None,
        rest: np.ndarray,
    ) -> None:
        # count None: one entry at the maximum in every row (no ties, the usual case)
        self.d, self.e, self.m, self.count, self.rest = d, e, m, count, rest

    @property
    def total(self) -> Any:
        return 1.0 + self.rest if self.count is None else self.count + self.rest

    @property
    def log_norm(self) -> Any:
        if self.count is None:
            return np.log1p(self.rest)
        return np.log(self.count) + np.log1p(self.rest / self.count)

    def gradient(self, at: Any, eps: float, target: float, factor: Any, out: Any) -> None:
        """``out = factor * (softmax - y)``, (K, rows), with ``y`` the label's ``target``
        at the flat indices ``at`` and ``eps / K`` everywhere (``e`` is overwritten)."""
        p = self.e
        np.divide(p, self.total, out=p)
        p_label = p.reshape(-1)[at]
        if eps > 0.0:
            np.subtract(p, eps / p.shape[0], out=p)
        p.reshape(-1)[at] = p_label - target
        np.multiply(p, factor, out=out)

    def flat(self, columns: np.ndarray) -> Any:
        """Indices into the raveled ``(K, rows)`` arrays of entry ``columns[i]`` of row i
        (a gather through them is several times faster than ``a[columns, arange]``)."""
        n = self.d.shape[1]
        return columns * n + np.arange(n)


def _short(block: np.ndarray, temperature: float) -> _Short | None:
    """The transposed work of ``block`` (rows, K); None when a row maximum is not
    finite (the reference's cases)."""
    d = _scratch((block.shape[1], block.shape[0]), block.dtype, "short_d")
    np.copyto(d, block.T)
    return _transposed(d, temperature)


def _transposed(d: np.ndarray, temperature: float) -> _Short | None:
    """Shift, exponentiate and split the normaliser of ``d``, logits as (K, rows),
    in place; None when a row maximum is not finite."""
    m = np.max(d, axis=0)
    if not np.all(np.isfinite(m)):
        return None
    _shifted_into(d, m, temperature, d)
    # 1.0 at the row maxima (d == 0), 0.0 elsewhere: a float mask, as arithmetic
    # with a boolean one runs through a slow cast
    top = _scratch(d.shape, d.dtype, "short_top")
    np.equal(d, 0, out=top)
    e = _scratch(d.shape, d.dtype, "short_e")
    np.exp(d, out=e)
    count = np.sum(top, axis=0)
    # e - top is exactly e with the maxima's 1s zeroed: the reference's `rest`
    np.subtract(e, top, out=top)
    rest = np.sum(top, axis=0)
    return _Short(d, e, m, count if np.max(count) > 1.0 else None, rest)


Body = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], None]
ShortBody = Callable[[_Short, np.ndarray], None]


def _rowwise(
    x: Any,
    axes: tuple[int, ...],
    where: Any,
    name: str,
    option: Any,
    width: int | None,
    body: Body,
    short: ShortBody,
    temperature: float = 1.0,
    compiled: int | None = None,
) -> tuple[np.ndarray, tuple[int, ...], tuple[int, ...]] | None:
    """Run ``body(block, argmax, max, out_block)`` over row blocks of ``x``, or for
    rows of at most ``SHORT_K`` entries ``short(transposed, out_block)``.

    The output has ``width`` columns (None: as many as the input). A block with a
    non-finite row maximum gets ``REFERENCES[name](xp, block, (1,), option, None)``
    instead. Rows go to the compiled core's ``rows(compiled, ...)`` when it is
    built and ``compiled`` names its kind (up to 32 entries transposed in tiles,
    longer ones one at a time); the rows it flags (the reference's edge cases) go
    to the reference. Returns
    ``(out, moved_shape, order)``, or None to decline.
    """
    from ..activations import REFERENCES

    prepared = _as_rows(_masked(x, where), axes) if isinstance(x, np.ndarray) else None
    if prepared is None:
        return None
    rows, moved_shape, order = prepared
    out = np.empty((rows.shape[0], width or rows.shape[1]), dtype=rows.dtype)
    reference = REFERENCES[name]
    is_short = rows.shape[1] <= SHORT_K
    core = _compiled if compiled is not None else None  # `compiled`: the core's kind

    def work(a: int, b: int) -> None:
        block = rows[a:b]
        if core is not None:
            flags = np.zeros(b - a, dtype=np.uint8)
            if core.rows(compiled, block, out[a:b], flags, temperature):
                bad = np.flatnonzero(flags)
                out[a + bad] = reference(xp_numpy, block[bad], (1,), option, None)
            return
        if is_short:
            transposed = _short(block, temperature)
            if transposed is not None:
                short(transposed, out[a:b])
                return
        else:
            found = _row_max(block)
            if found is not None:
                body(block, *found, out[a:b])
                return
        out[a:b] = reference(xp_numpy, block, (1,), option, None)

    _blocks(rows.shape[0], rows.shape[1], rows.itemsize, work, core is not None, out)
    return out, moved_shape, order


@register("softmax", "numpy")
def softmax(x: Any, *, axes: tuple[int, ...], temperature: float, where: Any) -> Any:
    def body(block: np.ndarray, at: np.ndarray, m: np.ndarray, o: np.ndarray) -> None:
        _shifted_into(block, m, temperature, o)
        np.exp(o, out=o)
        total, _ = _normaliser(o, at)
        np.divide(o, total, out=o)

    def short(t: _Short, o: np.ndarray) -> None:
        np.divide(t.e, t.total, out=o.T)

    done = _rowwise(x, axes, where, "softmax", temperature, None, body, short, temperature, 0)
    return NotImplemented if done is None else _back(*done)


@register("log_softmax", "numpy")
def log_softmax(x: Any, *, axes: tuple[int, ...], temperature: float, where: Any) -> Any:
    def body(block: np.ndarray, at: np.ndarray, m: np.ndarray, o: np.ndarray) -> None:
        _shifted_into(block, m, temperature, o)
        e = _scratch(o.shape, o.dtype, "e")
        np.exp(o, out=e)
        _, log_norm = _normaliser(e, at)
        np.subtract(o, log_norm, out=o)

    def short(t: _Short, o: np.ndarray) -> None:
        np.subtract(t.d, t.log_norm, out=o.T)

    done = _rowwise(x, axes, where, "log_softmax", temperature, None, body, short, temperature, 1)
    return NotImplemented if done is None else _back(*done)


@register("logsumexp", "numpy")
def logsumexp(x: Any, *, axes: tuple[int, ...], keepdims: bool, where: Any) -> Any:
    def body(block: np.ndarray, at: np.ndarray, m: np.ndarray, o: np.ndarray) -> None:
        e = _scratch(block.shape, block.dtype, "e")
        _shifted_into(block, m, 1.0, e)
        np.exp(e, out=e)
        _, log_norm = _normaliser(e, at)
        np.add(m, log_norm, out=o)

    def short(t: _Short, o: np.ndarray) -> None:
        np.add(t.m, t.log_norm, out=o[:, 0])

    # the reference fallback keeps the reduced axis, so its (rows, 1) fits `out`
    done = _rowwise(x, axes, where, "logsumexp", True, 1, body, short, 1.0, 2)
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
    probabilities: Any = None,
    weights: Any,
    label_smoothing: float,
    temperature: float,
    want_loss: bool,
    want_grad: bool,
    grad_scale: Any = None,
) -> Any:
    """Per-row weighted loss ``w_i l_i`` and gradient ``w_i (p_i - y_i) / (T S)`` for
    integer labels or probability rows (rows with weight 0 give 0), from one
    shifted block at a time; ``S`` is ``grad_scale`` (the total weight for a mean,
    None for 1).

    ``z`` is (n, K) with the class axis last; ``labels`` are in [0, K) where
    ``weights > 0``; ``probabilities`` (n, K) of ``z``'s dtype (rows of more than
    ``SHORT_K`` classes, or any with the compiled core; other short ones
    decline). ``weights`` of stride 0 and value 1 (a broadcast 1) means
    no weights. Returns ``(rows, grad)`` (either may be None).
    """
    soft = probabilities is not None
    if (
        (labels is None and not soft)
        or not isinstance(z, np.ndarray)
        or z.dtype not in (np.float32, np.float64)
        or z.ndim != 2
    ):
        return NotImplemented
    n, k = z.shape
    if n == 0 or k == 0 or (soft and probabilities.dtype != z.dtype):
        return NotImplemented
    core = _compiled  # rows of any length (up to 32 in tiles, longer one at a time)
    if soft and k <= SHORT_K and core is None:  # the transposed NumPy path takes labels only
        return NotImplemented
    z = np.ascontiguousarray(z)
    rows_out = np.empty(n if want_loss else 0, dtype=z.dtype)
    grad = np.empty_like(z) if want_grad else np.empty((0, k), dtype=z.dtype)
    eps = float(label_smoothing)
    divisor = 1.0 if grad_scale is None else float(grad_scale)
    # no weights: the caller passes a broadcast 1 (stride 0), and nothing per row is needed
    unweighted = weights.ndim == 1 and weights.strides[0] == 0 and float(weights[0]) == 1.0
    if soft:
        safe_labels = None
    elif unweighted:
        safe_labels = np.asarray(labels).astype(np.intp, copy=False)
    else:
        safe_labels = np.where(weights > 0, labels, 0).astype(np.intp, copy=False)
    from ..activations import log_softmax_and_softmax

    target = (1.0 - eps) + eps / k  # the label's entry of y, as the reference forms it

    def factors(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """The block's row weights, and each gradient row's factor ``w / (T S)``
        (0 for rows without weight)."""
        w = weights[a:b]
        factor = w / temperature if temperature != 1.0 else w
        if divisor != 1.0:
            factor = factor / divisor
        return w, np.where(w > 0, factor, 0)

    def finish(a: int, b: int, w: np.ndarray, loss: np.ndarray | None) -> None:
        """Store the weighted losses; clear the gradient rows without weight."""
        active = w > 0
        if loss is not None:
            with np.errstate(over="ignore"):  # w l past fmax: inf, its rounding
                rows_out[a:b] = w * np.where(active, loss, 0)
        if want_grad and not np.all(active):
            grad[a:b][~active] = 0  # also clears NaN rows that carry no weight

    def short(a: int, b: int, t: _Short) -> None:
        """The block worked on transposed (see _Short): (K, rows) throughout."""
        assert safe_labels is not None
        at = t.flat(safe_labels[a:b])
        w, factor = factors(a, b)
        loss = None
        if want_loss:
            log_norm = t.log_norm
            if eps > 0.0:
                logp = _scratch(t.d.shape, t.d.dtype, "short_logp")
                np.subtract(t.d, log_norm, out=logp)
                at_label = logp.reshape(-1)[at] * target
                np.multiply(logp, eps / k, out=logp)
                logp.reshape(-1)[at] = at_label
                loss = -np.sum(logp, axis=0)
            else:
                loss = -(t.d.reshape(-1)[at] - log_norm)
        if want_grad:
            t.gradient(at, eps, target, factor, grad[a:b].T)
        finish(a, b, w, loss)

    core_target = None  # int64 labels or the probability rows, for the compiled core
    core_weights: np.ndarray | None = None
    core_factors: np.ndarray | float = 1.0
    if core is not None:  # every row's weight and gradient factor, once
        if soft:
            core_target = np.ascontiguousarray(probabilities)
        else:
            core_target = np.ascontiguousarray(safe_labels, dtype=np.int64)
        if unweighted:  # one factor 1 / (T S) for every row, rounded as the rows' would be
            one = z.dtype.type(1.0)
            f1 = one / z.dtype.type(temperature) if temperature != 1.0 else one
            core_factors = float(f1 / z.dtype.type(divisor) if divisor != 1.0 else f1)
        else:
            core_weights = np.ascontiguousarray(weights, dtype=z.dtype)
            core_factors = np.ascontiguousarray(factors(0, n)[1], dtype=z.dtype)

    def compiled(a: int, b: int) -> bool:
        """The block by the compiled core, the weighted losses ``w l`` and the gradient
        stored; False when it flags a row, which leaves the whole block to the code
        below (the reference's edge cases), which stores it all again."""
        assert core is not None
        assert core_target is not None
        flags = np.zeros(b - a, dtype=np.uint8)
        loss = rows_out[a:b] if want_loss else None
        g = grad[a:b] if want_grad else None
        f = core_factors if isinstance(core_factors, float) else core_factors[a:b]
        w = None if core_weights is None else core_weights[a:b]
        return not core.ce(
            z[a:b], core_target[a:b], f, w, eps, temperature, loss, g, flags,
        )  # fmt: skip

    def work(a: int, b: int) -> None:
        block = z[a:b]
        if core is not None and compiled(a, b):
            return
        if k <= SHORT_K and not soft:
            t = _short(block, temperature)
            if t is not None:
                short(a, b, t)
                return
            found = None
        else:
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
        if soft:
            soft_block(a, b, logp, p)
            return
        assert safe_labels is not None
        lab, idx = safe_labels[a:b], np.arange(b - a)
        loss = None
        if want_loss:
            if eps > 0.0:
                # -sum_j y_j log p_j with y = (1 - eps) onehot + eps / K, term by term
                # and summed in the reference's order.
                terms = _scratch(logp.shape, logp.dtype, "terms")
                np.multiply(logp, eps / k, out=terms)
                terms[idx, lab] = logp[idx, lab] * target
                loss = -np.sum(terms, axis=1)
            else:
                loss = -logp[idx, lab]
        w, factor = factors(a, b)
        if want_grad:
            g = grad[a:b]
            p_label = p[idx, lab]
            if g is not p:
                np.copyto(g, p)
            if eps > 0.0:
                np.subtract(g, eps / k, out=g)
            g[idx, lab] = p_label - target
            np.multiply(g, factor[:, None], out=g)
        finish(a, b, w, loss)

    def soft_block(a: int, b: int, logp: np.ndarray, p: np.ndarray) -> None:
        """``-sum_j y'_j log p_j`` and ``factor (p - y')`` for probability rows,
        ``y' = (1 - eps) y + eps / K``: the products in the block's scratch, and
        the rows where ``0 * log 0`` made a NaN summed again with ``0 log 0 = 0``."""
        y = probabilities[a:b]
        loss = None
        if want_loss:
            terms = _scratch(logp.shape, logp.dtype, "terms")
            with np.errstate(invalid="ignore"):  # 0 * -inf: those rows are redone below
                np.multiply(y, logp, out=terms)
            loss = -np.sum(terms, axis=1)
            with np.errstate(over="ignore"):  # an overflowing row is redone below
                sum_logp = np.sum(logp, axis=1)  # the uniform part, and where a NaN came in
            if eps > 0.0:
                loss = (1.0 - eps) * loss - (eps / k) * sum_logp
            # rows where 0 * log 0 made a NaN, and rows where the sum of log p overflowed
            # while the reference's sum of the products y' log p need not
            redo = (np.isnan(loss) & ~np.isnan(sum_logp)) | np.isinf(sum_logp)
            if np.any(redo):
                yr, lr = y[redo], logp[redo]
                yr = (1.0 - eps) * yr + eps / k if eps > 0.0 else yr
                loss[redo] = -np.sum(yr * np.where(yr == 0, 0.0, lr), axis=1)
        w, factor = factors(a, b)
        if want_grad:
            g = grad[a:b]
            if eps > 0.0:
                scaled = _scratch(y.shape, y.dtype, "scaled_y")
                np.multiply(y, 1.0 - eps, out=scaled)
                np.subtract(p, scaled, out=g)
                np.subtract(g, eps / k, out=g)
            else:
                np.subtract(p, y, out=g)
            np.multiply(g, factor[:, None], out=g)
        finish(a, b, w, loss)

    _blocks(n, k, z.itemsize, work, core is not None, grad if want_grad else None)
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


LINEAR_SHORT_K = 64  # classes up to which the linear cross-entropy runs blocks in cache


@register("linear_cross_entropy", "numpy")
def linear_cross_entropy(
    X: Any,
    W: Any,
    b: Any,
    *,
    targets: Any,
    config: Any,
    want_grads: bool,
    want_h: bool,
    engine: Any,
) -> Any:
    """Few classes (a classifier's objective): the loss and gradients with ``X`` read
    from memory once.

    ``F = sum_i w_i l_i / S``, ``dF/dX = G W``, ``dF/dW = G^T X`` and
    ``dF/db = sum_i G_i`` with ``G_i = w_i (softmax(z_i / T) - y_i) / (T S)`` (``y``
    one-hot, or smoothed: ``(1 - eps)`` on the label plus ``eps / K`` everywhere).
    Separately, ``X W^T`` and ``G^T X`` each stream all of ``X`` through memory.
    Here ``X`` goes by in blocks of about ``LINEAR_BLOCK_BYTES`` and, while a block
    is in cache, its logits are formed transposed, ``W X_b^T`` as (K, rows) (the
    layout in which NumPy reduces over classes fast, see :class:`_Short`), then
    the loss, the gradient and the block's share of ``G^T X``. Threads take
    blocks in a fixed assignment and sum their own, so the result is the same
    from run to run. Call it with BLAS on one thread (the threads here are the
    parallelism). A block with a non-finite logit goes through
    :func:`cross_entropy`, whose edge cases are the reference's.

    Declines (the chunked engine takes the call) for more than ``LINEAR_SHORT_K``
    classes, probability targets, the z-loss, class blocks, 16-bit floats and
    unchecked targets.
    """
    t, c = targets, config
    if (
        not isinstance(X, np.ndarray)
        or X.dtype not in (np.float32, np.float64)
        or W.dtype != X.dtype
        or t.labels is None
        or t.bad is not None
        or c.z_loss > 0.0
        or c.cols < c.K
        or c.K > LINEAR_SHORT_K
        or c.n == 0
        or c.K == 0
    ):
        return NotImplemented
    X = np.ascontiguousarray(X)
    n, d = X.shape
    k = c.K
    eps, T = c.eps, c.T
    weights = np.ones(n, dtype=X.dtype) if t.w is None else np.asarray(t.w, dtype=X.dtype)
    labels = np.asarray(t.safe, dtype=np.intp)
    total = float(t.total)
    scale = (total if total > 0 else 1.0) if c.reduction == "mean" else 1.0
    target = (1.0 - eps) + eps / k
    rows = max(64, LINEAR_BLOCK_BYTES // max(1, d * X.itemsize))
    if c.rows < n:  # the caller chose the chunk
        rows = c.rows
    starts = list(range(0, n, rows))
    n_threads = 1 if _THREADS == 1 or _in_pool() else min(_THREADS, len(starts))
    W = np.ascontiguousarray(W)
    b_col = (np.zeros(k, X.dtype) if b is None else np.asarray(b, dtype=X.dtype)).reshape(k, 1)
    step = X.dtype.type(1.0 / (scale * T))  # each row's gradient factor w / (T S) per unit w
    factors = weights * step  # 0 where the weight is 0
    factor1 = float(step)  # the factor of every row when there are no weights
    all_active = t.w is None or bool(np.min(weights) > 0)
    # per-row losses for "none"; else each block's sum (added in block order at the end),
    # of the losses times 2**-m > 1/n so that no sum overflows on the way (the reference's
    # _total: exact, a power of two)
    losses = np.empty(n, dtype=X.dtype) if c.reduction == "none" else None
    f = 2.0 ** -n.bit_length()
    sums = np.zeros(len(starts), dtype=np.float64)
    gX = np.empty((n, d), dtype=X.dtype) if want_grads and want_h else None

    def store(s: int, loss: np.ndarray) -> None:
        """A block's per-row losses l_i, stored as w_i l_i (into ``losses``, or summed
        scaled by ``f``), 0 for rows without weight."""
        w = weights[s : s + loss.shape[0]]
        loss = loss if all_active else np.where(w > 0, loss, 0.0)
        if losses is not None:
            np.multiply(w, loss, out=losses[s : s + loss.shape[0]])
        else:
            sums[s // rows] = np.dot(w, loss * f)

    def block_loss(s: int, t_: _Short) -> np.ndarray:
        """The block's w_i l_i (into ``losses``, or summed); its gradient G^T as (K, rows)."""
        e_ = s + t_.d.shape[1]
        at = t_.flat(labels[s:e_])
        log_norm = t_.log_norm
        z_label = t_.d.reshape(-1)[at]
        if eps > 0.0:
            # -sum_j y_j log p_j = -((target - eps/K) log p_label + eps/K sum_j log p_j)
            sum_logp = np.sum(t_.d, axis=0) - k * log_norm
            loss = -((target - eps / k) * (z_label - log_norm) + (eps / k) * sum_logp)
        else:
            loss = log_norm - z_label
        store(s, loss)
        if want_grads:
            t_.gradient(at, eps, target, factors[s:e_], t_.e)
        return t_.e

    core = _compiled if k <= COMPILED_K else None
    labels64 = None if core is None else np.ascontiguousarray(labels, dtype=np.int64)

    def compiled(s: int, zt: np.ndarray) -> tuple[bool, np.ndarray | None]:
        """The block's loss and gradient G^T (K, rows) by the compiled core, from the
        transposed logits; (False, None) when it flags a row (the reference's edge
        cases: the block then goes the way below)."""
        assert core is not None
        assert labels64 is not None
        nb = zt.shape[1]
        e_ = s + nb
        flags = np.zeros(nb, dtype=np.uint8)
        loss = _scratch((1, nb), X.dtype, "core_loss").reshape(-1)
        gt = _scratch((k, nb), X.dtype, "core_gt") if want_grads else None
        f_ = factor1 if t.w is None else factors[s:e_]  # no weights: one factor for all
        if core.ce(zt, labels64[s:e_], f_, None, eps, T, loss, gt, flags, True):
            return False, None
        store(s, loss)
        return True, gt

    def run(my: list[int]) -> tuple[np.ndarray | None, np.ndarray | None]:
        gW = np.zeros((k, d), dtype=X.dtype) if want_grads else None
        gb = np.zeros(k, dtype=X.dtype) if want_grads else None
        step = np.empty((k, d), dtype=X.dtype) if want_grads else None
        for s in my:
            Xb = X[s : s + rows]
            e_ = s + Xb.shape[0]
            zt = _scratch((k, Xb.shape[0]), X.dtype, "short_d")
            with np.errstate(over="ignore", invalid="ignore"):  # +-inf logits: handled below
                np.matmul(W, Xb.T, out=zt)
                zt += b_col
            GT: np.ndarray | None
            done, GT = compiled(s, zt) if core is not None else (False, None)
            t_ = None if done else _transposed(zt, T)
            if t_ is not None:
                GT = block_loss(s, t_)
            elif not done:  # a non-finite logit: the reference's edge cases, row-major
                rows_loss, G = cross_entropy(
                    np.ascontiguousarray(zt.T),
                    labels=labels[s:e_],
                    weights=weights[s:e_],
                    label_smoothing=eps,
                    temperature=T,
                    want_loss=True,
                    want_grad=want_grads,
                    grad_scale=scale,
                )
                if losses is not None:
                    losses[s:e_] = rows_loss
                else:
                    sums[s // rows] = np.sum(rows_loss * f, dtype=np.float64)
                GT = G.T if G is not None else None
            if GT is None or gW is None or gb is None or step is None:
                continue
            if gX is not None:
                np.matmul(GT.T, W, out=gX[s:e_])
            np.matmul(GT, Xb, out=step)
            gW += step
            gb += GT.sum(axis=1)
        return gW, gb

    parts: list[tuple[np.ndarray | None, np.ndarray | None]] = []
    if n_threads == 1:
        parts.append(run(starts))
    else:
        parts.extend(_pool().map(run, [starts[i::n_threads] for i in range(n_threads)]))
    gW, gb = parts[0]
    for p in parts[1:]:
        if gW is not None and gb is not None and p[0] is not None and p[1] is not None:
            gW += p[0]
            gb += p[1]
    if losses is not None:
        loss: Any = losses
    else:
        with np.errstate(over="ignore"):  # a true sum past fmax: inf, its rounding
            loss = np.asarray(np.sum(sums) / scale / f, dtype=X.dtype)
    return loss, gX, gW, (gb if b is not None else None)
