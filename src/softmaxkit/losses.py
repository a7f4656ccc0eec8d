r"""Softmax cross-entropy with its fused ``y_hat - y`` gradient, and the sigmoid variant.

For one row with logits ``z``, target distribution ``y`` and temperature ``T``:

.. math::

    \ell(z, y) = -\sum_k y_k \log \operatorname{softmax}(z / T)_k, \qquad
    \frac{\partial \ell}{\partial z} = \frac{\operatorname{softmax}(z / T) - y}{T}

(the second identity needs only ``sum_k y_k = 1``, so it holds for one-hot,
smoothed and soft targets alike). Rows are combined with weights
``w_i = sample_weight_i * class_weight[label_i]`` (0 for ``ignore_index`` rows);
for a probability target the class weight of a row is the expected one,
``sum_k y_ik class_weight_k``, which equals the class weight of the true class for
a one-hot row, so integer labels and their one-hot probabilities give the same
loss under every option. ``reduction="mean"`` is ``sum_i w_i l_i / sum_i w_i``
(0 when every weight is 0, e.g. a fully ignored batch); ``"sum"`` is
``sum_i w_i l_i``; ``"none"`` returns ``w_i l_i`` per row.

Value checks (label range, probability rows, weight signs) read the data, so
they run only where that costs nothing (:func:`softmaxkit._array.host`: NumPy,
eager CPU tensors, concrete JAX arrays on the CPU); elsewhere (Dask, JAX under
``jit``/``grad``/``vmap``, ``torch.compile``, CUDA tensors) a row with an
invalid label, probability row or weight gets a NaN loss (and NaN gradient),
never a plausible number. Shape and dtype checks always run.

On PyTorch and JAX, :func:`softmax_cross_entropy` is differentiable with the
closed-form gradient ``(softmax(z / T) - y) / T`` per row (an
``autograd.Function`` / ``custom_jvp``); weights and the reduction are ordinary
operations, so their gradients come from the framework.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from . import _checks
from ._array import (
    Array,
    Namespace,
    as_float,
    const,
    device,
    finfo_max,
    host,
    namespace,
    narrow,
    single_axis,
    work_dtype,
)
from ._fast import call as fast_call
from .activations import log_sigmoid, log_softmax_and_softmax

__all__ = [
    "linear_cross_entropy",
    "linear_cross_entropy_with_grad",
    "sigmoid_cross_entropy",
    "softmax_cross_entropy",
    "softmax_cross_entropy_grad",
    "softmax_cross_entropy_with_grad",
]


def _weights(
    xp: Namespace,
    weight: Array | None,
    shape: tuple[int, ...],
    dt: Any,
    name: str,
    target: str,
) -> Array | None:
    """A validated weight array broadcast to ``shape`` in dtype ``dt`` (or None)."""
    if weight is None:
        return None
    if xp.isdtype(weight.dtype, "complex floating") or xp.isdtype(weight.dtype, "bool"):
        raise TypeError(f"expected a real array for {name}, got dtype {weight.dtype}")
    _checks.broadcastable_to(weight, shape, name, target)
    _checks.finite_nonnegative(xp, weight, name)
    weight = xp.broadcast_to(weight if weight.dtype == dt else xp.astype(weight, dt), shape)
    if host(weight) is None:
        # Unchecked (traced, lazy or on a device): an invalid weight makes its row NaN.
        ok = xp.isfinite(weight) & (weight >= 0)
        weight = xp.where(ok, weight, const(xp, math.nan, weight))
    return weight


def _fits(xp: Namespace, dtype: Any, value: int) -> bool:
    info = xp.iinfo(dtype)
    return int(info.min) <= value <= int(info.max)


class _Targets(NamedTuple):
    """A validated target, flattened to rows: what the losses need of it."""

    labels: Array | None  # integer labels as given (None for probabilities)
    safe: Array | None  # labels with ignored and invalid rows set to class 0
    valid: Array | None  # rows not equal to ignore_index (None: all)
    y: Array | None  # probabilities, class axis last, work dtype (None for labels)
    w: Array | None  # row weights: sample x class weight, 0 if ignored (None: all 1)
    sw: Array | None  # sample weights alone, broadcast to the rows (None: all 1)
    inactive: Array | None  # w == 0 (None when w is None)
    bad: Array | None  # unchecked invalid rows: their loss and gradient are NaN
    total: Array  # sum of w (the number of rows when w is None)


def _ignore_index(ignore_index: object) -> None:
    if ignore_index is not None and (
        isinstance(ignore_index, bool) or not isinstance(ignore_index, int)
    ):
        raise TypeError(f"expected an int or None for ignore_index, got {ignore_index!r}")


def _targets(
    xp: Namespace,
    target: Array,
    y: Array | None,
    *,
    batch: tuple[int, ...],
    K: int,
    dt: Any,
    like: Array,
    class_weight: Array | None,
    sample_weight: Array | None,
    ignore_index: int | None,
    sample_shape: str,
) -> _Targets:
    """Check ``target`` (labels shaped ``batch``, or probabilities ``y`` already moved
    to ``batch + (K,)`` and shape-checked) and the weights; form the row weights."""
    cw = None
    if class_weight is not None:
        if tuple(class_weight.shape) != (K,):
            raise ValueError(
                f"expected class_weight of shape ({K},) for {K} classes, "
                f"got shape {tuple(class_weight.shape)}"
            )
        cw = _weights(xp, class_weight, (K,), dt, "class_weight", "the class axis")

    valid = None
    labels = None
    bad = None  # rows whose target could not be checked and is invalid: NaN loss
    if y is None:
        if ignore_index is not None and _fits(xp, target.dtype, ignore_index):
            valid = target != ignore_index
        if host(target) is None:
            bad = (target < 0) | (target >= K)
            if valid is not None:
                bad = bad & valid
        else:
            _checks.labels(xp, target, K, ignore_index)
        labels = target
    else:
        if host(y) is None:
            tol = _checks.probability_tolerance(xp, y.dtype)
            bad = xp.any(y < 0, axis=-1) | (xp.abs(xp.sum(y, axis=-1) - 1) > tol)
        else:
            _checks.probabilities(xp, y, y.ndim - 1)
        y = y if y.dtype == dt else xp.astype(y, dt)  # astype copies even to the same dtype

    # Row weights: sample weight times the class weight of the (expected) true class;
    # None when every row has weight 1.
    w = None
    safe = labels
    if labels is not None and (valid is not None or bad is not None):
        off = ~valid if valid is not None else bad
        if valid is not None and bad is not None:
            off = off | bad
        safe = xp.where(off, xp.zeros_like(labels), labels)
    if cw is not None and labels is not None:
        # the class weight of each row's label (ignored rows: any class; weight 0 below)
        w = xp.reshape(xp.take(cw, xp.reshape(safe, (-1,)), axis=0), batch)
    elif cw is not None:
        w = xp.sum(y * cw, axis=-1)
    sw = _weights(xp, sample_weight, batch, dt, "sample_weight", sample_shape)
    if sw is not None:
        w = sw if w is None else w * sw
    zero = const(xp, 0.0, like)
    if valid is not None:
        ones = xp.ones(batch, dtype=dt, device=device(like))
        w = xp.where(valid, ones if w is None else w, zero)
        sw = xp.where(valid, ones if sw is None else sw, zero)
    inactive = None if w is None else w == 0
    total = const(xp, float(math.prod(batch)), like) if w is None else xp.sum(w)
    return _Targets(labels, safe, valid, y, w, sw, inactive, bad, total)


def _mean_scale(xp: Namespace, total: Array) -> Array:
    """The divisor of a weighted mean: the total weight, or 1 when it is 0 (loss 0)."""
    return xp.where(total == 0, const(xp, 1.0, total), total)


def _cross_entropy(
    logits: Array,
    target: Array,
    *,
    axis: int,
    class_weight: Array | None,
    sample_weight: Array | None,
    ignore_index: int | None,
    label_smoothing: float,
    temperature: float,
    reduction: str,
    want_loss: bool,
    want_grad: bool,
) -> tuple[Array | None, Array | None]:
    """The shared computation of the three public cross-entropy functions."""
    xp = namespace(
        ("logits", logits),
        ("target", target),
        ("class_weight", class_weight),
        ("sample_weight", sample_weight),
    )
    z = as_float(xp, logits, "logits")
    out_dt = z.dtype
    ax = single_axis(axis, z.ndim)
    T = _checks.temperature(temperature, xp, work_dtype(xp, out_dt))
    eps = _checks.fraction(label_smoothing, "label_smoothing")
    reduction = _checks.reduction(reduction)
    _ignore_index(ignore_index)

    dt = work_dtype(xp, out_dt)
    z = xp.moveaxis(z, ax, -1)
    z = z if z.dtype == dt else xp.astype(z, dt)  # astype copies even to the same dtype
    K = z.shape[-1]
    batch = tuple(z.shape[:-1])

    y = None
    if xp.isdtype(target.dtype, "integral"):
        if tuple(target.shape) != batch:
            raise ValueError(
                "expected integer target (class labels) to have the shape of logits without "
                f"the class axis {batch}: logits has shape {tuple(logits.shape)}, target has "
                f"shape {tuple(target.shape)}"
            )
    elif xp.isdtype(target.dtype, "real floating"):
        _checks.same_shape(logits, target, "logits", "target", " (probability targets)")
        y = xp.moveaxis(target, ax, -1)
    else:
        raise TypeError(
            "expected target of an integer dtype (class labels) or a real floating dtype "
            f"(probabilities), got dtype {target.dtype}"
        )
    t = _targets(
        xp,
        target,
        y,
        batch=batch,
        K=K,
        dt=dt,
        like=z,
        class_weight=class_weight,
        sample_weight=sample_weight,
        ignore_index=ignore_index,
        sample_shape="logits without the class axis",
    )
    scale = _mean_scale(xp, t.total) if reduction == "mean" else None
    loss, grad = _core(
        xp,
        z,
        t,
        scale=scale,
        eps=eps,
        T=T,
        reduction=reduction,
        want_loss=want_loss,
        want_grad=want_grad,
    )
    if loss is not None and loss.dtype != out_dt:
        loss = narrow(xp, loss, out_dt)
    if grad is not None:
        grad = xp.moveaxis(grad, -1, ax)
        grad = narrow(xp, grad, out_dt)
    return loss, grad


def _core(
    xp: Namespace,
    z: Array,
    t: _Targets,
    *,
    scale: Array | None,
    eps: float,
    T: float,
    reduction: str,
    want_loss: bool,
    want_grad: bool,
) -> tuple[Array | None, Array | None]:
    """Loss (reduced, or ``w_i l_i`` per row for ``"none"``) and the gradient rows
    ``w_i (p_i - y_i) / (T S)`` of validated logits ``z`` (class axis last, work
    dtype): a fast path where one takes the call, else the reference."""
    K = z.shape[-1]
    batch = tuple(z.shape[:-1])
    n = math.prod(batch)  # not -1: with K = 0, (-1, 0) names no shape
    if want_grad or t.labels is not None:
        # no weights: a broadcast 1 (no memory; a fast path may see its stride 0)
        one = xp.ones((1,), dtype=z.dtype, device=device(z))
        ones = xp.broadcast_to(xp.reshape(one, (1,) * len(batch)), batch) if t.w is None else t.w
        fast = fast_call(
            "softmax_cross_entropy",
            xp,
            xp.reshape(z, (n, K)),
            labels=None if t.labels is None else xp.reshape(t.safe, (n,)),
            probabilities=None if t.y is None else xp.reshape(t.y, (n, K)),
            weights=xp.reshape(ones, (n,)),
            label_smoothing=eps,
            temperature=T,
            want_loss=want_loss,
            want_grad=want_grad,
            grad_scale=scale,
        )
        if fast is not None:
            loss, grad = _finish(xp, fast, batch, z.shape, scale, reduction)
            return _mark_invalid(xp, loss, grad, t.bad, reduction)

    if want_loss and not want_grad:
        # Autodiff frameworks: per-row losses with a closed-form backward pass;
        # weights and the reduction stay ordinary (differentiable) operations.
        rows = fast_call(
            "cross_entropy_rows",
            xp,
            xp.reshape(z, (n, K)),
            target=xp.reshape(t.safe, (n,)) if t.labels is not None else xp.reshape(t.y, (n, K)),
            label_smoothing=eps,
            temperature=T,
        )
        if rows is not None:
            rows = xp.reshape(rows, batch)
            return _reduce(xp, rows, t.w, t.inactive, t.bad, scale, reduction), None

    logp, p = log_softmax_and_softmax(xp, z, (z.ndim - 1,), T)
    hot = None
    if t.labels is not None:
        hot = _one_hot(xp, t.safe, t.valid, 0, K)
    factor = _row_factor(xp, t.w, batch, z, T, scale) if want_grad else None
    rows, g = _terms(xp, logp, p, hot, t.y, eps=eps, K=K, factor=factor, want_loss=want_loss)
    loss = _reduce(xp, rows, t.w, t.inactive, t.bad, scale, reduction) if want_loss else None
    if g is not None and t.inactive is not None:  # clears NaN rows that carry no weight
        g = xp.where(xp.expand_dims(t.inactive, axis=-1), const(xp, 0.0, g), g)
    if g is not None and t.bad is not None:
        g = xp.where(xp.expand_dims(t.bad, axis=-1), const(xp, math.nan, g), g)
    return loss, g


def _row_factor(
    xp: Namespace,
    w: Array | None,
    batch: tuple[int, ...],
    like: Array,
    T: float,
    scale: Array | None,
) -> Array:
    """Each gradient row's factor ``w_i / (T S)`` (``w`` None: all 1; ``scale`` None: S = 1)."""
    factor = xp.ones(batch, dtype=like.dtype, device=device(like)) if w is None else w
    if T != 1.0:
        factor = factor / T
    return factor if scale is None else factor / scale


def _one_hot(xp: Namespace, safe: Array, valid: Array | None, start: int, stop: int) -> Array:
    """``label == class`` for the classes ``[start, stop)`` (False on ignored rows)."""
    classes = xp.arange(start, stop, dtype=safe.dtype, device=device(safe))
    hot = xp.expand_dims(safe, axis=-1) == classes
    return hot if valid is None else hot & xp.expand_dims(valid, axis=-1)


def _terms(
    xp: Namespace,
    logp: Array,
    p: Array,
    hot: Array | None,
    y: Array | None,
    *,
    eps: float,
    K: int,
    factor: Array | None,
    want_loss: bool,
) -> tuple[Array | None, Array | None]:
    """The cross-entropy's two formulas on a block of classes (all of them, or one
    class block of a longer row): the row sums ``-sum_j y'_j log p_j`` over the block
    and the gradient ``factor * (p - y')``, where ``y' = (1 - eps) y + eps / K`` and
    ``y`` is one-hot (``hot``, a boolean block) or the probabilities ``y``.

    This is where the weighted, smoothed cross-entropy is written down for every
    reference path of the package (softmax and linear cross-entropy alike);
    ``0 log 0 = 0``, so a zero target entry costs nothing even against ``-inf``.
    """
    zero = const(xp, 0.0, logp)
    if hot is not None:
        off = eps / K if K else 0.0  # K = 0: no class, no term (only an empty batch gets here)
        on = (1.0 - eps) + off
        yb = xp.where(hot, const(xp, on, logp), const(xp, off, logp))
    else:
        assert y is not None
        yb = y if eps == 0.0 or K == 0 else (1.0 - eps) * y + eps / K
    rows = None
    if want_loss:
        rows = -xp.sum(yb * xp.where(yb == 0, zero, logp), axis=-1)
    g = None
    if factor is not None:
        g = xp.expand_dims(factor, axis=-1) * (p - yb)
    return rows, g


def _mark_invalid(
    xp: Namespace,
    loss: Array | None,
    grad: Array | None,
    bad: Array | None,
    reduction: str,
) -> tuple[Array | None, Array | None]:
    """NaN for the rows whose unchecked labels are invalid (a fast path computed them
    with a stand-in label): their loss (or the reduced loss) and gradient rows."""
    if bad is None:
        return loss, grad
    if loss is not None:
        flag = bad if reduction == "none" else xp.any(bad)
        loss = xp.where(flag, const(xp, math.nan, loss), loss)
    if grad is not None:
        grad = xp.where(xp.expand_dims(bad, axis=-1), const(xp, math.nan, grad), grad)
    return loss, grad


def _reduce(
    xp: Namespace,
    rows: Array,
    w: Array | None,
    inactive: Array | None,
    bad: Array | None,
    scale: Array | None,
    reduction: str,
) -> Array:
    """Weight the per-row losses (a row of weight 0 is 0, even against an infinite
    loss), mark the invalid rows NaN, and reduce."""
    if w is not None:
        rows = w * xp.where(inactive, const(xp, 0.0, rows), rows)
    if bad is not None:
        rows = xp.where(bad, const(xp, math.nan, rows), rows)
    if reduction == "none":
        return rows
    return _total(xp, rows, scale)


def _total(xp: Namespace, rows: Array, scale: Array | None) -> Array:
    """``sum(rows)``, divided by ``scale`` for a mean, without an overflow on the way.

    The rows are summed times ``f = 2**-m`` with ``2**m`` above their count, so no
    partial sum can pass fmax; ``f`` is a power of two, so the rounding is that of
    the plain sum. A mean (a weighted mean is at most the largest row) comes back
    finite where every row is; a true sum past fmax is ``+-inf``, its rounding,
    without the overflow warning of ``np.sum``.
    """
    if isinstance(rows, np.ndarray):  # eager NumPy: the plain sum where it is finite,
        with np.errstate(over="ignore", invalid="ignore"):  # without the temporary rows * f
            plain = np.sum(rows)
        if np.isfinite(plain):
            return plain / scale if scale is not None else plain
    f = 2.0 ** -max(math.prod(rows.shape), 1).bit_length()
    s = xp.sum(rows * f)
    if scale is not None:
        return (s / scale) / f
    over = xp.abs(s) > finfo_max(xp, s.dtype) * f
    inf = const(xp, math.inf, s)
    # constants in the overflowing branch: s * inf there would send 0 * inf = NaN
    # through autograd's where into the gradient of every sum
    return xp.where(over, xp.where(s > 0, inf, -inf), xp.where(over, const(xp, 0.0, s), s) / f)


def _finish(
    xp: Namespace,
    fast: tuple[Array | None, Array | None],
    batch: tuple[int, ...],
    shape: tuple[int, ...],
    scale: Array | None,
    reduction: str,
) -> tuple[Array | None, Array | None]:
    """Reduce and reshape a fast path's per-row losses and gradient rows."""
    rows, g = fast
    loss = None
    if rows is not None:
        rows = xp.reshape(rows, batch)
        loss = rows if reduction == "none" else _total(xp, rows, scale)
    grad = None
    if g is not None:  # already divided by the scale (the fast path fuses it)
        grad = xp.reshape(g, shape)
    return loss, grad


_PARAMS_DOC = """
    Parameters
    ----------
    logits : array, shape ``(..., K)`` (class axis at ``axis``)
        Unnormalised scores. Integers are promoted to the default float.
    target : array
        Either class labels of an integer dtype, shaped like ``logits`` without
        the class axis, each in ``[0, K)`` or equal to ``ignore_index``; or
        probabilities of a floating dtype, shaped like ``logits``, each row >= 0
        and summing to 1 (within ``sqrt(eps)`` of the dtype). Cast to the
        dtype of ``logits``.
    axis : int, default -1
        The class axis.
    class_weight : array, shape ``(K,)``, optional
        Weight of each class, finite and >= 0; a row is weighted by the weight
        of its true class (the expected one for probability targets).
    sample_weight : array, optional
        Finite, >= 0, broadcastable to ``logits`` without the class axis.
    ignore_index : int, optional
        Integer label whose rows get weight 0 (loss and gradient 0).
    label_smoothing : float, default 0.0
        ``eps`` in [0, 1]: the target ``y`` becomes ``(1 - eps) y + eps / K``.
    temperature : float, default 1.0
        A finite number > 0 within the range of the dtype computed in (float32
        for float32 and 16-bit logits: ``[1.2e-38, 3.4e38]``), else ``ValueError``;
        the loss is that of ``logits / temperature``.
    reduction : {"mean", "sum", "none"}, default "mean"
        Weighted mean ``sum(w_i l_i) / sum(w_i)`` (0 if all weights are 0),
        weighted sum, or per-row ``w_i l_i``.
"""


def softmax_cross_entropy(
    logits: Array,
    target: Array,
    /,
    *,
    axis: int = -1,
    class_weight: Array | None = None,
    sample_weight: Array | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    temperature: float = 1.0,
    reduction: str = "mean",
) -> Array:
    loss, _ = _cross_entropy(
        logits,
        target,
        axis=axis,
        class_weight=class_weight,
        sample_weight=sample_weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        temperature=temperature,
        reduction=reduction,
        want_loss=True,
        want_grad=False,
    )
    return loss


softmax_cross_entropy.__doc__ = (
    r"""Cross-entropy between a target distribution and ``softmax(logits)``.

    .. math::

        \ell_i = -\sum_k y_{ik} \log \operatorname{softmax}(z_i / T)_k, \qquad
        L = \frac{\sum_i w_i \ell_i}{\sum_i w_i} \quad (\text{reduction="mean"})

    Computed from :func:`softmaxkit.log_softmax`, never ``log(softmax(...))``,
    so a confident wrong prediction costs its true (large, finite) loss.
"""
    + _PARAMS_DOC
    + r"""
    Returns
    -------
    array
        0-d for ``"mean"`` and ``"sum"``; shaped like ``logits`` without the
        class axis for ``"none"``. Dtype of ``logits``.

    References
    ----------
    C. M. Bishop, "Pattern Recognition and Machine Learning", Springer, 2006,
    section 4.3.4. Label smoothing: C. Szegedy et al., "Rethinking the
    Inception Architecture for Computer Vision", CVPR 2016.
    doi:10.1109/CVPR.2016.308

    Examples
    --------
    >>> import numpy as np, softmaxkit as sk
    >>> logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    >>> labels = np.array([0, 1])
    >>> round(float(sk.softmax_cross_entropy(logits, labels)), 6)
    0.31854
    >>> onehot = np.eye(3)[labels]  # the same loss from probabilities
    >>> round(float(sk.softmax_cross_entropy(logits, onehot)), 6)
    0.31854
    >>> float(sk.softmax_cross_entropy(np.array([[1000.0, 0.0]]), np.array([1])))
    1000.0
"""
)


def softmax_cross_entropy_grad(
    logits: Array,
    target: Array,
    /,
    *,
    axis: int = -1,
    class_weight: Array | None = None,
    sample_weight: Array | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    temperature: float = 1.0,
    reduction: str = "mean",
) -> Array:
    _, grad = _cross_entropy(
        logits,
        target,
        axis=axis,
        class_weight=class_weight,
        sample_weight=sample_weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        temperature=temperature,
        reduction=reduction,
        want_loss=False,
        want_grad=True,
    )
    return grad


softmax_cross_entropy_grad.__doc__ = (
    r"""Gradient of :func:`softmax_cross_entropy` with respect to ``logits``: ``y_hat - y``.

    .. math::

        \frac{\partial L}{\partial z_i} = \frac{w_i}{S\,T}
            \bigl(\operatorname{softmax}(z_i / T) - y_i\bigr), \qquad
        S = \begin{cases} \sum_j w_j & \text{mean} \\ 1 & \text{sum, none} \end{cases}

    For ``reduction="none"`` row i holds the gradient of its own loss ``w_i l_i``
    (rows do not interact, so this is also the gradient of their sum).
"""
    + _PARAMS_DOC
    + r"""
    Returns
    -------
    array
        Same shape, dtype and device as ``logits``.

    References
    ----------
    C. M. Bishop, "Pattern Recognition and Machine Learning", Springer, 2006,
    eq. (4.109).

    Examples
    --------
    >>> import numpy as np, softmaxkit as sk
    >>> logits, labels = np.array([[5.0, 7.0, 8.0]]), np.array([2])
    >>> sk.softmax_cross_entropy_grad(logits, labels)  # softmax - onehot
    array([[ 0.03511903,  0.25949646, -0.29461549]])
"""
)


def softmax_cross_entropy_with_grad(
    logits: Array,
    target: Array,
    /,
    *,
    axis: int = -1,
    class_weight: Array | None = None,
    sample_weight: Array | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    temperature: float = 1.0,
    reduction: str = "mean",
) -> tuple[Array, Array]:
    loss, grad = _cross_entropy(
        logits,
        target,
        axis=axis,
        class_weight=class_weight,
        sample_weight=sample_weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        temperature=temperature,
        reduction=reduction,
        want_loss=True,
        want_grad=True,
    )
    return loss, grad


softmax_cross_entropy_with_grad.__doc__ = (
    r"""``(loss, grad)`` of :func:`softmax_cross_entropy` from one softmax computation.

    The log-probabilities and probabilities come from one shift and one
    normaliser, so a training step pays for the softmax once:

    .. math::

        L = \frac{\sum_i w_i \ell_i}{S}, \qquad
        \frac{\partial L}{\partial z_i} = \frac{w_i}{S\,T}(\hat y_i - y_i)
"""
    + _PARAMS_DOC
    + r"""
    Returns
    -------
    loss : array
        As :func:`softmax_cross_entropy`.
    grad : array
        As :func:`softmax_cross_entropy_grad`.

    References
    ----------
    C. M. Bishop, "Pattern Recognition and Machine Learning", Springer, 2006,
    eq. (4.109).

    Examples
    --------
    >>> import numpy as np, softmaxkit as sk
    >>> logits = np.array([[5.0, 7.0, 8.0], [1.0, 1.0, 1.0]])
    >>> loss, grad = sk.softmax_cross_entropy_with_grad(logits, np.array([2, 0]))
    >>> round(float(loss), 6)
    0.723812
    >>> grad.round(6)  # (softmax(logits) - onehot) / n_rows
    array([[ 0.01756 ,  0.129748, -0.147308],
           [-0.333333,  0.166667,  0.166667]])
"""
)


def sigmoid_cross_entropy(
    logits: Array,
    target: Array,
    /,
    *,
    pos_weight: Array | float | None = None,
    sample_weight: Array | None = None,
    reduction: str = "mean",
) -> Array:
    r"""Binary cross-entropy from one logit per entry (logistic loss).

    .. math::

        \ell = -\bigl(p\, t \log \sigma(z) + (1 - t) \log \sigma(-z)\bigr)

    with ``p = pos_weight`` (1 by default). With ``z = z_1 - z_0`` and
    ``pos_weight=None`` this equals the two-class :func:`softmax_cross_entropy`
    of logits ``(z_0, z_1)`` against target ``(1 - t, t)``: the two-class
    softmax is the sigmoid of the logit difference. ``log sigmoid`` is computed by
    :func:`softmaxkit.log_sigmoid`, so no logit overflows.

    Parameters
    ----------
    logits : array
        One logit per entry, any shape. Integers are promoted to float.
    target : array
        Same shape as ``logits``, values in [0, 1] (hard 0/1 or soft).
    pos_weight : array or float, optional
        Weight of the positive term, finite and >= 0, broadcastable to
        ``logits`` (e.g. one per column in multi-label problems).
    sample_weight : array, optional
        Finite, >= 0, broadcastable to ``logits``.
    reduction : {"mean", "sum", "none"}, default "mean"
        ``"mean"`` is ``sum(w l) / sum(w)`` (0 if all weights are 0).

    Returns
    -------
    array
        0-d for ``"mean"`` and ``"sum"``, shaped like ``logits`` for ``"none"``.

    References
    ----------
    D. R. Cox, "The regression analysis of binary sequences", J. R. Stat. Soc. B
    20(2), 1958.

    Examples
    --------
    >>> import numpy as np, softmaxkit as sk
    >>> z, t = np.array([2.0, -1.0]), np.array([1.0, 0.0])
    >>> round(float(sk.sigmoid_cross_entropy(z, t)), 6)
    0.220095
    >>> two_class = np.stack([np.zeros(2), z], axis=-1)  # logits (0, z)
    >>> round(float(sk.softmax_cross_entropy(two_class, np.stack([1 - t, t], axis=-1))), 6)
    0.220095
    """
    xp = namespace(("logits", logits), ("target", target), ("sample_weight", sample_weight))
    z = as_float(xp, logits, "logits")
    out_dt = z.dtype
    reduction = _checks.reduction(reduction)
    _checks.same_shape(logits, target, "logits", "target")
    if xp.isdtype(target.dtype, "complex floating"):
        raise TypeError(f"expected a real target, got dtype {target.dtype}")
    _checks.unit_interval(xp, target, "target")
    # Unchecked targets (traced, lazy, on a device): an entry outside [0, 1] is NaN.
    bad = None if host(target) is not None else ~((target >= 0) & (target <= 1))
    dt = work_dtype(xp, out_dt)
    z = xp.astype(z, dt)
    t = xp.astype(target, dt)
    shape = tuple(z.shape)
    zero = const(xp, 0.0, z)

    if pos_weight is None:
        pw = None
    elif isinstance(pos_weight, (int, float)) and not isinstance(pos_weight, bool):
        pw = const(xp, _checks.nonnegative_number(pos_weight, "pos_weight"), z)
    else:
        namespace(("logits", logits), ("pos_weight", pos_weight))
        pw = _weights(xp, pos_weight, shape, dt, "pos_weight", "logits")
    w = _weights(xp, sample_weight, shape, dt, "sample_weight", "logits")

    # 0 * log 0 = 0 on both terms, so t = 0 against z = -inf (and t = 1 against +inf) is 0.
    pos = t * xp.where(t == 0, zero, log_sigmoid(z))
    neg = (1 - t) * xp.where(t == 1, zero, log_sigmoid(-z))
    rows = -(pos * pw + neg) if pw is not None else -(pos + neg)
    if w is not None:
        rows = w * xp.where(w == 0, zero, rows)
    if bad is not None:
        rows = xp.where(bad, const(xp, math.nan, rows), rows)
    if reduction == "none":
        return narrow(xp, rows, out_dt)
    if reduction == "mean":
        total = xp.sum(w) if w is not None else const(xp, float(math.prod(shape)), z)
        mean = _total(xp, rows, xp.where(total == 0, const(xp, 1.0, z), total))
        return narrow(xp, xp.where(total == 0, zero, mean), out_dt)
    return narrow(xp, _total(xp, rows, None), out_dt)


# --------------------------------------------------------------------------------------
# the output layer and the cross-entropy in one pass: linear_cross_entropy

LOGITS_BUDGET = 1 << 26  # bytes of one chunk's logits when chunk_size is None (64 MiB) ...
MIN_ROWS = 512  # ... but never fewer rows than this (the products lose speed below) ...
LOGITS_CAP = 1 << 29  # ... unless that passes 512 MiB: then the classes go in blocks


class _Linear(NamedTuple):
    """The static part of a linear cross-entropy call (hashable: a JAX static argument)."""

    n: int  # rows
    K: int  # classes
    eps: float
    T: float
    z_loss: float
    reduction: str
    rows: int  # rows per chunk
    cols: int  # classes per block (K: one block)


def _chunking(
    chunk_size: tuple[int, int | None] | None, n: int, K: int, itemsize: int
) -> tuple[int, int]:
    """Rows per chunk and classes per block.

    ``chunk_size=None``: as many rows as keep one chunk's logits within
    ``LOGITS_BUDGET`` (64 MiB), all classes at once, but at least ``MIN_ROWS``
    (512): with fewer rows the matrix products run slower (121 GFLOP/s for 64
    rows against 199 for 1,024 on the development machine) and every chunk reads
    and writes the whole of ``dL/dW`` once more. Only when 512 rows of logits
    would pass ``LOGITS_CAP`` (512 MiB; K above 262,144 in float32) are the
    classes cut into blocks, of ``LOGITS_CAP / (512 * itemsize)`` classes, as a
    block costs one more matrix product.
    """
    if chunk_size is not None:
        rows, cols = chunk_size
        return max(1, min(rows, n)), K if cols is None else max(1, min(cols, K))
    rows = max(MIN_ROWS, LOGITS_BUDGET // max(1, K * itemsize))
    if K == 0 or MIN_ROWS * K * itemsize <= LOGITS_CAP:
        return max(1, min(n, rows)), K
    return max(1, min(n, MIN_ROWS)), max(1, LOGITS_CAP // (MIN_ROWS * itemsize))


def _slice_targets(t: _Targets, a: int, b: int) -> _Targets:
    """The rows ``[a, b)`` of a flattened target (the total is the whole batch's)."""
    return t._replace(
        **{
            name: f[a:b, ...]
            for name, f in t._asdict().items()
            if f is not None and name != "total"
        }
    )


ACCUMULATE_BYTES = 1 << 22  # the scratch block of G^T h on NumPy (4 MiB)


def _library(a: Array) -> str:
    """The top-level module of an array's type (``numpy``, ``torch``, ``jax`` or
    ``jaxlib``, ...): a plain lookup that ``torch.compile`` traces without the
    cached helpers of array-api-compat (Dynamo warns on each)."""
    return type(a).__module__.split(".", 1)[0]


def _add_product(
    xp: Namespace, acc: Array, G: Array, h: Array, a: int, b: int, first: bool = False
) -> Array:
    """``acc[a:b] += G^T h`` (``=`` for the ``first`` chunk, so ``acc`` starts empty)
    without a temporary the size of ``acc``: on NumPy, blocks of classes through a
    4 MiB scratch (NumPy's own BLAS: SciPy's ``gemm`` with ``beta = 1`` would start
    a second BLAS thread pool, which competes with NumPy's for the cores);
    ``addmm_`` on PyTorch; functional on JAX."""
    library = _library(acc)
    if library == "numpy":
        import numpy as np

        if first:
            np.matmul(G.T, h, out=acc[a:b])
            return acc
        d = acc.shape[1]
        step = max(64, ACCUMULATE_BYTES // max(1, d * acc.itemsize))
        scratch = np.empty((min(step, b - a), d), dtype=acc.dtype)
        for s in range(a, b, step):
            e = min(b, s + step)
            part = scratch[: e - s]
            np.matmul(G[:, s - a : e - a].T, h, out=part)
            acc[s:e] += part
        return acc
    if library == "torch":
        if first:
            import torch

            torch.mm(G.T, h, out=acc[a:b])
        else:
            acc[a:b].addmm_(G.T, h)
        return acc
    if library in ("jax", "jaxlib"):
        return acc.at[a:b].add(xp.matmul(xp.matrix_transpose(G), h))
    product = xp.matmul(xp.matrix_transpose(G), h)
    acc[a:b, ...] = product if first else acc[a:b, ...] + product
    return acc


def _add_rows(xp: Namespace, acc: Array, G: Array, a: int, b: int, first: bool = False) -> Array:
    """``acc[a:b] += sum(G, axis=0)`` (``=`` for the ``first`` chunk)."""
    if _library(acc) in ("jax", "jaxlib"):
        return acc.at[a:b].add(xp.sum(G, axis=0))
    acc[a:b] = xp.sum(G, axis=0) if first else acc[a:b] + xp.sum(G, axis=0)
    return acc


def _lse(xp: Namespace, m: Array, count: Array, rest: Array, T: float) -> Array:
    """Log-sum-exp of ``z / T`` from the rows' ``(max, count, rest)`` state."""
    from .streaming import _log_normaliser

    top = m / T if T != 1.0 else m
    return top + _log_normaliser(xp, xp.zeros_like(m), count, rest)


def _z_loss_rows(xp: Namespace, lse: Array, v: Array | None) -> Array:
    """PaLM's ``v_i lse_i^2`` per row (``v`` None: all 1; a row of weight 0 is 0)."""
    return lse * lse if v is None else xp.where(v == 0, const(xp, 0.0, lse), v * (lse * lse))


def _z_loss_grad(xp: Namespace, lse: Array, p: Array, factor: Array, T: float) -> Array:
    """The z-loss's gradient in the logits, ``2 factor_i lse_i p_i / T`` (``factor``
    carries ``z_loss``, the mean's divisor and an upstream gradient); an all
    ``-inf`` row (``lse = -inf``, ``p = 0``) has none."""
    zero = const(xp, 0.0, lse)
    coef = xp.where(xp.isfinite(lse) & (factor != 0), factor * (2.0 * lse / T), zero)
    return xp.expand_dims(coef, axis=-1) * p


def _logits(xp: Namespace, h: Array, W: Array, bias: Array | None, a: int, b: int) -> Array:
    """``h W[a:b]^T + bias[a:b]``: one block of logits (the only (rows, classes) product)."""
    Wb = W if (a, b) == (0, W.shape[0]) else W[a:b, :]
    z = xp.matmul(h, xp.matrix_transpose(Wb))
    if bias is not None:
        z = z + (bias if (a, b) == (0, W.shape[0]) else bias[a:b])
    return z


def _linear_chunk(
    xp: Namespace,
    h: Array,
    W: Array,
    bias: Array | None,
    t: _Targets,
    c: _Linear,
    scale: Array | None,
    z_factor: Array | None,
    gW: Array | None,
    gb: Array | None,
    *,
    want_loss: bool,
    want_h: bool,
    first: bool = False,
) -> tuple[Array | None, Array | None, Array | None, Array | None, Array | None]:
    """One chunk of rows: ``(w_i l_i, v_i lse_i^2, dL/dh, gW + dL/dW, gb + dL/db)``.

    The gradient of the logits is ``G = w (p - y') / (T S) + 2 c lse p / T`` per row
    (``S`` the mean's divisor, ``c`` = ``z_factor``); ``dL/dh = G W``,
    ``dL/dW = G^T h``, ``dL/db = sum G``. With one class block the logits are formed
    once and go through the softmax cross-entropy's own kernel; with several, a
    first pass merges the blocks' ``(max, count, rest)`` states
    (:mod:`softmaxkit.streaming`) and a second forms each block again with the
    whole row's normaliser.
    """
    want_grad = want_h or gW is not None or gb is not None
    zero = const(xp, 0.0, h)
    zl_rows = gh = None
    if c.cols >= c.K:
        z = _logits(xp, h, W, bias, 0, c.K)
        ce_rows, G = _core(
            xp,
            z,
            t,
            scale=scale,
            eps=c.eps,
            T=c.T,
            reduction="none",
            want_loss=want_loss,
            want_grad=want_grad,
        )
        if c.z_loss > 0.0:
            from .streaming import _chunk_state, _softmax

            row_state = _chunk_state(xp, z, (1,), c.T)
            lse = _lse(xp, *row_state, c.T)[..., 0]
            zl_rows = _z_loss_rows(xp, lse, t.sw)
            if G is not None and z_factor is not None:
                G = G + _z_loss_grad(xp, lse, _softmax(xp, z, *row_state, c.T), z_factor, c.T)
        if G is not None:
            if want_h:
                gh = xp.matmul(G, W)
            if gW is not None:
                gW = _add_product(xp, gW, G, h, 0, c.K, first)
            if gb is not None:
                gb = _add_rows(xp, gb, G, 0, c.K, first)
        return ce_rows, zl_rows, gh, gW, gb

    from .streaming import _chunk_state, _log_softmax, _merge_states, _softmax

    blocks = [(a, min(c.K, a + c.cols)) for a in range(0, c.K, c.cols)]
    state = None
    for a, b in blocks:  # pass 1: the rows' normaliser over every block
        part = _chunk_state(xp, _logits(xp, h, W, bias, a, b), (1,), c.T)
        if state is not None:
            stacked = [xp.concat([s, p], axis=1) for s, p in zip(state, part, strict=True)]
            part = _merge_states(xp, *stacked, axes=(1,), temperature=c.T)
        state = part
    assert state is not None
    factor = _row_factor(xp, t.w, tuple(h.shape[:1]), h, c.T, scale) if want_grad else None
    lse = _lse(xp, *state, c.T)[..., 0] if c.z_loss > 0.0 else None
    ce_rows = xp.zeros(h.shape[:1], dtype=h.dtype, device=device(h)) if want_loss else None
    if want_h:
        gh = xp.zeros(h.shape, dtype=h.dtype, device=device(h))
    for a, b in blocks:  # pass 2: each block's share of the loss and the gradients
        z = _logits(xp, h, W, bias, a, b)
        logp = _log_softmax(xp, z, *state, c.T)
        p = _softmax(xp, z, *state, c.T)
        hot = _one_hot(xp, t.safe, t.valid, a, b) if t.labels is not None else None
        y = t.y[:, a:b] if t.y is not None else None
        rows, G = _terms(xp, logp, p, hot, y, eps=c.eps, K=c.K, factor=factor, want_loss=want_loss)
        if rows is not None and ce_rows is not None:
            ce_rows = ce_rows + rows
        if G is None:
            continue
        if lse is not None and z_factor is not None:
            G = G + _z_loss_grad(xp, lse, p, z_factor, c.T)
        if t.inactive is not None:
            G = xp.where(xp.expand_dims(t.inactive, axis=-1), zero, G)
        if want_h:
            gh = gh + xp.matmul(G, W[a:b, :])
        if gW is not None:
            gW = _add_product(xp, gW, G, h, a, b, first)
        if gb is not None:
            gb = _add_rows(xp, gb, G, a, b, first)
    if ce_rows is not None:
        ce_rows = _reduce(xp, ce_rows, t.w, t.inactive, None, None, "none")
    if lse is not None:
        zl_rows = _z_loss_rows(xp, lse, t.sw)
    return ce_rows, zl_rows, gh, gW, gb


def _eager_rows(
    xp: Namespace,
    h: Array,
    W: Array,
    bias: Array | None,
    t: _Targets,
    c: _Linear,
    scale: Array | None,
    z_factor: Array | None,
    *,
    want_loss: bool,
    want_h: bool,
    want_Wb: bool,
    chunk: Any,
) -> tuple[Array | None, Array | None, Array | None, Array | None, Array | None]:
    """Run ``chunk`` over the row chunks in a Python loop (every eager library);
    the gradient of ``W`` and ``bias`` accumulates in place, that of ``h`` is written
    chunk by chunk into one array."""
    n, d = h.shape
    dt, dev = W.dtype, device(W)
    # The first chunk writes the gradients of W and bias, the others add to them.
    alloc = xp.empty if n > 0 else xp.zeros
    gW = alloc((c.K, d), dtype=dt, device=dev) if want_Wb else None
    gb = alloc((c.K,), dtype=dt, device=dev) if want_Wb and bias is not None else None
    gh = xp.empty((n, d), dtype=dt, device=dev) if want_h else None
    ce_parts, zl_parts = [], []
    for a in range(0, n, c.rows):
        b = min(n, a + c.rows)
        hc = h[a:b, :]
        hc = hc if hc.dtype == dt else xp.astype(hc, dt)  # 16-bit inputs: float32 chunks
        ce, zl, ghc, gW, gb = chunk(
            xp,
            hc,
            W,
            bias,
            _slice_targets(t, a, b),
            c,
            scale,
            None if z_factor is None else z_factor[a:b],
            gW,
            gb,
            want_loss=want_loss,
            want_h=want_h,
            first=a == 0,
        )
        if ce is not None:
            ce_parts.append(ce)
        if zl is not None:
            zl_parts.append(zl)
        if gh is not None and ghc is not None:
            gh[a:b, :] = ghc
    empty = xp.zeros((0,), dtype=dt, device=dev)
    ce_rows = xp.concat(ce_parts) if ce_parts else (empty if want_loss else None)
    zl_rows = xp.concat(zl_parts) if zl_parts else (empty if c.z_loss > 0.0 else None)
    return ce_rows, zl_rows, gh, gW, gb


def _linear_engine(
    xp: Namespace,
    h: Array,
    W: Array,
    bias: Array | None,
    t: _Targets,
    c: _Linear,
    *,
    want_loss: bool,
    want_h: bool,
    want_Wb: bool,
    upstream: Array | None = None,
    driver: Any = None,
) -> tuple[Array | None, Array | None, Array | None, Array | None]:
    """``(loss, dL/dh, dL/dW, dL/dbias)`` of validated, flattened inputs (``h`` (n, D),
    ``W`` (K, D) in the work dtype), reduced as ``c.reduction`` says.

    ``upstream``: the gradient of a ``"none"`` loss, one per row (the backward pass
    of the autodiff wrappers); it multiplies each row's weights. ``driver`` runs
    the chunks (:func:`_eager_rows`, or a compiled loop for JAX).
    """
    scale = _mean_scale(xp, t.total) if c.reduction == "mean" else None
    z_scale = z_factor = None
    if c.z_loss > 0.0:
        v = t.sw
        if c.reduction == "mean":
            z_total = const(xp, float(c.n), W) if v is None else xp.sum(v)
            z_scale = _mean_scale(xp, z_total)
        if want_h or want_Wb:
            ones = xp.ones((c.n,), dtype=W.dtype, device=device(W))
            z_factor = (ones if v is None else v) * c.z_loss
            if z_scale is not None:
                z_factor = z_factor / z_scale
            if upstream is not None:
                z_factor = z_factor * upstream
    if upstream is not None:
        w = upstream if t.w is None else t.w * upstream
        t = t._replace(w=w)
    ce_rows, zl_rows, gh, gW, gb = (driver or _eager_rows)(
        xp,
        h,
        W,
        bias,
        t,
        c,
        scale,
        z_factor,
        want_loss=want_loss,
        want_h=want_h,
        want_Wb=want_Wb,
        chunk=_linear_chunk,
    )
    loss = None
    if want_loss and ce_rows is not None:
        if c.reduction == "none":
            loss = ce_rows if zl_rows is None else ce_rows + c.z_loss * zl_rows
        else:
            loss = _total(xp, ce_rows, scale)
            if zl_rows is not None:
                loss = loss + c.z_loss * _total(xp, zl_rows, z_scale)
    if t.bad is not None:  # unchecked invalid rows: NaN loss, NaN gradients
        nan = const(xp, math.nan, W)
        if loss is not None:
            loss = xp.where(t.bad if c.reduction == "none" else xp.any(t.bad), nan, loss)
        if gh is not None:
            gh = xp.where(xp.expand_dims(t.bad, axis=-1), nan, gh)
        any_bad = xp.any(t.bad)
        gW = None if gW is None else xp.where(any_bad, nan, gW)
        gb = None if gb is None else xp.where(any_bad, nan, gb)
    return loss, gh, gW, gb


def _linear(
    h: Array,
    W: Array,
    target: Array,
    *,
    bias: Array | None,
    class_weight: Array | None,
    sample_weight: Array | None,
    ignore_index: int | None,
    label_smoothing: float,
    temperature: float,
    z_loss: float,
    reduction: str,
    chunk_size: int | tuple[int, int] | None,
    want_grads: bool,
    want_h: bool = True,
) -> tuple[Array, Array | None, Array | None, Array | None]:
    """The shared computation of :func:`linear_cross_entropy` and its ``_with_grad``:
    validate, flatten the rows, then a backend's path or the chunked engine."""
    xp = namespace(
        ("h", h),
        ("W", W),
        ("target", target),
        ("bias", bias),
        ("class_weight", class_weight),
        ("sample_weight", sample_weight),
    )
    h = as_float(xp, h, "h")
    W = as_float(xp, W, "W")
    if h.ndim < 1:
        raise ValueError("expected h of shape (..., D), got a 0-d array")
    if W.ndim != 2 or W.shape[1] != h.shape[-1]:
        raise ValueError(
            f"expected W of shape (K, D) with D = {h.shape[-1]} (the last axis of h), "
            f"got shape {tuple(W.shape)}"
        )
    K, d = int(W.shape[0]), int(W.shape[1])
    if bias is not None:
        bias = as_float(xp, bias, "bias")
        if tuple(bias.shape) != (K,):
            raise ValueError(f"expected bias of shape ({K},), got shape {tuple(bias.shape)}")
    dts = [h.dtype, W.dtype] + ([bias.dtype] if bias is not None else [])
    out_dt = xp.result_type(*dts)
    dt = work_dtype(xp, out_dt)
    T = _checks.temperature(temperature, xp, dt)
    eps = _checks.fraction(label_smoothing, "label_smoothing")
    reduction = _checks.reduction(reduction)
    _ignore_index(ignore_index)
    zl = _checks.nonnegative_number(z_loss, "z_loss")
    chunks = _checks.chunk_size(chunk_size)

    batch = tuple(h.shape[:-1])
    n = math.prod(batch)
    y = None
    if xp.isdtype(target.dtype, "integral"):
        if tuple(target.shape) != batch:
            raise ValueError(
                "expected integer target (class labels) of the shape of h without its last "
                f"axis {batch}, got shape {tuple(target.shape)}"
            )
    elif xp.isdtype(target.dtype, "real floating"):
        if tuple(target.shape) != (*batch, K):
            raise ValueError(
                f"expected probability target of shape {(*batch, K)} (rows of h, K classes), "
                f"got shape {tuple(target.shape)}"
            )
        y = target
    else:
        raise TypeError(
            "expected target of an integer dtype (class labels) or a real floating dtype "
            f"(probabilities), got dtype {target.dtype}"
        )
    W = W if W.dtype == dt else xp.astype(W, dt)
    if bias is not None and bias.dtype != dt:
        bias = xp.astype(bias, dt)
    t = _targets(
        xp,
        target,
        y,
        batch=batch,
        K=K,
        dt=dt,
        like=W,
        class_weight=class_weight,
        sample_weight=sample_weight,
        ignore_index=ignore_index,
        sample_shape="h without its last axis",
    )
    t = t._replace(  # the rows flattened (probabilities keep their class axis)
        **{
            name: xp.reshape(f, (n, K) if name == "y" else (n,))
            for name, f in t._asdict().items()
            if f is not None and name != "total"
        }
    )
    h2 = xp.reshape(h, (n, d))
    rows, cols = _chunking(chunks, n, K, xp.finfo(dt).bits // 8)
    c = _Linear(n, K, eps, T, zl, reduction, rows, cols)

    fast = fast_call(
        "linear_cross_entropy",
        xp,
        h2,
        W,
        bias,
        targets=t,
        config=c,
        want_grads=want_grads,
        want_h=want_h,
        engine=_linear_engine,
    )
    if fast is not None:
        loss, gh, gW, gb = fast
    else:
        loss, gh, gW, gb = _linear_engine(
            xp,
            h2,
            W,
            bias,
            t,
            c,
            want_loss=True,
            want_h=want_grads and want_h,
            want_Wb=want_grads,
        )
    assert loss is not None
    if reduction == "none":
        loss = xp.reshape(loss, batch)
    loss = narrow(xp, loss, out_dt)
    if gh is not None:
        gh = xp.reshape(gh, h.shape)
        gh = narrow(xp, gh, out_dt)
    if gW is not None and gW.dtype != out_dt:
        gW = narrow(xp, gW, out_dt)
    if gb is not None and gb.dtype != out_dt:
        gb = narrow(xp, gb, out_dt)
    return loss, gh, gW, gb


def _linear_objective(
    X: Array,
    W: Array,
    b: Array,
    target: Array,
    *,
    class_weight: Array | None,
    sample_weight: Array | None,
    label_smoothing: float,
    reduction: str,
) -> tuple[float, Array, Array]:
    """``(F, dF/dW, dF/db)`` of the linear model ``z = X W^T + b``: what the
    classifier's solvers need of :func:`linear_cross_entropy_with_grad` (never the
    gradient of ``X``, a matrix product they do not use)."""
    loss, _, grad_W, grad_b = _linear(
        X,
        W,
        target,
        bias=b,
        class_weight=class_weight,
        sample_weight=sample_weight,
        ignore_index=None,
        label_smoothing=label_smoothing,
        temperature=1.0,
        z_loss=0.0,
        reduction=reduction,
        chunk_size=None,
        want_grads=True,
        want_h=False,
    )
    assert grad_W is not None
    assert grad_b is not None
    return float(loss), grad_W, grad_b


_LINEAR_PARAMS_DOC = """
    Parameters
    ----------
    h : array, shape ``(..., D)``
        The inputs of the output layer (hidden states, features); the leading
        axes are rows. Integers are promoted to the default float.
    W : array, shape ``(K, D)``
        The layer's weight (one row per class), as ``torch.nn.Linear`` stores it.
    target : array
        Class labels of an integer dtype, shaped ``h.shape[:-1]``, each in
        ``[0, K)`` or equal to ``ignore_index``; or probabilities of a floating
        dtype, shaped ``(*h.shape[:-1], K)``, rows >= 0 summing to 1.
    bias : array, shape ``(K,)``, optional
        The layer's bias.
    class_weight, sample_weight, ignore_index, label_smoothing, temperature
        As in :func:`softmax_cross_entropy` (``sample_weight`` broadcastable to
        ``h.shape[:-1]``).
    z_loss : float, default 0.0
        Coefficient ``c >= 0`` of the auxiliary loss on the normaliser
        ``lse_i = logsumexp(z_i / T)``: ``c * sum_i v_i lse_i^2 / sum_i v_i``
        with ``v_i`` the sample weight (0 for ignored rows, no class weight) for
        ``"mean"``; ``c * sum_i v_i lse_i^2`` for ``"sum"``; ``c v_i lse_i^2``
        added to each row for ``"none"``.
    reduction : {"mean", "sum", "none"}, default "mean"
        As in :func:`softmax_cross_entropy`.
    chunk_size : int or (int, int), optional
        Rows per chunk, or ``(rows, classes)`` to cut the classes into blocks
        too. ``None``: as many rows as keep one chunk's logits within 64 MiB,
        but at least 512 rows (fewer run the matrix products slower), all
        classes at once; only when 512 rows of logits would pass 512 MiB (K
        above 262,144 in float32) are the classes cut into blocks.
"""

_LINEAR_NOTES = r"""
    Notes
    -----
    **Memory.** The ``(N, K)`` logits are never formed: rows go in chunks, and
    each chunk's logits, loss and gradient ``G`` (``dL/dz``) are made and used
    before the next. Above the inputs and the gradients, the working memory is
    a few arrays of one chunk's logits. With class blocks, each block's logits
    are formed twice (once for the normaliser, merged with
    :mod:`softmaxkit.streaming`'s ``(max, count, rest)`` state, once for the
    loss and gradient): one matrix product more. Float16 and bfloat16 inputs are
    computed in float32 (a float32 copy of ``W``, chunks of ``h``) and the
    results rounded once.

    **Gradients.** ``dL/dh = G W``, ``dL/dW = G^T h``, ``dL/dbias = sum_i G_i`` with
    ``G_i = w_i (softmax(z_i / T) - y'_i) / (T S) + 2 c' lse_i softmax(z_i / T) / T``
    (``S`` and ``c'`` as the reduction divides). On PyTorch and JAX the loss is
    differentiable in ``h``, ``W`` and ``bias`` by this formula (an
    ``autograd.Function`` / ``jax.custom_vjp``), computed in the forward pass when
    a gradient is wanted and the loss is reduced; ``class_weight`` and
    ``sample_weight`` are constants there. Unchecked invalid targets (see
    :func:`softmax_cross_entropy`) make their rows' loss and ``dL/dh`` rows NaN,
    and ``dL/dW``, ``dL/dbias`` NaN.
"""


def linear_cross_entropy(
    h: Array,
    W: Array,
    target: Array,
    /,
    *,
    bias: Array | None = None,
    class_weight: Array | None = None,
    sample_weight: Array | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    temperature: float = 1.0,
    z_loss: float = 0.0,
    reduction: str = "mean",
    chunk_size: int | tuple[int, int] | None = None,
) -> Array:
    loss, _, _, _ = _linear(
        h,
        W,
        target,
        bias=bias,
        class_weight=class_weight,
        sample_weight=sample_weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        temperature=temperature,
        z_loss=z_loss,
        reduction=reduction,
        chunk_size=chunk_size,
        want_grads=False,
    )
    return loss


linear_cross_entropy.__doc__ = (
    r"""Softmax cross-entropy of a linear layer's output, never holding the logits.

    .. math::

        z_i = W h_i + b, \qquad
        L = \frac{\sum_i w_i \ell(z_i, y_i)}{\sum_i w_i}
            + c\,\frac{\sum_i v_i \operatorname{lse}(z_i / T)^2}{\sum_i v_i}

    The value of ``softmax_cross_entropy(h @ W.T + bias, target, ...)`` (plus the
    z-loss when ``z_loss > 0``) computed in chunks of rows, so that memory stays
    at the size of the inputs when K is large (a language model's vocabulary).
"""
    + _LINEAR_PARAMS_DOC
    + r"""
    Returns
    -------
    array
        0-d for ``"mean"`` and ``"sum"``, shaped ``h.shape[:-1]`` for ``"none"``.
        Dtype: that of ``h``, ``W`` and ``bias`` promoted together.
"""
    + _LINEAR_NOTES
    + r"""
    References
    ----------
    E. Wijmans et al., "Cut Your Losses in Large-Vocabulary Language Models",
    ICLR 2025, arXiv:2411.09009. Z-loss: A. Chowdhery et al., "PaLM: Scaling
    Language Modeling with Pathways", JMLR 24, 2023, section 5.

    Examples
    --------
    >>> import numpy as np, softmaxkit as sk
    >>> rng = np.random.default_rng(0)
    >>> h, W = rng.normal(size=(6, 4)), rng.normal(size=(5, 4))
    >>> labels = np.array([0, 1, 2, 3, 4, 0])
    >>> fused = sk.linear_cross_entropy(h, W, labels, chunk_size=4)
    >>> bool(np.isclose(fused, sk.softmax_cross_entropy(h @ W.T, labels)))
    True
"""
)


def linear_cross_entropy_with_grad(
    h: Array,
    W: Array,
    target: Array,
    /,
    *,
    bias: Array | None = None,
    class_weight: Array | None = None,
    sample_weight: Array | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    temperature: float = 1.0,
    z_loss: float = 0.0,
    reduction: str = "mean",
    chunk_size: int | tuple[int, int] | None = None,
) -> tuple[Array, Array, Array, Array | None]:
    loss, gh, gW, gb = _linear(
        h,
        W,
        target,
        bias=bias,
        class_weight=class_weight,
        sample_weight=sample_weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        temperature=temperature,
        z_loss=z_loss,
        reduction=reduction,
        chunk_size=chunk_size,
        want_grads=True,
    )
    assert gh is not None
    assert gW is not None
    return loss, gh, gW, gb


linear_cross_entropy_with_grad.__doc__ = (
    r"""``(loss, dL/dh, dL/dW, dL/dbias)`` of :func:`linear_cross_entropy` in one pass.

    For libraries without autograd (NumPy, CuPy, Dask): each chunk's logits
    give the loss and the gradient ``G`` of the logits, and ``G`` is used at once
    for the three products ``G W``, ``G^T h`` and ``sum G``. For ``"none"``, the
    gradients are those of the sum of the per-row losses.
"""
    + _LINEAR_PARAMS_DOC
    + r"""
    Returns
    -------
    loss : array
        As :func:`linear_cross_entropy`.
    grad_h : array
        Shape and dtype of ``h`` (promoted).
    grad_W : array
        Shape ``(K, D)``.
    grad_bias : array or None
        Shape ``(K,)``; None when ``bias`` is None.
"""
    + _LINEAR_NOTES
    + r"""
    References
    ----------
    E. Wijmans et al., "Cut Your Losses in Large-Vocabulary Language Models",
    ICLR 2025, arXiv:2411.09009.

    Examples
    --------
    >>> import numpy as np, softmaxkit as sk
    >>> h, W = np.array([[1.0, 2.0]]), np.array([[0.5, -1.0], [1.0, 0.0], [0.0, 0.0]])
    >>> loss, gh, gW, gb = sk.linear_cross_entropy_with_grad(h, W, np.array([1]), bias=np.zeros(3))
    >>> G = sk.softmax_cross_entropy_grad(h @ W.T, np.array([1]))  # y_hat - y
    >>> bool(np.allclose(gh, G @ W) and np.allclose(gW, G.T @ h) and np.allclose(gb, G[0]))
    True
"""
)
