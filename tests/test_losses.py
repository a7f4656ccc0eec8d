"""softmax_cross_entropy (+ grad, + with_grad) and sigmoid_cross_entropy."""

from __future__ import annotations

import math

import hypothesis.extra.numpy as hnp
import mpmath as mp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import softmaxkit as sk
from _helpers import DPS, mp_logsumexp

INF, NAN = math.inf, math.nan


def _data(n=6, K=4, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(n, K))
    labels = rng.integers(0, K, size=n)
    probs = sk.softmax(rng.normal(size=(n, K)))
    return logits, labels, probs


OPTIONS = [
    {},
    {"reduction": "sum"},
    {"reduction": "none"},
    {"label_smoothing": 0.2},
    {"temperature": 2.5},
    {"temperature": 0.3, "label_smoothing": 0.1},
    {"class_weight": np.array([1.0, 2.0, 0.5, 3.0])},
    {"sample_weight": np.array([1.0, 0.0, 2.0, 0.5, 1.5, 1.0])},
    {
        "class_weight": np.array([0.5, 2.0, 1.0, 1.0]),
        "sample_weight": np.array([1.0, 3.0, 2.0, 0.5, 1.5, 1.0]),
        "label_smoothing": 0.3,
        "temperature": 1.7,
    },
    {"class_weight": np.array([0.5, 2.0, 1.0, 1.0]), "reduction": "sum"},
]


def _by_hand(logits, y, w, eps=0.0, T=1.0, reduction="mean"):
    """The documented formula, written out directly in NumPy as a second opinion."""
    K = logits.shape[-1]
    y = (1 - eps) * y + eps / K
    z = logits / T
    logp = (
        z
        - np.log(np.sum(np.exp(z - z.max(-1, keepdims=True)), -1, keepdims=True))
        - z.max(-1, keepdims=True)
    )
    rows = -np.sum(y * logp, -1) * w
    if reduction == "none":
        return rows
    if reduction == "sum":
        return rows.sum()
    return rows.sum() / w.sum()


# --------------------------------------------------------------------------------------
# values


@pytest.mark.parametrize("opts", OPTIONS)
def test_loss_matches_the_documented_formula(opts):
    logits, labels, _ = _data()
    cw = opts.get("class_weight", np.ones(4))
    sw = opts.get("sample_weight", np.ones(6))
    w = cw[labels] * sw
    ref = _by_hand(
        logits,
        np.eye(4)[labels],
        w,
        opts.get("label_smoothing", 0.0),
        opts.get("temperature", 1.0),
        opts.get("reduction", "mean"),
    )
    np.testing.assert_allclose(sk.softmax_cross_entropy(logits, labels, **opts), ref, rtol=1e-13)


def test_matches_optax_per_row():
    import jax.numpy as jnp
    import optax

    logits, labels, probs = _data(n=9, K=5, seed=1)
    ours = sk.softmax_cross_entropy(logits, labels, reduction="none")
    theirs = optax.softmax_cross_entropy_with_integer_labels(
        jnp.asarray(logits), jnp.asarray(labels)
    )
    np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-6)  # optax may run in float32
    ours = sk.softmax_cross_entropy(logits, probs, reduction="none")
    theirs = optax.softmax_cross_entropy(jnp.asarray(logits), jnp.asarray(probs))
    np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-6)


@pytest.mark.parametrize(
    "opts",
    [
        {},
        {"reduction": "sum"},
        {"reduction": "none"},
        {"label_smoothing": 0.25},
        {"ignore_index": 2},
        {"ignore_index": -100, "label_smoothing": 0.1},
        {"class_weight": np.array([1.0, 2.0, 0.5, 3.0])},
        {"class_weight": np.array([1.0, 2.0, 0.5, 3.0]), "ignore_index": 1},
    ],
)
def test_loss_and_grad_match_torch_cross_entropy(torch_backend, opts):
    # Where torch's semantics are ours (class weights without smoothing; smoothing
    # without class weights), its loss and autograd gradient must agree.
    import torch
    import torch.nn.functional as F

    logits, labels, _ = _data(n=8, seed=2)
    if opts.get("ignore_index") == -100:
        labels[[1, 5]] = -100
    t_opts = dict(opts)
    if "class_weight" in t_opts:
        t_opts["weight"] = torch.asarray(t_opts.pop("class_weight"))
    z = torch.asarray(logits, requires_grad=True)
    ref = F.cross_entropy(z, torch.asarray(labels), **t_opts)
    ref_grad = torch.autograd.grad(ref.sum(), z)[0]
    loss, grad = sk.softmax_cross_entropy_with_grad(logits, labels, **opts)
    np.testing.assert_allclose(loss, ref.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(grad, ref_grad.numpy(), rtol=1e-12, atol=1e-16)


def test_probability_targets_match_torch(torch_backend):
    import torch
    import torch.nn.functional as F

    logits, _, probs = _data(seed=3)
    for eps in (0.0, 0.3):
        ref = F.cross_entropy(torch.asarray(logits), torch.asarray(probs), label_smoothing=eps)
        ours = sk.softmax_cross_entropy(logits, probs, label_smoothing=eps)
        np.testing.assert_allclose(ours, ref.numpy(), rtol=1e-13)


@pytest.mark.parametrize(
    ("row", "label"),
    [([1000.0, 0.0], 1), ([0.0, -40.0], 0), ([1e300, -1e300, 0.0], 2), ([5.0, 7.0, 8.0], 0)],
)
def test_loss_within_few_ulp_of_mpmath(row, label):
    # Reference: logsumexp(row) - row[label] at DPS digits, rounded once to float64.
    with mp.workdps(DPS):
        ref = float(mp_logsumexp(row) - mp.mpf(row[label]))
    got = float(sk.softmax_cross_entropy(np.array([row]), np.array([label])))
    assert abs(got - ref) <= 4 * np.spacing(max(abs(ref), np.finfo(float).tiny)), (got, ref)


def test_confident_wrong_prediction_costs_its_true_loss():
    # log(softmax) would give inf here; the loss is exactly 1000.
    assert float(sk.softmax_cross_entropy(np.array([[1000.0, 0.0]]), np.array([1]))) == 1000.0


# --------------------------------------------------------------------------------------
# gradients


def _finite_difference(f, z, h=1e-6):
    """Central differences of a scalar function f at z; error O(h^2) + rounding/h."""
    g = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += h
        zm[idx] -= h
        g[idx] = (f(zp) - f(zm)) / (2 * h)
    return g


@pytest.mark.parametrize("opts", [o for o in OPTIONS if o.get("reduction", "mean") != "none"])
@pytest.mark.parametrize("kind", ["labels", "probs"])
def test_grad_matches_finite_differences(opts, kind):
    logits, labels, probs = _data(seed=4)
    target = labels if kind == "labels" else probs
    grad = sk.softmax_cross_entropy_grad(logits, target, **opts)
    fd = _finite_difference(lambda z: float(sk.softmax_cross_entropy(z, target, **opts)), logits)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)


def test_grad_with_ignore_index_matches_finite_differences():
    logits, labels, _ = _data(seed=5)
    labels[[0, 3]] = -1
    opts = {"ignore_index": -1, "label_smoothing": 0.1, "class_weight": np.array([1.0, 2, 3, 4])}
    grad = sk.softmax_cross_entropy_grad(logits, labels, **opts)
    fd = _finite_difference(lambda z: float(sk.softmax_cross_entropy(z, labels, **opts)), logits)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(grad[[0, 3]], 0.0)


def test_reduction_none_grad_is_per_row_gradient():
    logits, labels, _ = _data(seed=6)
    w = np.array([1.0, 2.0, 0.0, 0.5, 1.0, 3.0])
    g_none = sk.softmax_cross_entropy_grad(logits, labels, sample_weight=w, reduction="none")
    g_sum = sk.softmax_cross_entropy_grad(logits, labels, sample_weight=w, reduction="sum")
    np.testing.assert_array_equal(g_none, g_sum)
    expected = w[:, None] * (sk.softmax(logits) - np.eye(4)[labels])
    np.testing.assert_allclose(g_none, expected, rtol=1e-15)


@pytest.mark.parametrize("opts", OPTIONS[:2] + OPTIONS[3:])
@pytest.mark.parametrize("kind", ["labels", "probs"])
def test_grad_matches_torch_autograd_of_our_loss(torch_backend, opts, kind):
    # The reference implementation is differentiable by torch's autograd; its
    # gradient must equal the analytic y_hat - y one.
    import torch

    logits, labels, probs = _data(seed=7)
    target = labels if kind == "labels" else probs
    t_opts = {k: torch.asarray(v) if isinstance(v, np.ndarray) else v for k, v in opts.items()}
    z = torch.asarray(logits, requires_grad=True)
    loss = sk.softmax_cross_entropy(z, torch.asarray(target), **t_opts)
    (auto,) = torch.autograd.grad(loss.sum(), z)
    grad = sk.softmax_cross_entropy_grad(logits, target, **opts)
    np.testing.assert_allclose(grad, auto.numpy(), rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("opts", OPTIONS[:2] + OPTIONS[3:])
@pytest.mark.parametrize("kind", ["labels", "probs"])
def test_grad_matches_jax_grad_of_our_loss(jax_backend, opts, kind):
    import jax
    import jax.numpy as jnp

    logits, labels, probs = _data(seed=8)
    target = jnp.asarray(labels if kind == "labels" else probs)
    j_opts = {k: jnp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in opts.items()}
    auto = jax.grad(lambda z: sk.softmax_cross_entropy(z, target, **j_opts))(jnp.asarray(logits))
    grad = sk.softmax_cross_entropy_grad(logits, np.asarray(target), **opts)
    np.testing.assert_allclose(grad, np.asarray(auto), rtol=1e-12, atol=1e-16)


def test_with_grad_equals_separate_calls(xp):
    logits, labels, _ = _data(seed=9)
    opts = {"label_smoothing": 0.1, "temperature": 1.5}
    z, y = xp.asarray(logits), xp.asarray(labels)
    loss, grad = sk.softmax_cross_entropy_with_grad(z, y, **opts)
    # The loss alone takes the differentiable per-row route on PyTorch and JAX
    # (summed in another order): equal to a few ulp, not bit for bit.
    np.testing.assert_allclose(
        xp.to_numpy(loss), xp.to_numpy(sk.softmax_cross_entropy(z, y, **opts)), rtol=1e-15
    )
    np.testing.assert_array_equal(
        xp.to_numpy(grad), xp.to_numpy(sk.softmax_cross_entropy_grad(z, y, **opts))
    )
    assert grad.dtype == z.dtype
    assert tuple(grad.shape) == tuple(z.shape)


def test_grad_is_softmax_minus_target_over_n():
    logits, _labels, probs = _data(seed=10)
    np.testing.assert_allclose(
        sk.softmax_cross_entropy_grad(logits, probs), (sk.softmax(logits) - probs) / 6, rtol=1e-15
    )


# --------------------------------------------------------------------------------------
# axis, reductions, ignore_index, edges


def test_class_axis_k_equals_moveaxis(xp):
    rng = np.random.default_rng(11)
    logits = rng.normal(size=(3, 5, 4))  # class axis 1
    labels = rng.integers(0, 5, size=(3, 4))
    ref_loss, ref_grad = sk.softmax_cross_entropy_with_grad(
        np.moveaxis(logits, 1, -1), labels, reduction="none"
    )
    loss, grad = sk.softmax_cross_entropy_with_grad(
        xp.asarray(logits), xp.asarray(labels), axis=1, reduction="none"
    )
    np.testing.assert_allclose(xp.to_numpy(loss), ref_loss, rtol=1e-14)
    np.testing.assert_allclose(xp.to_numpy(grad), np.moveaxis(ref_grad, -1, 1), rtol=1e-14)


def test_ignore_index_rows_have_zero_weight():
    logits, labels, _ = _data(seed=12)
    labels[2] = -100
    kept = np.arange(6) != 2
    full = sk.softmax_cross_entropy(logits, labels, ignore_index=-100)
    ref = sk.softmax_cross_entropy(logits[kept], labels[kept])
    assert float(full) == pytest.approx(float(ref), rel=1e-15)
    rows = sk.softmax_cross_entropy(logits, labels, ignore_index=-100, reduction="none")
    assert rows[2] == 0.0


def test_ignore_index_inside_class_range():
    logits, labels, _ = _data(seed=13)
    labels[:] = [0, 1, 0, 2, 3, 0]
    loss = sk.softmax_cross_entropy(logits, labels, ignore_index=0)
    kept = labels != 0
    assert float(loss) == pytest.approx(float(sk.softmax_cross_entropy(logits[kept], labels[kept])))


def test_ignore_index_outside_the_label_dtype():
    logits = np.zeros((2, 3))
    labels = np.array([0, 2], dtype=np.uint8)
    assert float(sk.softmax_cross_entropy(logits, labels, ignore_index=-100)) == pytest.approx(
        math.log(3)
    )


def test_all_rows_ignored_gives_zero_not_nan(xp):
    z = xp.asarray(np.zeros((3, 4)))
    y = xp.asarray(np.full(3, -1))
    loss, grad = sk.softmax_cross_entropy_with_grad(z, y, ignore_index=-1)
    assert float(xp.to_numpy(loss)) == 0.0
    np.testing.assert_array_equal(xp.to_numpy(grad), 0.0)


def test_empty_batch_gives_zero(xp):
    loss, grad = sk.softmax_cross_entropy_with_grad(
        xp.asarray(np.zeros((0, 3))), xp.asarray(np.zeros(0, dtype=np.int64))
    )
    assert float(xp.to_numpy(loss)) == 0.0
    assert tuple(grad.shape) == (0, 3)


def test_edge_logits():
    # -inf on a class with target 0 costs nothing; on the true class it costs inf.
    z = np.array([[0.0, -INF, 1.0], [0.0, -INF, 1.0], [NAN, 0.0, 0.0], [INF, 0.0, INF]])
    y = np.array([0, 1, 0, 0])
    rows = sk.softmax_cross_entropy(z, y, reduction="none")
    assert np.isfinite(rows[0])
    assert rows[1] == INF
    assert np.isnan(rows[2])
    assert rows[3] == pytest.approx(math.log(2))
    grad = sk.softmax_cross_entropy_grad(z, y, reduction="none")
    np.testing.assert_allclose(grad[0], sk.softmax(z[0]) - [1, 0, 0])
    assert not np.any(np.isnan(grad[[0, 1, 3]]))
    # label smoothing puts mass on the -inf class: inf, not NaN
    smoothed = sk.softmax_cross_entropy(z[:1], y[:1], label_smoothing=0.1)
    assert float(smoothed) == INF


def test_all_neg_inf_row_with_zero_weight_is_zero():
    z = np.array([[-INF, -INF], [0.0, 0.0]])
    loss = sk.softmax_cross_entropy(z, np.array([0, 1]), sample_weight=np.array([0.0, 1.0]))
    assert float(loss) == pytest.approx(math.log(2))


# --------------------------------------------------------------------------------------
# backends


@pytest.mark.parametrize("kind", ["labels", "probs"])
def test_backends_agree_and_keep_dtype_device(xp, kind):
    logits, labels, probs = _data(seed=14)
    target = labels if kind == "labels" else probs
    opts = {"label_smoothing": 0.1, "class_weight": np.array([1.0, 2.0, 0.5, 1.0])}
    ref_loss, ref_grad = sk.softmax_cross_entropy_with_grad(logits, target, **opts)
    for dt in xp.float_dtypes:
        z = xp.asarray(logits, dtype=dt)
        y = xp.asarray(target, dtype=dt if kind == "probs" else None)
        cw = xp.asarray(opts["class_weight"], dtype=dt)
        loss, grad = sk.softmax_cross_entropy_with_grad(z, y, label_smoothing=0.1, class_weight=cw)
        assert loss.dtype == z.dtype
        assert grad.dtype == z.dtype
        assert tuple(loss.shape) == ()
        assert tuple(grad.shape) == (6, 4)
        if xp.device is not None:
            assert loss.device == xp.device
            assert grad.device == xp.device
        tol = {"bfloat16": 3e-2, "float16": 3e-3, "float32": 1e-5, "float64": 1e-13}[dt]
        np.testing.assert_allclose(float(xp.to_numpy(loss)), ref_loss, rtol=tol)
        np.testing.assert_allclose(xp.to_numpy(grad), ref_grad, rtol=tol, atol=tol)


def test_integer_logits_promote(xp):
    loss = sk.softmax_cross_entropy(xp.asarray(np.array([[1, 2, 3]])), xp.asarray(np.array([2])))
    assert loss.dtype == xp.dtype(xp.default_float)


def test_jax_jit_skips_value_checks_but_computes(jax_backend):
    import jax
    import jax.numpy as jnp

    logits, labels, _ = _data(seed=15)
    f = jax.jit(lambda z, y: sk.softmax_cross_entropy(z, y, label_smoothing=0.1))
    np.testing.assert_allclose(
        float(f(jnp.asarray(logits), jnp.asarray(labels))),
        float(sk.softmax_cross_entropy(logits, labels, label_smoothing=0.1)),
        rtol=1e-13,
    )


def test_lazy_dask_skips_value_checks():
    # Documented: reading label values would force the graph, so Dask skips the check.
    import dask.array as da

    loss = sk.softmax_cross_entropy(da.zeros((2, 3), chunks=1), da.from_array(np.array([0, 7])))
    assert hasattr(loss, "compute")
    # ... and the row with the invalid label is NaN, not the 0 of an all-zero one-hot
    # (through Dask's one-pass loss as well as its gradient).
    z, y = da.zeros((3, 3), chunks=2), da.from_array(np.array([0, 7, -100]), chunks=2)
    rows = sk.softmax_cross_entropy(z, y, reduction="none", ignore_index=-100).compute()
    np.testing.assert_allclose(rows[[0, 2]], [np.log(3), 0.0], rtol=1e-15)
    assert np.isnan(rows[1])
    grad = sk.softmax_cross_entropy_grad(z, y, ignore_index=-100).compute()
    assert np.isnan(grad[1]).all()
    assert np.isfinite(grad[[0, 2]]).all()


def test_eager_jax_still_checks_values(jax_backend):
    import jax.numpy as jnp

    with pytest.raises(ValueError, match="got 7"):
        sk.softmax_cross_entropy(jnp.zeros((2, 3)), jnp.asarray([0, 7]))


# --------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"target": np.array([0, 5, 1])}, ValueError, r"labels in \[0, 4\).*got 5"),
        ({"target": np.array([0, -2, 1])}, ValueError, "got -2"),
        ({"target": np.array([0, -2, 1]), "ignore_index": -100}, ValueError, "ignore_index=-100"),
        ({"target": np.array([0, 1])}, ValueError, r"\(3, 4\).*\(2,\)"),
        ({"target": np.ones((3, 5)) / 5}, ValueError, r"\(3, 4\).*\(3, 5\)"),
        ({"target": np.full((3, 4), 0.3)}, ValueError, "sum to 1.*1.2"),
        ({"target": np.array([[1.5, -0.5, 0, 0]] * 3)}, ValueError, ">= 0.*-0.5"),
        ({"target": np.array([[NAN, 1, 0, 0]] * 3)}, ValueError, "sum to 1"),
        ({"target": np.array([True, False, True])}, TypeError, "integer dtype.*bool"),
        ({"target": [0, 1, 2]}, TypeError, "expected an array.*target"),
        ({"reduction": "avg"}, ValueError, "reduction"),
        ({"label_smoothing": 1.5}, ValueError, "label_smoothing"),
        ({"label_smoothing": -0.1}, ValueError, "label_smoothing"),
        ({"temperature": 0.0}, ValueError, "temperature"),
        ({"class_weight": np.ones(3)}, ValueError, r"class_weight of shape \(4,\)"),
        ({"class_weight": np.array([1.0, -1, 1, 1])}, ValueError, "class_weight.*>= 0.*-1"),
        ({"sample_weight": np.ones(4)}, ValueError, r"sample_weight.*\(3,\).*\(4,\)"),
        ({"sample_weight": np.array([1.0, INF, 1.0])}, ValueError, "sample_weight.*finite"),
        ({"ignore_index": 1.0}, TypeError, "ignore_index"),
        ({"axis": 2}, ValueError, "axis"),
    ],
)
def test_bad_input(kwargs, exc, match):
    logits = np.zeros((3, 4))
    target = kwargs.pop("target", np.array([0, 1, 2]))
    with pytest.raises(exc, match=match):
        sk.softmax_cross_entropy(logits, target, **kwargs)
    with pytest.raises(exc, match=match):
        sk.softmax_cross_entropy_with_grad(logits, target, **kwargs)


def test_complex_logits_raise():
    with pytest.raises(TypeError, match="complex"):
        sk.softmax_cross_entropy(np.zeros((2, 3), dtype=complex), np.array([0, 1]))


# --------------------------------------------------------------------------------------
# properties


@st.composite
def _problems(draw):
    n = draw(st.integers(1, 6))
    K = draw(st.integers(1, 6))
    logits = draw(hnp.arrays(np.float64, (n, K), elements=st.floats(-50, 50)))
    labels = draw(hnp.arrays(np.int64, n, elements=st.integers(0, K - 1)))
    cw = draw(hnp.arrays(np.float64, K, elements=st.floats(0.1, 5)))
    sw = draw(hnp.arrays(np.float64, n, elements=st.floats(0.1, 5)))
    eps = draw(st.floats(0, 1))
    T = draw(st.floats(0.1, 10))
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    return (
        logits,
        labels,
        {
            "class_weight": cw,
            "sample_weight": sw,
            "label_smoothing": eps,
            "temperature": T,
            "reduction": reduction,
        },
    )


@given(_problems())
def test_integer_labels_equal_their_one_hot_probabilities(problem):
    logits, labels, opts = problem
    onehot = np.eye(logits.shape[1])[labels]
    a_loss, a_grad = sk.softmax_cross_entropy_with_grad(logits, labels, **opts)
    b_loss, b_grad = sk.softmax_cross_entropy_with_grad(logits, onehot, **opts)
    np.testing.assert_allclose(a_loss, b_loss, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(a_grad, b_grad, rtol=1e-13, atol=1e-300)


@given(_problems())
def test_loss_nonnegative_and_grad_rows_sum_to_zero(problem):
    logits, labels, opts = problem
    loss, grad = sk.softmax_cross_entropy_with_grad(logits, labels, **opts)
    assert np.all(loss >= 0)
    np.testing.assert_allclose(np.sum(grad, axis=-1), 0.0, atol=1e-12)


@given(
    z=hnp.arrays(np.float64, st.integers(1, 8), elements=st.floats(-1e3, 1e3)),
    t=st.floats(0, 1),
    reduction=st.sampled_from(["mean", "sum", "none"]),
)
def test_sigmoid_cross_entropy_is_two_class_softmax_cross_entropy(z, t, reduction):
    target = np.full_like(z, t)
    two_logits = np.stack([np.zeros_like(z), z], axis=-1)
    two_target = np.stack([1 - target, target], axis=-1)
    a = sk.sigmoid_cross_entropy(z, target, reduction=reduction)
    b = sk.softmax_cross_entropy(two_logits, two_target, reduction=reduction)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------
# sigmoid_cross_entropy


def test_sigmoid_cross_entropy_matches_torch(torch_backend):
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(16)
    z = rng.normal(scale=3, size=(5, 3))
    t = rng.uniform(size=(5, 3))
    pw = np.array([1.0, 2.0, 0.5])
    for reduction in ("mean", "sum", "none"):
        ref = F.binary_cross_entropy_with_logits(
            torch.asarray(z), torch.asarray(t), pos_weight=torch.asarray(pw), reduction=reduction
        )
        ours = sk.sigmoid_cross_entropy(z, t, pos_weight=pw, reduction=reduction)
        np.testing.assert_allclose(ours, ref.numpy(), rtol=1e-13)
    ours = sk.sigmoid_cross_entropy(
        torch.asarray(z), torch.asarray(t), sample_weight=torch.asarray(np.arange(5.0)[:, None])
    )
    w = np.broadcast_to(np.arange(5.0)[:, None], z.shape)
    per = F.binary_cross_entropy_with_logits(torch.asarray(z), torch.asarray(t), reduction="none")
    np.testing.assert_allclose(ours.numpy(), (w * per.numpy()).sum() / w.sum(), rtol=1e-13)


def test_sigmoid_cross_entropy_edges(xp):
    z = xp.asarray(np.array([INF, -INF, INF, -INF, 1000.0, -1000.0, NAN]))
    t = xp.asarray(np.array([1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0]))
    out = xp.to_numpy(sk.sigmoid_cross_entropy(z, t, reduction="none"))
    np.testing.assert_array_equal(out[:6], [0.0, 0.0, INF, INF, 1000.0, 1000.0])
    assert np.isnan(out[6])
    assert out.dtype == np.float64 or xp.name == "torch"


def test_sigmoid_cross_entropy_bad_input():
    with pytest.raises(ValueError, match=r"in \[0, 1\].*1.5"):
        sk.sigmoid_cross_entropy(np.zeros(2), np.array([0.0, 1.5]))
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        sk.sigmoid_cross_entropy(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="pos_weight"):
        sk.sigmoid_cross_entropy(np.zeros(2), np.zeros(2), pos_weight=-1.0)
    with pytest.raises(ValueError, match="reduction"):
        sk.sigmoid_cross_entropy(np.zeros(2), np.zeros(2), reduction="mean ")
    with pytest.raises(ValueError, match="sample_weight"):
        sk.sigmoid_cross_entropy(np.zeros(2), np.zeros(2), sample_weight=np.array([1.0, -1.0]))
