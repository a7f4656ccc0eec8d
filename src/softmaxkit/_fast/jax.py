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
from ..activations import _divide as divide_safely
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


def _divide(a: Any, T: float) -> Any:
    """``a / T`` as the reference divides, with a barrier between its two steps for a
    huge ``T`` so that XLA does not fold them into one subnormal factor."""
    return divide_safely(a, T, jax.lax.optimization_barrier)


def _normalise(x: Any, mask: Any, axes: tuple[int, ...], T: float) -> tuple[Any, ...]:
    """The reference's arithmetic in the shape XLA compiles well:
    ``(d, e, total, log_norm, m)`` with ``d = (x - max) / T``, ``e = exp(d)``.

    Edge cases as the reference (module docstring of :mod:`softmaxkit.activations`);
    an overflowing ``x - max`` or ``d / T`` rounds to ``-inf`` by IEEE arithmetic,
    which is the correctly rounded value (NumPy's reference avoids it only to
    stay quiet), except where ``T > 1`` brings an overflowed ``x - max`` back in
    range: there ``x / T - max / T``. The log-normaliser: ``log1p(rest)`` where ``total < 2`` (then
    exactly one entry is at the maximum and ``rest`` is the sum of the others,
    summed apart so that it keeps its relative accuracy), else ``log(total)``
    (at least ``log 2``, so an absolute error of an ulp is a relative one).
    Counting the entries at the maximum in a second reduction, as the reference
    does, made XLA's CPU code 7 times slower than ``jax.nn.log_softmax``.
    """
    wdt = jnp.float32 if jnp.dtype(x.dtype).itemsize < 4 else x.dtype
    x = x.astype(wdt)
    if mask is not None:
        x = jnp.where(mask, x, -jnp.inf)
    m = jnp.max(x, axis=axes, keepdims=True)
    finite = jnp.isfinite(m)
    d = x - jnp.where(finite, m, 0.0)
    d = jnp.where(m == jnp.inf, jnp.where(x == jnp.inf, 0.0, -jnp.inf), d)
    d = jnp.where(jnp.isnan(m), m, d)
    if T != 1.0:
        d = _divide(d, T)
    if T > 1.0:  # where x - max overflowed, (x - max) / T may not: x / T - max / T
        fix = jnp.isneginf(d) & jnp.isfinite(x) & finite
        far = _divide(jnp.where(fix, x, 0.0), T) - _divide(jnp.where(finite, m, 0.0), T)
        d = jnp.where(fix, far, d)
    e = jnp.exp(d)
    total = jnp.sum(e, axis=axes, keepdims=True)
    rest = jnp.sum(jnp.where(d == 0, 0.0, e), axis=axes, keepdims=True)
    log_norm = jnp.where(total < 2, jnp.log1p(rest), jnp.log(jnp.where(total < 2, 1.0, total)))
    return d, e, total, log_norm, m


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def _softmax(x: Any, mask: Any, axes: tuple[int, ...], temperature: float) -> Any:
    if x.size == 0:
        return jnp.zeros_like(x)
    _, e, total, _, _ = _normalise(x, mask, axes, temperature)
    return (e / jnp.where(total == 0, 1.0, total)).astype(x.dtype)


@_softmax.defjvp
def _softmax_jvp(axes: tuple[int, ...], T: float, primals: Any, tangents: Any) -> Any:
    x, mask = primals
    s = _softmax(x, mask, axes, T)
    v = _t(tangents[0], s)
    if mask is not None:  # a masked entry's tangent takes no part (s = 0 there)
        v = jnp.where(mask, v, 0.0)
    return s, rules.softmax_vjp(_ns(), s, v, axes, T)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def _log_softmax(x: Any, mask: Any, axes: tuple[int, ...], temperature: float) -> Any:
    if x.size == 0:
        return jnp.zeros_like(x)
    d, _, _, log_norm, _ = _normalise(x, mask, axes, temperature)
    return (d - log_norm).astype(x.dtype)


@_log_softmax.defjvp
def _log_softmax_jvp(axes: tuple[int, ...], T: float, primals: Any, tangents: Any) -> Any:
    x, mask = primals
    if x.size == 0:
        out = _log_softmax(x, mask, axes, T)
        return out, jnp.zeros_like(out)
    # From the primal's own intermediates: (v - <s, v>) / T, 0 where log p = -inf.
    d, e, total, log_norm, _ = _normalise(x, mask, axes, T)
    out = (d - log_norm).astype(x.dtype)
    s = e / jnp.where(total == 0, 1.0, total)
    t = rules.log_softmax_jvp(_ns(), out.astype(s.dtype), _t(tangents[0], s), axes, T, s=s)
    return out, t.astype(x.dtype)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def _logsumexp(x: Any, mask: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
    if any(x.shape[a] == 0 for a in axes) or x.size == 0:
        from ..activations import REFERENCES

        return REFERENCES["logsumexp"](_ns(), x, axes, keepdims, mask)
    _, _, _, log_norm, m = _normalise(x, mask, axes, 1.0)
    out = jnp.where(jnp.isfinite(m), m + log_norm, m)
    if not keepdims:
        out = jnp.squeeze(out, axis=axes)
    return out.astype(x.dtype)


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


def _rows_and_parts(z: Any, target: Any, eps: float, T: float) -> tuple[Any, Any, Any]:
    """Per-row losses, the softmax and the log-softmax's parts ``(d, log_norm)``,
    from one normaliser (shared by the primal and the JVP, so XLA computes the
    exponentials once)."""
    K = z.shape[-1]
    d, e, total, log_norm, _ = _normalise(z, None, (1,), T)
    s = e / jnp.where(total == 0, 1.0, total)
    if not jnp.issubdtype(target.dtype, jnp.floating):
        # log-normaliser minus the label's shifted logit: no log-softmax array
        at = jnp.take_along_axis(d, target[:, None].astype(jnp.int32), axis=-1)[:, 0]
        loss = log_norm[:, 0] - at
        if eps > 0.0:
            loss = (1.0 - eps) * loss + (eps / K) * (K * log_norm[:, 0] - jnp.sum(d, axis=-1))
    else:
        y = (1.0 - eps) * target + eps / K if eps > 0.0 else target
        logp = d - log_norm
        loss = -jnp.sum(y * jnp.where(y == 0, 0.0, logp), axis=-1)
    return loss.astype(z.dtype), s, (d, log_norm)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def _cross_entropy_rows(z: Any, target: Any, eps: float, temperature: float) -> Any:
    if z.size == 0:
        return jnp.zeros(z.shape[:1], dtype=z.dtype)
    return _rows_and_parts(z, target, eps, temperature)[0]


@_cross_entropy_rows.defjvp
def _cross_entropy_rows_jvp(eps: float, T: float, primals: Any, tangents: Any) -> Any:
    z, target = primals
    if z.size == 0:
        out = jnp.zeros(z.shape[:1], dtype=z.dtype)
        return out, out
    K = z.shape[-1]
    labels = not jnp.issubdtype(target.dtype, jnp.floating)
    out, s, (d, log_norm) = _rows_and_parts(z, target, eps, T)
    # (softmax - y') / T, and -(1 - eps) log softmax for a probability target
    y = (jnp.arange(K) == target[:, None]) if labels else target
    y = y.astype(s.dtype)
    ys = (1.0 - eps) * y + eps / K if eps > 0.0 else y
    dz = s - ys
    t = jnp.sum(dz * _t(tangents[0], dz), axis=-1)
    if T != 1.0:
        t = t / T
    if not labels:
        dy = -(1.0 - eps) * (d - log_norm)
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


# -------------------------------------------------------------------------------------
# linear cross-entropy: the chunks in a compiled loop, the gradient by jax.custom_vjp


def _pad_rows(a: Any, pad: int) -> Any:
    if a is None or pad == 0:
        return a
    return jnp.pad(a, [(0, pad)] + [(0, 0)] * (a.ndim - 1))


def _scan_rows(
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
    """The row chunks as one ``lax.scan`` (compiled once, whatever the number of
    chunks): the rows are padded to a whole number of chunks with weight 0, the
    gradients of ``W`` and ``bias`` are the loop's carry."""
    n, d = h.shape
    r = c.rows
    count = -(-n // r)
    pad = count * r - n
    dt = W.dtype
    ones = jnp.ones((n,), dtype=dt)
    # Padded rows must weigh nothing: weights are materialised (then padded with 0).
    w = ones if t.w is None else t.w
    sw = (ones if t.sw is None else t.sw) if c.z_loss > 0.0 else t.sw
    t = t._replace(w=w, sw=sw, inactive=w == 0, total=None)
    xs = (
        _pad_rows(h, pad),
        jax.tree.map(lambda a: _pad_rows(a, pad), t),
        _pad_rows(z_factor, pad),
    )
    xs = jax.tree.map(lambda a: a.reshape((count, r, *a.shape[1:])), xs)
    carry = (
        jnp.zeros((c.K, d), dtype=dt) if want_Wb else None,
        jnp.zeros((c.K,), dtype=dt) if want_Wb and bias is not None else None,
    )

    def body(carry: Any, xs: Any) -> Any:
        gW, gb = carry
        hc, tc, zf = xs
        hc = hc if hc.dtype == dt else hc.astype(dt)  # 16-bit inputs: float32 chunks
        ce, zl, gh, gW, gb = chunk(
            xp, hc, W, bias, tc, c, scale, zf, gW, gb, want_loss=want_loss, want_h=want_h
        )
        return (gW, gb), (ce, zl, gh)

    (gW, gb), (ce, zl, gh) = jax.lax.scan(body, carry, xs)

    def unpad(a: Any) -> Any:
        return None if a is None else a.reshape((count * r, *a.shape[2:]))[:n]

    return unpad(ce), unpad(zl), unpad(gh), gW, gb


def _linear_value(h: Any, W: Any, bias: Any, t: Any, c: Any, engine: Any) -> Any:
    return engine(
        _ns(), h, W, bias, t, c, want_loss=True, want_h=False, want_Wb=False, driver=_scan_rows
    )[0]


_linear_loss = jax.custom_vjp(_linear_value, nondiff_argnums=(4, 5))


def _linear_fwd(h: Any, W: Any, bias: Any, t: Any, c: Any, engine: Any) -> Any:
    if c.reduction == "none":  # per-row upstream gradients: the backward pass runs again
        return _linear_value(h, W, bias, t, c, engine), (h, W, bias, t, None)
    loss, gh, gW, gb = engine(
        _ns(), h, W, bias, t, c, want_loss=True, want_h=True, want_Wb=True, driver=_scan_rows
    )
    return loss, (None, None, None, None, (gh, gW, gb))


def _linear_bwd(c: Any, engine: Any, res: Any, g: Any) -> Any:
    h, W, bias, t, grads = res
    if grads is None:
        _, gh, gW, gb = engine(
            _ns(),
            h,
            W,
            bias,
            t,
            c,
            want_loss=False,
            want_h=True,
            want_Wb=True,
            upstream=g,
            driver=_scan_rows,
        )
    else:
        gh, gW, gb = (None if a is None else a * g.astype(a.dtype) for a in grads)
    zero_t = jax.tree.map(lambda a: None, t) if grads is None else None
    return gh, gW, gb, zero_t


_linear_loss.defvjp(_linear_fwd, _linear_bwd)


def _linear_grads(h: Any, W: Any, bias: Any, t: Any, c: Any, engine: Any, want_h: bool) -> Any:
    return engine(
        _ns(), h, W, bias, t, c, want_loss=True, want_h=want_h, want_Wb=True, driver=_scan_rows
    )


# (a target traced inside a concrete call goes through jax.jit too: it inlines)
_run_linear_loss = _dispatch(_linear_loss, 2)
_run_linear_grads = _dispatch(_linear_grads, 3)


@register("linear_cross_entropy", "jax")
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
    """The chunked engine compiled (``lax.scan`` over the chunks); the loss is a
    ``jax.custom_vjp`` whose forward pass computes the gradients of a reduced loss
    and whose backward pass scales them (``"none"``: runs the chunks again)."""
    if want_grads:
        return _run_linear_grads(h, W, bias, targets, config, engine, want_h)
    return _run_linear_loss(h, W, bias, targets, config, engine), None, None, None
