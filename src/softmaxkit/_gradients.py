r"""The closed-form derivatives of the softmax family, in Array API calls only.

Both the PyTorch ``autograd.Function`` classes (:mod:`softmaxkit._fast.torch`,
which need vector-Jacobian products) and the JAX ``custom_jvp`` rules
(:mod:`softmaxkit._fast.jax`, which need Jacobian-vector products) are written
from these, so every framework differentiates the same formulas:

* softmax (result 3): ``J = (diag(s) - s s^T) / T``, symmetric, so
  ``J^T g = J g = s * (g - <g, s>) / T``;
* log-softmax: ``J = (I - 1 s^T) / T``: ``J^T g = (g - s sum(g)) / T`` and
  ``J v = (v - <s, v>) / T``;
* log-sum-exp: the gradient is the (weighted) softmax;
* softmax cross-entropy (result 5): ``d l / d z = (softmax(z / T) - y) / T`` and
  ``d l / d y = -(1 - eps) log softmax(z / T)``.

Edge policy (the numerical contract of the package, applied to derivatives):
an entry whose log-probability is ``-inf`` (an ``-inf`` logit, a masked-out
entry, every entry of an all ``-inf`` row) has derivative 0: its output stays
``-inf`` under every finite change of the input. Rows with ``+inf`` entries
take the limit (the derivative at the limiting probabilities). No NaN comes out
unless a NaN went in. For the information measures, an entry with ``p_i = 0``
has ``d/dp_i = 0`` (the one-sided derivative of ``p log p`` is infinite there;
0 is what the composition with softmax needs, where an underflowed probability
must contribute nothing, not ``0 * inf = NaN``), and ``d/dq_i = -p_i / q_i``
is 0 where ``p_i = 0``.
"""

from __future__ import annotations

import math

from ._array import Array, Namespace, const


def _sum(xp: Namespace, a: Array, axes: tuple[int, ...]) -> Array:
    return xp.sum(a, axis=axes, keepdims=True)


def softmax_vjp(xp: Namespace, s: Array, g: Array, axes: tuple[int, ...], T: float) -> Array:
    """``J^T g = s * (g - <g, s>) / T`` (``J`` is symmetric: also the JVP)."""
    out = s * (g - _sum(xp, g * s, axes))
    return out / T if T != 1.0 else out


def log_softmax_vjp(xp: Namespace, out: Array, g: Array, axes: tuple[int, ...], T: float) -> Array:
    """``(g - softmax * sum(g)) / T``, 0 where the log-probability is ``-inf``."""
    s = xp.exp(out)
    grad = g - s * _sum(xp, xp.where(out == -math.inf, const(xp, 0.0, g), g), axes)
    grad = xp.where(out == -math.inf, const(xp, 0.0, grad), grad)
    return grad / T if T != 1.0 else grad


def log_softmax_jvp(
    xp: Namespace, out: Array, v: Array, axes: tuple[int, ...], T: float, s: Array | None = None
) -> Array:
    """``(v - <softmax, v>) / T``, 0 where the log-probability is ``-inf`` (``s``, the
    softmax, when the caller has it; else ``exp(out)``)."""
    s = xp.exp(out) if s is None else s
    dead = out == -math.inf
    v0 = xp.where(dead, const(xp, 0.0, v), v)
    t = v0 - _sum(xp, s * v0, axes)
    t = xp.where(dead, const(xp, 0.0, t), t)
    return t / T if T != 1.0 else t


def weighted_softmax(
    xp: Namespace, x: Array, b: Array | None, axes: tuple[int, ...], mask: Array | None
) -> tuple[Array, Array]:
    """``(s, e)`` with ``s_i = b_i e^{x_i} / sum_j b_j e^{x_j}`` (the gradient of
    ``log |sum b e^x|`` with respect to ``x``) and ``e_i = e^{x_i} / sum_j b_j e^{x_j}``
    (its gradient with respect to ``b``); ``b = None`` means all ones.

    Entries with ``b_i = 0`` or masked out do not take part. A row whose sum is
    0 (all ``-inf``, fully masked, or weights that cancel) has ``s = e = 0``.
    ``+inf`` entries take the limit: the mass is shared among them by weight.
    """
    from .activations import _shift_by

    ninf = const(xp, -math.inf, x)
    live = xp.ones(x.shape, dtype=xp.bool) if mask is None else xp.broadcast_to(mask, x.shape)
    if b is not None:
        live = live & (b != 0)
    xl = xp.where(live, x, ninf)
    m = xp.max(xl, axis=axes, keepdims=True)
    e = xp.exp(_shift_by(xp, xl, m, 1.0))
    be = e if b is None else b * e
    total = _sum(xp, be, axes)
    safe = xp.where(total == 0, const(xp, 1.0, total), total)
    return be / safe, e / safe


def cross_entropy_rows_grads(
    xp: Namespace, logp: Array, y: Array, eps: float, T: float
) -> tuple[Array, Array]:
    """Per-row derivatives of ``l = -sum_k y'_k log softmax(z / T)_k`` with
    ``y' = (1 - eps) y + eps / K``: ``(dl/dz, dl/dy) = ((p - y') / T, -(1 - eps) logp)``.

    ``logp`` is ``log softmax(z / T)`` along the last axis; ``y`` a probability row.
    """
    K = logp.shape[-1]
    ys = (1.0 - eps) * y + eps / K if eps > 0.0 else y
    dz = xp.exp(logp) - ys
    if T != 1.0:
        dz = dz / T
    dy = -(1.0 - eps) * logp if eps > 0.0 else -logp
    return dz, dy


# -------------------------------------------------------------------------------------
# entropy, cross-entropy and KL divergence: elementwise partial derivatives


def _log_or_zero(xp: Namespace, a: Array) -> Array:
    """``log a`` where ``a > 0`` and 0 where ``a = 0`` (used only where p = 0 makes
    the term vanish)."""
    zero, one = const(xp, 0.0, a), const(xp, 1.0, a)
    return xp.where(a == 0, zero, xp.log(xp.where(a == 0, one, a)))


def entropy_partial(xp: Namespace, p: Array) -> Array:
    """``d H / d p_i = -(log p_i + 1)``, and 0 where ``p_i = 0``."""
    zero = const(xp, 0.0, p)
    return xp.where(p == 0, zero, -(_log_or_zero(xp, p) + 1.0))


def cross_entropy_partials(xp: Namespace, p: Array, q: Array) -> tuple[Array, Array]:
    """``(d/dp_i, d/dq_i)`` of ``H(P, Q) = -sum p log q``: ``(-log q_i, -p_i / q_i)``,
    both 0 where ``p_i = 0``."""
    zero, one = const(xp, 0.0, p), const(xp, 1.0, p)
    off = p == 0
    log_q = xp.where(q == 0, const(xp, -math.inf, q), xp.log(xp.where(q == 0, one, q)))
    dp = xp.where(off, zero, -log_q)
    dq = xp.where(off, zero, -p / xp.where(off, one, q))
    return dp, dq


def kl_partials(xp: Namespace, p: Array, q: Array) -> tuple[Array, Array]:
    """``(d/dp_i, d/dq_i)`` of ``KL(P || Q)``: ``(log(p_i / q_i) + 1, -p_i / q_i)``,
    both 0 where ``p_i = 0``."""
    zero = const(xp, 0.0, p)
    dp_ce, dq = cross_entropy_partials(xp, p, q)
    dp = xp.where(p == 0, zero, _log_or_zero(xp, p) + 1.0 + dp_ce)
    return dp, dq


def sigmoid_partial(xp: Namespace, x: Array) -> Array:
    """``sigma'(x) = sigma(x) sigma(-x)``: each factor accurate, no ``1 - sigma``."""
    from .activations import sigmoid

    return sigmoid(x) * sigmoid(-x)


def log_sigmoid_partial(xp: Namespace, x: Array) -> Array:
    """``d log sigma(x) / dx = sigma(-x)``."""
    from .activations import sigmoid

    return sigmoid(-x)
