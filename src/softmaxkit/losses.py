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
from typing import Any

from . import _checks
from ._array import (
    Array,
    Namespace,
    as_float,
    const,
    device,
    host,
    namespace,
    single_axis,
    work_dtype,
)
from ._fast import call as fast_call
from .activations import log_sigmoid, log_softmax_and_softmax

__all__ = [
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
    weight = xp.broadcast_to(xp.astype(weight, dt), shape)
    if host(weight) is None:
        # Unchecked (traced, lazy or on a device): an invalid weight makes its row NaN.
        ok = xp.isfinite(weight) & (weight >= 0)
        weight = xp.where(ok, weight, const(xp, math.nan, weight))
    return weight


def _fits(xp: Namespace, dtype: Any, value: int) -> bool:
    info = xp.iinfo(dtype)
    return int(info.min) <= value <= int(info.max)


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
    T = _checks.temperature(temperature)
    eps = _checks.fraction(label_smoothing, "label_smoothing")
    reduction = _checks.reduction(reduction)
    if ignore_index is not None and (
        isinstance(ignore_index, bool) or not isinstance(ignore_index, int)
    ):
        raise TypeError(f"expected an int or None for ignore_index, got {ignore_index!r}")

    dt = work_dtype(xp, out_dt)
    z = xp.moveaxis(z, ax, -1)
    z = z if z.dtype == dt else xp.astype(z, dt)  # astype copies even to the same dtype
    K = z.shape[-1]
    batch = tuple(z.shape[:-1])
    zero = const(xp, 0.0, z)

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
    if xp.isdtype(target.dtype, "integral"):
        if tuple(target.shape) != batch:
            raise ValueError(
                "expected integer target (class labels) to have the shape of logits without "
                f"the class axis {batch}: logits has shape {tuple(logits.shape)}, target has "
                f"shape {tuple(target.shape)}"
            )
        if ignore_index is not None and _fits(xp, target.dtype, ignore_index):
            valid = target != ignore_index
        if host(target) is None:
            bad = (target < 0) | (target >= K)
            if valid is not None:
                bad = bad & valid
        else:
            _checks.labels(xp, target, K, ignore_index)
        labels = target
        y = None  # the one-hot matrix is built only if no fast path takes the call
    elif xp.isdtype(target.dtype, "real floating"):
        _checks.same_shape(logits, target, "logits", "target", " (probability targets)")
        if host(target) is None:
            tol = _checks.probability_tolerance(xp, target.dtype)
            t = xp.moveaxis(target, ax, -1)
            bad = xp.any(t < 0, axis=-1) | (xp.abs(xp.sum(t, axis=-1) - 1) > tol)
        else:
            _checks.probabilities(xp, target, ax)
        y = xp.moveaxis(target, ax, -1)
        y = y if y.dtype == dt else xp.astype(y, dt)  # astype copies even to the same dtype
    else:
        raise TypeError(
            "expected target of an integer dtype (class labels) or a real floating dtype "
            f"(probabilities), got dtype {target.dtype}"
        )

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
    sw = _weights(xp, sample_weight, batch, dt, "sample_weight", "logits without the class axis")
    if sw is not None:
        w = sw if w is None else w * sw
    if valid is not None:
        w = xp.where(valid, xp.ones(batch, dtype=dt, device=device(z)) if w is None else w, zero)

    inactive = None if w is None else w == 0
    total = const(xp, float(math.prod(batch)), z) if w is None else xp.sum(w)
    scale = xp.where(total == 0, const(xp, 1.0, total), total) if reduction == "mean" else None

    if labels is not None:
        ones = xp.ones(batch, dtype=dt, device=device(z)) if w is None else w
        fast = fast_call(
            "softmax_cross_entropy",
            xp,
            xp.reshape(z, (-1, K)),
            labels=xp.reshape(safe, (-1,)),
            weights=xp.reshape(ones, (-1,)),
            label_smoothing=eps,
            temperature=T,
            want_loss=want_loss,
            want_grad=want_grad,
            grad_scale=scale,
        )
        if fast is not None:
            loss, grad = _finish(xp, fast, batch, z.shape, ax, scale, reduction, out_dt)
            return _mark_invalid(xp, loss, grad, bad, ax, reduction)

    if want_loss and not want_grad:
        # Autodiff frameworks: per-row losses with a closed-form backward pass;
        # weights and the reduction stay ordinary (differentiable) operations.
        rows = fast_call(
            "cross_entropy_rows",
            xp,
            xp.reshape(z, (-1, K)),
            target=xp.reshape(safe, (-1,)) if labels is not None else xp.reshape(y, (-1, K)),
            label_smoothing=eps,
            temperature=T,
        )
        if rows is not None:
            rows = xp.reshape(rows, batch)
            loss = _reduce(xp, rows, w, inactive, bad, scale, reduction)
            return (loss if loss.dtype == out_dt else xp.astype(loss, out_dt)), None

    if y is None:
        classes = xp.arange(K, dtype=target.dtype, device=device(target))
        hot = xp.expand_dims(safe, axis=-1) == classes
        if valid is not None:
            hot = hot & xp.expand_dims(valid, axis=-1)
        y = xp.astype(hot, dt)
    if eps > 0.0:
        y = (1.0 - eps) * y + eps / K if K > 0 else y

    logp, p = log_softmax_and_softmax(xp, z, (z.ndim - 1,), T)

    loss = None
    if want_loss:
        # 0 * log 0 = 0: a zero target entry contributes nothing, even against -inf.
        rows = -xp.sum(y * xp.where(y == 0, zero, logp), axis=-1)
        loss = xp.astype(_reduce(xp, rows, w, inactive, bad, scale, reduction), out_dt)

    grad = None
    if want_grad:
        g = p - y
        if w is not None:
            g = xp.expand_dims(w, axis=-1) * xp.where(xp.expand_dims(inactive, axis=-1), zero, g)
        if bad is not None:
            g = xp.where(xp.expand_dims(bad, axis=-1), const(xp, math.nan, g), g)
        if T != 1.0:
            g = g / T
        if scale is not None:
            g = g / scale
        grad = xp.astype(xp.moveaxis(g, -1, ax), out_dt)
    return loss, grad


def _mark_invalid(
    xp: Namespace,
    loss: Array | None,
    grad: Array | None,
    bad: Array | None,
    ax: int,
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
        grad = xp.where(xp.expand_dims(bad, axis=ax), const(xp, math.nan, grad), grad)
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
    loss = xp.sum(rows)
    return loss / scale if scale is not None else loss


def _finish(
    xp: Namespace,
    fast: tuple[Array | None, Array | None],
    batch: tuple[int, ...],
    shape: tuple[int, ...],
    ax: int,
    scale: Array | None,
    reduction: str,
    out_dt: Any,
) -> tuple[Array | None, Array | None]:
    """Reduce and reshape a fast path's per-row losses and gradient rows."""
    rows, g = fast
    loss = None
    if rows is not None:
        rows = xp.reshape(rows, batch)
        loss = rows if reduction == "none" else xp.sum(rows)
        if scale is not None:
            loss = loss / scale
        loss = xp.astype(loss, out_dt)
    grad = None
    if g is not None:  # already divided by the scale (the fast path fuses it)
        g = xp.moveaxis(xp.reshape(g, shape), -1, ax)
        grad = g if g.dtype == out_dt else xp.astype(g, out_dt)
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
        A finite number > 0; the loss is that of ``logits / temperature``.
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
        if not (pos_weight >= 0 and pos_weight < float("inf")):
            raise ValueError(f"expected pos_weight to be finite and >= 0, got {pos_weight!r}")
        pw = const(xp, float(pos_weight), z)
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
        return xp.astype(rows, out_dt)
    loss = xp.sum(rows)
    if reduction == "mean":
        total = xp.sum(w) if w is not None else const(xp, float(math.prod(shape)), z)
        loss = xp.where(total == 0, zero, loss / xp.where(total == 0, const(xp, 1.0, z), total))
    return xp.astype(loss, out_dt)
