r"""The softmax Jacobian and its products, from the probabilities ``s = softmax(x)``.

.. math::

    J_{ij} = \frac{\partial s_i}{\partial x_j} = s_i(\delta_{ij} - s_j),
    \qquad J = \operatorname{diag}(s) - s s^\top

Everything here takes the probabilities ``s``, not the logits: that is what a
backward pass has at hand, and it makes the all ``-inf`` row (``s = 0``) give a
zero Jacobian by the formula itself. ``J`` is symmetric, so the vector-Jacobian
product equals the Jacobian-vector product.
"""

from __future__ import annotations

import math

from ._array import (
    Array,
    Namespace,
    as_float,
    const,
    device,
    finfo_max,
    is_lazy,
    namespace,
    single_axis,
)
from ._fast import call as fast_call

__all__ = [
    "softmax_jacobian",
    "softmax_jacobian_iterative",
    "softmax_jvp",
    "softmax_vjp",
]


def softmax_jacobian(s: Array, /, *, axis: int = -1) -> Array:
    r"""The softmax Jacobian ``diag(s) - s s^T``, batched over the leading axes.

    .. math::

        J_{\ldots ij} = s_{\ldots i}\,(\delta_{ij} - s_{\ldots j})

    Vectorised: one broadcast outer product, no loop over rows or classes. The
    diagonal is computed as ``s * (1 - s)``, not ``s - s * s``, which keeps its
    relative accuracy when ``s`` is close to 1.

    Parameters
    ----------
    s : array, shape ``(..., K)`` (class axis at ``axis``)
        Softmax probabilities (the output of :func:`softmaxkit.softmax`). They
        are not checked: the formula is the Jacobian at any point of the simplex.
    axis : int, default -1
        The class axis of ``s``.

    Returns
    -------
    array, shape ``(..., K, K)``
        The class axis is moved last and a new last axis added:
        ``J[..., i, j] = ds_i / dx_j``. Same dtype and device as ``s``.

    See Also
    --------
    softmax_jacobian_iterative : the two-loop version it is tested against.
    softmax_jvp, softmax_vjp : products with ``J`` in O(K), without forming it.

    References
    ----------
    C. M. Bishop, "Pattern Recognition and Machine Learning", Springer, 2006,
    eq. (4.106).

    Examples
    --------
    >>> import numpy as np, softmaxkit as sk
    >>> s = sk.softmax(np.array([5.0, 7.0, 8.0]))
    >>> sk.softmax_jacobian(s).round(8)
    array([[ 0.03388568, -0.00911326, -0.02477242],
           [-0.00911326,  0.19215805, -0.18304478],
           [-0.02477242, -0.18304478,  0.2078172 ]])
    """
    xp = namespace(("s", s))
    s = as_float(xp, s, "s")
    ax = single_axis(axis, s.ndim)
    if (out := fast_call("softmax_jacobian", xp, s, axis=ax)) is not None:
        return out
    s = xp.moveaxis(s, ax, -1)
    K = s.shape[-1]
    col, row = xp.expand_dims(s, axis=-1), xp.expand_dims(s, axis=-2)
    on_diagonal = xp.eye(K, dtype=xp.bool, device=device(s))
    one = const(xp, 1.0, s)
    return xp.where(on_diagonal, col * (one - col), -(col * row))


def softmax_jacobian_iterative(s: Array, /) -> Array:
    r"""The softmax Jacobian built entry by entry with two loops (for teaching and testing).

    .. math::

        J_{ij} = \begin{cases} s_i (1 - s_i) & i = j \\ -s_i s_j & i \ne j \end{cases}

    This is the derivation written as code: the quotient rule applied to
    ``s_i = e^{x_i} / \sum_k e^{x_k}`` gives the two cases above. It is O(K^2)
    Python-level work and exists to teach the formula and to test
    :func:`softmax_jacobian` against; use that one in real code (it is
    vectorised and batched). Works on any Array API array but, looping in
    Python, cannot be traced by ``jax.jit``.

    Parameters
    ----------
    s : array, shape ``(K,)``
        Softmax probabilities of one row.

    Returns
    -------
    array, shape ``(K, K)``
        Same dtype and device as ``s``.

    References
    ----------
    C. M. Bishop, "Pattern Recognition and Machine Learning", Springer, 2006,
    eq. (4.106).

    Examples
    --------
    >>> import numpy as np, softmaxkit as sk
    >>> s = sk.softmax(np.array([5.0, 7.0, 8.0]))
    >>> bool(np.allclose(sk.softmax_jacobian_iterative(s), sk.softmax_jacobian(s)))
    True
    """
    xp = namespace(("s", s))
    s = as_float(xp, s, "s")
    if s.ndim != 1:
        raise ValueError(f"expected a 1-D array of probabilities, got shape {tuple(s.shape)}")
    K = s.shape[0]
    if K == 0:
        return xp.zeros((0, 0), dtype=s.dtype, device=device(s))
    rows = []
    for i in range(K):
        row = []
        for j in range(K):
            if i == j:
                row.append(s[i] * (1 - s[i]))  # d s_i / d x_i
            else:
                row.append(-s[i] * s[j])  # d s_i / d x_j
        rows.append(xp.stack(row))
    return xp.stack(rows)


def _jvp(s: Array, v: Array, axis: int, name: str, op: str) -> Array:
    xp = namespace(("s", s), (name, v))
    s = as_float(xp, s, "s")
    v = as_float(xp, v, name)
    if tuple(s.shape) != tuple(v.shape):
        raise ValueError(
            f"expected {name} to have the shape of s: s has shape {tuple(s.shape)}, "
            f"{name} has shape {tuple(v.shape)}"
        )
    ax = single_axis(axis, s.ndim)
    dt = xp.result_type(s, v)
    s, v = xp.astype(s, dt), xp.astype(v, dt)
    if (out := fast_call(op, xp, s, v, axis=ax)) is not None:
        return out
    return _product(xp, s, v, ax)


def _product(xp: Namespace, s: Array, v: Array, ax: int) -> Array:
    """``s * (v - <s, v>)``, exact for every finite ``v`` and the limit for infinite ones.

    ``|<s, v>| <= max |v|``, so ``v - <s, v>`` can overflow only in rows whose largest
    finite ``|v|`` exceeds ``fmax / 4``; those rows are computed on ``v / 4`` and
    the product multiplied back: a power of two, so no rounding changes (the true
    result, when it exceeds ``fmax``, still becomes ``inf``).

    An infinite entry makes ``v = f + t u`` with ``t -> inf`` (``f`` the finite part,
    ``u`` the signs of the infinities), and ``J v = J f + t J u``: the sign of
    ``(J u)_i = s_i (u_i - <s, u>)`` decides ``+-inf``, and where it is 0 the finite
    ``(J f)_i`` is the limit. With ``sum s = 1``, ``u_i - <s, u>`` is
    ``S_0 + 2 S_-`` for ``u_i = 1``, ``-(S_0 + 2 S_+)`` for ``u_i = -1`` and ``S_- - S_+``
    for ``u_i = 0`` (``S_+, S_-, S_0`` the mass of ``s`` where ``u`` is 1, -1, 0): sums
    of non-negative terms, so the sign is exact, not a rounding residue of
    ``1 - sum s``. NaN in ``v`` gives NaN.
    """
    inf = xp.isinf(v)
    zero = const(xp, 0.0, v)
    f = xp.where(inf, zero, v)
    big = xp.max(xp.abs(f), axis=ax, keepdims=True) > finfo_max(xp, v.dtype) / 4
    scale = xp.where(big, const(xp, 0.25, v), const(xp, 1.0, v))
    fs = f * scale
    out = (s * (fs - xp.sum(s * fs, axis=ax, keepdims=True))) / scale
    if not is_lazy(v) and not bool(xp.any(inf)):
        return out
    pos, neg = inf & (v > 0), inf & (v < 0)

    def mass(where: Array) -> Array:
        return xp.sum(xp.where(where, s, zero), axis=ax, keepdims=True)

    s_pos, s_neg, s_zero = mass(pos), mass(neg), mass(~inf)
    d = xp.where(pos, s_zero + 2 * s_neg, xp.where(neg, -(s_zero + 2 * s_pos), s_neg - s_pos))
    b = s * d
    big_inf = const(xp, math.inf, v)
    limit = xp.where(b > 0, big_inf, xp.where(b < 0, -big_inf, out))
    return xp.where(xp.isnan(out), out, limit)  # a NaN in the row stays NaN


def softmax_jvp(s: Array, v: Array, /, *, axis: int = -1) -> Array:
    r"""Jacobian-vector product ``J v`` in O(K) per row, without forming ``J``.

    .. math::

        (J v)_i = \sum_j s_i(\delta_{ij} - s_j) v_j = s_i \bigl(v_i - \langle s, v\rangle\bigr)

    Parameters
    ----------
    s : array
        Softmax probabilities, class axis ``axis``.
    v : array
        Tangent vectors, same shape as ``s``.
    axis : int, default -1
        The class axis.

    Returns
    -------
    array
        Same shape as ``s``; dtype is the promotion of ``s`` and ``v``.

    References
    ----------
    JAX, ``jax.nn.softmax`` custom JVP: ``y * (x_dot - (y * x_dot).sum(axis))``.

    Examples
    --------
    >>> import numpy as np, softmaxkit as sk
    >>> s = sk.softmax(np.array([5.0, 7.0, 8.0]))
    >>> v = np.array([1.0, -2.0, 0.5])
    >>> bool(np.allclose(sk.softmax_jvp(s, v), sk.softmax_jacobian(s) @ v))
    True
    """
    return _jvp(s, v, axis, "v", "softmax_jvp")


def softmax_vjp(s: Array, g: Array, /, *, axis: int = -1) -> Array:
    r"""Vector-Jacobian product ``g^T J`` in O(K) per row: the softmax backward pass.

    .. math::

        (g^\top J)_j = \sum_i g_i s_i(\delta_{ij} - s_j) = s_j \bigl(g_j - \langle g, s\rangle\bigr)

    Equal to :func:`softmax_jvp` because ``J`` is symmetric.

    Parameters
    ----------
    s : array
        Softmax probabilities, class axis ``axis``.
    g : array
        Upstream gradient (cotangent), same shape as ``s``.
    axis : int, default -1
        The class axis.

    Returns
    -------
    array
        The gradient with respect to the logits, same shape as ``s``.

    References
    ----------
    PyTorch, ``_softmax_backward_data``: ``s * (g - (g * s).sum(dim))``.

    Examples
    --------
    >>> import numpy as np, softmaxkit as sk
    >>> s = sk.softmax(np.array([5.0, 7.0, 8.0]))
    >>> g = np.array([0.0, 1.0, 0.0])  # picks row 1 of J
    >>> sk.softmax_vjp(s, g).round(8)
    array([-0.00911326,  0.19215805, -0.18304478])
    """
    return _jvp(s, g, axis, "g", "softmax_vjp")
