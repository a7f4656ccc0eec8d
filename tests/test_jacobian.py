"""softmax_jacobian (vectorised and iterative), softmax_jvp, softmax_vjp."""

from __future__ import annotations

import math

import hypothesis.extra.numpy as hnp
import mpmath as mp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import softmaxkit as sk
from _helpers import ATOL, RTOL

# The seed example of the project: softmax([5, 7, 8]) and its Jacobian to 8 decimals.
SEED_J = np.array(
    [
        [0.03388568, -0.00911326, -0.02477242],
        [-0.00911326, 0.19215805, -0.18304478],
        [-0.02477242, -0.18304478, 0.2078172],
    ]
)


def test_seed_example_to_8_decimals(xp):
    s = sk.softmax(xp.asarray(np.array([5.0, 7.0, 8.0])))
    J = xp.to_numpy(sk.softmax_jacobian(s))
    np.testing.assert_array_equal(np.round(J, 8), SEED_J)
    J_loop = xp.to_numpy(sk.softmax_jacobian_iterative(s))
    np.testing.assert_allclose(J_loop, J, rtol=0, atol=1e-17)


def test_seed_example_against_mpmath_derivatives():
    # Reference: d s_i / d x_j by mpmath's numerical differentiation of the softmax
    # at 30 digits (mp.diff uses its own high-precision finite differences).
    x = [5.0, 7.0, 8.0]
    with mp.workdps(30):

        def s_i(i, *v):
            total = mp.fsum(mp.exp(t) for t in v)
            return mp.exp(v[i]) / total

        ref = np.array(
            [
                [
                    float(
                        mp.diff(lambda *v, i=i: s_i(i, *v), x, tuple(int(k == j) for k in range(3)))
                    )
                    for j in range(3)
                ]
                for i in range(3)
            ]
        )
    J = sk.softmax_jacobian(sk.softmax(np.array(x)))
    np.testing.assert_allclose(J, ref, rtol=1e-14, atol=1e-16)


def test_batched_over_leading_axes_with_class_axis_moved_last(xp):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 3))  # class axis 1, K = 5
    s = sk.softmax(x, axis=1)
    J = xp.to_numpy(sk.softmax_jacobian(xp.asarray(s), axis=1))
    assert J.shape == (2, 3, 5, 5)
    for a in range(2):
        for b in range(3):
            row = s[a, :, b]
            np.testing.assert_allclose(
                J[a, b], np.diag(row) - np.outer(row, row), rtol=1e-14, atol=1e-17
            )


def test_jacobian_agrees_with_torch_and_jax_autodiff(torch_backend, jax_backend):
    import jax
    import torch

    rng = np.random.default_rng(1)
    x = rng.normal(scale=3.0, size=(4, 6))
    J = sk.softmax_jacobian(sk.softmax(x))
    J_torch = torch.func.vmap(torch.func.jacrev(lambda r: torch.softmax(r, -1)))(torch.asarray(x))
    np.testing.assert_allclose(J, J_torch.numpy(), rtol=1e-13, atol=1e-16)
    J_jax = jax.vmap(jax.jacfwd(jax.nn.softmax))(jax_backend.asarray(x))
    np.testing.assert_allclose(J, np.asarray(J_jax), rtol=1e-13, atol=1e-16)


def test_diagonal_is_accurate_near_one():
    # s = (1 - 1e-12, 1e-12): J_00 = s0 (1 - s0) = s0 * s1 ~ 1e-12 is computed to full
    # relative accuracy because 1 - s0 is exact here; s0 - s0**2 would lose 4 digits.
    s = np.array([1 - 1e-12, 1e-12])
    J = sk.softmax_jacobian(s)
    assert J[0, 0] == pytest.approx(s[0] * (1 - s[0]), rel=1e-15)
    assert J[1, 1] == pytest.approx(s[1] * (1 - s[1]), rel=1e-15)


def test_all_neg_inf_row_has_zero_jacobian_jvp_vjp(xp):
    x = np.array([[-math.inf] * 3, [1.0, 2.0, 3.0]])
    s = sk.softmax(xp.asarray(x))
    v = xp.asarray(np.array([[1.0, -2.0, 0.5], [1.0, 1.0, 1.0]]))
    np.testing.assert_array_equal(xp.to_numpy(sk.softmax_jacobian(s))[0], np.zeros((3, 3)))
    np.testing.assert_array_equal(xp.to_numpy(sk.softmax_jvp(s, v))[0], np.zeros(3))
    np.testing.assert_array_equal(xp.to_numpy(sk.softmax_vjp(s, v))[0], np.zeros(3))


def test_iterative_edge_cases():
    assert sk.softmax_jacobian_iterative(np.zeros(0)).shape == (0, 0)
    np.testing.assert_array_equal(sk.softmax_jacobian_iterative(np.array([1.0])), [[0.0]])
    with pytest.raises(ValueError, match="1-D"):
        sk.softmax_jacobian_iterative(np.ones((2, 2)) / 2)


def test_vectorized_is_not_a_python_loop_over_rows():
    # The vectorised Jacobian of 2000 rows takes one broadcast, not 2000 iterations:
    # its result equals the iterative one on every row (checked on a sample).
    rng = np.random.default_rng(2)
    s = sk.softmax(rng.normal(size=(2000, 7)))
    J = sk.softmax_jacobian(s)
    for i in (0, 999, 1999):
        np.testing.assert_allclose(J[i], sk.softmax_jacobian_iterative(s[i]), atol=1e-17)


def test_jvp_and_vjp_on_backends(xp):
    rng = np.random.default_rng(3)
    s = sk.softmax(rng.normal(size=(3, 4, 5)), axis=1)
    v = rng.normal(size=(3, 4, 5))
    J = sk.softmax_jacobian(s, axis=1)  # (3, 5, 4, 4)
    ref_jvp = np.moveaxis(np.einsum("bcij,bcj->bci", J, np.moveaxis(v, 1, -1)), -1, 1)
    ref_vjp = np.moveaxis(np.einsum("bci,bcij->bcj", np.moveaxis(v, 1, -1), J), -1, 1)
    for dt in xp.float_dtypes:
        sx, vx = xp.asarray(s, dtype=dt), xp.asarray(v, dtype=dt)
        jvp = sk.softmax_jvp(sx, vx, axis=1)
        vjp = sk.softmax_vjp(sx, vx, axis=1)
        assert jvp.dtype == sx.dtype
        assert vjp.dtype == sx.dtype
        np.testing.assert_allclose(xp.to_numpy(jvp), ref_jvp, rtol=RTOL[dt] * 10, atol=ATOL[dt])
        np.testing.assert_allclose(xp.to_numpy(vjp), ref_vjp, rtol=RTOL[dt] * 10, atol=ATOL[dt])


def test_vjp_matches_torch_softmax_backward(torch_backend):
    import torch

    rng = np.random.default_rng(4)
    x = torch.asarray(rng.normal(size=(5, 7)), requires_grad=True)
    g = torch.asarray(rng.normal(size=(5, 7)))
    s = torch.softmax(x, -1)
    (grad,) = torch.autograd.grad(s, x, g)
    ours = sk.softmax_vjp(s.detach(), g)
    np.testing.assert_allclose(ours.numpy(), grad.numpy(), rtol=1e-13, atol=1e-16)


def test_preserves_dtype_device(xp):
    for dt in xp.float_dtypes:
        s = sk.softmax(xp.asarray(np.array([[1.0, 2.0, 3.0]]), dtype=dt))
        J = sk.softmax_jacobian(s)
        assert J.dtype == s.dtype
        assert tuple(J.shape) == (1, 3, 3)
        if xp.device is not None:
            assert J.device == xp.device


def test_bad_input():
    s = sk.softmax(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"shape of s.*\(2, 3\).*\(2, 4\)"):
        sk.softmax_jvp(s, np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3,\)"):
        sk.softmax_vjp(s, np.ones(3))
    with pytest.raises(TypeError, match="expected an array"):
        sk.softmax_jacobian([0.5, 0.5])
    with pytest.raises(TypeError, match="complex"):
        sk.softmax_jacobian(np.array([0.5 + 0j, 0.5]))
    with pytest.raises(TypeError, match="int"):
        sk.softmax_jacobian(s, axis=(0, 1))
    with pytest.raises(ValueError, match="axis"):
        sk.softmax_jacobian(s, axis=2)
    with pytest.raises(ValueError, match="0-d"):
        sk.softmax_jacobian(np.array(1.0))


# --------------------------------------------------------------------------------------
# properties


@given(
    x=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=1, max_dims=3, max_side=7),
        elements=st.floats(-50, 50, allow_nan=False),
    ),
    data=st.data(),
)
def test_jacobian_symmetric_rows_sum_to_zero_and_match_loops(x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    s = sk.softmax(x, axis=axis)
    J = sk.softmax_jacobian(s, axis=axis)
    np.testing.assert_array_equal(J, np.swapaxes(J, -1, -2))
    np.testing.assert_allclose(np.sum(J, axis=-1), 0.0, atol=4e-16 * x.shape[axis])
    flat_s = np.moveaxis(s, axis, -1).reshape(-1, x.shape[axis])
    flat_J = J.reshape(-1, x.shape[axis], x.shape[axis])
    for row, Jrow in zip(flat_s[:3], flat_J[:3], strict=False):
        np.testing.assert_allclose(Jrow, sk.softmax_jacobian_iterative(row), rtol=0, atol=1e-17)


@given(
    x=hnp.arrays(np.float64, st.integers(1, 10), elements=st.floats(-30, 30, allow_nan=False)),
    seed=st.integers(0, 2**32 - 1),
)
def test_jvp_equals_J_times_v_and_vjp_equals_vT_J(x, seed):
    v = np.random.default_rng(seed).normal(size=x.shape)
    s = sk.softmax(x)
    J = sk.softmax_jacobian(s)
    np.testing.assert_allclose(sk.softmax_jvp(s, v), J @ v, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(sk.softmax_vjp(s, v), v @ J, rtol=1e-12, atol=1e-15)


@given(
    x=hnp.arrays(np.float64, st.integers(2, 8), elements=st.floats(-5, 5, allow_nan=False)),
    seed=st.integers(0, 2**32 - 1),
)
def test_jvp_matches_central_finite_differences(x, seed):
    # Oracle: (softmax(x + h v) - softmax(x - h v)) / 2h, error O(h^2) ~ 1e-10.
    v = np.random.default_rng(seed).normal(size=x.shape)
    h = 1e-5
    fd = (sk.softmax(x + h * v) - sk.softmax(x - h * v)) / (2 * h)
    np.testing.assert_allclose(sk.softmax_jvp(sk.softmax(x), v), fd, rtol=1e-6, atol=1e-9)


# Regression (issue 15): v - <s, v> overflowed for tangents near fmax (inf where the
# product is finite, with a RuntimeWarning) and gave NaN (inf - inf, with a warning)
# for infinite tangents.
HUGE_TANGENTS = [
    ([0.1, 0.9], [1.7e308, -1.7e308]),
    ([0.25, 0.25, 0.5], [1.6e308, -1.6e308, 1e300]),
    ([0.5, 0.5], [1e308, 1e308]),
    ([0.3, 0.7], [-1.79e308, 1.0]),
]


@pytest.mark.parametrize(("s", "v"), HUGE_TANGENTS)
@pytest.mark.parametrize("fn", [sk.softmax_jvp, sk.softmax_vjp])
def test_huge_tangents_against_mpmath(xp, fn, s, v):
    # Reference: s_i (v_i - sum_j s_j v_j) in mpmath at 60 digits from the same float
    # inputs, rounded once to float64 (finite here, though v - <s, v> is not).
    with mp.workdps(60):
        sv = sum(mp.mpf(a) * mp.mpf(b) for a, b in zip(s, v, strict=True))
        ref = np.array([float(mp.mpf(a) * (mp.mpf(b) - sv)) for a, b in zip(s, v, strict=True)])
    out = xp.to_numpy(fn(xp.asarray(np.array(s)), xp.asarray(np.array(v))))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, ref, rtol=4 * np.finfo(float).eps, atol=0)


# (s, v, the limit of J (f + t u) as t -> inf, worked by hand: J u decides the sign)
INFINITE_TANGENTS = [
    ([0.5, 0.5], [math.inf, 0.0], [math.inf, -math.inf]),
    ([0.5, 0.5], [math.inf, math.inf], [0.0, 0.0]),  # J 1 = 0: the finite part, 0
    ([0.5, 0.5], [-math.inf, -math.inf], [0.0, 0.0]),
    ([0.2, 0.3, 0.5], [math.inf, -math.inf, 0.0], [math.inf, -math.inf, math.inf]),
    ([0.25, 0.25, 0.5], [math.inf, -math.inf, 2.0], [math.inf, -math.inf, 0.5]),
    ([0.0, 1.0], [math.inf, 3.0], [0.0, 0.0]),  # s_0 = 0: the infinity has no weight
    ([0.5, 0.5], [math.nan, math.inf], [math.nan, math.nan]),
]


@pytest.mark.parametrize(("s", "v", "expected"), INFINITE_TANGENTS)
@pytest.mark.parametrize("fn", [sk.softmax_jvp, sk.softmax_vjp])
def test_infinite_tangents_give_the_limit(xp, fn, s, v, expected):
    out = xp.to_numpy(fn(xp.asarray(np.array(s)), xp.asarray(np.array(v))))
    np.testing.assert_array_equal(out, np.array(expected))


def test_infinite_tangents_limit_against_large_finite_t():
    # The limit checked against J (f + t u) at t = 1e300 computed exactly in mpmath.
    s, f, u = [0.2, 0.3, 0.1, 0.4], [1.0, -2.0, 0.5, 0.0], [1, 0, -1, 0]
    v = np.array(
        [math.inf if a > 0 else -math.inf if a < 0 else b for a, b in zip(u, f, strict=True)]
    )
    out = sk.softmax_jvp(np.array(s), v)
    with mp.workdps(400):
        t = mp.mpf(10) ** 300
        w = [mp.mpf(b) + t * a for a, b in zip(u, f, strict=True)]
        sw = sum(mp.mpf(a) * b for a, b in zip(s, w, strict=True))
        ref = [mp.mpf(a) * (b - sw) for a, b in zip(s, w, strict=True)]
    for o, r in zip(out, ref, strict=True):
        assert o == (math.inf if r > 1e200 else -math.inf if r < -1e200 else float(r))
