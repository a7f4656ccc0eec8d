"""linear_cross_entropy and linear_cross_entropy_with_grad.

Oracles: the unfused formula (``softmax_cross_entropy`` of ``h @ W.T + bias``, plus
the z-loss from SciPy's ``logsumexp``) on float64 for values; PyTorch's own
autograd through ``F.linear`` and PyTorch's native ``log_softmax`` for gradients
(an implementation that shares nothing with ours); ``F.cross_entropy`` and
``F.linear_cross_entropy`` where their semantics match ours; finite differences
(``gradcheck``, ``check_grads``).
"""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import logsumexp as scipy_logsumexp

import softmaxkit as sk
from softmaxkit import _fast

N, D, K = 23, 5, 7

OPTIONS = [
    {},
    {"label_smoothing": 0.2, "temperature": 0.7},
    {"class_weight": True, "sample_weight": True},
    {"ignore_index": 3, "sample_weight": True},
    {"z_loss": 0.1, "temperature": 1.5},
    {"z_loss": 0.05, "class_weight": True, "label_smoothing": 0.1, "ignore_index": 3},
]
CHUNKS = [None, 1, 4, (5, 3), (100, 1)]


def _problem(seed=0, n=N, d=D, k=K, soft=False, ignore=False):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(n, d))
    W = rng.normal(size=(k, d))
    b = rng.normal(size=k)
    if soft:
        target = rng.dirichlet(np.ones(k), size=n)
    else:
        target = rng.integers(0, k, n)
        if ignore:
            target[::4] = 3 if k > 3 else 0
    return h, W, b, target


def _options(opts, n, k, seed=1):
    rng = np.random.default_rng(seed)
    out = dict(opts)
    if out.get("class_weight") is True:
        out["class_weight"] = rng.uniform(0.2, 2.0, k)
    if out.get("sample_weight") is True:
        sw = rng.uniform(0.0, 2.0, n)
        sw[1] = 0.0
        out["sample_weight"] = sw
    return out


def _unfused(h, W, b, target, reduction="mean", **opts):
    """The unfused formula in NumPy: logits, the public loss, and PaLM's z-loss with
    SciPy's logsumexp (weights: the sample weight of each counted row)."""
    z_loss = opts.pop("z_loss", 0.0)
    z = h @ W.T + (0.0 if b is None else b)
    loss = sk.softmax_cross_entropy(z, target, reduction=reduction, **opts)
    if z_loss == 0.0:
        return loss
    T = opts.get("temperature", 1.0)
    lse = scipy_logsumexp(z / T, axis=-1)
    v = np.ones(len(z)) if opts.get("sample_weight") is None else opts["sample_weight"]
    if opts.get("ignore_index") is not None and target.ndim == 1:
        v = np.where(target == opts["ignore_index"], 0.0, v)
    rows = v * lse**2
    if reduction == "none":
        return loss + z_loss * rows
    if reduction == "sum":
        return loss + z_loss * rows.sum()
    return loss + z_loss * rows.sum() / v.sum()


def _torch_oracle(h, W, b, target, reduction="mean", upstream=None, **opts):
    """Loss and the gradients (h, W, b) of sum(upstream * loss) from PyTorch's native autograd
    through F.linear, torch.log_softmax and torch.logsumexp (the formula written
    out: smoothed targets, row weights w_i = sample x (expected) class weight)."""
    import torch

    ht, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (h, W, b))
    T = opts.get("temperature", 1.0)
    eps = opts.get("label_smoothing", 0.0)
    z = torch.nn.functional.linear(ht, Wt, bt) / T
    logp = torch.log_softmax(z, dim=-1)
    k = W.shape[0]
    if target.ndim == 1:
        safe = np.where(target < 0, 0, target)
        if opts.get("ignore_index") is not None:
            safe = np.where(target == opts["ignore_index"], 0, safe)
        y = torch.nn.functional.one_hot(torch.tensor(safe), k).double()
    else:
        y = torch.tensor(target)
    cw = opts.get("class_weight")
    w = torch.ones(len(h), dtype=torch.float64)
    if cw is not None:
        w = w * (y @ torch.tensor(cw))
    sw = opts.get("sample_weight")
    v = torch.ones(len(h), dtype=torch.float64) if sw is None else torch.tensor(sw)
    w = w * v
    if opts.get("ignore_index") is not None and target.ndim == 1:
        keep = torch.tensor(target != opts["ignore_index"]).double()
        w, v = w * keep, v * keep
    ys = (1 - eps) * y + eps / k
    rows = w * -(ys * logp).sum(-1)
    zl = v * torch.logsumexp(z, dim=-1) ** 2
    c = opts.get("z_loss", 0.0)
    if reduction == "none":
        loss = rows + c * zl
    elif reduction == "sum":
        loss = rows.sum() + c * zl.sum()
    else:
        loss = rows.sum() / w.sum() + c * zl.sum() / v.sum()
    up = 1.0 if upstream is None else torch.tensor(upstream)
    grads = torch.autograd.grad((up * loss).sum(), (ht, Wt, bt))
    return loss.detach().numpy(), [g.numpy() for g in grads]


def _close(a, b, rtol=1e-12):
    """Entrywise agreement relative to the largest entry (sums of both signs)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    scale = max(np.max(np.abs(b), initial=0.0), 1e-300)
    np.testing.assert_allclose(a, b, rtol=0, atol=rtol * scale)


# -------------------------------------------------------------------------------------
# values and gradients on every backend


# (soft targets, options): ignore_index applies to class labels only
CASES = [(soft, o) for soft in (False, True) for o in OPTIONS if not (soft and "ignore_index" in o)]


def _case_id(case):
    soft, opts = case
    return ("probabilities" if soft else "labels") + "-" + (",".join(opts) or "plain")


@pytest.mark.parametrize("case", CASES, ids=_case_id)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_values_and_gradients_match_the_unfused_formula(xp, case, reduction):
    soft, opts = case
    h, W, b, target = _problem(soft=soft, ignore="ignore_index" in opts)
    kw = _options(opts, N, K)
    want = _unfused(h, W, b, target, reduction=reduction, **dict(kw))
    _, grads = _torch_oracle(h, W, b, target, reduction=reduction, **kw)
    args = [xp.asarray(a) for a in (h, W)]
    tgt = xp.asarray(target)
    bkw = {k: (xp.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
    # compiled (JAX) and lazy (Dask) backends: fewer chunkings, each one compiles
    for chunk in CHUNKS if xp.name in ("numpy", "torch", "array_api_strict") else CHUNKS[::3]:
        loss = sk.linear_cross_entropy(
            *args, tgt, bias=xp.asarray(b), reduction=reduction, chunk_size=chunk, **bkw
        )
        _close(xp.to_numpy(loss), want)
        out = sk.linear_cross_entropy_with_grad(
            *args, tgt, bias=xp.asarray(b), reduction=reduction, chunk_size=chunk, **bkw
        )
        _close(xp.to_numpy(out[0]), want)
        for got, ref in zip(out[1:], grads, strict=True):
            _close(xp.to_numpy(got), ref, rtol=1e-11)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_torch_autograd_gradients(torch_backend, case, reduction):
    """The loss's backward pass (autograd.Function) against native autograd, for an
    upstream gradient that is not 1 (per row for "none")."""
    import torch

    soft, opts = case
    h, W, b, target = _problem(soft=soft, ignore="ignore_index" in opts)
    kw = _options(opts, N, K)
    up = np.random.default_rng(3).uniform(0.5, 2.0, N if reduction == "none" else ())
    value, want = _torch_oracle(h, W, b, target, reduction=reduction, upstream=up, **kw)
    ht, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (h, W, b))
    tkw = {k: (torch.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
    for chunk in (None, 4, (5, 3)):
        loss = sk.linear_cross_entropy(
            ht, Wt, torch.tensor(target), bias=bt, reduction=reduction, chunk_size=chunk, **tkw
        )
        _close(loss.detach().numpy(), value)
        got = torch.autograd.grad((loss * torch.tensor(up)).sum(), (ht, Wt, bt))
        for a, c in zip(got, want, strict=True):
            _close(a.numpy(), c, rtol=1e-11)


def test_matches_torch_linear_cross_entropy_where_semantics_agree(torch_backend):
    """F.linear_cross_entropy (PyTorch 2.13) with class weights, ignore_index and
    label smoothing (without class weights: PyTorch weights each smoothed term by
    its own class, we weight the row by its label's class)."""
    import torch
    import torch.nn.functional as F

    h, W, b, target = _problem(seed=4, ignore=True)
    cw = np.random.default_rng(2).uniform(0.5, 2.0, K)
    cases = [
        ({"weight": torch.tensor(cw)}, {"class_weight": torch.tensor(cw)}),
        ({"ignore_index": 3}, {"ignore_index": 3}),
        ({"label_smoothing": 0.15}, {"label_smoothing": 0.15}),
    ]
    for reduction in ("mean", "sum", "none"):
        for theirs, ours in cases:
            args = [torch.tensor(a, requires_grad=True) for a in (h, W, b)]
            mine = [torch.tensor(a, requires_grad=True) for a in (h, W, b)]
            t = torch.tensor(target if "ignore_index" in ours else np.where(target == 3, 0, target))
            ref = F.linear_cross_entropy(
                args[0], args[1], t, linear_bias=args[2], reduction=reduction, **theirs
            )
            got = sk.linear_cross_entropy(
                mine[0], mine[1], t, bias=mine[2], reduction=reduction, chunk_size=4, **ours
            )
            _close(got.detach().numpy(), ref.detach().numpy())
            g_ref = torch.autograd.grad(ref.sum(), args)
            g_got = torch.autograd.grad(got.sum(), mine)
            for a, c in zip(g_got, g_ref, strict=True):
                _close(a.numpy(), c.numpy(), rtol=1e-11)


# Dynamo resumes after a graph break with the intermediate tensors as inputs and
# reads their .grad; PyTorch warns about that in C++, which Dynamo turns into an
# error only when warnings are errors (as in this suite).
@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")
def test_torch_compile_gives_the_eager_values_and_gradients(torch_backend):
    """Under torch.compile (graph breaks allowed): the same loss and gradients."""
    import torch

    h, W, _, target = _problem(seed=5)
    t = torch.tensor(target)
    step = torch.compile(
        lambda h, W: sk.linear_cross_entropy(h, W, t, chunk_size=6), backend="aot_eager"
    )
    grads = []
    for run in (step, lambda h, W: sk.linear_cross_entropy(h, W, t, chunk_size=6)):
        ht, Wt = (torch.tensor(a, requires_grad=True) for a in (h, W))
        loss = run(ht, Wt)
        grads.append((loss.detach(), *torch.autograd.grad(loss, (ht, Wt))))
    for a, c in zip(*grads, strict=True):
        _close(a.numpy(), c.numpy())


def test_matches_torch_cross_entropy_with_probabilities(torch_backend):
    import torch
    import torch.nn.functional as F

    h, W, b, target = _problem(seed=6, soft=True)
    args = [torch.tensor(a, requires_grad=True) for a in (h, W, b)]
    mine = [torch.tensor(a, requires_grad=True) for a in (h, W, b)]
    ref = F.cross_entropy(F.linear(*args), torch.tensor(target), label_smoothing=0.1)
    got = sk.linear_cross_entropy(
        mine[0], mine[1], torch.tensor(target), bias=mine[2], label_smoothing=0.1, chunk_size=3
    )
    _close(got.detach().numpy(), ref.detach().numpy())
    for a, c in zip(torch.autograd.grad(got, mine), torch.autograd.grad(ref, args), strict=True):
        _close(a.numpy(), c.numpy(), rtol=1e-11)


# -------------------------------------------------------------------------------------
# finite differences


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("soft", [False, True], ids=["labels", "probabilities"])
def test_gradcheck(torch_backend, reduction, soft):
    import torch
    from torch.autograd import gradcheck

    h, W, b, target = _problem(seed=7, n=9, d=3, k=5, soft=soft)
    args = tuple(torch.tensor(a, requires_grad=True) for a in (h, W, b))
    t = torch.tensor(target)
    for chunk in (None, 2, (4, 2)):

        def f(h, W, b, chunk=chunk):
            return sk.linear_cross_entropy(
                h,
                W,
                t,
                bias=b,
                chunk_size=chunk,
                z_loss=0.1,
                label_smoothing=0.1,
                temperature=0.8,
                reduction=reduction,
            )

        assert gradcheck(f, args)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_jax_check_grads_under_jit(jax_backend, reduction):
    import jax
    import jax.numpy as jnp
    from jax.test_util import check_grads

    h, W, b, target = _problem(seed=8, n=9, d=3, k=5)
    t = jnp.asarray(target)
    for chunk in (None, 2, (4, 2)):

        def f(h, W, b, chunk=chunk):
            return jnp.sum(
                sk.linear_cross_entropy(
                    h,
                    W,
                    t,
                    bias=b,
                    chunk_size=chunk,
                    z_loss=0.1,
                    label_smoothing=0.1,
                    reduction=reduction,
                )
            )

        check_grads(jax.jit(f), tuple(jnp.asarray(a) for a in (h, W, b)), order=1, modes=["rev"])


def test_jax_value_and_grad_under_jit_match_the_explicit_gradients(jax_backend):
    import jax
    import jax.numpy as jnp

    h, W, b, target = _problem(seed=9, n=40, soft=True)
    args = tuple(jnp.asarray(a) for a in (h, W, b))
    t = jnp.asarray(target)

    @jax.jit
    def f(h, W, b):
        return sk.linear_cross_entropy(h, W, t, bias=b, chunk_size=7, z_loss=0.01)

    value, grads = jax.value_and_grad(f, argnums=(0, 1, 2))(*args)
    ref = sk.linear_cross_entropy_with_grad(h, W, target, bias=b, chunk_size=7, z_loss=0.01)
    _close(value, ref[0])
    for a, c in zip(grads, ref[1:], strict=True):
        _close(a, c, rtol=1e-11)


# -------------------------------------------------------------------------------------
# chunks and class blocks


@given(
    n=st.integers(1, 30),
    k=st.integers(1, 12),
    d=st.integers(1, 4),
    rows=st.integers(1, 35),
    cols=st.integers(1, 13),
    soft=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_any_chunking_gives_the_unfused_result(n, k, d, rows, cols, soft, seed):
    """Chunks of one row, a ragged last chunk, class blocks that do not divide K:
    the value and gradients do not depend on how the work is cut."""
    h, W, b, target = _problem(seed=seed, n=n, d=d, k=k, soft=soft)
    opts = {"label_smoothing": 0.1, "z_loss": 0.02}
    want = _unfused(h, W, b, target, **dict(opts))
    _, grads = _torch_oracle(h, W, b, target, **opts)
    out = sk.linear_cross_entropy_with_grad(h, W, target, bias=b, chunk_size=(rows, cols), **opts)
    _close(out[0], want)
    for got, ref in zip(out[1:], grads, strict=True):
        _close(got, ref, rtol=1e-11)


def test_default_chunking_rule():
    from softmaxkit.losses import LOGITS_BUDGET, LOGITS_CAP, MIN_ROWS, _chunking

    # K = 1,000 in float64: rows that fill 64 MiB, all classes at once
    assert _chunking(None, 10**6, 1000, 8) == (LOGITS_BUDGET // 8000, 1000)
    # K = 128,256 in float32: 64 MiB would be 130 rows; at least 512
    assert _chunking(None, 8192, 128256, 4) == (MIN_ROWS, 128256)
    # K = 1,000,000: 512 rows would pass the cap, so class blocks within it
    rows, cols = _chunking(None, 8192, 10**6, 4)
    assert rows == MIN_ROWS
    assert rows * cols * 4 <= LOGITS_CAP
    assert cols < 10**6
    # few rows: one chunk; the user's choice, clipped to the data
    assert _chunking(None, 5, 128256, 4) == (5, 128256)
    assert _chunking((10, 3), 5, 2, 8) == (5, 2)


# -------------------------------------------------------------------------------------
# memory


def test_numpy_never_allocates_the_logits():
    """tracemalloc (NumPy reports its allocations to it): the peak above the inputs
    and the gradients stays at a few chunks' logits, while the unfused computation
    allocates the (N, K) logits several times."""
    n, d, k = 4096, 8, 2048
    h, W, b, target = _problem(seed=10, n=n, d=d, k=k)
    logits_bytes = n * k * 8  # 64 MiB
    grads_bytes = (n * d + k * d + k) * 8
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        out = sk.linear_cross_entropy_with_grad(h, W, target, bias=b, chunk_size=128)
        peak = tracemalloc.get_traced_memory()[1] - base
        del out
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        loss, G = sk.softmax_cross_entropy_with_grad(h @ W.T + b, target)
        unfused_peak = tracemalloc.get_traced_memory()[1] - base
        del loss, G
    finally:
        tracemalloc.stop()
    chunk_bytes = 128 * k * 8
    assert peak - grads_bytes < 8 * chunk_bytes  # 16 MiB, a quarter of the logits
    assert unfused_peak > 2 * logits_bytes  # the test can tell the two apart


def test_torch_saves_only_the_gradients(torch_backend):
    """The reduced loss saves dL/dh, dL/dW, dL/db (input-sized), never the logits."""
    import torch

    n, d, k = 512, 4, 1000
    h, W, b, target = _problem(seed=11, n=n, d=d, k=k)
    ht, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (h, W, b))
    saved = []

    def pack(t):
        saved.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = sk.linear_cross_entropy(ht, Wt, torch.tensor(target), bias=bt, chunk_size=64)
    assert sum(saved) <= n * d + k * d + k
    assert max(saved, default=0) < n * k
    loss.backward()
    assert ht.grad is not None


# -------------------------------------------------------------------------------------
# edges and dtypes


def test_all_rows_ignored_gives_zero_and_zero_gradients(xp):
    h, W, b, _ = _problem(seed=12)
    target = np.full(N, -100)
    out = sk.linear_cross_entropy_with_grad(
        xp.asarray(h), xp.asarray(W), xp.asarray(target), bias=xp.asarray(b), ignore_index=-100
    )
    assert float(xp.to_numpy(out[0])) == 0.0
    for g in out[1:]:
        assert not np.any(xp.to_numpy(g))


def test_masked_classes_and_empty_batch():
    """A -inf bias masks a class (its probability is 0, no NaN anywhere); no rows
    gives a mean of 0 with empty and zero gradients."""
    h, W, b, target = _problem(seed=13)
    b[2] = -np.inf
    target = np.where(target == 2, 0, target)
    out = sk.linear_cross_entropy_with_grad(h, W, target, bias=b, chunk_size=(4, 3))
    assert all(np.all(np.isfinite(a)) for a in out[:3])
    _close(out[0], _unfused(h, W, b, target))
    assert out[3][2] == 0.0
    empty = sk.linear_cross_entropy_with_grad(h[:0], W, target[:0], bias=b)
    assert float(empty[0]) == 0.0
    assert empty[1].shape == (0, D)
    assert not np.any(empty[2])


def test_leading_axes_are_rows():
    h, W, b, target = _problem(seed=14, n=24)
    h3, t3 = h.reshape(2, 3, 4, D), target.reshape(2, 3, 4)
    loss = sk.linear_cross_entropy(h3, W, t3, bias=b, reduction="none", chunk_size=5)
    assert loss.shape == (2, 3, 4)
    _close(loss.reshape(-1), _unfused(h, W, b, target, reduction="none"))
    _, gh, _, _ = sk.linear_cross_entropy_with_grad(h3, W, t3, bias=b)
    assert gh.shape == h3.shape


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_16_bit_inputs_accumulate_in_float32(torch_backend, dtype):
    import torch

    h, W, b, target = _problem(seed=15, n=300, d=16, k=50)
    dt = getattr(torch, dtype)
    ht, Wt, bt = (torch.tensor(a).to(dt) for a in (h, W, b))
    loss, gh, gW, gb = sk.linear_cross_entropy_with_grad(
        ht, Wt, torch.tensor(target), bias=bt, chunk_size=7
    )
    assert loss.dtype == gh.dtype == gW.dtype == gb.dtype == dt
    # the float32 result of the same (rounded) inputs, rounded once
    ref = sk.linear_cross_entropy_with_grad(
        *(a.float() for a in (ht, Wt)), torch.tensor(target), bias=bt.float(), chunk_size=7
    )
    for got, want in zip((loss, gh, gW, gb), ref, strict=True):
        assert torch.equal(got, want.to(dt))


def test_unchecked_invalid_labels_make_rows_nan(jax_backend):
    import jax
    import jax.numpy as jnp

    h, W, b, target = _problem(seed=16)
    target[5] = K + 3  # out of range, unseen under jit

    Wj, bj = jnp.asarray(W), jnp.asarray(b)

    @jax.jit
    def rows(h, t):
        return sk.linear_cross_entropy(h, Wj, t, bias=bj, reduction="none", chunk_size=4)

    out = np.asarray(rows(jnp.asarray(h), jnp.asarray(target)))
    assert np.isnan(out[5])
    assert np.all(np.isfinite(np.delete(out, 5)))
    with pytest.raises(ValueError, match="labels"):
        sk.linear_cross_entropy(h, W, target)


@pytest.mark.parametrize("soft", [False, True], ids=["labels", "probabilities"])
def test_fast_paths_agree_with_the_reference(soft):
    """The NumPy kernel for few classes and the per-chunk fast paths (labels and
    probabilities) against the reference (every fast path switched off), with a
    masked class (-inf bias) that a probability row gives no mass (0 log 0 = 0)."""
    for k in (3, 200):
        h, W, b, target = _problem(seed=17, n=500, d=6, k=k, soft=soft)
        b[1] = -np.inf
        if soft:
            target[:, 0] += target[:, 1]
            target[:, 1] = 0.0
        else:
            target = np.where(target == 1, 0, target)
        opts = {"label_smoothing": 0.1, "temperature": 0.9, "sample_weight": np.arange(500.0)}
        for eps in (0.0, 0.1):
            opts["label_smoothing"] = eps
            got = sk.linear_cross_entropy_with_grad(h, W, target, bias=b, **opts)
            with _fast.reference_only():
                want = sk.linear_cross_entropy_with_grad(h, W, target, bias=b, **opts)
            for a, c in zip(got, want, strict=True):
                _close(a, c)


# -------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"W": np.ones((K, D + 1))}, ValueError, "expected W of shape"),
        ({"bias": np.ones(K + 1)}, ValueError, "expected bias of shape"),
        ({"target": np.zeros(N + 1, dtype=int)}, ValueError, "class labels"),
        ({"target": np.ones((N, K + 1)) / (K + 1)}, ValueError, "probability target"),
        ({"target": np.zeros(N, dtype=bool)}, TypeError, "expected target"),
        ({"z_loss": -1.0}, ValueError, "z_loss"),
        ({"z_loss": math.inf}, ValueError, "z_loss"),
        ({"chunk_size": 0}, ValueError, "chunk_size"),
        ({"chunk_size": (3, 0)}, ValueError, "chunk_size"),
        ({"chunk_size": 2.5}, ValueError, "chunk_size"),
        ({"reduction": "avg"}, ValueError, "reduction"),
        ({"label_smoothing": 1.5}, ValueError, "label_smoothing"),
        ({"sample_weight": -np.ones(N)}, ValueError, "sample_weight"),
    ],
)
def test_bad_input_raises(change, error, match):
    h, W, b, target = _problem()
    args = {"h": h, "W": W, "target": target, "bias": b}
    args.update(change)
    pos = [args.pop("h"), args.pop("W"), args.pop("target")]
    with pytest.raises(error, match=match):
        sk.linear_cross_entropy(*pos, **args)
