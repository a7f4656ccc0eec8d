"""JAX: the softmax family as ``jax.custom_jvp`` functions over the reference.

The primal of each function is the reference implementation (Array API calls,
traced into the caller's program and fused there by XLA); its JVP rule is the
closed form of :mod:`softmaxkit._gradients`, not a trace of the reference, so
``grad``, ``jvp``, ``vmap``, ``hessian`` and ``jit`` all compose and every
derivative is exact at the edges (an all ``-inf`` row has derivative 0). Called
eagerly on concrete arrays, each function runs compiled once per shape
(``jax.jit``); inside a user's ``jit`` (traced input) it is traced into the
user's program.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from .. import _gradients as rules
from . import register

_xp: Any = None


def _ns() -> Any:
    global _xp
    if _xp is None:
        import array_api_compat

        _xp = array_api_compat.array_namespace(jnp.zeros(()))
    return _xp


def _t(tangent: Any, like: Any) -> Any:
    """A tangent as a JAX array of ``like``'s dtype (tangents may arrive as NumPy)."""
    return jnp.asarray(tangent, dtype=like.dtype)


def _sum(a: Any, axes: Any, keepdims: bool = False) -> Any:
    return jnp.sum(a, axis=axes, keepdims=keepdims)


# -------------------------------------------------------------------------------------
# softmax, log_softmax, logsumexp


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def _softmax(x: Any, mask: Any, axes: tuple[int, ...], temperature: float) -> Any:
    from ..activations import REFERENCES

    return REFERENCES["softmax"](_ns(), x, axes, temperature, mask)


@_softmax.defjvp
def _softmax_jvp(axes: tuple[int, ...], T: float, primals: Any, tangents: Any) -> Any:
    x, mask = primals
    s = _softmax(x, mask, axes, T)
    return s, rules.softmax_vjp(_ns(), s, _t(tangents[0], s), axes, T)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def _log_softmax(x: Any, mask: Any, axes: tuple[int, ...], temperature: float) -> Any:
    from ..activations import REFERENCES

    return REFERENCES["log_softmax"](_ns(), x, axes, temperature, mask)


@_log_softmax.defjvp
def _log_softmax_jvp(axes: tuple[int, ...], T: float, primals: Any, tangents: Any) -> Any:
    x, mask = primals
    out = _log_softmax(x, mask, axes, T)
    return out, rules.log_softmax_jvp(_ns(), out, _t(tangents[0], out), axes, T)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def _logsumexp(x: Any, mask: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
    from ..activations import REFERENCES

    return REFERENCES["logsumexp"](_ns(), x, axes, keepdims, mask)


@_logsumexp.defjvp
def _logsumexp_jvp(axes: tuple[int, ...], keepdims: bool, primals: Any, tangents: Any) -> Any:
    x, mask = primals
    out = _logsumexp(x, mask, axes, keepdims)
    s = _softmax(x, mask, axes, 1.0)
    return out, _sum(s * _t(tangents[0], s), axes, keepdims).astype(out.dtype)


@functools.partial(jax.custom_jvp, nondiff_argnums=(3, 4))
def _logsumexp_weighted(
    x: Any, b: Any, mask: Any, axes: tuple[int, ...], keepdims: bool
) -> tuple[Any, Any]:
    from ..activations import _logsumexp_weighted_ref

    return _logsumexp_weighted_ref(_ns(), x, b, axes, keepdims, mask)


@_logsumexp_weighted.defjvp
def _logsumexp_weighted_jvp(
    axes: tuple[int, ...], keepdims: bool, primals: Any, tangents: Any
) -> Any:
    x, b, mask = primals
    out, sign = _logsumexp_weighted(x, b, mask, axes, keepdims)
    s, e = rules.weighted_softmax(_ns(), x, b, axes, mask)
    t = _sum(s * _t(tangents[0], s) + e * _t(tangents[1], e), axes, keepdims).astype(out.dtype)
    return (out, sign), (t, jnp.zeros_like(sign))


# -------------------------------------------------------------------------------------
# cross-entropy per row


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def _cross_entropy_rows(z: Any, target: Any, eps: float, temperature: float) -> Any:
    logp = _log_softmax(z, None, (1,), temperature)
    K = z.shape[-1]
    if not jnp.issubdtype(target.dtype, jnp.floating):
        picked = jnp.take_along_axis(logp, target[:, None].astype(jnp.int32), axis=-1)[:, 0]
        if eps == 0.0:
            return -picked
        return -(1.0 - eps) * picked - (eps / K) * jnp.sum(logp, axis=-1)
    y = (1.0 - eps) * target + eps / K if eps > 0.0 else target
    return -jnp.sum(y * jnp.where(y == 0, 0.0, logp), axis=-1)


@_cross_entropy_rows.defjvp
def _cross_entropy_rows_jvp(eps: float, T: float, primals: Any, tangents: Any) -> Any:
    z, target = primals
    out = _cross_entropy_rows(z, target, eps, T)
    logp = _log_softmax(z, None, (1,), T)
    labels = not jnp.issubdtype(target.dtype, jnp.floating)
    y = jax.nn.one_hot(target, z.shape[-1], dtype=z.dtype) if labels else target
    dz, dy = rules.cross_entropy_rows_grads(_ns(), logp, y, eps, T)
    t = jnp.sum(dz * _t(tangents[0], dz), axis=-1)
    if not labels:
        t = t + jnp.sum(dy * _t(tangents[1], dy), axis=-1)
    return out, t.astype(out.dtype)


# -------------------------------------------------------------------------------------
# entropy, cross-entropy, KL divergence; sigmoid, log_sigmoid


_PARTIALS: dict[str, Callable[..., tuple[Any, Any]]] = {
    "cross_entropy": rules.cross_entropy_partials,
    "kl_divergence": rules.kl_partials,
}


def _information(name: str) -> Callable[..., Any]:
    @functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
    def f(p: Any, q: Any, axes: Any) -> Any:
        from ..information import REFERENCES

        args = (p,) if q is None else (p, q)
        return REFERENCES[name](_ns(), *args, axes)

    @f.defjvp
    def f_jvp(axes: Any, primals: Any, tangents: Any) -> Any:
        p, q = primals
        out = f(p, q, axes)
        xp = _ns()
        if name == "entropy":
            t = rules.entropy_partial(xp, p) * _t(tangents[0], p)
        else:
            partials = _PARTIALS[name]
            dp, dq = partials(xp, p, q)
            t = dp * _t(tangents[0], dp) + dq * _t(tangents[1], dq)
        return out, _sum(t, axes).astype(out.dtype)

    return f


_entropy = _information("entropy")
_cross_entropy = _information("cross_entropy")
_kl_divergence = _information("kl_divergence")


def _elementwise(name: str) -> Callable[..., Any]:
    @jax.custom_jvp
    def f(x: Any) -> Any:
        from ..activations import ELEMENTWISE

        return ELEMENTWISE[name](_ns(), x)

    @f.defjvp
    def f_jvp(primals: Any, tangents: Any) -> Any:
        (x,), (xd,) = primals, tangents
        part = rules.sigmoid_partial if name == "sigmoid" else rules.log_sigmoid_partial
        return f(x), part(_ns(), x) * _t(xd, x)

    return f


_sigmoid = _elementwise("sigmoid")
_log_sigmoid = _elementwise("log_sigmoid")


# -------------------------------------------------------------------------------------
# registration: concrete arrays run compiled, traced ones are traced into the caller


def _traced(*arrays: Any) -> bool:
    return any(isinstance(a, jax.core.Tracer) for a in arrays if a is not None)


def _dispatch(fn: Callable[..., Any], n_static: int) -> Callable[..., Any]:
    """Call ``fn(*arrays, *static)``: directly when an array is traced, else through
    ``jax.jit`` (compiled once per shape and static options)."""
    compiled: dict[int, Callable[..., Any]] = {}

    def call(*args: Any) -> Any:
        if _traced(*args[: len(args) - n_static]):
            return fn(*args)
        n = len(args)
        if n not in compiled:
            compiled[n] = jax.jit(fn, static_argnums=tuple(range(n - n_static, n)))
        return compiled[n](*args)

    return call


_run_softmax = _dispatch(_softmax, 2)
_run_log_softmax = _dispatch(_log_softmax, 2)
_run_logsumexp = _dispatch(_logsumexp, 2)
_run_logsumexp_weighted = _dispatch(_logsumexp_weighted, 2)
_run_rows = _dispatch(_cross_entropy_rows, 2)
_run_entropy = _dispatch(_entropy, 1)
_run_cross_entropy = _dispatch(_cross_entropy, 1)
_run_kl = _dispatch(_kl_divergence, 1)
_run_sigmoid = _dispatch(_sigmoid, 0)
_run_log_sigmoid = _dispatch(_log_sigmoid, 0)


@register("softmax", "jax")
def softmax(x: Any, *, axes: tuple[int, ...], temperature: float, where: Any) -> Any:
    return _run_softmax(x, where, axes, temperature)


@register("log_softmax", "jax")
def log_softmax(x: Any, *, axes: tuple[int, ...], temperature: float, where: Any) -> Any:
    return _run_log_softmax(x, where, axes, temperature)


@register("logsumexp", "jax")
def logsumexp(x: Any, *, axes: tuple[int, ...], keepdims: bool, where: Any) -> Any:
    return _run_logsumexp(x, where, axes, keepdims)


@register("logsumexp_weighted", "jax")
def logsumexp_weighted(x: Any, b: Any, *, axes: tuple[int, ...], keepdims: bool, where: Any) -> Any:
    return _run_logsumexp_weighted(x, b, where, axes, keepdims)


@register("cross_entropy_rows", "jax")
def cross_entropy_rows(z: Any, *, target: Any, label_smoothing: float, temperature: float) -> Any:
    return _run_rows(z, target, label_smoothing, temperature)


@register("entropy", "jax")
def entropy(p: Any, *, axes: Any) -> Any:
    return _run_entropy(p, None, axes)


@register("cross_entropy", "jax")
def cross_entropy(p: Any, q: Any, *, axes: Any) -> Any:
    return _run_cross_entropy(p, q, axes)


@register("kl_divergence", "jax")
def kl_divergence(p: Any, q: Any, *, axes: Any) -> Any:
    return _run_kl(p, q, axes)


@register("sigmoid", "jax")
def sigmoid(x: Any) -> Any:
    return _run_sigmoid(x)


@register("log_sigmoid", "jax")
def log_sigmoid(x: Any) -> Any:
    return _run_log_sigmoid(x)
