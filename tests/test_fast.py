"""The delegation layer: a registered fast path is used, can decline, and can be turned off."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import softmaxkit as sk
from softmaxkit import _fast


@pytest.fixture
def fake_numpy_softmax():
    calls = []

    def impl(x, *, axes, temperature, where):
        calls.append((axes, temperature, where))
        if temperature != 1.0:
            return NotImplemented  # declines: the reference runs
        return np.full(x.shape, 42.0)

    _fast._load("numpy")  # the real fast path first, so the fake replaces it
    saved = _fast._REGISTRY.get(("softmax", "numpy"))
    _fast.register("softmax", "numpy")(impl)
    yield calls
    _fast.unregister("softmax", "numpy")
    if saved is not None:
        _fast.register("softmax", "numpy")(saved)


def test_fast_path_receives_validated_arguments(fake_numpy_softmax):
    out = sk.softmax(np.array([[1, 2, 3]]), axis=-1)
    assert np.all(out == 42.0)
    assert fake_numpy_softmax == [((1,), 1.0, None)]


def test_declined_fast_path_falls_back_to_reference(fake_numpy_softmax):
    out = sk.softmax(np.array([1.0, 2.0]), temperature=2.0)
    np.testing.assert_allclose(out.sum(), 1.0)


def test_reference_only_turns_the_layer_off(fake_numpy_softmax):
    with _fast.reference_only():
        out = sk.softmax(np.array([1.0, 2.0]))
    np.testing.assert_allclose(out.sum(), 1.0)
    assert fake_numpy_softmax == []


def test_backend_names(xp):
    from softmaxkit._array import namespace

    assert _fast.backend_name(namespace(("x", xp.asarray(np.ones(2))))) == xp.name


# --------------------------------------------------------------------------------------
# the registered fast paths agree with the reference on the same inputs, edges included

import math  # noqa: E402

import hypothesis.extra.numpy as hnp  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_EDGE_FLOATS = st.one_of(
    st.floats(-50, 50),
    st.sampled_from([-math.inf, math.inf, math.nan, 1e300, -1e300, 0.0]),
)


def _edge_arrays(dtype):
    return hnp.arrays(
        dtype,
        hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=6),
        elements=_EDGE_FLOATS
        if dtype == np.float64
        else st.one_of(
            st.floats(-50, 50, width=32),
            st.sampled_from([-math.inf, math.inf, math.nan, 3e38, -3e38, 0.0]),
        ),
    )


def _agree(fast, ref, dtype):
    fast, ref = np.asarray(fast, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(fast) & (fast > 0), np.isinf(ref) & (ref > 0))
    np.testing.assert_array_equal(np.isinf(fast) & (fast < 0), np.isinf(ref) & (ref < 0))
    finite = np.isfinite(ref)
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(fast[finite], ref[finite], rtol=8 * eps, atol=8 * eps)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(data=st.data())
def test_torch_fast_path_matches_reference(torch_backend, dtype, data):
    x = data.draw(_edge_arrays(dtype))
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    T = data.draw(st.sampled_from([1.0, 2.5]))
    t = torch_backend.asarray(x)
    fast = sk.softmax(t, axis=axis, temperature=T)
    with _fast.reference_only():
        ref = sk.softmax(t, axis=axis, temperature=T)
    _agree(fast.numpy(), ref.numpy(), dtype)


@pytest.mark.parametrize("fn", [sk.softmax, sk.log_softmax, sk.logsumexp])
@given(data=st.data())
def test_jax_fast_path_matches_reference(jax_backend, fn, data):
    x = data.draw(_edge_arrays(np.float64))
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    j = jax_backend.asarray(x)
    fast = fn(j, axis=axis)
    with _fast.reference_only():
        ref = fn(j, axis=axis)
    _agree(np.asarray(fast), np.asarray(ref), np.float64)


def test_torch_eager_cpu_forward_runs_the_numpy_kernels(torch_backend, monkeypatch):
    """Eager CPU float tensors take the NumPy kernels on a zero-copy view (so the
    results equal NumPy's bit for bit); 16-bit tensors take the reference."""
    import torch

    from softmaxkit._fast import _REGISTRY

    calls = []
    real = _REGISTRY[("softmax", "numpy")]
    monkeypatch.setitem(
        _REGISTRY, ("softmax", "numpy"), lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    x = np.array([[1.0, 2.0], [-math.inf, -math.inf], [math.inf, 0.0]])
    out = sk.softmax(torch.tensor(x))
    assert calls == [1]
    np.testing.assert_array_equal(out.numpy(), sk.softmax(x))
    calls.clear()
    half = sk.softmax(torch.tensor(x, dtype=torch.bfloat16))
    assert calls == []
    np.testing.assert_array_equal(half.float().numpy(), [[0.26953125, 0.73046875], [0, 0], [1, 0]])


def test_jax_fast_path_declines_under_jit(jax_backend):
    import jax

    x = jax_backend.asarray(np.array([[1.0, -np.inf], [-np.inf, -np.inf]]))
    np.testing.assert_array_equal(np.asarray(jax.jit(sk.softmax)(x)), [[1.0, 0.0], [0.0, 0.0]])


PATHS = ("rows", "transposed")


@contextlib.contextmanager
def tiny_blocks(path="rows"):
    """Blocks of a few rows and the thread pool even for small arrays, so that
    hypothesis-sized inputs exercise the blocked, threaded code paths; ``path``
    picks the row-major kernels or the transposed short-row ones for every K."""
    from softmaxkit._fast import numpy as fast_numpy

    saved = (
        fast_numpy.BLOCK_BYTES,
        fast_numpy.SHORT_BLOCK_BYTES,
        fast_numpy.SMALL,
        fast_numpy.SHORT_K,
        fast_numpy.COMPILED_BLOCK_BYTES,
    )
    fast_numpy.BLOCK_BYTES = fast_numpy.SHORT_BLOCK_BYTES = 64
    fast_numpy.COMPILED_BLOCK_BYTES = 64
    fast_numpy.SMALL = 0
    fast_numpy.SHORT_K = 10**9 if path == "transposed" else 0
    try:
        yield
    finally:
        (
            fast_numpy.BLOCK_BYTES,
            fast_numpy.SHORT_BLOCK_BYTES,
            fast_numpy.SMALL,
            fast_numpy.SHORT_K,
            fast_numpy.COMPILED_BLOCK_BYTES,
        ) = saved


@pytest.mark.parametrize("fn", [sk.softmax, sk.log_softmax, sk.logsumexp])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(data=st.data())
def test_numpy_fast_path_matches_reference(fn, dtype, data):
    x = data.draw(_edge_arrays(dtype))
    n_axes = data.draw(st.integers(1, x.ndim))
    axis = tuple(data.draw(st.permutations(range(x.ndim)))[:n_axes])
    kwargs = {"axis": axis if len(axis) > 1 else axis[0]}
    if fn is not sk.logsumexp:
        kwargs["temperature"] = data.draw(st.sampled_from([1.0, 0.5, 3.0]))
    with _fast.reference_only():
        ref = fn(x, **kwargs)
    for path in PATHS:
        with tiny_blocks(path):
            fast = fn(x, **kwargs)
        assert fast.dtype == ref.dtype
        assert fast.shape == ref.shape
        _agree(fast, ref, dtype)


@pytest.mark.parametrize("fn", [sk.softmax, sk.log_softmax])
@pytest.mark.parametrize("row", [[-1e300], [-1e300, -1e300], [-1e300, -1.5e300]])
def test_negative_huge_maximum_with_temperature_warns_nothing(fn, row):
    """Regression (found by hypothesis in CI): with T > 1 the overflow probe computes
    max(x) - fmax, which itself overflowed (a RuntimeWarning) when the row maximum is a
    huge negative number. No x - max can overflow there; the result is the reference's."""
    x = np.array([row])
    with _fast.reference_only():
        ref = fn(x, temperature=3.0)
    for path in PATHS:
        with tiny_blocks(path):
            fast = fn(x, temperature=3.0)
        _agree(fast, ref, np.float64)


@given(data=st.data())
def test_numpy_fast_path_with_mask(data):
    x = data.draw(_edge_arrays(np.float64))
    mask = data.draw(hnp.arrays(bool, x.shape[-1:]))
    for fn in (sk.softmax, sk.log_softmax, sk.logsumexp):
        with _fast.reference_only():
            ref = fn(x, where=mask)
        for path in PATHS:
            with tiny_blocks(path):
                fast = fn(x, where=mask)
            _agree(fast, ref, np.float64)


@st.composite
def _ce_problems(draw):
    n = draw(st.integers(1, 12))
    k = draw(st.integers(1, 7))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    logits = draw(
        hnp.arrays(
            dtype,
            (n, k),
            elements=st.one_of(
                st.floats(-30, 30, width=32), st.sampled_from([-math.inf, math.inf, 1e30])
            ),
        )
    )
    labels = draw(hnp.arrays(np.int64, n, elements=st.integers(-1, k - 1)))
    opts = {
        "ignore_index": -1,
        "label_smoothing": draw(st.sampled_from([0.0, 0.1])),
        "temperature": draw(st.sampled_from([1.0, 0.5, 2.0])),
        "reduction": draw(st.sampled_from(["mean", "sum", "none"])),
    }
    if draw(st.booleans()):
        opts["class_weight"] = draw(hnp.arrays(dtype, k, elements=st.floats(0, 3, width=32)))
    if draw(st.booleans()):
        opts["sample_weight"] = draw(hnp.arrays(dtype, n, elements=st.floats(0, 3, width=32)))
    return logits, labels, opts


@given(_ce_problems())
def test_numpy_cross_entropy_fast_path_matches_reference(problem):
    logits, labels, opts = problem
    with _fast.reference_only():
        ref = sk.softmax_cross_entropy_with_grad(logits, labels, **opts)
    for path in PATHS:
        with tiny_blocks(path):
            fast = sk.softmax_cross_entropy_with_grad(logits, labels, **opts)
        for a, b in zip(fast, ref, strict=True):
            assert a.dtype == b.dtype
            _agree(a, b, logits.dtype)


def test_numpy_fast_path_is_used(monkeypatch):
    from softmaxkit._fast import numpy as fast_numpy

    calls = []
    real = fast_numpy._blocks
    monkeypatch.setattr(fast_numpy, "_blocks", lambda *a, **k: calls.append(1) or real(*a, **k))
    x = np.random.default_rng(0).normal(size=(300, 200))
    sk.softmax(x)
    sk.softmax_cross_entropy_with_grad(x, np.zeros(300, dtype=np.int64))
    assert len(calls) == 2


def test_blocks_run_each_block_once_on_the_caller_and_the_pool(monkeypatch):
    # _blocks: the calling thread takes blocks too (no wait for a pool thread to wake
    # before the work starts), every block exactly once
    import threading
    import time

    from softmaxkit._fast import numpy as fast_numpy

    if fast_numpy._THREADS < 2:
        pytest.skip("one CPU: the blocks run on the calling thread alone")
    monkeypatch.setattr(fast_numpy, "SMALL", 0)
    monkeypatch.setattr(fast_numpy, "BLOCK_BYTES", 200 * 40 * 8)  # 200 rows of 40 float64
    seen, threads, lock = [], set(), threading.Lock()
    caller, helper_done = threading.get_ident(), threading.Event()

    def work(a, b):
        if threading.get_ident() == caller:  # leave the pool some blocks, however late
            helper_done.wait(timeout=5)  # it wakes on a loaded machine
        with lock:
            seen.append((a, b))
            threads.add(threading.get_ident())
        if threading.get_ident() != caller:
            time.sleep(0.001)
            helper_done.set()

    fast_numpy._blocks(4000, 40, 8, work)
    bounds = fast_numpy._block_bounds(4000, 40, 8, False, None)
    assert len(bounds) == 20
    assert sorted(seen) == bounds
    assert caller in threads
    assert len(threads) >= 2


def test_blocks_raise_only_after_every_thread_has_stopped(monkeypatch):
    # a failing block: the error reaches the caller, and no block is still being
    # written when it does (the caller's outputs are not written behind its back)
    import threading
    import time

    from softmaxkit._fast import numpy as fast_numpy

    if fast_numpy._THREADS < 2:
        pytest.skip("one CPU: the blocks run on the calling thread alone")
    monkeypatch.setattr(fast_numpy, "SMALL", 0)
    monkeypatch.setattr(fast_numpy, "BLOCK_BYTES", 200 * 40 * 8)  # 20 blocks
    running, lock = [0], threading.Lock()
    caller, helper_busy = threading.get_ident(), threading.Event()

    def work(a, b):
        with lock:
            running[0] += 1
        try:
            if threading.get_ident() == caller:  # fails once a pool thread is mid-block
                helper_busy.wait(timeout=5)
                raise RuntimeError("block failed")
            helper_busy.set()
            time.sleep(0.02)
        finally:
            with lock:
                running[0] -= 1

    with pytest.raises(RuntimeError, match="block failed"):
        fast_numpy._blocks(4000, 40, 8, work)
    assert running[0] == 0


def test_short_rows_take_the_transposed_path_with_ties_and_tiny_tails(monkeypatch):
    from softmaxkit._fast import numpy as fast_numpy

    calls = []
    real = fast_numpy._short
    monkeypatch.setattr(fast_numpy, "_short", lambda *a: calls.append(1) or real(*a))
    # the NumPy path (the one without a C compiler); the compiled core's own tests are
    # in test_compiled.py
    monkeypatch.setattr(fast_numpy, "_compiled", None)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5000, 10))
    x[::3, 4] = x[::3].max(axis=1)  # a tie at the maximum in every third row
    x[1, :] = [0.0] + [-40.0] * 9  # log_softmax of the max is -9 exp(-40), not 0
    y = rng.integers(0, 10, 5000)
    for fn in (sk.softmax, sk.log_softmax, sk.logsumexp):
        with _fast.reference_only():
            ref = fn(x)
        _agree(fn(x), ref, np.float64)
    with _fast.reference_only():
        ref_ce = sk.softmax_cross_entropy_with_grad(x, y, label_smoothing=0.1)
    fast_ce = sk.softmax_cross_entropy_with_grad(x, y, label_smoothing=0.1)
    for a, b in zip(fast_ce, ref_ce, strict=True):
        _agree(a, b, np.float64)
    assert calls  # the default path for K = 10 is the transposed one
    # -log(1 + 9 exp(-40)), by mpmath at 50 digits
    assert sk.log_softmax(x)[1, 0] == pytest.approx(-3.8235188297624300e-17, rel=1e-14)


@given(
    s=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=6),
        elements=st.floats(0, 1),
    ),
    data=st.data(),
)
def test_numpy_jacobian_fast_path_is_the_reference_to_the_bit(s, data):
    axis = data.draw(st.integers(-s.ndim, s.ndim - 1))
    with tiny_blocks():
        fast = sk.softmax_jacobian(s, axis=axis)
    with _fast.reference_only():
        ref = sk.softmax_jacobian(s, axis=axis)
    assert fast.shape == ref.shape
    assert fast.dtype == ref.dtype
    np.testing.assert_array_equal(fast, ref)


@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_linear_cross_entropy_is_the_plain_objective(eps, dtype):
    """The NumPy path of linear_cross_entropy for few classes (blocks, threads,
    transposed logits, one pass over X) against X W^T, the reference loss with its
    gradient, G W and G^T X: same F and gradients."""
    from softmaxkit._fast import numpy as fast_numpy

    rng = np.random.default_rng(5)
    n, d, k = 1000, 7, 5
    X = rng.normal(size=(n, d)).astype(dtype)
    W = rng.normal(size=(k, d)).astype(dtype)
    b = rng.normal(size=k).astype(dtype)
    labels = rng.integers(0, k, n)
    weights = rng.uniform(0, 2, n).astype(dtype)
    weights[::7] = 0  # rows that carry no weight
    # logits overflow to +-inf: that block takes the edge-case route; the row has
    # no weight, so the objective stays finite and comparable entry by entry
    X[3] = np.finfo(dtype).max / 4
    weights[3] = 0
    with np.errstate(over="ignore", invalid="ignore"):
        Z = X @ W.T + b
    assert np.isinf(Z[3]).any()
    with _fast.reference_only():
        loss, G = sk.softmax_cross_entropy_with_grad(
            Z, labels, sample_weight=weights, label_smoothing=eps
        )
    saved = fast_numpy.LINEAR_BLOCK_BYTES
    fast_numpy.LINEAR_BLOCK_BYTES = 64 * d * X.itemsize  # 16 blocks of 64 rows, both threads
    calls = []
    kernel = _fast._REGISTRY[("linear_cross_entropy", "numpy")]

    def spy(*args, **kwargs):
        out = kernel(*args, **kwargs)
        calls.append(out is not NotImplemented)
        return out

    _fast._REGISTRY[("linear_cross_entropy", "numpy")] = spy
    try:
        value, gX, gW, gb = sk.linear_cross_entropy_with_grad(
            X, W, labels, bias=b, sample_weight=weights, label_smoothing=eps
        )
    finally:
        fast_numpy.LINEAR_BLOCK_BYTES = saved
        _fast._REGISTRY[("linear_cross_entropy", "numpy")] = kernel
    assert calls == [True]  # the kernel took the call
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    assert float(value) == pytest.approx(float(loss), rel=rtol)
    assert np.all(np.isfinite(gW))
    G64, X64 = G.astype(np.float64), X.astype(np.float64)
    X64[3] = 0  # its gradient row is 0 (no weight): 0 * huge would be NaN in float32
    # sums of n terms of both signs: the error is relative to the sum of |terms|
    np.testing.assert_array_less(
        np.abs(gW - G64.T @ X64), rtol * (np.abs(G64).T @ np.abs(X64)) + 1e-300
    )
    np.testing.assert_allclose(gb, G.sum(axis=0), rtol=rtol, atol=rtol * np.abs(G).sum())
    np.testing.assert_allclose(gX, G64 @ W, rtol=rtol, atol=rtol * np.abs(G64).sum(1).max())
    assert gW.dtype == dtype
    assert gX.dtype == dtype
