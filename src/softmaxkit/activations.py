r"""Softmax, log-softmax, log-sum-exp, sigmoid and log-sigmoid, exact at every edge.

The numerical contract (shared with every module of the package):

* no NaN comes out unless a NaN went in, and no warning is emitted;
* a row whose entries are all ``-inf`` (or all masked out) has softmax 0,
  log-softmax ``-inf`` and log-sum-exp ``-inf``;
* a row with k >= 1 entries ``+inf`` (and no NaN) takes the limit: softmax
  ``1/k`` on those entries and 0 elsewhere, log-softmax ``log(1/k)`` and
  ``-inf``, log-sum-exp ``+inf``;
* an empty class axis gives an empty softmax and a log-sum-exp of ``-inf``;
* the row maximum is subtracted before exponentiating (shift invariance), so
  no finite input overflows; log-probabilities are ``x - logsumexp(x)``, never
  ``log(softmax(x))``; 16-bit floats are computed in float32 and rounded once.

The result keeps the input's library, device and floating dtype; integer and
boolean inputs are promoted to the library's default floating dtype.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from . import _checks
from ._array import (
    Array,
    Axis,
    Namespace,
    as_float,
    const,
    device,
    finfo_max,
    namespace,
    narrow,
    normalize_axis,
    work_dtype,
)
from ._fast import call as fast_call

__all__ = ["log_sigmoid", "log_softmax", "logsumexp", "sigmoid", "softmax"]


# --------------------------------------------------------------------------------------
# argument handling


def _prepare(
    x: Array, axis: Axis, where: Array | None
) -> tuple[Namespace, Array, tuple[int, ...], Array | None, bool]:
    """Validate and normalise; returns ``(xp, x, axes, mask, was_0d)``.

    A 0-d input is one element along an implicit axis: it is reshaped to
    ``(1,)`` here and reshaped back by the caller.
    """
    xp = namespace(("x", x), ("where", where))
    x = as_float(xp, x)
    if where is not None:
        _checks.boolean(xp, where, "where")
        _checks.broadcastable_to(where, tuple(x.shape), "where", "x")
    was_0d = x.ndim == 0
    if was_0d:
        if axis not in (None, 0, -1, (), (0,), (-1,)):
            raise ValueError(f"expected axis None, 0 or -1 for a 0-d array, got {axis!r}")
        x = xp.reshape(x, (1,))
        if where is not None:
            where = xp.reshape(where, (1,))
        return xp, x, (0,), where, True
    return xp, x, normalize_axis(axis, x.ndim), where, False


def _has_empty_axis(x: Array, axes: tuple[int, ...]) -> bool:
    """Whether the result is fixed by emptiness: an empty reduced axis (log-sum-exp
    of nothing is -inf) or any empty axis (the result has no elements at all;
    some libraries refuse to reduce such arrays)."""
    return any(n == 0 for n in x.shape)


def _reduced_shape(
    shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool
) -> tuple[int, ...]:
    if keepdims:
        return tuple(1 if i in axes else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


# --------------------------------------------------------------------------------------
# the reference implementation (Array API calls only): the oracle for fast paths


def _shift(
    xp: Namespace, x: Array, axes: tuple[int, ...], temperature: float
) -> tuple[Array, Array]:
    """Return ``d = (x - max(x)) / temperature`` and ``max(x)`` (keepdims), safe at every edge.

    ``d <= 0`` everywhere with ``d == 0`` exactly at the row maxima, so
    ``exp(d)`` never overflows and the maxima contribute exactly 1 each.
    """
    m = xp.max(x, axis=axes, keepdims=True)
    return _shift_by(xp, x, m, temperature), m


def _shift_by(xp: Namespace, x: Array, m: Array, temperature: float) -> Array:
    """``(x - m) / temperature`` for ``m`` the maximum of ``x``'s rows (broadcast
    against it; a row may span several arrays, as in :mod:`softmaxkit.streaming`),
    with the edge cases of :func:`_shift`."""
    zero, ninf = const(xp, 0.0, x), const(xp, -math.inf, x)
    # Non-finite maxima are handled below; a zero shift keeps the arithmetic quiet.
    m0 = xp.where(xp.isfinite(m), m, zero)
    # x - m0 rounds to -inf (then exp(.) = 0 and the log is -inf) exactly where the
    # halved difference x/2 - m0/2, which cannot overflow and rounds as x - m0 does
    # (a power of two), reaches -2**(emax): write -inf there without the overflow.
    # Testing x < m0 - fmax instead also sent to -inf differences that round to
    # -fmax (log_softmax([-1, fmax]) is [-fmax, 0], as IEEE subtraction gives).
    half = const(xp, 0.5, x)
    far = (x * half - m0 * half) < -finfo_max(xp, x.dtype) * 0.5
    d = xp.where(far, ninf, xp.where(far, m0, x) - m0)
    # A row whose max is +inf: the limit puts equal mass on its +inf entries.
    d = xp.where(m == math.inf, xp.where(x == math.inf, zero, ninf), d)
    # A row with a NaN is NaN throughout; setting it here keeps exp(1e300) (beside
    # the NaN, unshifted) from overflowing with a warning.
    d = xp.where(xp.isnan(m), m, d)
    if temperature < 1.0:
        # d / T overflows below -fmax * T; the true value rounds to -inf there.
        too_far = d < -finfo_max(xp, x.dtype) * temperature
        d = xp.where(too_far, ninf, xp.where(too_far, zero, d) / temperature)
    elif temperature > 1.0:
        d = _divide(d, temperature)
        # Where x - m overflowed (``far``), (x - m) / T may still be finite: x / T - m / T
        # (x < 0 < m there, so the two terms add without cancellation).
        fix = far & xp.isfinite(x) & xp.isfinite(m)
        back = _divide(xp.where(fix, x, zero), temperature) - _divide(m0, temperature)
        d = xp.where(fix, back, d)
    return d


def _divide(a: Array, T: float, barrier: Callable[[Array], Array] | None = None) -> Array:
    """``a / T`` for ``T > 1``. Past ``2**1000`` the reciprocal of ``T`` is subnormal,
    and XLA (JAX) divides by a constant as a product with its reciprocal on a CPU
    that flushes subnormals to zero (0 or NaN where ``a / T`` is -1): there the
    power of two of ``T`` is divided out first, in two exact normal steps.
    ``barrier`` (JAX's ``optimization_barrier`` under ``jit``) keeps a compiler from
    folding the two steps back into one subnormal factor."""
    if T <= 2.0**1000:
        return a / T
    mantissa, exponent = math.frexp(T)
    half = exponent // 2
    a = a * 2.0**-half
    if barrier is not None:
        a = barrier(a)
    return a * 2.0 ** (half - exponent) / mantissa


def _log_norm(xp: Namespace, d: Array, axes: tuple[int, ...]) -> tuple[Array, Array, Array]:
    """From shifted logits ``d``: ``exp(d)``, ``sum(exp(d))`` and ``log(sum(exp(d)))``.

    The sum is split into the count c of entries at the maximum (``d == 0``,
    each contributing exactly 1) and the rest r, and its log is computed as
    ``log(c) + log1p(r / c)``: accurate when r is tiny, where ``log(c + r)``
    would round r away (Blanchard, Higham and Higham, 2021). A row with no
    maximum (all ``-inf``) gets a sum of 1 and a log of 0, which makes its
    softmax 0 and its log-softmax and log-sum-exp ``-inf``.
    """
    zero, one = const(xp, 0.0, d), const(xp, 1.0, d)
    top = d == 0
    e = xp.exp(d)
    count = xp.sum(xp.astype(top, d.dtype), axis=axes, keepdims=True)
    rest = xp.sum(xp.where(top, zero, e), axis=axes, keepdims=True)
    count = xp.where(count == 0, one, count)
    return e, count + rest, xp.log(count) + xp.log1p(rest / count)


def _masked(xp: Namespace, x: Array, mask: Array | None) -> Array:
    """Masked-out entries act as ``-inf``."""
    return x if mask is None else xp.where(mask, x, const(xp, -math.inf, x))


def _to_work(xp: Namespace, x: Array) -> Array:
    wdt = work_dtype(xp, x.dtype)
    return x if wdt == x.dtype else xp.astype(x, wdt)


def _softmax_ref(
    xp: Namespace, x: Array, axes: tuple[int, ...], temperature: float, mask: Array | None
) -> Array:
    if _has_empty_axis(x, axes):
        return xp.zeros(x.shape, dtype=x.dtype, device=device(x))
    xw = _to_work(xp, _masked(xp, x, mask))
    d, _ = _shift(xp, xw, axes, temperature)
    e, total, _ = _log_norm(xp, d, axes)
    return narrow(xp, e / total, x.dtype)


def _log_softmax_ref(
    xp: Namespace, x: Array, axes: tuple[int, ...], temperature: float, mask: Array | None
) -> Array:
    if _has_empty_axis(x, axes):
        return xp.zeros(x.shape, dtype=x.dtype, device=device(x))
    xw = _to_work(xp, _masked(xp, x, mask))
    d, _ = _shift(xp, xw, axes, temperature)
    _, _, log_norm = _log_norm(xp, d, axes)
    return narrow(xp, d - log_norm, x.dtype)


def _logsumexp_ref(
    xp: Namespace, x: Array, axes: tuple[int, ...], keepdims: bool, mask: Array | None
) -> Array:
    if _has_empty_axis(x, axes):
        shape = _reduced_shape(tuple(x.shape), axes, keepdims)
        return xp.full(shape, -math.inf, dtype=x.dtype, device=device(x))
    xw = _to_work(xp, _masked(xp, x, mask))
    d, m = _shift(xp, xw, axes, 1.0)
    _, _, log_norm = _log_norm(xp, d, axes)
    out = m + log_norm
    if not keepdims:
        out = xp.squeeze(out, axis=axes) if axes else out
    return narrow(xp, out, x.dtype)


def _logsumexp_weighted_ref(
    xp: Namespace,
    x: Array,
    b: Array,
    axes: tuple[int, ...],
    keepdims: bool,
    mask: Array | None,
) -> tuple[Array, Array]:
    """``(log |sum b e^x|, sign(sum b e^x))``; the sign is 0 for a zero sum.

    As the unweighted reference: shifted by the maximum over the entries that
    take part (``b != 0``, not masked), the weights at the maximum ``c`` split
    from the rest ``r``, and ``log |c + r| = log |c| + log1p(r / c)``, with
    ``log1p(-r/c - 2)`` where ``r / c < -1`` (as SciPy does).
    """
    if _has_empty_axis(x, axes):
        shape = _reduced_shape(tuple(x.shape), axes, keepdims)
        ninf = xp.full(shape, -math.inf, dtype=x.dtype, device=device(x))
        return ninf, xp.zeros(shape, dtype=x.dtype, device=device(x))
    xw = _to_work(xp, x)
    bw = xp.astype(b, xw.dtype)
    zero, one = const(xp, 0.0, xw), const(xp, 1.0, xw)
    live = bw != 0
    if mask is not None:
        live = live & mask
    xw = xp.where(live, xw, const(xp, -math.inf, xw))
    d, m = _shift(xp, xw, axes, 1.0)
    top = d == 0
    c = xp.sum(xp.where(top, bw, zero), axis=axes, keepdims=True)
    rest = xp.sum(xp.where(top | ~live, zero, bw * xp.exp(d)), axis=axes, keepdims=True)
    has_c = c != 0
    r = rest / xp.where(has_c, c, one)
    sign = xp.where(has_c, xp.sign(r + 1) * xp.sign(c), xp.sign(rest))
    magnitude = xp.where(
        has_c,
        xp.log1p(xp.where(r < -1, -r - 2, r)) + xp.log(xp.abs(xp.where(has_c, c, one))),
        xp.log(xp.abs(xp.where(rest == 0, one, rest)))
        + xp.where(rest == 0, const(xp, -math.inf, xw), zero),
    )
    finite = xp.isfinite(m)
    out = xp.where(finite, magnitude + xp.where(finite, m, zero), m)
    # A +inf maximum whose weights cancel: inf - inf, undefined.
    out = xp.where((m == math.inf) & ~has_c, const(xp, math.nan, out), out)
    sign = xp.where(xp.isnan(out), out, sign)
    if not keepdims:
        out = xp.squeeze(out, axis=axes) if axes else out
        sign = xp.squeeze(sign, axis=axes) if axes else sign
    return narrow(xp, out, x.dtype), xp.astype(sign, x.dtype)


# The reference of each function, by name: fast paths that decline part of their
# input (a block, a traced array) call these for it.
REFERENCES: dict[str, Callable[..., Array]] = {
    "softmax": _softmax_ref,
    "log_softmax": _log_softmax_ref,
    "logsumexp": _logsumexp_ref,
}


def log_softmax_and_softmax(
    xp: Namespace, x: Array, axes: tuple[int, ...], temperature: float
) -> tuple[Array, Array]:
    """Both ``log_softmax`` and ``softmax`` of a validated float array from one pass.

    Internal: the losses use it so the fused loss-and-gradient computes the
    normaliser once.
    """
    if _has_empty_axis(x, axes):
        empty = xp.zeros(x.shape, dtype=x.dtype, device=device(x))
        return empty, empty
    xw = _to_work(xp, x)
    d, _ = _shift(xp, xw, axes, temperature)
    e, total, log_norm = _log_norm(xp, d, axes)
    return narrow(xp, d - log_norm, x.dtype), narrow(xp, e / total, x.dtype)


# --------------------------------------------------------------------------------------
# public functions


def softmax(
    x: Array,
    /,
    *,
    axis: Axis = -1,
    temperature: float = 1.0,
    where: Array | None = None,
) -> Array:
    r"""Softmax: exponentiate and normalise along ``axis``.

    .. math::

        \operatorname{softmax}(x)_i = \frac{e^{x_i / T}}{\sum_j e^{x_j / T}}
        = \frac{e^{(x_i - m) / T}}{\sum_j e^{(x_j - m) / T}}, \qquad m = \max_j x_j

    The second form (shift invariance) is what is computed, so every exponent is
    ``<= 0`` and nothing overflows.

    Parameters
    ----------
    x : array
        Logits of any Array API library. Integer and boolean arrays are
        promoted to the library's default floating dtype; complex raises
        ``TypeError``.
    axis : int, tuple of int or None, default -1
        The class axis (or axes, normalised jointly); ``None`` for all elements.
    temperature : float, default 1.0
        ``T``: a finite number > 0 and a normal number of the dtype computed in
        (float32 for float32 and 16-bit logits: ``[1.2e-38, 3.4e38]``), else
        ``ValueError``. The result is that of ``x / T``; ``T > 1`` flattens the
        distribution, ``T < 1`` sharpens it.
    where : boolean array, optional
        Broadcastable to ``x``. Masked-out entries (``False``) act as ``-inf``:
        they get probability 0.

    Returns
    -------
    array
        Probabilities with the shape, dtype, library and device of ``x``; each
        row sums to 1. Edge cases (module docstring): an all ``-inf`` row gives
        zeros, ``+inf`` entries share the mass equally, NaN rows give NaN.

    References
    ----------
    J. S. Bridle, "Probabilistic interpretation of feedforward classification
    network outputs, with relationships to statistical pattern recognition",
    Neurocomputing, 1990. doi:10.1007/978-3-642-76153-9_28

    P. Blanchard, D. J. Higham and N. J. Higham, "Accurately computing the
    log-sum-exp and softmax functions", IMA J. Numer. Anal. 41(4), 2021.
    doi:10.1093/imanum/draa038

    Examples
    --------
    >>> import numpy as np, softmaxkit as sk
    >>> sk.softmax(np.array([5.0, 7.0, 8.0]))
    array([0.03511903, 0.25949646, 0.70538451])

    Shifting every logit by 1000 changes nothing and overflows nothing:

    >>> sk.softmax(np.array([1005.0, 1007.0, 1008.0]))
    array([0.03511903, 0.25949646, 0.70538451])
    >>> sk.softmax(np.array([-np.inf, -np.inf])), sk.softmax(np.array([np.inf, 0.0, np.inf]))
    (array([0., 0.]), array([0.5, 0. , 0.5]))
    """
    xp, x, axes, mask, was_0d = _prepare(x, axis, where)
    temperature = _checks.temperature(temperature, xp, work_dtype(xp, x.dtype))
    out = fast_call("softmax", xp, x, axes=axes, temperature=temperature, where=mask)
    if out is None:
        out = _softmax_ref(xp, x, axes, temperature, mask)
    return xp.reshape(out, ()) if was_0d else out


def log_softmax(
    x: Array,
    /,
    *,
    axis: Axis = -1,
    temperature: float = 1.0,
    where: Array | None = None,
) -> Array:
    r"""Log-softmax: ``x - logsumexp(x)``, never ``log(softmax(x))``.

    .. math::

        \log \operatorname{softmax}(x)_i = \frac{x_i - m}{T}
            - \log \sum_j e^{(x_j - m)/T}, \qquad m = \max_j x_j

    Parameters
    ----------
    x : array
        Logits (see :func:`softmax`).
    axis : int, tuple of int or None, default -1
        The class axis (or axes); ``None`` for all elements.
    temperature : float, default 1.0
        A finite number > 0 within the range of the dtype computed in (as for
        :func:`softmax`); the result is that of ``x / temperature``.
    where : boolean array, optional
        Broadcastable to ``x``; masked-out entries get ``-inf``.

    Returns
    -------
    array
        Log-probabilities, shape, dtype and device of ``x``. An all ``-inf``
        row gives ``-inf``; a row with k ``+inf`` entries gives ``log(1/k)``
        there and ``-inf`` elsewhere.

    References
    ----------
    P. Blanchard, D. J. Higham and N. J. Higham, "Accurately computing the
    log-sum-exp and softmax functions", IMA J. Numer. Anal. 41(4), 2021.
    doi:10.1093/imanum/draa038

    Examples
    --------
    The log of a probability too small for floating point is still exact:

    >>> import numpy as np, softmaxkit as sk
    >>> sk.log_softmax(np.array([1000.0, 1.0]))
    array([   0., -999.])
    >>> np.log(sk.softmax(np.array([1000.0, 1.0])))  # doctest: +SKIP
    array([  0., -inf])
    """
    xp, x, axes, mask, was_0d = _prepare(x, axis, where)
    temperature = _checks.temperature(temperature, xp, work_dtype(xp, x.dtype))
    out = fast_call("log_softmax", xp, x, axes=axes, temperature=temperature, where=mask)
    if out is None:
        out = _log_softmax_ref(xp, x, axes, temperature, mask)
    return xp.reshape(out, ()) if was_0d else out


def logsumexp(
    x: Array,
    /,
    *,
    axis: Axis = -1,
    keepdims: bool = False,
    where: Array | None = None,
    b: Array | None = None,
    return_sign: bool = False,
) -> Array | tuple[Array, Array]:
    r"""Log-sum-exp along ``axis``, without overflow or underflow.

    .. math::

        \operatorname{LSE}(x) = \log \sum_i e^{x_i}
            = m + \log\Bigl(c + \sum_{i:\, x_i < m} e^{x_i - m}\Bigr),
        \qquad m = \max_i x_i

    where c is the number of entries equal to m; the log is taken as
    ``log(c) + log1p(rest / c)`` so that tiny contributions are not rounded away.

    Parameters
    ----------
    x : array
        Input of any Array API library (integers are promoted to float).
    axis : int, tuple of int or None, default -1
        Axis or axes to reduce; ``None`` reduces all elements.
    keepdims : bool, default False
        Keep the reduced axes with length 1.
    where : boolean array, optional
        Broadcastable to ``x``; masked-out entries act as ``-inf`` (they are left
        out of the sum).
    b : array, optional
        Weights ``b`` broadcastable to ``x``: the result is
        ``log |sum b e^x|``. Negative weights subtract (as in SciPy); an entry
        with ``b = 0`` takes no part, even when ``x`` is infinite there.
    return_sign : bool, default False
        Also return ``sign(sum b e^x)`` (1, -1, or 0 for a zero sum). Without
        it, a negative sum gives NaN (as SciPy).

    Returns
    -------
    array, or (array, array) with ``return_sign``
        ``-inf`` for an all ``-inf`` (or fully masked, or empty) reduction,
        ``+inf`` when an entry is ``+inf``, NaN when an entry is NaN. The
        gradient (PyTorch, JAX) is the softmax, ``b e^x / sum b e^x``, and
        ``e^x / sum b e^x`` for ``b``.

    References
    ----------
    P. Blanchard, D. J. Higham and N. J. Higham, "Accurately computing the
    log-sum-exp and softmax functions", IMA J. Numer. Anal. 41(4), 2021.
    doi:10.1093/imanum/draa038

    Examples
    --------
    >>> import numpy as np, softmaxkit as sk
    >>> float(sk.logsumexp(np.array([1000.0, 1000.0])))  # 1000 + log(2)
    1000.6931471805599
    >>> float(sk.logsumexp(np.array([0.0, -40.0])))  # log1p(exp(-40)), not 0
    4.248354255291589e-18
    >>> float(sk.logsumexp(np.array([])))
    -inf

    Weights, as in SciPy: ``log(e^2 - e^1)``, and the sign of a negative sum:

    >>> float(sk.logsumexp(np.array([2.0, 1.0]), b=np.array([1.0, -1.0])))
    1.5413248546129181
    >>> value, sign = sk.logsumexp(np.array([1.0, 2.0]), b=np.array([1.0, -1.0]), return_sign=True)
    >>> float(value), float(sign)
    (1.5413248546129181, -1.0)
    """
    if not isinstance(keepdims, bool):
        raise TypeError(f"expected a bool for keepdims, got {keepdims!r}")
    if not isinstance(return_sign, bool):
        raise TypeError(f"expected a bool for return_sign, got {return_sign!r}")
    if b is None and not return_sign:
        xp, x, axes, mask, was_0d = _prepare(x, axis, where)
        out = fast_call("logsumexp", xp, x, axes=axes, keepdims=keepdims, where=mask)
        if out is None:
            out = _logsumexp_ref(xp, x, axes, keepdims, mask)
        return xp.reshape(out, ()) if was_0d else out
    xp = namespace(("x", x), ("b", b), ("where", where))
    if b is None:
        b = xp.ones(x.shape, dtype=as_float(xp, x).dtype, device=device(x))
    bf = as_float(xp, b, "b")
    xf = as_float(xp, x)
    dt = xp.result_type(xf, bf)
    _checks.broadcastable_to(b, tuple(x.shape), "b", "x")
    x = xp.astype(xf, dt) if xf.dtype != dt else xf
    bf = xp.broadcast_to(xp.astype(bf, dt), tuple(x.shape))
    xp, x, axes, mask, was_0d = _prepare(x, axis, where)
    if was_0d:
        bf = xp.reshape(bf, (1,))
    res = fast_call("logsumexp_weighted", xp, x, bf, axes=axes, keepdims=keepdims, where=mask)
    out, sign = res if res is not None else _logsumexp_weighted_ref(xp, x, bf, axes, keepdims, mask)
    if was_0d:
        out, sign = xp.reshape(out, ()), xp.reshape(sign, ())
    if return_sign:
        return out, sign
    return xp.where(sign < 0, const(xp, math.nan, out), out)


def sigmoid(x: Array, /) -> Array:
    r"""The logistic sigmoid, elementwise: the two-class softmax.

    .. math::

        \sigma(x) = \frac{1}{1 + e^{-x}}
                  = \operatorname{softmax}([0, x])_1

    Computed from ``e = exp(-|x|) <= 1`` as ``1 / (1 + e)`` for ``x >= 0`` and
    ``e / (1 + e)`` for ``x < 0``, so it never overflows and keeps full relative
    accuracy for large negative ``x``. ``sigmoid(-inf) = 0``, ``sigmoid(inf) = 1``.

    Parameters
    ----------
    x : array
        Any real array (integers are promoted to float).

    Returns
    -------
    array
        Values in [0, 1], same shape, dtype and device as ``x``.

    References
    ----------
    P. F. Verhulst, "Notice sur la loi que la population suit dans son
    accroissement", Correspondance mathématique et physique 10, 1838.

    Examples
    --------
    >>> import numpy as np, softmaxkit as sk
    >>> sk.sigmoid(np.array([-800.0, 0.0, 800.0]))
    array([0. , 0.5, 1. ])
    >>> float(sk.sigmoid(np.array(-30.0)))  # full relative accuracy in the tail
    9.3576229688393e-14
    """
    xp = namespace(("x", x))
    x = as_float(xp, x)
    out = fast_call("sigmoid", xp, x)
    return _sigmoid_ref(xp, x) if out is None else out


def log_sigmoid(x: Array, /) -> Array:
    r"""Log of the logistic sigmoid, elementwise, without overflow or cancellation.

    .. math::

        \log \sigma(x) = -\log(1 + e^{-x}) = \min(x, 0) - \operatorname{log1p}(e^{-|x|})

    Parameters
    ----------
    x : array
        Any real array (integers are promoted to float).

    Returns
    -------
    array
        Values in ``[-inf, 0]``; ``log_sigmoid(-inf) = -inf``,
        ``log_sigmoid(inf) = 0``.

    References
    ----------
    M. Mächler, "Accurately computing log(1 - exp(-\|a\|))", R package Rmpfr
    vignette, 2012.

    Examples
    --------
    >>> import numpy as np, softmaxkit as sk
    >>> sk.log_sigmoid(np.array([-1000.0, 0.0, 40.0]))
    array([-1.00000000e+03, -6.93147181e-01, -4.24835426e-18])
    """
    xp = namespace(("x", x))
    x = as_float(xp, x)
    out = fast_call("log_sigmoid", xp, x)
    return _log_sigmoid_ref(xp, x) if out is None else out


def _sigmoid_ref(xp: Namespace, x: Array) -> Array:
    xw = _to_work(xp, x)
    e = xp.exp(-xp.abs(xw))
    one = const(xp, 1.0, xw)
    return narrow(xp, xp.where(xw >= 0, one, e) / (one + e), x.dtype)


def _log_sigmoid_ref(xp: Namespace, x: Array) -> Array:
    xw = _to_work(xp, x)
    zero = const(xp, 0.0, xw)
    return narrow(xp, xp.minimum(xw, zero) - xp.log1p(xp.exp(-xp.abs(xw))), x.dtype)


ELEMENTWISE: dict[str, Callable[..., Array]] = {
    "sigmoid": _sigmoid_ref,
    "log_sigmoid": _log_sigmoid_ref,
}
