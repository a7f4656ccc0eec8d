"""entropy, cross_entropy, kl_divergence."""

from __future__ import annotations

import math

import hypothesis.extra.numpy as hnp
import mpmath as mp
import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

import softmaxkit as sk

INF, NAN = math.inf, math.nan


def test_values_against_mpmath():
    # Reference: the three sums at 50 digits with mpmath, rounded once to float64.
    p = [0.1, 0.2, 0.3, 0.4]
    q = [0.25, 0.25, 0.4, 0.1]
    with mp.workdps(50):
        P, Q = [mp.mpf(v) for v in p], [mp.mpf(v) for v in q]
        H = float(-mp.fsum(a * mp.log(a) for a in P))
        CE = float(-mp.fsum(a * mp.log(b) for a, b in zip(P, Q, strict=True)))
        KL = float(mp.fsum(a * mp.log(a / b) for a, b in zip(P, Q, strict=True)))
        KL2 = float(mp.fsum(a * mp.log(a / b) for a, b in zip(P, Q, strict=True)) / mp.log(2))
    p, q = np.array(p), np.array(q)
    assert float(sk.entropy(p)) == pytest.approx(H, rel=4e-16)
    assert float(sk.cross_entropy(p, q)) == pytest.approx(CE, rel=4e-16)
    assert float(sk.kl_divergence(p, q)) == pytest.approx(KL, rel=1e-15)
    assert float(sk.kl_divergence(p, q, base=2)) == pytest.approx(KL2, rel=1e-15)


def test_agrees_with_scipy_stats():
    rng = np.random.default_rng(0)
    p = sk.softmax(rng.normal(size=(5, 7)))
    q = sk.softmax(rng.normal(size=(5, 7)))
    np.testing.assert_allclose(sk.entropy(p), scipy.stats.entropy(p, axis=-1), rtol=1e-14)
    np.testing.assert_allclose(
        sk.kl_divergence(p, q), scipy.stats.entropy(p, q, axis=-1), rtol=1e-13
    )
    np.testing.assert_allclose(
        sk.entropy(p, base=2), scipy.stats.entropy(p, base=2, axis=-1), rtol=1e-14
    )


def test_units():
    p = np.array([0.5, 0.5])
    assert float(sk.entropy(p, base=2)) == pytest.approx(1.0)
    assert float(sk.entropy(p)) == pytest.approx(math.log(2))
    assert float(sk.entropy(np.full(10, 0.1), base=10)) == pytest.approx(1.0)


def test_zero_conventions(xp):
    p = xp.asarray(np.array([0.0, 0.5, 0.5]))
    q = xp.asarray(np.array([0.0, 0.25, 0.75]))
    h = float(xp.to_numpy(sk.entropy(p)))
    assert h == pytest.approx(math.log(2))  # 0 log 0 = 0
    assert math.isfinite(float(xp.to_numpy(sk.kl_divergence(p, q))))  # p = 0, q = 0: term 0
    q0 = xp.asarray(np.array([0.5, 0.5, 0.0]))
    assert float(xp.to_numpy(sk.kl_divergence(p, q0))) == INF  # p > 0, q = 0
    assert float(xp.to_numpy(sk.cross_entropy(p, q0))) == INF


def test_nan_in_nan_out():
    assert math.isnan(float(sk.entropy(np.array([NAN, 0.5]))))
    assert math.isnan(float(sk.kl_divergence(np.array([0.5, 0.5]), np.array([NAN, 0.5]))))


def test_kl_is_not_symmetric():
    p, q = np.array([0.5, 0.5]), np.array([0.9, 0.1])
    assert float(sk.kl_divergence(p, q)) != pytest.approx(float(sk.kl_divergence(q, p)))


def test_axis_broadcast_and_backends(xp):
    rng = np.random.default_rng(1)
    p = sk.softmax(rng.normal(size=(3, 4, 5)), axis=1)
    q = sk.softmax(rng.normal(size=(4, 5)), axis=0)  # broadcast against p
    for dt in xp.float_dtypes:
        P, Q = xp.asarray(p, dtype=dt), xp.asarray(q, dtype=dt)
        for fn, args in (
            (sk.entropy, (P,)),
            (sk.cross_entropy, (P, Q)),
            (sk.kl_divergence, (P, Q)),
        ):
            out = fn(*args, axis=1, base=2)
            assert out.dtype == P.dtype
            assert tuple(out.shape) == (3, 5)
            if xp.device is not None:
                assert out.device == xp.device
            ref = fn(*(np.asarray(xp.to_numpy(a), dtype=np.float64) for a in args), axis=1, base=2)
            tol = {"bfloat16": 3e-2, "float16": 3e-3, "float32": 2e-5, "float64": 1e-13}[dt]
            np.testing.assert_allclose(xp.to_numpy(out), ref, rtol=tol, atol=tol)
    out = sk.entropy(xp.asarray(p), axis=(1, 2))
    np.testing.assert_allclose(xp.to_numpy(out), sk.entropy(p.reshape(3, 20)), rtol=1e-14)
    assert float(xp.to_numpy(sk.entropy(xp.asarray(p), axis=None))) == pytest.approx(
        float(sk.entropy(p.ravel()))
    )


def test_integer_input_is_promoted():
    assert sk.entropy(np.array([1, 0])).dtype == np.float64


@pytest.mark.parametrize("base", [1, 1.0, 0, -2, INF, NAN, "2", True])
def test_bad_base(base):
    with pytest.raises(ValueError, match="base"):
        sk.entropy(np.array([0.5, 0.5]), base=base)


def test_bad_input():
    with pytest.raises(ValueError, match=r"broadcastable.*\(2, 3\).*\(4,\)"):
        sk.kl_divergence(np.ones((2, 3)) / 3, np.ones(4) / 4)
    with pytest.raises(ValueError, match=r"p to hold probabilities.*got -0\.5"):
        sk.entropy(np.array([-0.5, 1.5]))
    with pytest.raises(ValueError, match=r"q to hold probabilities.*got -0\.5"):
        sk.cross_entropy(np.array([0.5, 0.5]), np.array([-0.5, 1.5]))
    with pytest.raises(TypeError, match="expected an array"):
        sk.entropy([0.5, 0.5])
    with pytest.raises(TypeError, match="complex"):
        sk.entropy(np.array([0.5 + 0j, 0.5]))


@pytest.mark.parametrize(
    ("fn", "args", "bad"),
    [
        (sk.entropy, (np.array([1e308, 1e308]),), "p"),
        (sk.entropy, (np.array([np.inf, 1.0]),), "p"),
        (sk.entropy, (np.array([3.0, 1.0]),), "p"),  # counts, which SciPy renormalises
        (sk.kl_divergence, (np.array([1e308, 1.0]), np.array([0.5, 0.5])), "p"),
        (sk.kl_divergence, (np.array([0.5, 0.5]), np.array([1.0, 1e308])), "q"),
        (sk.kl_divergence, (np.array([np.inf, 1.0]), np.array([1.0, 1.0])), "p"),
        (sk.cross_entropy, (np.array([0.5, 0.5]), np.array([np.inf, 0.0])), "q"),
        (sk.cross_entropy, (np.array([1e308, 1e308]), np.array([1.0, 1e-300])), "p"),
    ],
)
def test_entries_beyond_one_refused_not_overflowed(fn, args, bad):
    """Regression (issue 15): huge or infinite entries overflowed p log p with a
    RuntimeWarning (inf * 0: NaN for KL); they are not probabilities and are refused."""
    with pytest.raises(ValueError, match=f"expected {bad} to hold probabilities"):
        fn(*args)


@st.composite
def _distributions(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=2, max_side=8))
    logits = hnp.arrays(np.float64, shape, elements=st.floats(-30, 30))
    p = sk.softmax(draw(logits))
    q = sk.softmax(draw(logits))
    return p, q


@given(_distributions())
def test_gibbs_inequality_and_decomposition(pq):
    p, q = pq
    kl = sk.kl_divergence(p, q)
    assert np.all(kl >= -1e-15)  # >= 0 up to rounding
    np.testing.assert_array_equal(sk.kl_divergence(p, p), 0.0)
    np.testing.assert_allclose(sk.cross_entropy(p, q), sk.entropy(p) + kl, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        sk.cross_entropy(p, q, base=2),
        sk.entropy(p, base=2) + sk.kl_divergence(p, q, base=2),
        rtol=1e-12,
        atol=1e-12,
    )
