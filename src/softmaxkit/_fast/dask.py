"""Dask arrays: the softmax family in one pass over the data, however the class axis
is chunked.

The reference on a Dask array makes one Dask reduction per quantity (the max,
then the sum of ``exp(x - max)``), so every chunk is needed twice and must be
held in memory (or read twice) between the two. Here:

- when the reduced axes are in one chunk (the usual row-chunked case), each
  block is a NumPy (or CuPy, ...) array and runs the public function, so the
  library's own fast path for that block type does the work: one task per block;
- when they span several chunks (a 1,000,000-class output in 100 chunks, say),
  each chunk is summarised by its ``(max, count, rest)`` state
  (:mod:`softmaxkit.streaming`) and the states are merged by a Dask tree
  reduction: one pass over the data, never rechunking the class axis. Softmax
  and log-softmax then shift each chunk by the merged maximum, elementwise.

Each input chunk is read once per compute (a test counts the reads).
"""

from __future__ import annotations

import math
from typing import Any

import array_api_compat
import dask.array as da
import numpy as np

from .. import activations
from ..streaming import _chunk_state, _log_normaliser, _log_softmax, _merge_states, _softmax
from . import register

_xp = array_api_compat.array_namespace(da.zeros(1))


def _single_chunk(x: Any, axes: tuple[int, ...]) -> bool:
    return all(len(x.chunks[a]) == 1 for a in axes)


def _masked(x: Any, where: Any) -> Any:
    return x if where is None else da.where(where, x, -math.inf).astype(x.dtype)


def _pack(block: Any, axes: tuple[int, ...], temperature: float) -> Any:
    """A block's ``(max, count, rest)`` over ``axes`` (keepdims), stacked on a new last axis."""
    xp = array_api_compat.array_namespace(block)
    return xp.stack(_chunk_state(xp, block, axes, temperature), axis=-1)


def _state(x: Any, axes: tuple[int, ...], temperature: float) -> tuple[Any, Any, Any]:
    """The merged ``(max, count, rest)`` of the rows of ``x`` (keepdims), as lazy arrays."""
    chunks = (*tuple((1,) * len(c) if i in axes else c for i, c in enumerate(x.chunks)), (3,))
    packed = x.map_blocks(
        _pack,
        axes=axes,
        temperature=temperature,
        chunks=chunks,
        new_axis=x.ndim,
        dtype=x.dtype,
        meta=np.empty((0,) * (x.ndim + 1), dtype=x.dtype),
    )

    def merge(p: Any, axis: Any = None, keepdims: bool = True, **_: Any) -> Any:
        if p.size == 0:
            return p
        xp = array_api_compat.array_namespace(p)
        ax = tuple(axis) if isinstance(axis, tuple | list) else (axis,)
        parts = _merge_states(xp, p[..., 0], p[..., 1], p[..., 2], axes=ax, temperature=temperature)
        return xp.stack(parts, axis=-1)

    merged = da.reduction(
        packed,
        chunk=merge,
        combine=merge,
        aggregate=merge,
        axis=axes,
        keepdims=True,
        dtype=x.dtype,
        concatenate=True,
        meta=np.empty((0,) * (x.ndim + 1), dtype=x.dtype),
    )
    return merged[..., 0], merged[..., 1], merged[..., 2]


def _per_block(x: Any, axes: tuple[int, ...], fn: Any, reduced: bool, **kw: Any) -> Any:
    chunks = tuple((1,) if (reduced and i in axes) else c for i, c in enumerate(x.chunks))
    return x.map_blocks(
        lambda b: fn(b, axis=axes, **kw), chunks=chunks, dtype=x.dtype, meta=x._meta
    )


@register("softmax", "dask")
def softmax(x: Any, *, axes: tuple[int, ...], temperature: float, where: Any) -> Any:
    x = _masked(x, where)
    if _single_chunk(x, axes):
        return _per_block(x, axes, activations.softmax, False, temperature=temperature)
    return _softmax(_xp, x, *_state(x, axes, temperature), temperature)


@register("log_softmax", "dask")
def log_softmax(x: Any, *, axes: tuple[int, ...], temperature: float, where: Any) -> Any:
    x = _masked(x, where)
    if _single_chunk(x, axes):
        return _per_block(x, axes, activations.log_softmax, False, temperature=temperature)
    return _log_softmax(_xp, x, *_state(x, axes, temperature), temperature)


@register("logsumexp", "dask")
def logsumexp(x: Any, *, axes: tuple[int, ...], keepdims: bool, where: Any) -> Any:
    x = _masked(x, where)
    if _single_chunk(x, axes):
        out = _per_block(x, axes, activations.logsumexp, True, keepdims=True)
    else:
        out = _log_normaliser(_xp, *_state(x, axes, 1.0))
    return out if keepdims else _xp.squeeze(out, axis=axes)


@register("softmax_cross_entropy", "dask")
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
    """Per-row weighted losses ``w_i l_i`` and gradient rows ``w_i (p_i - y_i) / (T S)``
    (``S`` = ``grad_scale``) for integer labels, as the NumPy path returns them.

    Classes in one chunk: the NumPy (or the block library's) path on each row
    block. Classes over several chunks: the rows' merged ``(max, count, rest)``
    state, then elementwise work on each chunk with the label's column found by
    comparing with the chunk's class indices; one pass over ``z`` for the state.
    """
    if labels is None or z.ndim != 2:
        return NotImplemented
    n, k = z.shape
    if math.isnan(n) or math.isnan(k) or any(math.isnan(c) for c in z.chunks[0]):
        return NotImplemented
    eps = float(label_smoothing)
    labels = labels.rechunk((z.chunks[0],))
    weights = weights.rechunk((z.chunks[0],))
    if len(z.chunks[1]) == 1:
        return _per_row_block(
            z, labels, weights, eps, temperature, want_loss, want_grad, grad_scale
        )
    state = _state(z, (1,), temperature)
    w = weights[:, None]
    active = w > 0
    cols = da.arange(k, chunks=z.chunks[1], dtype=labels.dtype)[None, :]
    onehot = cols == labels[:, None]
    rows = grad = None
    if want_loss:
        logp = _log_softmax(_xp, z, *state, temperature)
        # -sum_j y_j log p_j with y = (1 - eps) onehot + eps / K; 0 log 0 = 0
        at_label = da.where(onehot, logp, 0.0).sum(axis=1, keepdims=True)
        loss = -(1.0 - eps) * at_label
        if eps > 0.0:
            loss = loss - (eps / k) * logp.sum(axis=1, keepdims=True)
        rows = (w * da.where(active, loss, 0.0))[:, 0].astype(z.dtype)
    if want_grad:
        p = _softmax(_xp, z, *state, temperature)
        y = da.where(onehot, (1.0 - eps) + eps / k, eps / k).astype(z.dtype)
        factor = w / temperature if temperature != 1.0 else w
        if grad_scale is not None:
            factor = factor / grad_scale
        grad = da.where(active, factor * (p - y), 0.0).astype(z.dtype)
    return rows, grad


def _per_row_block(
    z: Any,
    labels: Any,
    weights: Any,
    eps: float,
    temperature: float,
    want_loss: bool,
    want_grad: bool,
    grad_scale: Any,
) -> Any:
    """The whole class axis in each block: one task per row block, through the
    public loss (so the block library's fast path runs), losses and gradient
    packed side by side in one output."""
    k = z.shape[1]

    def block(zb: Any, lb: Any, wb: Any) -> Any:
        from .. import _fast as fast

        xp = array_api_compat.array_namespace(zb)
        out = fast.call(
            "softmax_cross_entropy",
            xp,
            zb,
            labels=lb[:, 0],
            weights=wb[:, 0],
            label_smoothing=eps,
            temperature=temperature,
            want_loss=True,
            want_grad=True,
            grad_scale=None,
        )
        if out is None:  # no fast path for the block's library: the reference
            from ..losses import softmax_cross_entropy_with_grad

            active = wb[:, 0] > 0
            safe = xp.where(active, lb[:, 0], xp.zeros_like(lb[:, 0]))
            loss_rows, g = softmax_cross_entropy_with_grad(
                zb,
                safe,
                sample_weight=wb[:, 0],
                label_smoothing=eps,
                temperature=temperature,
                reduction="none",
            )
            out = (loss_rows, g)
        return xp.concat([xp.reshape(out[0], (-1, 1)), out[1]], axis=1)

    packed = da.map_blocks(
        block,
        z,
        labels[:, None],
        weights[:, None],
        chunks=(z.chunks[0], (k + 1,)),
        dtype=z.dtype,
        meta=np.empty((0, 0), dtype=z.dtype),
    )
    rows = packed[:, 0] if want_loss else None
    grad = None
    if want_grad:
        grad = packed[:, 1:] if grad_scale is None else packed[:, 1:] / grad_scale
    return rows, grad


# -------------------------------------------------------------------------------------
# linear cross-entropy: one task per row block, the weight gradient summed in a tree


def _linear_block(
    h: Any,
    W: Any,
    bias: Any,
    fields: tuple[Any, ...],
    z_factor: Any,
    scale: Any,
    make: Any,
    c: Any,
    want_loss: bool,
    want_h: bool,
    want_Wb: bool,
) -> Any:
    """One row block (NumPy, CuPy, ... arrays): the chunked engine's eager loop."""
    from ..losses import _eager_rows, _linear_chunk

    xp = array_api_compat.array_namespace(h)
    n = h.shape[0]
    cb = c._replace(n=n, rows=max(1, min(c.rows, n)))
    return _eager_rows(
        xp,
        h,
        W,
        bias,
        make(*fields, None),
        cb,
        scale,
        z_factor,
        want_loss=want_loss,
        want_h=want_h,
        want_Wb=want_Wb,
        chunk=_linear_chunk,
    )


def tree_sum(parts: list[Any], add: Any = np.add) -> Any:
    """Pairwise sums of delayed values, as a tree (depth log2 of their count):
    arrays by default, anything else with its own ``add``."""
    from dask.delayed import delayed

    while len(parts) > 1:
        parts = [
            delayed(add, pure=False)(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i]
            for i in range(0, len(parts), 2)
        ]
    return parts[0]


def _dask_rows(
    xp: Any,
    h: Any,
    W: Any,
    bias: Any,
    t: Any,
    c: Any,
    scale: Any,
    z_factor: Any,
    *,
    want_loss: bool,
    want_h: bool,
    want_Wb: bool,
    chunk: Any,
) -> Any:
    """Each row block of ``h`` (the feature axis in one chunk) is a task that runs
    the engine's loop on its NumPy block; per-row results stay Dask arrays in
    ``h``'s row chunks, the blocks' ``G^T h`` and ``sum G`` are added in a tree."""
    from dask.delayed import delayed

    h = h.rechunk({1: -1})
    if any(math.isnan(s) for s in h.chunks[0]):
        h = h.compute_chunk_sizes()
    rows = h.chunks[0]
    d = h.shape[1]
    dt = np.dtype(str(W.dtype))

    def blocks(a: Any) -> list[Any]:
        if a is None:
            return [None] * len(rows)
        a = a.rechunk((rows,) + (-1,) * (a.ndim - 1))
        return list(a.to_delayed().ravel())

    def whole(a: Any) -> Any:
        return a if not isinstance(a, da.Array) else a.rechunk(-1).to_delayed().ravel()[0]

    fields = [blocks(f) for f in t[:-1]]
    zf = blocks(z_factor)
    Wd, bd = whole(W), whole(bias)
    scale_d = None if scale is None else scale.to_delayed().ravel()[0]
    run = delayed(_linear_block, nout=5, pure=True)
    outs = [
        run(
            hb,
            Wd,
            bd,
            tuple(f[i] for f in fields),
            zf[i],
            scale_d,
            type(t),
            c,
            want_loss,
            want_h,
            want_Wb,
        )
        for i, hb in enumerate(h.to_delayed().ravel())
    ]

    def stacked(k: int, shape: Any) -> Any:
        return da.concatenate(
            [
                da.from_delayed(o[k], shape=shape(n), dtype=dt)
                for o, n in zip(outs, rows, strict=True)
            ]
        )

    ce = stacked(0, lambda n: (n,)) if want_loss else None
    zl = stacked(1, lambda n: (n,)) if c.z_loss > 0.0 else None
    gh = stacked(2, lambda n: (n, d)) if want_h else None
    gW = gb = None
    if want_Wb:
        gW = da.from_delayed(tree_sum([o[3] for o in outs]), shape=(c.K, d), dtype=dt)
        if bias is not None:
            gb = da.from_delayed(tree_sum([o[4] for o in outs]), shape=(c.K,), dtype=dt)
    return ce, zl, gh, gW, gb


@register("linear_cross_entropy", "dask")
def linear_cross_entropy(
    h: Any,
    W: Any,
    bias: Any,
    *,
    targets: Any,
    config: Any,
    want_grads: bool,
    want_h: bool,
    engine: Any,
) -> Any:
    """Lazy: the loss and gradients are Dask arrays; one task per row block."""
    return engine(
        _xp,
        h,
        W,
        bias,
        targets,
        config,
        want_loss=True,
        want_h=want_grads and want_h,
        want_Wb=want_grads,
        driver=_dask_rows,
    )
