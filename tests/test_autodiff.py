"""Gradients inside PyTorch and JAX: closed-form backward passes, exact at the edges,
composable with the frameworks' transforms and compilers.

Oracles: ``torch.autograd.gradcheck``/``gradgradcheck`` (central finite differences
in float64), ``jax.test_util.check_grads`` (the same, to second order), mpmath at
high precision for accuracy, PyTorch's and JAX's own autodiff of their native
functions, and SciPy for ``logsumexp``'s ``b`` and ``return_sign``.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest

import softmaxkit as sk

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
from jax.test_util import check_grads  # noqa: E402
from torch.autograd import gradcheck, gradgradcheck  # noqa: E402

F64 = torch.float64
RNG = np.random.default_rng(20261127)


def _t(a, dtype=F64, grad=True):
    return torch.tensor(np.asarray(a), dtype=dtype, requires_grad=grad)


X = RNG.normal(size=(3, 5))
LABELS = np.array([0, 4, 2])
MASK = np.array([True, False, True, True, True])
P = sk.softmax(RNG.normal(size=5))
Q = sk.softmax(RNG.normal(size=5))

# Each case: a function of the float64 tensors given by the second entry. Masked
# entries of log-softmax are -inf, which finite differences cannot handle: they are
# compared where they are finite (zero elsewhere).
_mask = torch.tensor(MASK)
ACTIVATIONS = {
    "softmax": lambda x: sk.softmax(x),
    "softmax_T_axis0": lambda x: sk.softmax(x, axis=0, temperature=0.5),
    "softmax_tuple_axes": lambda x: sk.softmax(x, axis=(0, 1), temperature=3.0),
    "softmax_where": lambda x: sk.softmax(x, where=_mask),
    "log_softmax": lambda x: sk.log_softmax(x),
    "log_softmax_T": lambda x: sk.log_softmax(x, temperature=2.0),
    "log_softmax_where": lambda x: sk.log_softmax(x, where=_mask).masked_fill(~_mask, 0),
    "logsumexp": lambda x: sk.logsumexp(x),
    "logsumexp_keepdims_axis0": lambda x: sk.logsumexp(x, axis=0, keepdims=True),
    "logsumexp_all": lambda x: sk.logsumexp(x, axis=None),
    "logsumexp_where": lambda x: sk.logsumexp(x, where=_mask),
    "sigmoid": lambda x: sk.sigmoid(x),
    "log_sigmoid": lambda x: sk.log_sigmoid(x),
}

CE_OPTIONS = {
    "plain": {},
    "smoothing": {"label_smoothing": 0.1},
    "temperature": {"temperature": 2.0},
    "sum": {"reduction": "sum"},
    "none": {"reduction": "none"},
    "ignore_index": {"ignore_index": 4},
    "class_weight": {"class_weight": RNG.random(5) + 0.1},
    "sample_weight": {"sample_weight": RNG.random(3) + 0.1},
    "everything": {
        "label_smoothing": 0.2,
        "temperature": 0.7,
        "class_weight": RNG.random(5) + 0.1,
        "sample_weight": RNG.random(3),
        "ignore_index": 2,
        "reduction": "sum",
    },
}


# ------------------------------------------------------------------------------------
# PyTorch: gradcheck, gradgradcheck, torch.func, torch.compile


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_torch_gradcheck_and_gradgradcheck_activations(name):
    f = ACTIVATIONS[name]
    x = _t(X)
    assert gradcheck(f, (x,))
    assert gradgradcheck(f, (x,))


def _ce_options_torch(opts):
    return {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in opts.items()}


@pytest.mark.parametrize("name", list(CE_OPTIONS))
def test_torch_gradcheck_cross_entropy_every_option(name):
    opts = _ce_options_torch(CE_OPTIONS[name])
    y = torch.tensor(LABELS)
    x = _t(X)
    f = lambda z: sk.softmax_cross_entropy(z, y, **opts)  # noqa: E731
    assert gradcheck(f, (x,))
    assert gradgradcheck(f, (x,))


@pytest.mark.parametrize("name", ["plain", "smoothing", "temperature", "class_weight"])
def test_torch_gradcheck_cross_entropy_probability_targets(name):
    # The target is differentiated too; it is kept a distribution by a softmax
    # (finite differences of a raw target would leave the simplex and be rejected).
    opts = _ce_options_torch(CE_OPTIONS[name])
    f = lambda z, th: sk.softmax_cross_entropy(z, torch.softmax(th, -1), **opts)  # noqa: E731
    args = (_t(X), _t(RNG.normal(size=(3, 5))))
    assert gradcheck(f, args)
    assert gradgradcheck(f, args)


def test_torch_gradcheck_cross_entropy_weights_are_differentiable():
    y = torch.tensor(LABELS)
    f = lambda z, w: sk.softmax_cross_entropy(z, y, sample_weight=w)  # noqa: E731
    assert gradcheck(f, (_t(X), _t(RNG.random(3) + 0.5)))


@pytest.mark.parametrize("fn", [sk.kl_divergence, sk.cross_entropy])
def test_torch_gradcheck_information(fn):
    args = (_t(P), _t(Q))
    assert gradcheck(fn, args)
    assert gradgradcheck(fn, args)


def test_torch_gradcheck_entropy_and_sigmoid_cross_entropy():
    assert gradcheck(sk.entropy, (_t(P),))
    assert gradgradcheck(sk.entropy, (_t(P),))
    t = torch.tensor(RNG.random(5))
    pw = torch.tensor(RNG.random(5) + 0.5)
    f = lambda z: sk.sigmoid_cross_entropy(z, t, pos_weight=pw)  # noqa: E731
    assert gradcheck(f, (_t(RNG.normal(size=5)),))
    assert gradgradcheck(f, (_t(RNG.normal(size=5)),))


def test_torch_gradcheck_logsumexp_weights():
    b = RNG.random((3, 5)) + 0.1
    b[0, 1] = -0.3  # a negative weight, with a row sum still positive
    f = lambda x, b: sk.logsumexp(x, b=b)  # noqa: E731
    assert gradcheck(f, (_t(X), _t(b)))
    assert gradgradcheck(f, (_t(X), _t(b)))
    g = lambda x, b: sk.logsumexp(x, b=b, return_sign=True)[0]  # noqa: E731
    b2 = -np.abs(b)  # every sum negative: log |sum| is still differentiable
    assert gradcheck(g, (_t(X), _t(b2)))


def test_torch_func_vmap_grad_and_jacrev():
    from torch.func import grad, jacrev, vmap

    xs = torch.tensor(X)
    # per-example gradients of log-sum-exp are the softmax rows (result 3's J^T 1 = s)
    per_row = vmap(grad(lambda r: sk.logsumexp(r)))(xs)
    torch.testing.assert_close(per_row, torch.softmax(xs, -1), rtol=1e-15, atol=1e-15)
    # per-example cross-entropy gradients are softmax - one-hot (result 5)
    ys = torch.tensor(LABELS)
    g = vmap(grad(lambda r, y: sk.softmax_cross_entropy(r[None], y[None])))(xs, ys)
    expect = torch.softmax(xs, -1) - torch.nn.functional.one_hot(ys, 5)
    torch.testing.assert_close(g, expect.to(F64), rtol=1e-14, atol=1e-15)
    # the Jacobian of softmax is diag(s) - s s^T (result 3)
    s = torch.softmax(xs[0], -1)
    torch.testing.assert_close(jacrev(sk.softmax)(xs[0]), torch.diag(s) - torch.outer(s, s))
    torch.testing.assert_close(
        vmap(jacrev(sk.log_softmax))(xs), vmap(jacrev(lambda r: torch.log_softmax(r, -1)))(xs)
    )


COMPILED = {
    "softmax": lambda x: sk.softmax(x, temperature=0.5).sum(),
    "log_softmax": lambda x: sk.log_softmax(x)[:, 0].sum(),
    "logsumexp": lambda x: sk.logsumexp(x, where=x > -1).sum(),
    "logsumexp_b": lambda x: sk.logsumexp(x, b=torch.ones_like(x)).sum(),
    "cross_entropy": lambda x: sk.softmax_cross_entropy(
        x, torch.tensor([0, 5, 2, 1]), label_smoothing=0.1, sample_weight=torch.ones(4)
    ),
    "cross_entropy_probs": lambda x: sk.softmax_cross_entropy(x, torch.full((4, 6), 1 / 6)),
    "sigmoid": lambda x: sk.sigmoid(x).sum(),
    "log_sigmoid": lambda x: sk.log_sigmoid(x).sum(),
    "sigmoid_cross_entropy": lambda x: sk.sigmoid_cross_entropy(x, torch.full((4, 6), 0.3)),
    "entropy": lambda x: sk.entropy(torch.softmax(x, -1)).sum(),
    "cross_entropy_pq": lambda x: sk.cross_entropy(
        torch.softmax(x, -1), torch.full((6,), 1 / 6)
    ).sum(),
    "kl_divergence": lambda x: sk.kl_divergence(
        torch.full((6,), 1 / 6), torch.softmax(x, -1)
    ).sum(),
}


@pytest.mark.parametrize("name", list(COMPILED))
def test_torch_compile_fullgraph_has_no_graph_break(name):
    # aot_eager traces forward and backward like inductor but needs no C++ compiler;
    # fullgraph=True turns any graph break into an error.
    torch._dynamo.reset()
    f = COMPILED[name]
    x = torch.randn(4, 6, dtype=torch.float32, generator=torch.Generator().manual_seed(3))
    x.requires_grad_(True)
    value = torch.compile(f, fullgraph=True, backend="aot_eager")(x)
    (g,) = torch.autograd.grad(value, x)
    x2 = x.detach().clone().requires_grad_(True)
    eager = f(x2)
    (g2,) = torch.autograd.grad(eager, x2)
    torch.testing.assert_close(value, eager)
    torch.testing.assert_close(g, g2)


def test_torch_compile_invalid_label_gives_nan_not_an_error():
    # Under torch.compile no value check may read the labels (a graph break, and on
    # a GPU a device wait): the row with label 9 of 6 classes is NaN instead.
    torch._dynamo.reset()
    f = lambda z, y: sk.softmax_cross_entropy(z, y, reduction="none")  # noqa: E731
    z = torch.zeros(2, 6)
    out = torch.compile(f, fullgraph=True, backend="aot_eager")(z, torch.tensor([1, 9]))
    assert math.isclose(float(out[0]), math.log(6), rel_tol=1e-6)
    assert math.isnan(float(out[1]))
    with pytest.raises(ValueError, match="class labels"):  # eager CPU: checked
        f(z, torch.tensor([1, 9]))


def test_torch_empty_batch_backward():
    # Regression: the empty-input shortcut used to return a tensor without history.
    for reduction in ("mean", "sum", "none"):
        z = torch.zeros(0, 5, requires_grad=True)
        loss = sk.softmax_cross_entropy(z, torch.zeros(0, dtype=torch.long), reduction=reduction)
        loss.sum().backward()
        assert z.grad is not None
        assert z.grad.shape == (0, 5)
    for fn in (sk.softmax, sk.log_softmax, sk.logsumexp):
        z = torch.zeros(0, 5, requires_grad=True)
        fn(z).sum().backward()
        assert z.grad.shape == (0, 5)


# ------------------------------------------------------------------------------------
# the edge policy for gradients (pytorch#55056, pytorch#106545, jax#6811, jax#17117)

EDGE = np.array(
    [
        [-np.inf, -np.inf, -np.inf, -np.inf],  # all -inf: derivative 0
        [1.0, -np.inf, 2.0, 0.5],  # a -inf entry: derivative 0 there
        [np.inf, 0.0, np.inf, 1.0],  # +inf entries: the limit (mass 1/2 each)
        [3.0, 1.0, -2.0, 0.0],  # fully masked below
    ]
)
EDGE_MASK = np.array([[True] * 4, [True] * 4, [True] * 4, [False] * 4])
G = np.arange(1.0, 17.0).reshape(4, 4)


def _edge_expectations():
    """The derivatives the edge policy asks for, from the limiting probabilities."""
    s = np.array([[0, 0, 0, 0], sk.softmax(EDGE[1]), [0.5, 0, 0.5, 0], [0, 0, 0, 0]], dtype=float)
    softmax_vjp = s * (G - np.sum(G * s, axis=-1, keepdims=True))
    # log-softmax: an entry whose output is -inf (a -inf or masked logit, a finite
    # logit beside +inf ones) has derivative 0, and its upstream gradient is ignored.
    live = sk.log_softmax(EDGE, where=EDGE_MASK) != -np.inf
    log_softmax_vjp = np.where(live, G - s * np.sum(np.where(live, G, 0), -1, keepdims=True), 0)
    lse_grad = s  # d logsumexp / dx with upstream 1
    return softmax_vjp, log_softmax_vjp, lse_grad


def _edge_grads_torch():
    x = torch.tensor(EDGE, requires_grad=True)
    m = torch.tensor(EDGE_MASK)
    g = torch.tensor(G)
    (a,) = torch.autograd.grad(sk.softmax(x, where=m), x, g)
    (b,) = torch.autograd.grad(sk.log_softmax(x, where=m), x, g)
    (c,) = torch.autograd.grad(sk.logsumexp(x, where=m).sum(), x)
    return [t.numpy() for t in (a, b, c)]


def _edge_grads_jax():
    x, m, g = jnp.asarray(EDGE), jnp.asarray(EDGE_MASK), jnp.asarray(G)
    a = jax.vjp(lambda v: sk.softmax(v, where=m), x)[1](g)[0]
    b = jax.vjp(lambda v: sk.log_softmax(v, where=m), x)[1](g)[0]
    c = jax.grad(lambda v: sk.logsumexp(v, where=m).sum())(x)
    return [np.asarray(t) for t in (a, b, c)]


@pytest.mark.parametrize("grads", [_edge_grads_torch, _edge_grads_jax], ids=["torch", "jax"])
def test_edge_rows_have_the_policy_gradients_and_no_nan(grads):
    for got, expect in zip(grads(), _edge_expectations(), strict=True):
        assert not np.isnan(got).any()
        np.testing.assert_allclose(got, expect, rtol=1e-14, atol=1e-15)


def test_cross_entropy_gradient_of_fully_ignored_and_masked_rows_is_zero():
    z = torch.tensor([[-math.inf, -math.inf, -math.inf], [1.0, 2.0, 3.0]], dtype=F64)
    z.requires_grad_(True)
    y = torch.tensor([-100, 2])
    loss = sk.softmax_cross_entropy(z, y, ignore_index=-100)
    (g,) = torch.autograd.grad(loss, z)
    assert not torch.isnan(g).any()
    np.testing.assert_array_equal(g[0].numpy(), 0.0)
    zj = jnp.asarray(z.detach().numpy())
    gj = jax.grad(lambda v: sk.softmax_cross_entropy(v, jnp.asarray(y.numpy()), ignore_index=-100))(
        zj
    )
    np.testing.assert_allclose(np.asarray(gj), g.numpy(), rtol=1e-15, atol=0)


def test_entropy_of_softmax_with_an_underflowed_probability_has_a_finite_gradient():
    # s_2 = e^-800 underflows to 0: the chain rule through softmax must give 0 there,
    # not 0 * inf = NaN (the derivative of p log p at p = 0 is taken as 0).
    x = np.array([0.0, 1.0, -800.0])
    xt = torch.tensor(x, requires_grad=True)
    (g,) = torch.autograd.grad(sk.entropy(sk.softmax(xt)), xt)
    gj = jax.grad(lambda v: sk.entropy(sk.softmax(v)))(jnp.asarray(x))
    # reference: dH/dx_j = -s_j (log s_j - sum_k s_k log s_k), in mpmath at 50 digits
    with mp.workdps(50):
        s = [mp.exp(v) / mp.fsum(mp.exp(w) for w in x) for v in x]
        h = mp.fsum(si * mp.log(si) for si in s)
        ref = np.array([float(-si * (mp.log(si) - h)) for si in s])
    np.testing.assert_allclose(g.numpy(), ref, rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(np.asarray(gj), ref, rtol=1e-14, atol=1e-300)


# ------------------------------------------------------------------------------------
# JAX: grad, jit with closed-over constants, vmap, hessian, check_grads


def _jx(a):
    return jnp.asarray(np.asarray(a))


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_jax_check_grads_second_order(name):
    f = {
        "softmax_where": lambda x: sk.softmax(jnp.asarray(x), where=_jx(MASK)),
        "log_softmax_where": lambda x: jnp.where(
            _jx(MASK), sk.log_softmax(jnp.asarray(x), where=_jx(MASK)), 0.0
        ),
        "logsumexp_where": lambda x: sk.logsumexp(jnp.asarray(x), where=_jx(MASK)),
    }.get(name)
    if f is None:
        base = ACTIVATIONS[name]
        f = lambda x: base(jnp.asarray(x))  # noqa: E731
    check_grads(f, (_jx(X),), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("name", list(CE_OPTIONS))
def test_jax_check_grads_cross_entropy_every_option(name):
    opts = {k: _jx(v) if isinstance(v, np.ndarray) else v for k, v in CE_OPTIONS[name].items()}
    y = _jx(LABELS)
    check_grads(lambda z: sk.softmax_cross_entropy(jnp.asarray(z), y, **opts), (_jx(X),), order=2)


def test_jax_check_grads_information_and_weights():
    check_grads(lambda p, q: sk.kl_divergence(jnp.asarray(p), jnp.asarray(q)), (_jx(P), _jx(Q)), 2)
    check_grads(lambda p, q: sk.cross_entropy(jnp.asarray(p), jnp.asarray(q)), (_jx(P), _jx(Q)), 2)
    check_grads(lambda p: sk.entropy(jnp.asarray(p)), (_jx(P),), 2)
    b = RNG.random((3, 5)) + 0.1
    check_grads(lambda x, b: sk.logsumexp(jnp.asarray(x), b=jnp.asarray(b)), (_jx(X), _jx(b)), 2)
    th = _jx(RNG.normal(size=(3, 5)))
    check_grads(
        lambda z, t: sk.softmax_cross_entropy(
            jnp.asarray(z), jax.nn.softmax(jnp.asarray(t)), label_smoothing=0.1
        ),
        (_jx(X), th),
        2,
    )
    t = _jx(RNG.random(5) * 0.8 + 0.1)
    check_grads(
        lambda z: sk.sigmoid_cross_entropy(jnp.asarray(z), t), (_jx(RNG.normal(size=5)),), 2
    )


def test_jax_jit_with_closed_over_labels_targets_and_weights():
    # Regression: closed-over constants became tracers inside jit and the value checks
    # raised ConcretizationTypeError / TracerBoolConversionError.
    z = _jx(X)
    y, w = _jx(LABELS), _jx(RNG.random(3))
    probs = jax.nn.softmax(_jx(RNG.normal(size=(3, 5))))
    cases = [
        (lambda z: sk.softmax_cross_entropy(z, y), lambda: sk.softmax_cross_entropy(z, y)),
        (lambda z: sk.softmax_cross_entropy(z, probs), lambda: sk.softmax_cross_entropy(z, probs)),
        (
            lambda z: sk.softmax_cross_entropy(z, y, sample_weight=w, class_weight=_jx(np.ones(5))),
            lambda: sk.softmax_cross_entropy(z, y, sample_weight=w, class_weight=_jx(np.ones(5))),
        ),
        (lambda z: sk.sigmoid_cross_entropy(z, probs), lambda: sk.sigmoid_cross_entropy(z, probs)),
    ]
    for jitted, eager in cases:
        value, grad = jax.jit(jax.value_and_grad(jitted))(z)
        np.testing.assert_allclose(float(value), float(eager()), rtol=1e-14)
        assert np.isfinite(np.asarray(grad)).all()


def test_jax_jit_invalid_values_give_nan_rows():
    # Traced labels cannot be checked: an out-of-range label is NaN for its row
    # (optax gives NaN too), never a plausible finite loss.
    f = jax.jit(lambda z, y: sk.softmax_cross_entropy(z, y, reduction="none"))
    out = np.asarray(f(jnp.zeros((3, 4)), jnp.asarray([1, 7, -2])))
    assert math.isclose(out[0], math.log(4), rel_tol=1e-12)
    assert np.isnan(out[1:]).all()
    bad_probs = jnp.asarray([[0.5, 0.5, 0, 0], [0.9, 0.9, 0, 0], [1.5, -0.5, 0, 0]])
    g = jax.jit(lambda z, t: sk.softmax_cross_entropy(z, t, reduction="none"))
    out = np.asarray(g(jnp.zeros((3, 4)), bad_probs))
    assert np.isfinite(out[0])
    assert np.isnan(out[1:]).all()
    h = jax.jit(
        lambda z, w: sk.softmax_cross_entropy(
            z, jnp.asarray([0, 1]), sample_weight=w, reduction="none"
        )
    )
    out = np.asarray(h(jnp.zeros((2, 4)), jnp.asarray([1.0, -1.0])))
    assert np.isfinite(out[0])
    assert np.isnan(out[1])
    s = jax.jit(lambda z, t: sk.sigmoid_cross_entropy(z, t, reduction="none"))
    out = np.asarray(s(jnp.zeros(2), jnp.asarray([0.5, 1.5])))
    assert np.isfinite(out[0])
    assert np.isnan(out[1])


def test_jax_vmap_and_hessian():
    xs = _jx(X)
    per_row = jax.vmap(jax.grad(sk.logsumexp))(xs)
    np.testing.assert_allclose(np.asarray(per_row), np.asarray(jax.nn.softmax(xs)), rtol=1e-15)
    # The Hessian of log-sum-exp is the softmax Jacobian diag(s) - s s^T (result 3).
    s = np.asarray(jax.nn.softmax(xs[0]))
    H = np.asarray(jax.hessian(sk.logsumexp)(xs[0]))
    np.testing.assert_allclose(H, np.diag(s) - np.outer(s, s), rtol=1e-14, atol=1e-16)
    Hce = jax.hessian(lambda z: sk.softmax_cross_entropy(z[None], _jx([2])))(xs[0])
    np.testing.assert_allclose(np.asarray(Hce), np.diag(s) - np.outer(s, s), rtol=1e-14, atol=1e-16)


# ------------------------------------------------------------------------------------
# accuracy: long rows, huge offsets, near-ties, against mpmath


def _mp_grads(x: np.ndarray, g: np.ndarray):
    """softmax VJP s (g - <g, s>), log-softmax VJP g - s sum(g), and d LSE/dx = s, in
    mpmath at 40 digits (the inputs are exact binary numbers; 40 digits is far more
    than the 17 a float64 result can show)."""
    with mp.workdps(40):
        m = max(x)
        e = [mp.exp(mp.mpf(v) - mp.mpf(m)) for v in x]
        total = mp.fsum(e)
        s = [v / total for v in e]
        gs = mp.fsum(mp.mpf(a) * b for a, b in zip(g, s, strict=True))
        gsum = mp.fsum(mp.mpf(a) for a in g)
        sm = np.array([float(si * (mp.mpf(gi) - gs)) for si, gi in zip(s, g, strict=True)])
        lsm = np.array([float(mp.mpf(gi) - si * gsum) for si, gi in zip(s, g, strict=True)])
        # The scale each entry is computed at (its condition), in which rounding errors
        # are counted: s_i (1 + |d_i|) for s_i = softmax(x)_i, where d_i = x_i - max x is
        # itself rounded (relative error eps) before exp, so e^{d_i} carries |d_i| eps;
        # s_i (1 + |d_i|) (|g_i| + sum |g_j| s_j (1 + |d_j|)) for the softmax VJP; and
        # |g_i| + s_i (1 + |d_i|) sum |g_j| for the log-softmax VJP.
        c = [si * (1 + abs(mp.mpf(v) - mp.mpf(m))) for si, v in zip(s, x, strict=True)]
        gs_abs = mp.fsum(abs(mp.mpf(a)) * b for a, b in zip(g, c, strict=True))
        g_abs = mp.fsum(abs(mp.mpf(a)) for a in g)
        sm_scale = np.array([float(ci * (abs(gi) + gs_abs)) for ci, gi in zip(c, g, strict=True)])
        lsm_scale = np.array([float(abs(gi) + ci * g_abs) for ci, gi in zip(c, g, strict=True)])
        s_scale = np.array([float(ci) for ci in c])
        return sm, lsm, np.array([float(v) for v in s]), (sm_scale, lsm_scale, s_scale)


def _rows():
    rng = np.random.default_rng(7)
    rows = []
    for k in (1536, 2049, 30576, 100_000):
        rows.append(rng.normal(size=k) * 3)
    rows.append(rng.normal(size=4096) * 3 + 1e300)  # huge offset (exact sums of 1e300 + x lose x)
    rows.append(np.array([0.0, 2.0**-52, -(2.0**-52), 2.0**-51, 0.0, -1.0]))  # near-ties
    rows.append(np.array([1e6, 1e6 - 1e-10, 1e6 - 30.0, 1e6 + 1e-10]))
    return rows


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_gradients_within_few_ulp_of_mpmath_on_long_rows_offsets_and_ties(framework):
    # Error of each entry in units of the spacing of its own scale (see _mp_grads):
    # a few ulp is what a closed form evaluated once in float64 achieves (observed
    # at most 1.1). The gradient traced through the reference, with the row maximum
    # not detached, was off by up to 2e-3 on PyTorch's own test rows.
    for x in _rows():
        if x[0] > 1e299:
            x = x.copy()  # the offset row: gradients equal those of x - 1e300 exactly
        g = np.random.default_rng(len(x)).normal(size=x.shape)
        sm, lsm, s, (sm_scale, lsm_scale, s_scale) = _mp_grads(x, g)
        if framework == "torch":
            xt = torch.tensor(x, requires_grad=True)
            gt = torch.tensor(g)
            got = [
                torch.autograd.grad(f(xt), xt, gt)[0].numpy() for f in (sk.softmax, sk.log_softmax)
            ]
            got.append(torch.autograd.grad(sk.logsumexp(xt), xt)[0].numpy())
        else:
            xj, gj = _jx(x), _jx(g)
            got = [np.asarray(jax.vjp(f, xj)[1](gj)[0]) for f in (sk.softmax, sk.log_softmax)]
            got.append(np.asarray(jax.grad(sk.logsumexp)(xj)))
        checks = {
            "softmax": (sm, sm_scale),
            "log_softmax": (lsm, lsm_scale),
            "logsumexp": (s, s_scale),
        }
        for value, (name, (ref, scale)) in zip(got, checks.items(), strict=True):
            ulps = np.abs(value - ref) / np.spacing(np.maximum(scale, 1e-300))
            assert ulps.max() <= 4, (framework, name, len(x), ulps.max())


def test_softmax_results_port_of_pytorch_suite():
    # Ported from PyTorch's test_nn.py::test_softmax_results: non-even sizes and
    # shifted views exercise every vectorised path; output, gradient and the
    # gradient of the gradient's sum must equal PyTorch's own (its default float32
    # tolerances, rtol 1.3e-6, atol 1e-5).
    sizes = [
        (0, 10),
        (32, 20),
        (10, 0),
        (31, 20),
        (32, 21),
        (31, 23),
        (32, 1536),
        (31, 2048),
        (33, 2049),
        (16, 30576),
    ]
    shifts = [(0, 0), (1, 0), (0, 1), (1, 1)]
    gen = torch.Generator().manual_seed(0)
    for ours, theirs in ((sk.softmax, torch.softmax), (sk.log_softmax, torch.log_softmax)):
        for size in sizes:
            for shift in shifts:
                base = torch.rand(size, generator=gen)[shift[0] :, shift[1] :]
                gout = torch.rand(size, generator=gen)[shift[0] :, shift[1] :]
                for dim in (0, 1):
                    a = base.detach().clone().requires_grad_(True)
                    b = base.detach().clone().requires_grad_(True)
                    out_a, out_b = ours(a, axis=dim), theirs(b, dim=dim)
                    (ga,) = torch.autograd.grad(out_a, a, gout, create_graph=True)
                    (gb,) = torch.autograd.grad(out_b, b, gout, create_graph=True)
                    ga.sum().backward()
                    gb.sum().backward()
                    torch.testing.assert_close(out_a, out_b)
                    torch.testing.assert_close(ga, gb)
                    torch.testing.assert_close(a.grad, b.grad)


# ------------------------------------------------------------------------------------
# KL divergence when P is close to Q


def _mp_kl(p, q):
    with mp.workdps(60):
        return mp.fsum(
            mp.mpf(a) * mp.log(mp.mpf(a) / mp.mpf(b)) for a, b in zip(p, q, strict=True) if a > 0
        )


@pytest.mark.parametrize("rel", [1e-6, 1e-8, 1e-3])
def test_kl_of_near_equal_distributions_within_1e8_of_mpmath(rel):
    rng = np.random.default_rng(int(-math.log10(rel)))
    worst = 0.0
    for _ in range(40):
        n = int(rng.integers(2, 200))
        q = rng.random(n)
        q /= q.sum()
        p = q * (1 + rel * rng.standard_normal(n))
        p /= p.sum()
        exact = _mp_kl(p, q)
        got = float(sk.kl_divergence(p, q))
        assert got >= 0
        if exact > 0:
            worst = max(worst, abs(got - float(exact)) / float(exact))
            # cross-entropy adds KL to entropy: its own relative error stays at rounding
            h_pq = float(sk.cross_entropy(p, q))
            with mp.workdps(60):
                ref = -mp.fsum(mp.mpf(a) * mp.log(mp.mpf(b)) for a, b in zip(p, q, strict=True))
            assert abs(h_pq - float(ref)) <= 1e-14 * float(ref)
    assert worst <= 1e-8


def test_kl_near_equal_pair_from_scipy_rel_entr_tests():
    # The near-equal case of SciPy's rel_entr tests: x log(x / y) with y = x (1 + 1e-13)
    # (special/tests): as a two-entry distribution pair, exact value by mpmath.
    x = 0.5
    y = x * (1 + 1e-13)
    p, q = np.array([x, 1 - x]), np.array([y, 1 - y])
    exact = float(_mp_kl(p, q))
    got = float(sk.kl_divergence(p, q))
    assert abs(got - exact) <= 1e-8 * abs(exact)


def test_kl_never_negative_and_backends_agree():
    p = np.array([0.1, 0.2, 0.3, 0.4])
    q = np.nextafter(p, 1)  # one ulp apart
    q = q / q.sum()
    for arr in (np.asarray, torch.tensor, jnp.asarray):
        assert float(sk.kl_divergence(arr(p), arr(q))) >= 0
    rng = np.random.default_rng(3)
    pp, qq = sk.softmax(rng.normal(size=(8, 50))), sk.softmax(rng.normal(size=(8, 50)))
    ref = sk.kl_divergence(pp, qq)
    np.testing.assert_allclose(
        sk.kl_divergence(torch.tensor(pp), torch.tensor(qq)).numpy(), ref, rtol=1e-14
    )
    np.testing.assert_allclose(
        np.asarray(sk.kl_divergence(jnp.asarray(pp), jnp.asarray(qq))), ref, rtol=1e-14
    )


# ------------------------------------------------------------------------------------
# SciPy parity for logsumexp(b=, return_sign=)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([2.0, 1.0], [1.0, -1.0]),
        ([1.0, 2.0], [1.0, -1.0]),  # negative sum: NaN without return_sign
        ([0.0, 0.0], [1.0, -1.0]),  # zero sum: -inf, sign 0
        ([-np.inf, -np.inf], [1.0, 1.0]),
        ([np.inf, 0.0], [1.0, 1.0]),
        ([np.inf, np.inf], [1.0, -1.0]),  # inf - inf: NaN
        ([1.0, np.nan], [1.0, 1.0]),
        ([0.0, -40.0], [1.0, 1e-3]),  # the 1e-21 tail kept (log1p)
        ([5.0, np.inf], [1.0, 0.0]),  # b = 0 removes an infinite entry (SciPy's rule)
        ([1000.0, 1000.0, 999.0], [0.5, 0.5, -2.0]),
        ([-1.0, 3.0, 2.5], [2.0, 0.25, 3.0]),
    ],
)
def test_logsumexp_weights_match_scipy(a, b):
    from scipy.special import logsumexp as scipy_lse

    a, b = np.array(a), np.array(b)
    val, sign = sk.logsumexp(a, b=b, return_sign=True)
    ref_val, ref_sign = scipy_lse(a, b=b, return_sign=True)
    np.testing.assert_allclose(float(val), float(ref_val), rtol=4e-16)
    np.testing.assert_allclose(float(sign), float(ref_sign))
    np.testing.assert_allclose(float(sk.logsumexp(a, b=b)), float(scipy_lse(a, b=b)), rtol=4e-16)
    # the same on PyTorch and JAX
    for arr in (torch.tensor, jnp.asarray):
        v, s = sk.logsumexp(arr(a), b=arr(b), return_sign=True)
        np.testing.assert_allclose(float(v), float(ref_val), rtol=4e-16)
        np.testing.assert_allclose(float(s), float(ref_sign))


def test_logsumexp_weights_axes_keepdims_and_broadcasting():
    from scipy.special import logsumexp as scipy_lse

    a = RNG.normal(size=(3, 4, 5))
    b = RNG.random(5)
    for axis in (-1, 0, (0, 2), None):
        got = sk.logsumexp(a, axis=axis, b=b, keepdims=True)
        np.testing.assert_allclose(got, scipy_lse(a, axis=axis, b=b, keepdims=True), rtol=1e-14)
    with pytest.raises(ValueError, match="b"):
        sk.logsumexp(a, b=np.ones(4))
    with pytest.raises(TypeError, match="return_sign"):
        sk.logsumexp(a, return_sign=1)


def test_logsumexp_weight_gradients_match_autograd_of_the_definition():
    # d/dx and d/db of log(sum b e^x), against torch autograd of the plain formula
    x = _t(X)
    b = _t(RNG.random((3, 5)) + 0.1)
    (gx, gb) = torch.autograd.grad(sk.logsumexp(x, b=b).sum(), (x, b))
    x2, b2 = _t(X), _t(b.detach().numpy())
    (rx, rb) = torch.autograd.grad(torch.log((b2 * torch.exp(x2)).sum(-1)).sum(), (x2, b2))
    torch.testing.assert_close(gx, rx, rtol=1e-14, atol=1e-16)
    torch.testing.assert_close(gb, rb, rtol=1e-14, atol=1e-16)
    jx, jb = jax.grad(lambda x, b: sk.logsumexp(x, b=b).sum(), argnums=(0, 1))(
        _jx(X), _jx(b.detach().numpy())
    )
    np.testing.assert_allclose(np.asarray(jx), rx.numpy(), rtol=1e-14)
    np.testing.assert_allclose(np.asarray(jb), rb.numpy(), rtol=1e-14)


# ------------------------------------------------------------------------------------
# memory saved for backward


def _saved_bytes(fn):
    """Bytes of tensors autograd keeps for backward (each storage counted once)."""
    seen = {}

    def pack(t):
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def test_saved_for_backward_is_no_more_than_the_native_ops():
    z = torch.randn(512, 1000, requires_grad=True)
    y = torch.randint(0, 1000, (512,))
    ours = _saved_bytes(lambda: sk.softmax_cross_entropy(z, y))
    native = _saved_bytes(lambda: torch.nn.functional.cross_entropy(z, y))
    assert ours <= native
    for f, g in ((sk.softmax, torch.softmax), (sk.log_softmax, torch.log_softmax)):
        assert _saved_bytes(lambda f=f: f(z)) <= _saved_bytes(lambda g=g: g(z, -1))
    # log-sum-exp keeps the input (already alive) and nothing of its size besides
    assert _saved_bytes(lambda: sk.logsumexp(z)) <= z.untyped_storage().nbytes() + 512 * 8


@pytest.mark.parametrize("T", [1e300, 2.0**1022, 2.0**1023, 1e308])
def test_jax_gradient_at_a_huge_temperature_is_exact_or_flushed(T):
    """d log_softmax(x / T)_0 / dx = (e_0 - s) / T. Reference: mpmath at 50 digits,
    rounded once. Where the true value is a normal float64 JAX must match it to a few
    ulp; where it is subnormal XLA's CPU backend flushes subnormals (documented in
    docs/gradients.md): JAX is then within 2.2e-308 (the smallest normal) of it, with
    the right sign, and PyTorch gives the subnormal value."""
    x = [1.0, 2.0, 3.0]
    with mp.workdps(50):
        s = [mp.mpf(1) / 3] * 3  # x / T is below one ulp of 0's neighbours: s is uniform
        ref = np.array([float(((1 if i == 0 else 0) - s[i]) / mp.mpf(T)) for i in range(3)])
    got = np.asarray(jax.grad(lambda v: sk.log_softmax(v, temperature=T)[0])(jnp.array(x)))
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    sk.log_softmax(xt, temperature=T)[0].backward()
    np.testing.assert_allclose(xt.grad.numpy(), ref, rtol=1e-15, atol=0)
    tiny = np.finfo(np.float64).tiny
    for g, r in zip(got, ref, strict=True):
        if abs(r) >= tiny:
            assert g == pytest.approx(r, rel=1e-15)
        else:  # flushed (0) or rounded at the normal range's edge: within tiny, same sign
            assert abs(g - r) <= tiny
            assert g * r >= 0
