r"""Entropy, cross-entropy and Kullback-Leibler divergence of discrete distributions.

.. math::

    H(P) = -\sum_i p_i \log p_i, \qquad
    H(P, Q) = -\sum_i p_i \log q_i, \qquad
    D_{\mathrm{KL}}(P \,\|\, Q) = \sum_i p_i \log \frac{p_i}{q_i}

with ``0 log 0 = 0`` and ``0 log(0 / q) = 0``, so that ``H(P, Q) = H(P) +
D_KL(P || Q)`` holds term by term. The inputs are not renormalised (unlike
``scipy.stats.entropy``): pass distributions. Entries outside [0, 1] (negative,
above 1, infinite: counts or scores where probabilities belong) raise
``ValueError`` (skipped on lazy arrays); NaN entries give NaN.
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
    broadcast_shape,
    const,
    namespace,
    normalize_axis,
)
from ._fast import call as fast_call

__all__ = ["cross_entropy", "entropy", "kl_divergence"]


def _xlogy_terms(xp: Namespace, p: Array, q: Array) -> Array:
    """``p * log(q)`` with ``0 * log(anything) = 0`` and ``p * log 0 = -inf`` for p > 0.

    Both ``where`` branches are computed, so their inputs are sanitised first:
    no warning, no NaN from ``0 * -inf``.
    """
    zero, one = const(xp, 0.0, p), const(xp, 1.0, p)
    log_q = xp.where(q == 0, const(xp, -math.inf, q), xp.log(xp.where(q == 0, one, q)))
    return xp.where(p == 0, zero, p * xp.where(p == 0, zero, log_q))


def _kl_tail(xp: Namespace, d: Array) -> Array:
    """``h(d) = (1 + d) log1p(d) - d >= 0`` for ``|d| <= 1/2``, to full relative accuracy.

    For ``|d| < 0.1`` the alternating series ``sum_{n>=2} (-d)^n / (n (n - 1))``
    (15 terms reach 1e-17 relative at 0.1); above, the direct formula, whose
    cancellation costs at most ``4 eps / |d|`` relative.
    """
    small = xp.abs(d) < 0.1
    ds = xp.where(small, d, const(xp, 0.0, d))
    # h(d) / d^2 = sum_k c_k d^k with c_k = (-1)^k / ((k + 1)(k + 2)), by Horner.
    series = const(xp, 1.0 / (16 * 15), d)
    for k in range(13, -1, -1):
        series = (-1.0) ** k / ((k + 1) * (k + 2)) + ds * series
    direct = (1.0 + d) * xp.log1p(d) - d
    return xp.where(small, ds * ds * series, direct)


def _kl_sum(xp: Namespace, p: Array, q: Array, axes: tuple[int, ...] | None) -> Array:
    r"""``sum p log(p / q)`` without cancellation when P is close to Q.

    Where ``q/2 <= p <= 3q/2`` the term is written, with ``d = (p - q) / q``, as

    .. math::  p \log \tfrac{p}{q} = (p - q) + q\,h(d), \qquad
               h(d) = (1 + d) \log(1 + d) - d \ge 0,

    (``p - q`` is exact there, by Sterbenz's lemma) and the two parts are summed
    separately: the first sums to ``sum p - sum q`` (0 up to the rounding of the
    inputs), the second is a sum of nonnegative terms, so it keeps its relative
    accuracy even when the divergence is 1e-13 and each term is 1e-7. Elsewhere
    ``p log(p / q)`` has no cancellation to fear. The result is clamped at 0: a
    negative value can come only from inputs whose totals differ by rounding.
    """
    zero, one = const(xp, 0.0, p), const(xp, 1.0, p)
    near = (p > 0) & (q > 0) & (xp.abs(p - q) <= 0.5 * q)
    qs = xp.where(near, q, one)
    d = xp.where(near, (p - q) / qs, zero)
    tail = xp.where(near, qs * _kl_tail(xp, d), zero)
    far = _xlogy_terms(xp, p, p) - _xlogy_terms(xp, p, q)
    first = xp.where(near, p - q, far)
    total = xp.sum(first, axis=axes) + xp.sum(tail, axis=axes)
    return xp.where(total < 0, const(xp, 0.0, total), total)


def _entropy_ref(xp: Namespace, p: Array, axes: tuple[int, ...] | None) -> Array:
    return -xp.sum(_xlogy_terms(xp, p, p), axis=axes)


def _cross_entropy_ref(xp: Namespace, p: Array, q: Array, axes: tuple[int, ...] | None) -> Array:
    return -xp.sum(_xlogy_terms(xp, p, q), axis=axes)


# The reference of each function, by name, for the custom-gradient fast paths.
REFERENCES: dict[str, Callable[..., Array]] = {
    "entropy": _entropy_ref,
    "cross_entropy": _cross_entropy_ref,
    "kl_divergence": _kl_sum,
}


def _prepare(
    p: Array, q: Array | None, axis: Axis, base: object
) -> tuple[Namespace, Array, Array | None, tuple[int, ...] | None, float | None]:
    xp = namespace(("p", p), ("q", q))
    p = as_float(xp, p, "p")
    if q is not None:
        q = as_float(xp, q, "q")
        shape = broadcast_shape(tuple(p.shape), tuple(q.shape))
        if shape is None:
            raise ValueError(
                f"expected p and q of broadcastable shapes, got shapes {tuple(p.shape)} "
                f"and {tuple(q.shape)}"
            )
        dt = xp.result_type(p, q)
        p, q = xp.broadcast_to(xp.astype(p, dt), shape), xp.broadcast_to(xp.astype(q, dt), shape)
        _checks.probability_entries(xp, q, "q")
    _checks.probability_entries(xp, p, "p")
    ln_base = _checks.log_base(base)
    axes = normalize_axis(axis, p.ndim) if p.ndim else None
    return xp, p, q, axes, ln_base


def _in_base(xp: Namespace, value: Array, ln_base: float | None) -> Array:
    return value if ln_base is None else value / ln_base


def entropy(p: Array, /, *, axis: Axis = -1, base: float | None = None) -> Array:
    r"""Shannon entropy ``H(P) = -sum p log p`` along ``axis``.

    .. math::

        H(P) = -\sum_i p_i \log_b p_i, \qquad 0 \log 0 = 0

    Parameters
    ----------
    p : array
        Probabilities (not renormalised), entries in [0, 1].
    axis : int, tuple of int or None, default -1
        Axis or axes to sum over; ``None`` for all.
    base : float, optional
        Logarithm base: ``None`` for nats (natural log), ``2`` for bits; any
        finite base > 0 and != 1, else ``ValueError``.

    Returns
    -------
    array
        The reduced array; dtype of ``p`` (integers promoted).

    References
    ----------
    C. E. Shannon, "A Mathematical Theory of Communication", Bell System
    Technical Journal 27(3), 1948. doi:10.1002/j.1538-7305.1948.tb01338.x

    Examples
    --------
    >>> import numpy as np, softmaxkit as sk
    >>> float(sk.entropy(np.array([0.5, 0.5]), base=2))
    1.0
    >>> float(sk.entropy(np.array([1.0, 0.0])))  # 0 log 0 = 0
    0.0
    """
    xp, p, _, axes, ln_base = _prepare(p, None, axis, base)
    out = fast_call("entropy", xp, p, axes=axes)
    return _in_base(xp, _entropy_ref(xp, p, axes) if out is None else out, ln_base)


def cross_entropy(p: Array, q: Array, /, *, axis: Axis = -1, base: float | None = None) -> Array:
    r"""Cross-entropy ``H(P, Q) = -sum p log q`` between two distributions.

    .. math::

        H(P, Q) = -\sum_i p_i \log_b q_i = H(P) + D_{\mathrm{KL}}(P \,\|\, Q)

    Terms with ``p_i = 0`` are 0; ``p_i > 0`` with ``q_i = 0`` gives ``inf``.

    Parameters
    ----------
    p, q : array
        Probabilities of broadcastable shapes (``ValueError`` naming both
        shapes otherwise), entries in [0, 1], not renormalised.
    axis : int, tuple of int or None, default -1
        Axis or axes to sum over; ``None`` for all.
    base : float, optional
        ``None`` for nats, ``2`` for bits.

    Returns
    -------
    array
        The reduced array, in the promoted dtype of ``p`` and ``q``.

    References
    ----------
    T. M. Cover and J. A. Thomas, "Elements of Information Theory", 2nd ed.,
    Wiley, 2006, section 2.3.

    Examples
    --------
    >>> import numpy as np, softmaxkit as sk
    >>> p, q = np.array([0.5, 0.5]), np.array([0.9, 0.1])
    >>> round(float(sk.cross_entropy(p, q)), 6)
    1.203973
    >>> round(float(sk.entropy(p) + sk.kl_divergence(p, q)), 6)
    1.203973
    """
    xp, p, q, axes, ln_base = _prepare(p, q, axis, base)
    out = fast_call("cross_entropy", xp, p, q, axes=axes)
    return _in_base(xp, _cross_entropy_ref(xp, p, q, axes) if out is None else out, ln_base)


def kl_divergence(p: Array, q: Array, /, *, axis: Axis = -1, base: float | None = None) -> Array:
    r"""Kullback-Leibler divergence ``D_KL(P || Q) = sum p log(p / q)``.

    .. math::

        D_{\mathrm{KL}}(P \,\|\, Q) = \sum_i p_i \log_b \frac{p_i}{q_i} \ge 0

    Terms with ``p_i = 0`` are 0; ``p_i > 0`` with ``q_i = 0`` gives ``inf``.
    Not symmetric: ``D_KL(P || Q) != D_KL(Q || P)`` in general. Computed as
    ``sum (p - q) + sum q h((p - q) / q)`` where P is close to Q (see
    below), so it keeps its relative accuracy when the divergence is tiny
    (where ``sum p log p - sum p log q`` loses every digit), and is never
    negative; ``cross_entropy(p, q) == entropy(p) + kl_divergence(p, q)`` to
    rounding.

    Where ``q_i / 2 <= p_i <= 3 q_i / 2``, with ``d = (p_i - q_i) / q_i``:

    .. math::

        p_i \log \frac{p_i}{q_i} = (p_i - q_i) + q_i\,h(d), \qquad
        h(d) = (1 + d) \log(1 + d) - d \ge 0

    The first parts sum to ``sum p - sum q`` (0 for distributions, up to their
    rounding), the second are nonnegative and summed apart.

    Parameters
    ----------
    p, q : array
        Probabilities of broadcastable shapes, entries in [0, 1], not renormalised.
    axis : int, tuple of int or None, default -1
        Axis or axes to sum over; ``None`` for all.
    base : float, optional
        ``None`` for nats, ``2`` for bits.

    Returns
    -------
    array
        The reduced array, in the promoted dtype of ``p`` and ``q``.

    References
    ----------
    S. Kullback and R. A. Leibler, "On Information and Sufficiency", Ann. Math.
    Statist. 22(1), 1951. doi:10.1214/aoms/1177729694

    Examples
    --------
    >>> import numpy as np, softmaxkit as sk
    >>> p, q = np.array([0.5, 0.5]), np.array([0.9, 0.1])
    >>> round(float(sk.kl_divergence(p, q, base=2)), 6)  # bits
    0.736966
    >>> round(float(sk.kl_divergence(q, p, base=2)), 6)  # not symmetric
    0.531004
    """
    xp, p, q, axes, ln_base = _prepare(p, q, axis, base)
    assert q is not None
    out = fast_call("kl_divergence", xp, p, q, axes=axes)
    return _in_base(xp, _kl_sum(xp, p, q, axes) if out is None else out, ln_base)
