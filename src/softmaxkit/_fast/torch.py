"""PyTorch: the softmax family as ``torch.autograd.Function`` classes.

Each function's backward pass is its closed form (:mod:`softmaxkit._gradients`),
not a trace of the reference, and saves only what that form needs: the softmax
output (softmax), the log-softmax output (log-softmax), the input and the
per-row result (log-sum-exp: the softmax is recomputed), the logits and the
labels (cross-entropy: one fused pass recomputes ``(p - y) / T``). Every
backward is written with differentiable operations, so double backward
(``gradgradcheck``, Hessians) works; ``setup_context`` and
``generate_vmap_rule`` make ``torch.func.grad``, ``vmap`` and ``jacrev`` work.

The forward pass of an eager CPU float32/float64 tensor is PyTorch's own fused
kernel (``torch.softmax``, ``torch.log_softmax``: one vectorised pass on
PyTorch's threads), made exact where it is not: rows with a non-finite maximum
go to the NumPy kernel (zero-copy views; it handles every edge case), and rows
whose log-probabilities near 0 need ``log1p`` accuracy are recomputed by it
(see :func:`_native`). Log-sum-exp runs the NumPy kernel. Elsewhere (CUDA
tensors, 16-bit floats, under ``torch.compile`` or ``torch.func`` transforms)
the forward pass is the reference implementation in PyTorch operations, which
has no data-dependent Python branch: it compiles with ``fullgraph=True`` and
never waits for a device.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import array_api_compat.torch
import numpy as np
import torch

from .. import _gradients as rules
from .._array import host, namespace
from . import _REGISTRY, backend_name, register

_NUMPY_DTYPES = (torch.float32, torch.float64)

# Under torch.compile nothing may be imported or looked up through array-api-compat's
# cached helpers: the namespace and its backend name are settled here, at load time.
backend_name(array_api_compat.torch)


def _on_host(*tensors: Any) -> list[Any] | None:
    """NumPy views of the tensors (None entries stay None), or None when any of them
    cannot be read without a device wait, a graph break or a copy."""
    views: list[Any] = []
    for t in tensors:
        if t is None:
            views.append(None)
            continue
        if t.is_floating_point() and t.dtype not in _NUMPY_DTYPES:
            return None
        v = host(t)
        if v is None:
            return None
        views.append(v)
    return views


def _numpy_call(name: str, *arrays: Any, **options: Any) -> Any:
    """The NumPy fast path of ``name`` on NumPy arrays, on this thread alone (or
    NotImplemented)."""
    from . import _load

    _load("numpy")
    from . import numpy as fast_numpy

    impl = _REGISTRY.get((name, "numpy"))
    if impl is None:
        return NotImplemented
    with fast_numpy.inline():
        return impl(*arrays, **options)


# Rows whose log-normaliser log(sum e^(x - max)) is below this are recomputed by
# the accurate kernel: PyTorch's log(sum) keeps an absolute error of about eps, so
# a log-probability near 0 (a confident row) loses relative accuracy (below 0.5
# it would be more than 2 ulp), where log(c) + log1p(rest / c) keeps it.
_CONFIDENT = -0.5

# Rows at least this long have softmax renormalised by their sum (see _native): PyTorch's
# kernel was 5 eps off at 1024 classes and 3.4 at 256 (AVX2), 3 eps after.
_RENORMALISE_FROM = 1024


def _native(
    name: str, x: Any, mask: Any, axes: tuple[int, ...], T: float, repair: bool = True
) -> Any:
    """PyTorch's fused softmax / log_softmax kernel on an eager CPU tensor, made exact
    where it is not, or None where the accurate NumPy kernel must run instead.

    Both are ``exp(x - max) / sum`` in one vectorised pass, using PyTorch's own
    threads (the NumPy kernels' thread pool would contend with PyTorch's spinning
    one in a training loop). Rows with a non-finite maximum (all ``-inf``, a
    ``+inf`` entry, a NaN) come out NaN there: then None. Log-softmax rows whose
    normaliser is small are recomputed by the accurate kernel (see _CONFIDENT).
    """
    dim = _single(axes)
    if dim is None or x.numel() == 0:
        return None
    z = x if mask is None else x.masked_fill(~mask, float("-inf"))
    if T != 1.0:
        z = z / T
    if name == "softmax":
        out = torch.softmax(z, dim)
        total = out.sum(dim, keepdim=True)
        if bool(torch.isnan(total).any()):
            return None
        if out.shape[dim] >= _RENORMALISE_FROM:
            # The kernel sums each row in vector lanes; without AVX-512 (AVX2 EPYC) its
            # normaliser is biased by up to 25 eps at 100,000 classes, the same factor
            # on every entry of the row. One division by the row's sum (PyTorch's
            # cascade sum) removes it: 3 eps at every width measured.
            out = out / total
        return out
    out = torch.log_softmax(z, dim)
    if not repair:
        # The caller repairs what it needs; edge rows are NaN here (checked by it).
        return out
    top = out.amax(dim)  # -log(sum e^(x - max)) per row; NaN for the edge rows
    if bool(torch.isnan(top).any()):
        return None
    if dim != x.ndim - 1 and bool((top > _CONFIDENT).any()):
        return None
    _repair(out, z, top > _CONFIDENT)
    return out


def _repair(out: Any, z: Any, rows: Any) -> None:
    """Recompute the log-softmax rows of ``out`` (last axis) selected by the boolean
    ``rows`` with the accurate kernel, in place (``z``: the logits, already divided
    by the temperature)."""
    if not bool(rows.any()):
        return
    K = out.shape[-1]
    pick = rows.reshape(-1).nonzero().squeeze(-1)
    sub = z.reshape(-1, K).index_select(0, pick)
    fixed = _numpy_call("log_softmax", sub.numpy(), axes=(1,), temperature=1.0, where=None)
    out.view(-1, K).index_copy_(0, pick, torch.from_numpy(fixed))


def _forward(name: str, x: Any, mask: Any, axes: tuple[int, ...], option: Any) -> Any:
    """Forward value of softmax / log_softmax / logsumexp (``option`` is the
    temperature or ``keepdims``), without autograd."""
    from ..activations import REFERENCES

    views = _on_host(x, mask)
    if views is not None:
        if name != "logsumexp":
            out = _native(name, x, mask, axes, option)
            if out is not None:
                return out
        xn, mn = views
        opts = {"keepdims": option} if name == "logsumexp" else {"temperature": option}
        out = _numpy_call(name, xn, axes=axes, where=mn, **opts)
        if out is NotImplemented:
            out = REFERENCES[name](namespace(("x", xn)), xn, axes, option, mn)
        return torch.from_numpy(np.asarray(out))
    return REFERENCES[name](namespace(("x", x)), x, axes, option, mask)


def _single(axes: tuple[int, ...]) -> int | None:
    return axes[0] if len(axes) == 1 else None


def _softmax_vjp(s: Any, g: Any, axes: tuple[int, ...], T: float) -> Any:
    dim = _single(axes)
    if dim is not None and s.dtype in _NUMPY_DTYPES:
        # PyTorch's fused kernel computes exactly s * (g - <g, s>), and is
        # itself differentiable (double backward).
        out = torch.ops.aten._softmax_backward_data(g, s, dim, s.dtype)
        return out / T if T != 1.0 else out
    work = _work(s)
    out = rules.softmax_vjp(namespace(("s", s)), s.to(work), g.to(work), axes, T)
    return out.to(s.dtype)


def _work(t: Any) -> Any:
    return torch.float32 if t.dtype in (torch.float16, torch.bfloat16) else t.dtype


def _log_softmax_vjp(out: Any, g: Any, axes: tuple[int, ...], T: float) -> Any:
    dim = _single(axes)
    eager = dim is not None and out.dtype in _NUMPY_DTYPES and _on_host(out, g) is not None
    # Eager CPU: PyTorch's fused g - exp(out) * sum(g), unless a log-probability is
    # -inf (its entry gets derivative 0, which the rule below gives); the check is
    # one reduction with no temporary (torch.aminmax was 15x slower).
    if eager and (out.numel() == 0 or not bool(out.min() == -math.inf)):
        grad = torch.ops.aten._log_softmax_backward_data(g, out, dim, out.dtype)
        return grad / T if T != 1.0 else grad
    work = _work(out)
    grad = rules.log_softmax_vjp(namespace(("o", out)), out.to(work), g.to(work), axes, T)
    return grad.to(out.dtype)


def _saving_output(name: str, vjp: Callable[..., Any]) -> Any:
    """The Function of softmax or log-softmax: the forward value of ``name``, saving
    only its output, and ``vjp(output, g, axes, T)`` as the backward pass."""

    class Function(torch.autograd.Function):
        generate_vmap_rule = True

        @staticmethod
        def forward(x: Any, mask: Any, axes: tuple[int, ...], temperature: float) -> Any:
            return _forward(name, x, mask, axes, temperature)

        @staticmethod
        def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
            ctx.save_for_backward(output)
            ctx.axes, ctx.temperature = inputs[2], inputs[3]

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            (out,) = ctx.saved_tensors
            return vjp(out, g, ctx.axes, ctx.temperature), None, None, None

    Function.__name__ = Function.__qualname__ = f"_{name}"
    return Function


_Softmax = _saving_output("softmax", _softmax_vjp)
_LogSoftmax = _saving_output("log_softmax", _log_softmax_vjp)


def _unreduce(g: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
    """The upstream gradient of a reduction over ``axes`` (sorted), with those axes
    restored as length 1 so that it broadcasts against the input."""
    if not keepdims:
        for a in axes:
            g = g.unsqueeze(a)
    return g


class _LogSumExp(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x: Any, mask: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
        return _forward("logsumexp", x, mask, axes, keepdims)

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        x, mask, axes, keepdims = inputs
        ctx.save_for_backward(x, mask)
        ctx.axes, ctx.keepdims = axes, keepdims

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        x, mask = ctx.saved_tensors
        g = _unreduce(g, ctx.axes, ctx.keepdims)
        # d LSE / dx = softmax(x): recomputed (through the differentiable Function,
        # so that second derivatives are those of softmax).
        s = _Softmax.apply(x, mask, ctx.axes, 1.0)
        return g * s, None, None, None


class _WeightedLogSumExp(torch.autograd.Function):
    """``(log |sum b e^x|, sign)``; differentiable in ``x`` and ``b``."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Any, b: Any, mask: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
        from ..activations import _logsumexp_weighted_ref

        return _logsumexp_weighted_ref(namespace(("x", x)), x, b, axes, keepdims, mask)

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        x, b, mask, axes, keepdims = inputs
        ctx.save_for_backward(x, b, mask)
        ctx.axes, ctx.keepdims = axes, keepdims
        ctx.mark_non_differentiable(output[1])

    @staticmethod
    def backward(ctx: Any, g: Any, _g_sign: Any) -> Any:
        x, b, mask = ctx.saved_tensors
        g = _unreduce(g, ctx.axes, ctx.keepdims)
        s, e = rules.weighted_softmax(namespace(("x", x)), x, b, ctx.axes, mask)
        return g * s, g * e, None, None, None


class _CrossEntropyRows(torch.autograd.Function):
    """Per-row ``l_i = -sum_k y'_ik log softmax(z_i / T)_k`` of (n, K) logits, for
    integer labels (each in [0, K)) or probability rows; weights and reduction
    are applied outside, by ordinary (differentiable) tensor operations.

    Saves the log-softmax (as PyTorch's own cross-entropy does) and the target.
    The backward pass is ``g_i (softmax(z_i / T) - y'_i) / T``: on eager tensors
    PyTorch's fused log-softmax backward applied to ``-g_i y'_i`` (which is that
    closed form, since ``sum y' = 1``); under double backward, differentiable
    operations.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(z: Any, target: Any, eps: float, temperature: float) -> Any:
        logp = None
        if _on_host(z, target) is not None:
            logp = _native("log_softmax", z, None, (1,), temperature, repair=False)
        if logp is None:
            logp = _forward("log_softmax", z, None, (1,), temperature)
            return _rows_from_logp(logp, target, eps), logp
        rows = _rows_from_logp(logp, target, eps)
        if bool(torch.isnan(rows).any()):
            # a row with a non-finite maximum (or NaN): the accurate kernel, which
            # handles every edge case
            logp = _forward("log_softmax", z, None, (1,), temperature)
            return _rows_from_logp(logp, target, eps), logp
        if eps == 0.0 and not target.is_floating_point():
            # A loss near 0 (the label confidently right) is -log softmax at the
            # label: relative accuracy there needs the accurate normaliser.
            near = rows < -_CONFIDENT
            if bool(near.any()):
                zt = z / temperature if temperature != 1.0 else z
                _repair(logp, zt, near)
                rows = _rows_from_logp(logp, target, eps)
        return rows, logp

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        # Only the log-softmax (an output: under double backward its own graph
        # leads back to z) and the target: as much as PyTorch's cross-entropy keeps.
        _, target, eps, temperature = inputs
        ctx.save_for_backward(target, output[1])
        ctx.eps, ctx.temperature = eps, temperature
        ctx.set_materialize_grads(False)

    @staticmethod
    def backward(ctx: Any, g: Any, g_logp: Any) -> Any:
        target, logp = ctx.saved_tensors
        eps, T = ctx.eps, ctx.temperature
        labels = not target.is_floating_point()
        gz = gy = None
        if g is not None:
            if torch.is_grad_enabled():  # double backward: differentiable in logp
                y = _one_hot(target, logp) if labels else target
                dz, _ = rules.cross_entropy_rows_grads(namespace(("l", logp)), logp, y, eps, T)
                gz = g.unsqueeze(-1) * dz
            else:
                gz = _rows_grad(logp, target, g, eps, T)
            if not labels and ctx.needs_input_grad[1]:
                gy = -(1.0 - eps) * g.unsqueeze(-1) * logp
        if g_logp is not None:  # the log-softmax output was used (double backward)
            extra = _log_softmax_vjp(logp, g_logp, (1,), T)
            gz = extra if gz is None else gz + extra
        return gz, gy, None, None


def _rows_grad(logp: Any, target: Any, g: Any, eps: float, T: float) -> Any:
    """``g_i (softmax(z_i / T) - y'_i) / T`` from the log-softmax, without autograd.

    ``-g y'`` is the upstream of log-softmax: its fused backward then gives
    ``-g y' + softmax g sum(y') = g (softmax - y')``, the closed form (measured
    faster than ``exp(logp)`` and an in-place product).
    """
    K = logp.shape[-1]
    labels = not target.is_floating_point()
    if labels:
        upstream = torch.zeros_like(logp) if eps == 0.0 else torch.empty_like(logp)
        if eps > 0.0:
            upstream.copy_((-g * (eps / K)).unsqueeze(-1).expand_as(logp))
        index = target.unsqueeze(-1).to(torch.int64)
        upstream.scatter_add_(1, index, (-g * (1.0 - eps)).unsqueeze(-1))
    else:
        ys = (1.0 - eps) * target + eps / K if eps > 0.0 else target
        upstream = -g.unsqueeze(-1) * ys
    gz = torch.ops.aten._log_softmax_backward_data(upstream, logp, 1, logp.dtype)
    if labels and eps == 0.0:
        # The label's entry g (p - 1) as g expm1(log p): no cancellation when p is
        # close to 1.
        gz.scatter_(1, index, g.unsqueeze(-1) * torch.expm1(logp.gather(1, index)))
    return gz / T if T != 1.0 else gz


def _one_hot(labels: Any, like: Any) -> Any:
    classes = torch.arange(like.shape[-1], device=like.device)
    return (labels.unsqueeze(-1) == classes).to(like.dtype)


def _rows_from_logp(logp: Any, target: Any, eps: float) -> Any:
    """``-sum_k y'_k logp_k`` per row, with ``0 * log 0 = 0`` for probability targets."""
    K = logp.shape[-1]
    if not target.is_floating_point():
        picked = torch.gather(logp, -1, target.unsqueeze(-1).to(torch.int64)).squeeze(-1)
        if eps == 0.0:
            return -picked
        return -(1.0 - eps) * picked - (eps / K) * logp.sum(-1)
    y = (1.0 - eps) * target + eps / K if eps > 0.0 else target
    if _on_host(logp) is not None:
        # Eager CPU: the plain product unless a 0 target meets a -inf log-probability
        # (0 * -inf = NaN), seen as a NaN row sum.
        rows = -(y * logp).sum(-1)
        if not bool(torch.isnan(rows).any()):
            return rows
    zero = torch.zeros((), dtype=logp.dtype, device=logp.device)
    return -(y * torch.where(y == 0, zero, logp)).sum(-1)


# -------------------------------------------------------------------------------------
# the information measures and the sigmoid family


class _Information(torch.autograd.Function):
    """entropy (q None), cross-entropy and KL divergence, reduced over ``axes``."""

    generate_vmap_rule = True

    @staticmethod
    def forward(name: str, p: Any, q: Any, axes: tuple[int, ...] | None) -> Any:
        from ..information import REFERENCES

        xp = namespace(("p", p))
        args = (p,) if q is None else (p, q)
        return REFERENCES[name](xp, *args, axes)

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        name, p, q, axes = inputs
        ctx.save_for_backward(p, q)
        ctx.name, ctx.axes = name, axes

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        p, q = ctx.saved_tensors
        xp = namespace(("p", p))
        axes = ctx.axes if ctx.axes is not None else tuple(range(p.ndim))
        g = _unreduce(g, axes, False)
        if ctx.name == "entropy":
            return None, g * rules.entropy_partial(xp, p), None, None
        partials: Any = rules.cross_entropy_partials
        if ctx.name == "kl_divergence":
            partials = rules.kl_partials
        dp, dq = partials(xp, p, q)
        return None, g * dp, g * dq, None


class _Elementwise(torch.autograd.Function):
    """sigmoid and log_sigmoid: the derivative from the input (both are accurate
    products of sigmoids, no ``1 - sigma``)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(name: str, x: Any) -> Any:
        from ..activations import ELEMENTWISE

        return ELEMENTWISE[name](namespace(("x", x)), x)

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        ctx.save_for_backward(inputs[1])
        ctx.name = inputs[0]

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        (x,) = ctx.saved_tensors
        xp = namespace(("x", x))
        part = rules.sigmoid_partial if ctx.name == "sigmoid" else rules.log_sigmoid_partial
        return None, g * part(xp, x)


# -------------------------------------------------------------------------------------
# registration


@register("softmax", "torch")
def softmax(x: Any, *, axes: tuple[int, ...], temperature: float, where: Any) -> Any:
    return _Softmax.apply(x, where, axes, temperature)


@register("log_softmax", "torch")
def log_softmax(x: Any, *, axes: tuple[int, ...], temperature: float, where: Any) -> Any:
    return _LogSoftmax.apply(x, where, axes, temperature)


@register("logsumexp", "torch")
def logsumexp(x: Any, *, axes: tuple[int, ...], keepdims: bool, where: Any) -> Any:
    return _LogSumExp.apply(x, where, axes, keepdims)


@register("logsumexp_weighted", "torch")
def logsumexp_weighted(x: Any, b: Any, *, axes: tuple[int, ...], keepdims: bool, where: Any) -> Any:
    return _WeightedLogSumExp.apply(x, b, where, axes, keepdims)


@register("cross_entropy_rows", "torch")
def cross_entropy_rows(z: Any, *, target: Any, label_smoothing: float, temperature: float) -> Any:
    rows, _ = _CrossEntropyRows.apply(z, target, label_smoothing, temperature)
    return rows


@register("softmax_cross_entropy", "torch")
def softmax_cross_entropy(
    z: Any,
    *,
    labels: Any = None,
    probabilities: Any = None,
    weights: Any,
    label_smoothing: float,
    temperature: float,
    want_loss: bool,
    want_grad: bool,
    grad_scale: Any = None,
) -> Any:
    """Per-row ``w_i l_i`` and gradient rows ``w_i (p_i - y'_i) / (T S)`` of (n, K)
    logits, outside autograd (the explicit-gradient functions and the chunks of
    :func:`softmaxkit.linear_cross_entropy`): the accurate log-softmax of
    :class:`_CrossEntropyRows` and PyTorch's fused log-softmax backward."""
    if (
        not want_grad  # a loss alone: _CrossEntropyRows, differentiable
        or z.ndim != 2
        or z.dtype not in _NUMPY_DTYPES
        or (torch.is_grad_enabled() and z.requires_grad)
    ):
        return NotImplemented
    target = labels if labels is not None else probabilities
    if target is None or (probabilities is not None and probabilities.dtype != z.dtype):
        return NotImplemented
    eps, T = float(label_smoothing), float(temperature)
    rows, logp = _CrossEntropyRows.forward(z, target, eps, T)
    active = weights > 0
    # Eager on the CPU, knowing that every row counts saves a pass (a device would
    # wait; a compiler would break the graph).
    everyone = _on_host(active) is not None and bool(active.all())
    loss = None
    if want_loss:
        loss = weights * rows if everyone else torch.where(active, weights * rows, 0.0)
    grad = None
    if want_grad:
        factor = weights / T if T != 1.0 else weights
        if grad_scale is not None:
            factor = factor / grad_scale
        grad = _gradient_into(logp, target, factor, eps)
        if not everyone:  # a row of weight 0 is 0, even where its logits are NaN
            grad.masked_fill_(~active.unsqueeze(-1), 0.0)
    return loss, grad


def _gradient_into(logp: Any, target: Any, factor: Any, eps: float) -> Any:
    """``factor_i (softmax_i - y'_i)`` written over the log-softmax ``logp`` (which the
    caller no longer needs): two passes and no allocation the size of the logits.

    The label's entry ``p - (1 - eps) - eps / K`` is ``expm1(log p) + eps - eps / K``:
    no cancellation when ``p`` is close to 1. The autograd backward pass keeps
    :func:`_rows_grad`: its ``logp`` is saved and must stay, and on short rows the
    fused backward beat a copy and this (4096 x 1000: 3.6 against 4.6 ms).
    """
    K = logp.shape[-1]
    f = factor.unsqueeze(-1)
    if not target.is_floating_point():
        index = target.unsqueeze(-1).to(torch.int64)
        at_label = f * (torch.expm1(logp.gather(1, index)) + (eps - eps / K))
        grad = logp.exp_()
        if eps > 0.0:
            grad.sub_(eps / K)
        grad.mul_(f)
        grad.scatter_(1, index, at_label)
        return grad
    grad = logp.exp_()
    grad.sub_(target if eps == 0.0 else (1.0 - eps) * target + eps / K)
    grad.mul_(f)
    return grad


class _LinearCrossEntropy(torch.autograd.Function):
    """:func:`softmaxkit.linear_cross_entropy` with its gradient from the closed form.

    A reduced loss whose inputs need gradients computes them in the forward pass
    (each chunk's ``G`` is used at once for ``G W``, ``G^T h`` and ``sum G``) and
    saves only them; the backward pass scales them by the upstream gradient. A
    per-row loss (``"none"``) saves the inputs and runs the chunks again in the
    backward pass, with each row's weight times its upstream gradient.
    Differentiable once (the saved gradients are not functions of the inputs).
    """

    @staticmethod
    def forward(ctx: Any, h: Any, W: Any, bias: Any, t: Any, c: Any, engine: Any) -> Any:
        ns = array_api_compat.torch
        want_h = ctx.needs_input_grad[0]
        want_Wb = ctx.needs_input_grad[1] or ctx.needs_input_grad[2]
        ctx.c, ctx.engine = c, engine
        if c.reduction != "none":
            loss, gh, gW, gb = engine(
                ns, h, W, bias, t, c, want_loss=True, want_h=want_h, want_Wb=want_Wb
            )
            ctx.save_for_backward(gh, gW, gb)
            ctx.t = None
        else:
            loss, _, _, _ = engine(
                ns, h, W, bias, t, c, want_loss=True, want_h=False, want_Wb=False
            )
            ctx.save_for_backward(h, W, bias)
            ctx.t = t
        return loss

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: Any) -> Any:
        needs = ctx.needs_input_grad
        if ctx.t is None:
            gh, gW, gb = ctx.saved_tensors
        else:
            h, W, bias = ctx.saved_tensors
            _, gh, gW, gb = ctx.engine(
                array_api_compat.torch,
                h,
                W,
                bias,
                ctx.t,
                ctx.c,
                want_loss=False,
                want_h=needs[0],
                want_Wb=needs[1] or needs[2],
                upstream=g,
            )
            g = None

        if g is not None and _on_host(g) is not None and bool(g == 1):
            g = None  # the usual upstream of a loss: no pass over the gradients

        def scaled(grad: Any, need: bool) -> Any:
            if grad is None or not need:
                return None
            return grad * g.to(grad.dtype) if g is not None else grad

        return scaled(gh, needs[0]), scaled(gW, needs[1]), scaled(gb, needs[2]), None, None, None


@register("linear_cross_entropy", "torch")
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
    """The chunked engine on tensors: explicit gradients without autograd, or a loss
    differentiable through :class:`_LinearCrossEntropy`."""
    ns = array_api_compat.torch
    tracked = torch.is_grad_enabled() and any(
        x is not None and x.requires_grad for x in (h, W, bias)
    )
    if want_grads or not tracked:
        with torch.no_grad():
            return engine(
                ns,
                h,
                W,
                bias,
                targets,
                config,
                want_loss=True,
                want_h=want_grads and want_h,
                want_Wb=want_grads,
            )
    loss = _LinearCrossEntropy.apply(h, W, bias, targets, config, engine)
    return loss, None, None, None


@register("entropy", "torch")
def entropy(p: Any, *, axes: tuple[int, ...] | None) -> Any:
    return _Information.apply("entropy", p, None, axes)


@register("cross_entropy", "torch")
def cross_entropy(p: Any, q: Any, *, axes: tuple[int, ...] | None) -> Any:
    return _Information.apply("cross_entropy", p, q, axes)


@register("kl_divergence", "torch")
def kl_divergence(p: Any, q: Any, *, axes: tuple[int, ...] | None) -> Any:
    return _Information.apply("kl_divergence", p, q, axes)


@register("sigmoid", "torch")
def sigmoid(x: Any) -> Any:
    return _Elementwise.apply("sigmoid", x)


@register("log_sigmoid", "torch")
def log_sigmoid(x: Any) -> Any:
    return _Elementwise.apply("log_sigmoid", x)
