"""Regression tests for the API edges of issue 15 (hostile input), each named after
what broke. The contract: a clear ValueError/TypeError or the correctly rounded
value, and no warning (this suite turns warnings into errors)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import softmaxkit as sk

HALF = np.float16


@pytest.mark.parametrize("fn", [sk.log_softmax, sk.softmax, sk.logsumexp, sk.log_sigmoid])
def test_float16_result_beyond_range_is_inf_without_cast_warning(fn):
    # float16 is computed in float32 and rounded once; log_softmax([65504, -65504, 1])
    # is -131008 at index 1, past float16's range: -inf is its rounding (NumPy's cast
    # said so with "overflow encountered in cast").
    x = np.array([[65504, -65504, 1.0]], dtype=HALF)
    out = fn(x)
    assert out.dtype == HALF
    with np.errstate(over="ignore"):
        expected = fn(x.astype(np.float32)).astype(HALF)
    np.testing.assert_array_equal(out, expected)


def test_float16_loss_beyond_range_is_inf_without_cast_warning():
    x = np.array([[65504, -65504, 1.0]], dtype=HALF)
    assert sk.softmax_cross_entropy(x, np.array([1])) == np.inf  # 131008 > 65504
    loss, grad = sk.softmax_cross_entropy_with_grad(x, np.array([1]))
    assert loss == np.inf
    np.testing.assert_array_equal(grad, np.array([[1.0, -1.0, 0.0]], dtype=HALF))
    h = np.full((2, 3), 200, dtype=HALF)
    W = np.array([[200, 200, 200], [-200, -200, -200]], dtype=HALF)
    assert sk.linear_cross_entropy(h, W, np.array([1, 1])) == np.inf  # 240000


def test_float16_rounding_edge_is_round_to_nearest_even():
    # 65519 rounds to 65504 and 65520 (the tie) to inf, as IEEE casts do.
    from softmaxkit._array import narrow

    a = np.array([65519.0, 65520.0, -65519.0, -65520.0, 1.0], dtype=np.float32)
    with np.errstate(over="ignore"):
        expected = a.astype(HALF)
    np.testing.assert_array_equal(narrow(np, a, HALF), expected)


BIG, Z, Y = 10**400, np.ones((1, 3)), np.array([1])


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: sk.softmax(np.ones(3), temperature=10**400), "temperature"),
        (lambda: sk.log_softmax(np.ones(3), temperature=10**400), "temperature"),
        (
            lambda: sk.softmax_cross_entropy(
                np.ones((1, 3)), np.array([1]), label_smoothing=10**400
            ),
            "label_smoothing",
        ),
        (
            lambda: sk.linear_cross_entropy(
                np.ones((1, 3)), np.ones((3, 3)), np.array([1]), z_loss=10**400
            ),
            "z_loss",
        ),
        (lambda: sk.entropy(np.array([0.5, 0.5]), base=10**400), "base"),
        (
            lambda: sk.sigmoid_cross_entropy(np.ones(2), np.ones(2), pos_weight=10**400),
            "pos_weight",
        ),
    ],
)
def test_python_int_too_large_for_a_float_is_a_value_error(call, name):
    # float(10**400) raises OverflowError; it reached the user as such.
    with pytest.raises(ValueError, match=name):
        call()


def test_numpy_integer_axes_accepted_as_numpy_accepts_them():
    x = np.random.default_rng(0).normal(size=(2, 3, 4))
    for ax in (np.int64(1), np.int32(-1), np.intp(0)):
        np.testing.assert_array_equal(sk.softmax(x, axis=ax), sk.softmax(x, axis=int(ax)))
    np.testing.assert_array_equal(
        sk.logsumexp(x, axis=(np.int64(0), np.int16(2))), sk.logsumexp(x, axis=(0, 2))
    )
    y = np.array([[0, 1, 2, 0], [2, 2, 1, 0]])
    assert sk.softmax_cross_entropy(x, y, axis=np.int64(1)) == sk.softmax_cross_entropy(
        x, y, axis=1
    )
    s = sk.softmax(x)
    np.testing.assert_array_equal(sk.softmax_jvp(s, x, axis=np.int64(-1)), sk.softmax_jvp(s, x))


@pytest.mark.parametrize("axis", [True, np.bool_(False), 1.0, "1", [0]])
def test_non_integer_axes_still_refused(axis):
    with pytest.raises(TypeError, match="expected an int"):
        sk.softmax(np.ones((2, 3)), axis=axis)
    with pytest.raises(TypeError, match="expected an int"):
        sk.softmax_cross_entropy(np.ones((2, 3)), np.zeros(2, dtype=int), axis=axis)


@pytest.mark.parametrize(
    "target", [np.empty(0, dtype=np.int64), np.empty((0, 0))], ids=["labels", "probabilities"]
)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_empty_batch_with_zero_classes(target, smoothing):
    # reshape(z, (-1, 0)) names no shape, and eps / K divided by zero.
    z = np.empty((0, 0))
    assert sk.softmax_cross_entropy(z, target, label_smoothing=smoothing) == 0.0
    loss, grad = sk.softmax_cross_entropy_with_grad(z, target, label_smoothing=smoothing)
    assert loss == 0.0
    assert grad.shape == (0, 0)
    rows = sk.softmax_cross_entropy(z, target, reduction="none")
    assert rows.shape == (0,)


def test_empty_batch_with_zero_classes_on_torch():
    torch = pytest.importorskip("torch")
    z = torch.empty((0, 0), requires_grad=True)
    loss = sk.softmax_cross_entropy(z, torch.empty(0, dtype=torch.int64))
    loss.backward()
    assert float(loss.detach()) == 0.0
    assert z.grad.shape == (0, 0)


def test_ignore_index_past_int64_is_simply_never_a_label():
    z = np.zeros((2, 3))
    assert sk.softmax_cross_entropy(z, np.array([1, 2]), ignore_index=10**400) == pytest.approx(
        math.log(3)
    )


def _huge_rows() -> tuple[np.ndarray, np.ndarray]:
    # two rows whose loss is 1.5e308 each (the label's logit 0, the other 1.5e308)
    return np.array([[1.5e308, 0.0], [1.5e308, 0.0]]), np.array([1, 1])


@pytest.mark.parametrize(
    "options",
    [{}, {"sample_weight": np.array([1.0, 0.5])}, {"class_weight": np.array([1.0, 0.5])}],
)
def test_mean_of_huge_finite_row_losses_is_finite_without_warning(options):
    # The sum of two 1.5e308 losses overflowed in np.sum (a RuntimeWarning) and the
    # mean came back inf; the weighted mean of equal rows is the row itself.
    z, y = _huge_rows()
    assert sk.softmax_cross_entropy(z, y, **options) == 1.5e308
    assert sk.softmax_cross_entropy_with_grad(z, y, **options)[0] == 1.5e308
    from softmaxkit import _fast

    with _fast.reference_only():
        assert sk.softmax_cross_entropy(z, y, **options) == 1.5e308


def test_weighted_row_past_fmax_is_inf_without_warning():
    # A weighted row w l = 3 x 1.5e308 is past fmax: inf (its rounding), quietly; the
    # documented limit is that the weighted mean then is inf as well.
    z, y = _huge_rows()
    rows = sk.softmax_cross_entropy(z, y, sample_weight=np.array([1.0, 3.0]), reduction="none")
    np.testing.assert_array_equal(rows, [1.5e308, np.inf])


def test_sum_of_huge_finite_row_losses_is_inf_without_warning():
    # The true sum, 3e308, is past fmax: inf is its rounding, without the warning.
    z, y = _huge_rows()
    assert sk.softmax_cross_entropy(z, y, reduction="sum") == np.inf
    t = np.ones(2)
    zs = np.array([-1.5e308, -1.5e308])
    assert sk.sigmoid_cross_entropy(zs, t) == 1.5e308
    assert sk.sigmoid_cross_entropy(zs, t, reduction="sum") == np.inf


def test_linear_cross_entropy_mean_of_huge_rows_without_warning():
    h = np.array([[1.5e154], [1.5e154]])
    W = np.array([[1e154], [0.0]])
    y = np.array([1, 1])
    expected = sk.softmax_cross_entropy(h @ W.T, y, reduction="none")[0]
    assert sk.linear_cross_entropy(h, W, y) == pytest.approx(expected, rel=1e-15)
    assert sk.linear_cross_entropy(h, W, y, reduction="sum") == np.inf


def test_reduction_stays_exact_for_ordinary_rows():
    # The 2**-m scaling is exact: the mean of ordinary rows is bit for bit the plain one.
    rng = np.random.default_rng(4)
    z, y = rng.normal(size=(1000, 5)), rng.integers(0, 5, 1000)
    rows = sk.softmax_cross_entropy(z, y, reduction="none")
    assert sk.softmax_cross_entropy(z, y, reduction="sum") == np.sum(rows)
    from softmaxkit import _fast

    with _fast.reference_only():
        assert sk.softmax_cross_entropy(z, y, reduction="sum") == np.sum(rows)


@pytest.mark.parametrize("T", [1e300, 1e39, 1e-39, 1e-300])
def test_temperature_outside_the_computed_dtype_is_refused(xp, T):
    # A float32 T past float32's range was divided as inf: -inf / inf gave a NaN row
    # (softmax(float32 [0, -inf, 1], temperature=1e300) was all NaN); below the smallest
    # normal, x / T divided by a subnormal or 0. Now a ValueError naming the range.
    row = np.array([[0.0, -np.inf, 1.0]])
    x = xp.asarray(row, dtype="float32")
    labels = xp.asarray(np.array([0]))
    for call in (
        lambda: sk.softmax(x, temperature=T),
        lambda: sk.log_softmax(x, temperature=T),
        lambda: sk.softmax_cross_entropy(x, labels, temperature=T),
    ):
        with pytest.raises(ValueError, match=r"range of float32"):
            call()
    # float64 logits take it: the edge policy holds (-inf stays a probability of 0)
    if T > 1e-300 and "float64" in xp.float_dtypes:
        p = xp.to_numpy(sk.softmax(xp.asarray(row, dtype="float64"), temperature=T))
        assert not np.any(np.isnan(p))
        assert p[0, 1] == 0.0
