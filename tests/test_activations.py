"""softmax, log_softmax, logsumexp, sigmoid, log_sigmoid: values, edges, backends, properties."""

from __future__ import annotations

import math

import hypothesis.extra.numpy as hnp
import mpmath as mp
import numpy as np
import pytest
import scipy.special
from hypothesis import given
from hypothesis import strategies as st

import softmaxkit as sk
from _helpers import ATOL, DPS, RTOL, mp_logsumexp, mp_softmax, to_float, ulp_error
from softmaxkit import _fast

INF, NAN = math.inf, math.nan

# Inputs chosen to break naive implementations: large offsets (overflow of exp),
# wide ranges (underflow), near-ties (cancellation), tiny tails (log1p matters).
TRICKY_ROWS = [
    [5.0, 7.0, 8.0],
    [1000.0, 1001.0, 1002.0],
    [-1000.0, -1001.0, -1003.5],
    [1e300, -1e300, 0.0],
    [1.7e308, -1.7e308],
    [0.0, -40.0],
    [0.0, -1e-10, -2e-10],
    [1.0, 1.0 + 2.0**-52, 1.0 - 2.0**-53],
    [*np.linspace(-700.0, 700.0, 11).tolist()],
    [-745.0, 0.0, -30.0],
    [1e-300, 2e-300, -3e-300],
    [3.25, -17.5, 40.0, 39.999999, 0.125],
    [-1e-20, 1e-20],
]


# --------------------------------------------------------------------------------------
# accuracy against mpmath references at 400 digits (NumPy float64)


@pytest.mark.parametrize("row", TRICKY_ROWS)
def test_softmax_within_few_ulp_of_mpmath(row):
    # Reference: mpmath at DPS digits (400), exp/fsum/divide, rounded once to float64.
    ref = to_float(mp_softmax(row))
    got = sk.softmax(np.array(row))
    normal = ref >= np.finfo(np.float64).tiny  # subnormal results have no full precision
    assert np.all(ulp_error(got[normal], ref[normal]) <= 4)
    assert np.all(
        np.abs(got[~normal] - ref[~normal]) <= 4 * np.finfo(np.float64).smallest_subnormal
    )


@pytest.mark.parametrize("row", TRICKY_ROWS)
def test_log_softmax_within_few_ulp_of_mpmath(row):
    # Reference: x_i - log(sum(exp(x))) at DPS digits, rounded once to float64.
    lse = mp_logsumexp(row)
    with mp.workdps(DPS):
        ref = to_float([mp.mpf(v) - lse for v in row])
    got = sk.log_softmax(np.array(row))
    assert np.all(ulp_error(got, ref) <= 4), (got, ref)


@pytest.mark.parametrize("row", TRICKY_ROWS)
def test_logsumexp_within_few_ulp_of_mpmath(row):
    # Reference: log(fsum(exp(x))) at DPS digits. log-sum-exp = max + log(sum exp(x - max))
    # is ill-conditioned where the two terms cancel, so the error is measured in ulp of
    # the larger of |result| and |max(x)|, the bound a backward-stable method achieves.
    ref = float(mp_logsumexp(row))
    got = float(sk.logsumexp(np.array(row)))
    scale = max(abs(ref), abs(max(row)), np.finfo(np.float64).tiny)
    assert abs(got - ref) <= 4 * np.spacing(scale), (got, ref)


def test_logsumexp_keeps_the_tiny_tail():
    # log(1 + e^-40) = 4.248354255291589e-18 (mpmath, 50 digits); log(sum) would give 0.
    with mp.workdps(50):
        ref = float(mp.log1p(mp.exp(-40)))
    assert float(sk.logsumexp(np.array([0.0, -40.0]))) == pytest.approx(ref, rel=1e-15)
    assert float(sk.log_softmax(np.array([0.0, -40.0]))[0]) == pytest.approx(-ref, rel=1e-15)


@pytest.mark.parametrize("x", [-800.0, -60.0, -30.0, -1.5, -1e-8, 0.0, 1e-8, 2.5, 36.0, 800.0])
def test_sigmoid_and_log_sigmoid_within_few_ulp_of_mpmath(x):
    # Reference: 1 / (1 + exp(-x)) and -log1p(exp(-x)) at 50 digits.
    with mp.workdps(50):
        ref_s = float(1 / (1 + mp.exp(-mp.mpf(x))))
        ref_ls = float(-mp.log1p(mp.exp(-mp.mpf(x))))
    s = sk.sigmoid(np.array(x))
    ls = sk.log_sigmoid(np.array(x))
    if abs(ref_s) >= np.finfo(np.float64).tiny:
        assert ulp_error(s, np.array(ref_s)) <= 2
    else:
        assert float(s) <= 4 * np.finfo(np.float64).smallest_subnormal
    assert ulp_error(ls, np.array(ref_ls)) <= 2


def test_agrees_with_scipy_on_random_finite_input():
    # SciPy's special functions follow the same policy on finite input. SciPy's
    # log_softmax takes log(sum) where we take log1p(rest), so near 0 (the largest
    # entry) the two differ by up to an ulp of 1: hence the atol.
    rng = np.random.default_rng(0)
    x = rng.normal(scale=20.0, size=(7, 5, 9))
    for axis in (0, 1, -1, (0, 2), None):
        np.testing.assert_allclose(
            sk.softmax(x, axis=axis), scipy.special.softmax(x, axis=axis), rtol=1e-13, atol=0
        )
        np.testing.assert_allclose(
            sk.log_softmax(x, axis=axis),
            scipy.special.log_softmax(x, axis=axis),
            rtol=1e-13,
            atol=4e-16,
        )
        np.testing.assert_allclose(
            sk.logsumexp(x, axis=axis), scipy.special.logsumexp(x, axis=axis), rtol=1e-13
        )
    np.testing.assert_allclose(sk.sigmoid(x), scipy.special.expit(x), rtol=1e-15)
    np.testing.assert_allclose(sk.log_sigmoid(x), scipy.special.log_expit(x), rtol=1e-14)


def test_log_softmax_is_not_log_of_softmax():
    # The doctest case: log(softmax([1000, 1])) underflows to -inf, log_softmax is exact.
    np.testing.assert_array_equal(sk.log_softmax(np.array([1000.0, 1.0])), [0.0, -999.0])


# --------------------------------------------------------------------------------------
# the edge-case policy, on every backend


def _call(xp, fn, row, **kw):
    return xp.to_numpy(fn(xp.asarray(np.array(row, dtype=np.float64)), **kw))


def test_all_neg_inf_row(xp):
    row = [[-INF, -INF, -INF], [0.0, 1.0, 2.0]]
    np.testing.assert_array_equal(_call(xp, sk.softmax, row)[0], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(_call(xp, sk.log_softmax, row)[0], [-INF, -INF, -INF])
    np.testing.assert_array_equal(_call(xp, sk.logsumexp, row)[0], -INF)
    # the other row is untouched by the edge handling
    np.testing.assert_allclose(
        _call(xp, sk.softmax, row)[1], scipy.special.softmax([0.0, 1.0, 2.0]), rtol=1e-14
    )


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ([INF, 0.0, -INF], [1.0, 0.0, 0.0]),
        ([INF, 3.0, INF], [0.5, 0.0, 0.5]),
        ([INF, INF, INF, -INF], [1 / 3, 1 / 3, 1 / 3, 0.0]),
        ([1e308, INF, -1e308], [0.0, 1.0, 0.0]),
    ],
)
def test_pos_inf_entries_take_the_limit(xp, row, expected):
    np.testing.assert_allclose(_call(xp, sk.softmax, row), expected, rtol=1e-15)
    k = row.count(INF)
    exp_log = [math.log(1 / k) if v == INF else -INF for v in row]
    np.testing.assert_allclose(_call(xp, sk.log_softmax, row), exp_log, rtol=1e-15)
    assert _call(xp, sk.logsumexp, row) == INF


@pytest.mark.parametrize("row", [[NAN, 0.0, 1.0], [NAN, INF, 0.0], [NAN, -INF, -INF], [INF, NAN]])
def test_nan_row_gives_nan_and_other_rows_are_unaffected(xp, row):
    batch = [row, [0.0] * len(row)]
    for fn in (sk.softmax, sk.log_softmax):
        out = _call(xp, fn, batch)
        assert np.all(np.isnan(out[0]))
        assert not np.any(np.isnan(out[1]))
    lse = _call(xp, sk.logsumexp, batch)
    assert np.isnan(lse[0])
    assert lse[1] == pytest.approx(math.log(len(row)))


def test_nan_row_with_huge_entries_does_not_overflow(xp):
    # Regression: a row holding NaN and 1e300 was exponentiated unshifted, and
    # exp(1e300) overflowed with a warning (an error in this suite).
    for fn in (sk.softmax, sk.log_softmax, sk.logsumexp):
        out = xp.to_numpy(fn(xp.asarray(np.array([[NAN, 1e300], [0.0, 1.0]]))))
        assert np.all(np.isnan(out[0]))
        assert not np.any(np.isnan(out[1]))


def test_empty_class_axis(xp):
    x = xp.asarray(np.zeros((3, 0)))
    assert xp.to_numpy(sk.softmax(x)).shape == (3, 0)
    assert xp.to_numpy(sk.log_softmax(x)).shape == (3, 0)
    np.testing.assert_array_equal(xp.to_numpy(sk.logsumexp(x)), [-INF, -INF, -INF])
    np.testing.assert_array_equal(xp.to_numpy(sk.logsumexp(x, keepdims=True)), [[-INF]] * 3)
    assert float(xp.to_numpy(sk.logsumexp(xp.asarray(np.zeros(0)), axis=None))) == -INF


def test_empty_batch_axis(xp):
    x = xp.asarray(np.zeros((0, 4)))
    assert xp.to_numpy(sk.softmax(x)).shape == (0, 4)
    assert xp.to_numpy(sk.logsumexp(x)).shape == (0,)


_FMAX = float(np.finfo(np.float64).max)


@pytest.mark.parametrize(
    "low",
    [
        -1.0,  # -1 - fmax rounds to -fmax
        -(2.0**970),  # -(fmax + ulp/2): the tie, which rounds to even, -2**1024 = -inf
        -(2.0**970) + 2.0**918,  # just short of the tie: -fmax
        -_FMAX,  # -2 fmax: -inf
        -1e300,  # -fmax after rounding
    ],
)
def test_difference_that_rounds_to_fmax_is_not_flushed_to_inf(xp, low):
    """Regression (issue 15): the reference path (PyTorch, Dask, array-api-strict,
    byte-swapped NumPy) sent x - max to -inf wherever x < max - fmax, including
    differences that round to -fmax; log_softmax([-1, fmax]) gave [-inf, 0] there
    and [-fmax, 0] on the NumPy fast path. Reference: IEEE float64 subtraction,
    which rounds x - max correctly (the other term, log1p(exp(...)) = 0, adds nothing)."""
    row = np.array([low, _FMAX])
    with np.errstate(over="ignore"):
        expected = np.array([low - _FMAX, 0.0])
    out = xp.to_numpy(sk.log_softmax(xp.asarray(row)))
    np.testing.assert_array_equal(out, expected)
    with _fast.reference_only():
        np.testing.assert_array_equal(sk.log_softmax(row), expected)


@pytest.mark.parametrize(
    "row", [[1e300, -1e300], [1.79e308, -1.79e308, 0.0], [-1.79e308, -1.7e308], [1e308, 1e308]]
)
def test_huge_finite_logits_never_overflow(xp, row):
    s = _call(xp, sk.softmax, row)
    ls = _call(xp, sk.log_softmax, row)
    assert np.all(np.isfinite(s))
    assert not np.any(np.isnan(ls))
    assert np.sum(s) == pytest.approx(1.0)
    assert np.isfinite(_call(xp, sk.logsumexp, row))


def test_huge_logit_differences_are_exact_when_representable():
    # -1e300 - 1e300 = -2e300 is a float64; log_softmax must return it, not -inf.
    ls = sk.log_softmax(np.array([1e300, -1e300]))
    np.testing.assert_array_equal(ls, [0.0, -2e300])
    # a difference beyond float64 range rounds to -inf: the correctly rounded result
    ls = sk.log_softmax(np.array([1.7e308, -1.7e308]))
    np.testing.assert_array_equal(ls, [0.0, -INF])


def test_small_temperature_does_not_overflow():
    # (x - max) / T below -fmax is -inf, and it must not warn (warnings are errors here).
    out = sk.log_softmax(np.array([1e300, -1e300]), temperature=1e-10)
    np.testing.assert_array_equal(out, [0.0, -INF])
    np.testing.assert_array_equal(sk.softmax(np.array([1e300, -1e300]), temperature=1e-10), [1, 0])


def test_scalar_input():
    assert float(sk.softmax(np.float64(3.0))) == 1.0
    assert float(sk.log_softmax(np.array(3.0))) == 0.0
    assert float(sk.logsumexp(np.array(3.0))) == 3.0
    assert np.shape(sk.logsumexp(np.array(3.0), keepdims=True)) == ()
    with pytest.raises(ValueError, match="0-d"):
        sk.softmax(np.array(3.0), axis=1)


# --------------------------------------------------------------------------------------
# options: temperature, where, axis


def test_temperature_is_division_of_the_logits(xp):
    x = np.array([[1.0, 2.0, 4.0], [0.5, -0.25, 8.0]])
    for T in (0.25, 0.5, 2.0, 8.0):  # powers of two: x / T is exact, results identical
        np.testing.assert_allclose(
            xp.to_numpy(sk.softmax(xp.asarray(x), temperature=T)),
            sk.softmax(x / T),
            rtol=1e-15,
        )
        np.testing.assert_allclose(
            xp.to_numpy(sk.log_softmax(xp.asarray(x), temperature=T)),
            sk.log_softmax(x / T),
            rtol=1e-15,
        )
    out = sk.softmax(x, temperature=3.0)
    np.testing.assert_allclose(out, scipy.special.softmax(x / 3.0, axis=-1), rtol=1e-14)


@pytest.mark.parametrize("T", [0.0, -1.0, INF, NAN, "2", None, True])
def test_bad_temperature_raises(T):
    with pytest.raises(ValueError, match="temperature"):
        sk.softmax(np.ones(3), temperature=T)
    with pytest.raises(ValueError, match="temperature"):
        sk.log_softmax(np.ones(3), temperature=T)


def test_where_mask_acts_as_neg_inf(xp):
    x = np.array([[1.0, 2.0, 3.0, NAN], [4.0, 5.0, 6.0, 7.0]])
    mask = np.array([True, False, True, False])  # broadcast over rows; masks out the NaN
    masked = np.where(mask, x, -INF)
    for fn in (sk.softmax, sk.log_softmax, sk.logsumexp):
        got = xp.to_numpy(fn(xp.asarray(x), where=xp.asarray(mask)))
        np.testing.assert_allclose(got, fn(masked), rtol=1e-14)
    s = xp.to_numpy(sk.softmax(xp.asarray(x), where=xp.asarray(mask)))
    np.testing.assert_array_equal(s[:, ~mask], 0.0)


def test_fully_masked_row(xp):
    x = xp.asarray(np.array([[1.0, 2.0], [3.0, 4.0]]))
    mask = xp.asarray(np.array([[False, False], [True, True]]))
    np.testing.assert_array_equal(xp.to_numpy(sk.softmax(x, where=mask))[0], [0.0, 0.0])
    np.testing.assert_array_equal(xp.to_numpy(sk.log_softmax(x, where=mask))[0], [-INF, -INF])
    assert xp.to_numpy(sk.logsumexp(x, where=mask))[0] == -INF


def test_where_errors():
    x = np.ones((2, 3))
    with pytest.raises(TypeError, match="boolean"):
        sk.softmax(x, where=np.ones(3))
    with pytest.raises(ValueError, match=r"broadcast.*\(2, 3\).*\(4,\)"):
        sk.softmax(x, where=np.ones(4, dtype=bool))
    with pytest.raises(ValueError, match="broadcast"):
        sk.logsumexp(x, where=np.ones((5, 2, 3), dtype=bool))  # would enlarge x
    with pytest.raises(TypeError, match="array"):
        sk.softmax(x, where=[True, False, True])


def test_tuple_axis_equals_reshaped_axis(xp):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4, 5))
    flat = x.transpose(0, 2, 1).reshape(3, 5 * 4)  # axes (1,) and (2,)... joint over 1 and 2
    flat = x.reshape(3, 20)
    got = xp.to_numpy(sk.softmax(xp.asarray(x), axis=(1, 2)))
    np.testing.assert_allclose(got.reshape(3, 20), sk.softmax(flat, axis=-1), rtol=1e-14)
    got = xp.to_numpy(sk.logsumexp(xp.asarray(x), axis=(2, 1)))
    np.testing.assert_allclose(got, sk.logsumexp(flat, axis=-1), rtol=1e-14)
    got = xp.to_numpy(sk.log_softmax(xp.asarray(x), axis=None))
    np.testing.assert_allclose(got.ravel(), sk.log_softmax(x.ravel()), rtol=1e-14)
    np.testing.assert_allclose(
        xp.to_numpy(sk.logsumexp(xp.asarray(x), axis=None)), scipy.special.logsumexp(x)
    )


def test_axis_k_equals_moveaxis():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 4, 5))
    for k in range(3):
        moved = np.moveaxis(x, k, -1)
        np.testing.assert_array_equal(
            np.moveaxis(sk.softmax(x, axis=k), k, -1), sk.softmax(moved, axis=-1)
        )


@pytest.mark.parametrize(
    ("axis", "exc", "match"),
    [
        (3, ValueError, r"axis in \[-3, 3\)"),
        (-4, ValueError, "axis"),
        ((0, 0), ValueError, "distinct"),
        ((0, -3), ValueError, "distinct"),
        (1.0, TypeError, "axis"),
        ("0", TypeError, "axis"),
        ([0, 1], TypeError, "axis"),
    ],
)
def test_bad_axis(axis, exc, match):
    with pytest.raises(exc, match=match):
        sk.softmax(np.ones((2, 3, 4)), axis=axis)


def test_keepdims_must_be_bool():
    with pytest.raises(TypeError, match="keepdims"):
        sk.logsumexp(np.ones(3), keepdims=1)


# --------------------------------------------------------------------------------------
# types, dtypes, devices


@pytest.mark.parametrize(
    "fn", [sk.softmax, sk.log_softmax, sk.logsumexp, sk.sigmoid, sk.log_sigmoid]
)
@pytest.mark.parametrize("bad", [[1.0, 2.0], (1.0,), 3.0, "abc", None])
def test_non_array_raises_type_error(fn, bad):
    with pytest.raises(TypeError, match="expected an array"):
        fn(bad)


@pytest.mark.parametrize(
    "fn", [sk.softmax, sk.log_softmax, sk.logsumexp, sk.sigmoid, sk.log_sigmoid]
)
def test_complex_raises_type_error(fn):
    with pytest.raises(TypeError, match="complex"):
        fn(np.array([1.0 + 1j, 2.0]))


def test_mixed_libraries_raise_type_error(torch_backend):
    with pytest.raises(TypeError, match="one array library"):
        sk.softmax(torch_backend.asarray(np.ones(3)), where=np.ones(3, dtype=bool))


@pytest.mark.parametrize(
    "fn", [sk.softmax, sk.log_softmax, sk.logsumexp, sk.sigmoid, sk.log_sigmoid]
)
def test_preserves_library_dtype_device_and_shape(xp, fn):
    rng = np.random.default_rng(3)
    data = rng.normal(scale=3.0, size=(4, 6))
    for dt in xp.float_dtypes:
        x = xp.asarray(data, dtype=dt)
        before = xp.to_numpy(x).copy()
        out = fn(x)
        assert type(out) is type(x)
        assert out.dtype == x.dtype
        if xp.device is not None:
            assert out.device == xp.device
        expected_shape = (4,) if fn is sk.logsumexp else (4, 6)
        assert tuple(out.shape) == expected_shape
        ref = fn(before.astype(np.float64))
        np.testing.assert_allclose(xp.to_numpy(out), ref, rtol=RTOL[dt], atol=ATOL[dt])
        np.testing.assert_array_equal(xp.to_numpy(x), before)  # input not written to


@pytest.mark.parametrize("fn", [sk.softmax, sk.log_softmax, sk.logsumexp, sk.sigmoid])
def test_integer_and_bool_inputs_promote_to_default_float(xp, fn):
    for data in (np.array([[1, 2, 3], [0, -1, 5]]), np.array([[True, False, True]])):
        x = xp.asarray(data)
        out = fn(x)
        assert out.dtype == xp.dtype(xp.default_float)
        np.testing.assert_allclose(xp.to_numpy(out), fn(data.astype(np.float64)), rtol=1e-6)


def test_16_bit_floats_are_computed_in_float32():
    # float16 softmax of a wide row: exp in float16 would lose the small entries.
    x = np.array([0.0, -9.0, -10.0, -11.0], dtype=np.float16)
    got = sk.softmax(x)
    assert got.dtype == np.float16
    ref = scipy.special.softmax(x.astype(np.float64)).astype(np.float16)
    np.testing.assert_array_equal(got, ref)


# --------------------------------------------------------------------------------------
# properties


def _rows(dtype=np.float64, max_k=12, bound=1e3):
    return hnp.arrays(
        dtype,
        hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=max_k),
        elements=st.floats(-bound, bound, allow_nan=False, width=64 if dtype == np.float64 else 32),
    )


@given(
    x=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=1, max_dims=3, max_side=8),
        elements=st.integers(-8000, 8000).map(lambda v: v / 8),
    ),
    c=st.integers(-(10**6), 10**6),
    data=st.data(),
)
def test_shift_invariance_is_exact(x, c, data):
    # x and x + c are exact (multiples of 1/8 below 2^40), so x - max is the same
    # in both, and shift invariance holds bit for bit.
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    np.testing.assert_array_equal(sk.softmax(x + c, axis=axis), sk.softmax(x, axis=axis))
    np.testing.assert_array_equal(sk.log_softmax(x + c, axis=axis), sk.log_softmax(x, axis=axis))
    # logsumexp(x) + c is itself rounded at the scale of its terms (for x = [0, 57],
    # c = -57 it is 57 - 57 = 0 where the exact value is log1p(e^-57) = 1.8e-25), so
    # the two agree to a few ulp of |logsumexp(x)| + |c|, not relatively
    ref = sk.logsumexp(x, axis=axis)
    scale = np.abs(ref) + abs(c)
    np.testing.assert_array_less(
        np.abs(sk.logsumexp(x + c, axis=axis) - (ref + c)), 4 * np.spacing(scale) + 1e-300
    )


@given(x=_rows(), data=st.data())
def test_rows_sum_to_one_and_exp_log_softmax_is_softmax(x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    s = sk.softmax(x, axis=axis)
    K = x.shape[axis]
    assert np.all(np.abs(np.sum(s, axis=axis) - 1) <= 4 * K * np.finfo(np.float64).eps)
    assert np.all((s >= 0) & (s <= 1))
    np.testing.assert_allclose(np.exp(sk.log_softmax(x, axis=axis)), s, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(
        sk.logsumexp(x, axis=axis), scipy.special.logsumexp(x, axis=axis), rtol=1e-13, atol=1e-13
    )


@given(x=_rows(np.float32, bound=80.0), data=st.data())
def test_float32_matches_float64_to_float32_rounding(x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    s32 = sk.softmax(x, axis=axis)
    assert s32.dtype == np.float32
    s64 = sk.softmax(x.astype(np.float64), axis=axis)
    np.testing.assert_allclose(s32, s64, rtol=4e-6, atol=1e-37)


@given(
    z=hnp.arrays(
        np.float64, st.integers(1, 20), elements=st.integers(-4000, 4000).map(lambda v: v / 16)
    ),
    w=hnp.arrays(
        np.float64, st.integers(1, 20), elements=st.integers(-4000, 4000).map(lambda v: v / 16)
    ),
)
def test_two_class_softmax_is_sigmoid_of_difference(z, w):
    n = min(len(z), len(w))
    z0, z1 = z[:n], w[:n]  # multiples of 1/16: z1 - z0 is exact
    s = sk.softmax(np.stack([z0, z1], axis=-1))
    np.testing.assert_allclose(s[:, 1], sk.sigmoid(z1 - z0), rtol=4e-16, atol=1e-300)
    np.testing.assert_allclose(s[:, 0], sk.sigmoid(z0 - z1), rtol=4e-16, atol=1e-300)
    np.testing.assert_allclose(
        sk.log_softmax(np.stack([z0, z1], axis=-1))[:, 1], sk.log_sigmoid(z1 - z0), rtol=1e-15
    )


@given(x=st.floats(allow_nan=True, allow_infinity=True))
def test_sigmoid_edges_and_range(x):
    s = float(sk.sigmoid(np.array(x)))
    ls = float(sk.log_sigmoid(np.array(x)))
    if math.isnan(x):
        assert math.isnan(s)
        assert math.isnan(ls)
    else:
        assert 0.0 <= s <= 1.0
        assert ls <= 0.0
        assert s == pytest.approx(scipy.special.expit(x), rel=1e-15, abs=1e-300)
        assert ls == pytest.approx(scipy.special.log_expit(x), rel=1e-14)


def test_agrees_with_torch_and_jax_native_on_finite_input(torch_backend, jax_backend):
    # On finite input the native softmax family of PyTorch and JAX follows our policy.
    import jax
    import torch

    rng = np.random.default_rng(5)
    x = rng.normal(scale=10.0, size=(6, 11))
    t = torch.asarray(x)
    np.testing.assert_allclose(sk.softmax(t).numpy(), torch.softmax(t, -1).numpy(), rtol=1e-13)
    np.testing.assert_allclose(
        sk.log_softmax(t).numpy(), torch.log_softmax(t, -1).numpy(), rtol=1e-13, atol=1e-15
    )
    np.testing.assert_allclose(sk.logsumexp(t).numpy(), torch.logsumexp(t, -1).numpy(), rtol=1e-14)
    j = jax_backend.asarray(x)
    np.testing.assert_allclose(np.asarray(sk.softmax(j)), np.asarray(jax.nn.softmax(j)), rtol=1e-13)
    np.testing.assert_allclose(
        np.asarray(sk.log_softmax(j)), np.asarray(jax.nn.log_softmax(j)), rtol=1e-13, atol=1e-15
    )


def test_traceable_by_jax_jit_and_differentiable_by_autograd(jax_backend, torch_backend):
    import jax
    import torch

    x = np.array([[1.0, -INF, 3.0], [INF, 0.0, 1.0]])
    f = jax.jit(lambda a: sk.softmax(a, temperature=2.0))
    np.testing.assert_array_equal(
        np.asarray(f(jax_backend.asarray(x))), sk.softmax(x, temperature=2.0)
    )
    # autograd through the reference implementation gives the softmax VJP
    z = torch.asarray(np.array([[0.5, 1.5, -2.0]]), requires_grad=True)
    g = torch.asarray(np.array([[1.0, 0.0, -1.0]]))
    (auto,) = torch.autograd.grad(sk.softmax(z), z, g)
    s = sk.softmax(z.detach())
    np.testing.assert_allclose(auto.numpy(), sk.softmax_vjp(s, g).numpy(), rtol=1e-14)


def _mp_log_softmax_over_t(row: list[float], T: float) -> list:
    """log_softmax(row / T) with mpmath: the division exact, 400 digits."""
    with mp.workdps(DPS):
        z = [mp.mpf(v) / mp.mpf(T) for v in row]
        top = max(z)
        norm = mp.log(mp.fsum(mp.exp(v - top) for v in z))
        return [v - top - norm for v in z]


@pytest.mark.parametrize("T", [3.0, 1e10, 2.0**1000 * 1.5, 1e308, 1.7e308])
@pytest.mark.parametrize(
    "row",
    [
        [1e308, -1e308, 0.0],  # the difference 2e308 overflows; divided by T it need not
        [1.7e308, -1.7e308, 5e307, -9e307],
        [-1e308, 1e308, 1e308, 3.0],
    ],
)
def test_huge_temperature_against_mpmath(xp, T, row):
    """log_softmax(x, temperature=T) and softmax against mpmath where x - max overflows
    but (x - max) / T does not (it gave -inf and 0), and for T past 2**1000, whose
    reciprocal is subnormal (XLA gave 0 and NaN). Reference: mpmath at 400 digits
    with the exact quotient x / T, rounded once."""
    if "float64" not in xp.float_dtypes:
        pytest.skip("float64 cases")
    x = xp.asarray(np.array(row), dtype="float64")
    ref = _mp_log_softmax_over_t(row, T)
    expect = np.array([float(v) for v in ref])
    with mp.workdps(DPS):
        expect_p = np.array([float(mp.exp(v)) for v in ref])
    got = xp.to_numpy(sk.log_softmax(x, temperature=T))
    # a few ulp: x / T and max / T each rounded, then one subtraction
    assert np.max(ulp_error(got, expect)) <= 4, (got, expect)
    got_p = xp.to_numpy(sk.softmax(x, temperature=T))
    np.testing.assert_allclose(got_p, expect_p, rtol=1e-14, atol=1e-300)
