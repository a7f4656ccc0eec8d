"""The compiled core (softmaxkit._fast._core, built by setup.py at install): the same
results as the NumPy path and the reference on every edge, accurate against mpmath,
and a fallback to the NumPy path that is taken and reported when it is not built."""

from __future__ import annotations

import contextlib
import itertools
import subprocess
import sys

import array_api_compat.numpy as xp_numpy
import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import softmaxkit as sk
from _helpers import mp_logsumexp, mp_softmax, to_float, ulp_error
from softmaxkit._fast import numpy as numpy_fast
from softmaxkit.activations import REFERENCES

core = numpy_fast._compiled
needs_core = pytest.mark.skipif(
    core is None, reason=f"the compiled core is not built here: {numpy_fast.compiled_core()}"
)

KINDS = {"softmax": 0, "log_softmax": 1, "logsumexp": 2}
ISA_ORDER = ["baseline", "avx2+fma", "avx512f"]
# the instruction sets this CPU can run the kernels in (the loader picks the last)
ISAS = ["none"] if core is None else ISA_ORDER[: ISA_ORDER.index(core.isa()) + 1]


@contextlib.contextmanager
def _core_setting(setter, value):
    """``setter(value)`` (one of the core's switches, which return the previous
    setting) within the block, the previous setting restored after it."""
    if core is None:
        yield
        return
    previous = setter(value)
    try:
        yield
    finally:
        setter(previous)


def _isa(name):
    """The kernels compiled for ``name`` within the block (each build has three)."""
    return _core_setting(core.isa if core is not None else None, name)


def _numpy_path(monkeypatch, fn, *args, **kwargs):
    """``fn`` with the compiled core switched off (the path a machine without a C
    compiler takes)."""
    with monkeypatch.context() as m:
        m.setattr(numpy_fast, "_compiled", None)
        return fn(*args, **kwargs)


def _with_and_without_core(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with the compiled core (in the instruction set chosen by
    the caller), then on the path without it (a module switch: hypothesis tests
    cannot take the function-scoped ``monkeypatch``)."""
    got = fn(*args, **kwargs)
    numpy_fast._compiled = None
    try:
        return got, fn(*args, **kwargs)
    finally:
        numpy_fast._compiled = core


def _call(name, x, temperature):
    fn = getattr(sk, name)
    if name == "logsumexp":
        return fn(x, axis=-1)
    return fn(x, axis=-1, temperature=temperature)


def _same(a, b, dtype, ulps):
    """Equal NaN and infinity positions, and finite values within ``ulps`` of b's dtype
    (relative, or absolute near 0)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert np.array_equal(np.isnan(a), np.isnan(b))
    assert np.array_equal(a[np.isinf(b)], b[np.isinf(b)])
    finite = np.isfinite(b)
    eps = np.finfo(dtype).eps
    tiny = np.finfo(dtype).tiny
    gap = np.abs(a[finite] - b[finite])
    bound = ulps * eps * np.maximum(np.abs(b[finite]), 1.0 if ulps else tiny)
    assert np.all(gap <= bound), (np.max(gap / np.maximum(bound, tiny)), a, b)


# entries that exercise every branch: the reference's edge cases, huge values (whose
# differences overflow), subnormals, and the edges of exp's range in each dtype
SPECIAL = {
    np.float64: [np.inf, -np.inf, np.nan, 1e300, -1e300, 1.7e308, -1.7e308, 0.0, -0.0,
                 5e-324, 1e-310, 700.0, -745.5, 88.0],
    np.float32: [np.inf, -np.inf, np.nan, 3e38, -3e38, 1e30, 0.0, -0.0, 1e-45, 1e-40,
                 88.0, -103.5, -87.0],
}  # fmt: skip


@st.composite
def logits(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n = draw(st.integers(1, 40))
    # short rows (transposed tiles) and long ones (chunks of 256 lanes, with a tail)
    k = draw(st.one_of(st.integers(1, numpy_fast.COMPILED_K), st.integers(33, 600)))
    finite = st.floats(-50, 50, allow_nan=False, width=32 if dtype == np.float32 else 64)
    special = st.sampled_from(SPECIAL[dtype])
    x = draw(hnp.arrays(dtype, (n, k), elements=st.one_of(finite, finite, finite, special)))
    if draw(st.booleans()):  # ties at the maximum
        x[:, -1] = x[:, 0]
    return x


@needs_core
@pytest.mark.parametrize("isa", ISAS)
@given(x=logits(), name=st.sampled_from(sorted(KINDS)), temperature=st.sampled_from(
    [1.0, 0.5, 3.0, 1e-3, 1e30]))  # fmt: skip
def test_compiled_core_matches_the_numpy_path_and_the_reference(isa, x, name, temperature):
    with np.errstate(all="ignore"):
        reference = REFERENCES[name](
            xp_numpy, x, (1,), True if name == "logsumexp" else temperature, None
        )
    with _isa(isa):
        got, numpy_path = _with_and_without_core(_call, name, x, temperature)
    reference = np.asarray(reference).reshape(np.shape(got))
    _same(got, reference, x.dtype, 8)
    _same(got, numpy_path, x.dtype, 8)


@needs_core
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exponential_is_within_two_ulp_of_mpmath_down_to_the_subnormals(dtype, isa):
    # softmax([0, d]) = [1 / (1 + e^d), e^d / (1 + e^d)]: the second entry carries the
    # kernel's exp(d) through one division; d spans [-770, 0] (float32: [-110, 0]),
    # through the subnormal range to 0. Reference: mpmath at 400 digits.
    low = -770.0 if dtype == np.float64 else -110.0
    d = np.concatenate([np.linspace(low, 0.0, 2001), -np.geomspace(1e-12, 1.0, 200)])
    x = np.stack([np.zeros_like(d), d], axis=1).astype(dtype)
    with _isa(isa):
        got = sk.softmax(x, axis=-1)[:, 1].astype(np.float64)
    ref = np.array([float(mp_softmax([0.0, float(v)])[1]) for v in x[:, 1]])
    ref = ref.astype(dtype).astype(np.float64)  # rounded to the dtype, as the result is
    tiny = np.finfo(dtype).tiny
    normal = ref >= tiny
    err = np.abs(got - ref) / np.spacing(ref.astype(dtype)).astype(np.float64)
    assert np.max(err[normal]) <= 2.0
    # subnormal results: within one subnormal step (they carry fewer digits)
    step = np.finfo(dtype).smallest_subnormal
    assert np.all(np.abs(got[~normal] - ref[~normal]) <= step)


@needs_core
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exponential_is_within_its_stated_error_of_mpmath(dtype, isa):
    # For d <= -38 (float32: -17), 1 + e^d rounds to 1, so softmax([0, d])[1] is the
    # kernel's exp(d) itself: measured against the exact value (mpmath, 60 digits),
    # not its rounding. The bounds are the ones _core.c states: 0.56 ulp for float64's
    # table (AVX-512); 1.5 ulp (within 1 ulp of the correctly rounded result) for the
    # Taylor polynomials, fused or not (measured: 0.80 fused, 1.09 without FMA;
    # float32 0.86 and 1.11).
    if dtype == np.float64:
        near = -38.0 - np.geomspace(1e-9, 600.0, 4000)
        d = np.concatenate([np.linspace(-700.0, -38.0, 40001), near])
    else:
        d = np.linspace(-85.0, -17.0, 40001)
    bound = 0.56 if isa == "avx512f" and dtype == np.float64 else 1.5
    x = np.stack([np.zeros_like(d), d], axis=1).astype(dtype)
    with _isa(isa):
        got = sk.softmax(x, axis=-1)[:, 1].astype(np.float64)
    with mpmath.workdps(60):  # not mpmath.mp.dps = 60: that would leak into later tests
        exact = [mpmath.exp(mpmath.mpf(float(v))) for v in x[:, 1]]
        err = np.array(
            [float(abs(mpmath.mpf(float(g)) - e)) for g, e in zip(got, exact, strict=True)]
        )
    spacing = np.spacing(np.array([float(e) for e in exact]).astype(dtype)).astype(np.float64)
    assert np.max(err / spacing) <= bound


@needs_core
def test_the_exponential_s_table_against_mpmath():
    # _core.c's 2^(j/16) table (AVX-512's float64 exponential), read from the source
    # and recomputed at 300 bits: hi the nearest double, tail the relative rest
    # rounded, adj the bits of hi less j << 48.
    import re
    import struct
    from pathlib import Path

    source = Path(numpy_fast.__file__).with_name("_core.c")
    if not source.exists():
        pytest.skip("_core.c is not installed with the package here")
    text = source.read_text()

    def table(name):
        body = re.search(name + r"\[16\] = \{(.*?)\};", text, re.S).group(1)
        return [v.strip() for v in body.split(",")]

    hi = [float.fromhex(v) for v in table("sk_exp_hi")]
    tail = [float.fromhex(v) for v in table("sk_exp_tail")]
    adj = [int(v.removesuffix("ULL"), 16) for v in table("sk_exp_adj")]
    with mpmath.workprec(300):
        for j in range(16):
            exact = mpmath.mpf(2) ** (mpmath.mpf(j) / 16)
            assert hi[j] == float(exact)  # mpmath rounds to nearest
            assert tail[j] == float((exact - mpmath.mpf(hi[j])) / mpmath.mpf(hi[j]))
            bits = struct.unpack("<Q", struct.pack("<d", hi[j]))[0]
            assert adj[j] == bits - (j << 48)


@needs_core
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_row_gives_the_same_bits_in_any_lane_of_its_tile(isa, dtype):
    # AVX-512's float64 kernels take a tile's rows 8 at a time in vectors written out,
    # and the rest (a tile of rows not a multiple of 8) one at a time: the two must
    # take the same steps. Each row computed within full tiles (vector lanes) and
    # alone (the one-at-a-time steps), bit for bit: a tame tile, and an untame one (a
    # row past the bound, with subnormal exponentials) that takes the general steps.
    rng = np.random.default_rng(5)
    x = rng.normal(scale=20.0, size=(256, 10)).astype(dtype)
    x[128:, 3] = x[128:].max(axis=1) - (720.0 if dtype == np.float64 else 90.0)
    labels = rng.integers(0, 10, size=256)
    with _isa(isa):
        for temperature in (1.0, 0.7):
            for name in ("softmax", "log_softmax", "logsumexp"):
                whole = _call(name, x, temperature)
                alone = np.concatenate([_call(name, x[i : i + 1], temperature) for i in range(256)])
                assert np.array_equal(whole, alone), (name, temperature)
        for eps in (0.0, 0.1):
            whole = sk.softmax_cross_entropy_with_grad(
                x, labels, label_smoothing=eps, reduction="none"
            )
            for i in (0, 7, 100, 130, 255):
                loss, grad = sk.softmax_cross_entropy_with_grad(
                    x[i : i + 1], labels[i : i + 1], label_smoothing=eps, reduction="none"
                )
                assert loss[0] == whole[0][i], (eps, i)
                assert np.array_equal(grad[0], whole[1][i]), (eps, i)


@needs_core
@pytest.mark.parametrize("k", [10, 700])  # a short row (tiles) and a long one (lanes)
def test_float64_rows_within_a_few_ulp_of_mpmath(k):
    rng = np.random.default_rng(7)
    x = rng.normal(scale=8.0, size=(60 if k < 100 else 8, k))
    x[0] = 3.0  # all tied
    x[1, :3] = 500.0  # three tied maxima far above the rest
    # Rows with maximum 0, so that the kernel's x - max is exact: otherwise its rounding
    # (|x - max| eps, the problem's conditioning, as in the reference) is measured too.
    x = x - np.max(x, axis=1, keepdims=True)
    soft = sk.softmax(x, axis=-1)
    logp = sk.log_softmax(x, axis=-1)
    lse = sk.logsumexp(x, axis=-1)
    for row, s, lp, v in zip(x, soft, logp, lse, strict=True):
        assert np.max(ulp_error(s, to_float(mp_softmax(list(row))))) <= 4
        ref = mp_logsumexp(list(row))
        assert ulp_error(np.array([v]), np.array([float(ref)]))[0] <= 2
        # log p = x - lse: the subtraction's rounding is the only error besides lse's
        exact = to_float([mpmath.mpf(float(a)) - ref for a in row])
        assert np.max(np.abs(lp - exact) / np.spacing(np.abs(exact))) <= 4


@needs_core
def test_blocks_on_threads_give_the_one_block_result():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300_000, 10))
    x[12345] = -np.inf  # a flagged row inside one block among many
    x[250_000, 4] = np.nan
    many = sk.softmax(x, axis=-1)
    one = np.empty_like(x)
    flags = np.zeros(len(x), dtype=np.uint8)
    assert core.rows(0, x, one, flags, 1.0) == 2
    assert sorted(np.flatnonzero(flags)) == [12345, 250_000]
    ok = flags == 0
    assert np.array_equal(many[ok], one[ok])
    assert np.all(many[12345] == 0.0)
    assert np.all(np.isnan(many[250_000]))


def test_blocks_meet_at_the_output_s_2mib_pages():
    # The core writes each block's tiles last to first, so that a fresh output's
    # pages are first touched high (docs/performance.md, "Fourth round"); a block
    # that began inside a page would touch it low first. Each block after the first
    # begins at the row holding a page boundary, a block's length near the nominal.
    page = numpy_fast.PAGE_BYTES
    for k, dtype in ((10, np.float64), (7, np.float32), (32, np.float64)):
        out = np.empty((1_000_003, k), dtype=dtype)
        row = out.strides[0]
        nominal = list(range(0, len(out), numpy_fast.COMPILED_BLOCK_BYTES // row))
        starts = numpy_fast._page_starts(nominal, out)
        assert starts[0] == 0
        assert starts[-1] < len(out)
        assert all(a < b for a, b in itertools.pairwise(starts))
        assert abs(len(starts) - len(nominal)) <= 1
        for s in starts[1:]:
            first = out.ctypes.data + s * row  # row s's first byte
            assert (first + row - 1) // page * page >= first  # a boundary in row s
        lengths = np.diff([*starts, len(out)])[:-1]
        assert np.all(np.abs(lengths * row - numpy_fast.COMPILED_BLOCK_BYTES) <= page)
    # outputs whose blocks are under a page (logsumexp's column) keep the nominal blocks
    column = np.empty((1_000_003, 1))
    nominal = list(range(0, len(column), 52_428))
    assert numpy_fast._page_starts(nominal, column) == nominal


@needs_core
def test_cross_entropy_blocks_on_threads_give_the_one_block_result():
    # many page-aligned blocks on the pool against one call of the core
    rng = np.random.default_rng(5)
    x = rng.normal(scale=3.0, size=(300_001, 10))
    labels = rng.integers(0, 10, size=len(x))
    loss, grad = sk.softmax_cross_entropy_with_grad(x, labels, reduction="none")
    one_loss, one_grad = np.empty(len(x)), np.empty_like(x)
    flags = np.zeros(len(x), dtype=np.uint8)
    assert core.ce(x, labels.astype(np.int64), 1.0, None, 0.0, 1.0, one_loss, one_grad, flags) == 0
    assert np.array_equal(loss, one_loss)
    assert np.array_equal(grad, one_grad)


@needs_core
def test_kernel_refuses_what_it_does_not_take():
    x = np.zeros((4, 3))
    flags = np.zeros(4, dtype=np.uint8)
    with pytest.raises(ValueError, match="float32 or float64"):
        core.rows(0, x.astype(np.int64), np.zeros((4, 3), np.int64), flags, 1.0)
    with pytest.raises(ValueError, match="matching dtype and size"):
        core.rows(0, x, np.zeros((4, 3), np.float32), flags, 1.0)
    with pytest.raises(ValueError, match="matching dtype and size"):
        core.rows(2, x, np.zeros(3), flags, 1.0)
    with pytest.raises(ValueError, match="finite T > 0"):
        core.rows(0, x, np.zeros((4, 3)), flags, 0.0)
    with pytest.raises(ValueError, match="kind"):
        core.rows(5, x, np.zeros((4, 3)), flags, 1.0)
    with pytest.raises(ValueError, match="not C-contiguous"):
        core.rows(0, x, np.zeros((4, 3))[:, ::-1], flags, 1.0)  # not contiguous


def test_without_the_compiled_core_the_numpy_path_runs_and_says_so(monkeypatch):
    x = np.random.default_rng(0).normal(size=(1000, 10))
    fallback = _numpy_path(monkeypatch, sk.softmax, x, axis=-1)
    _same(fallback, sk.softmax(x, axis=-1), np.float64, 8)
    code = (
        "import sys; sys.modules['softmaxkit._fast._core'] = None\n"
        "from softmaxkit.cli import main\n"
        "main(['--version'])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"softmaxkit {sk.__version__}"
    assert done.stdout.splitlines()[1].startswith("NumPy path only (the compiled core is not built")


def test_version_names_the_path_in_use():
    done = subprocess.run(
        [sys.executable, "-m", "softmaxkit", "--version"], capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0
    expected = "compiled core" if core is not None else "NumPy path only"
    assert expected in done.stdout


@needs_core
@pytest.mark.parametrize("isa", ISAS)
@given(
    x=logits(),
    eps=st.sampled_from([0.0, 0.1, 1.0]),
    temperature=st.sampled_from([1.0, 0.5, 3.0]),
    reduction=st.sampled_from(["mean", "sum", "none"]),
    seed=st.integers(0, 2**16),
)
def test_compiled_cross_entropy_matches_the_numpy_path(isa, x, eps, temperature, reduction, seed):
    rng = np.random.default_rng(seed)
    n, k = x.shape
    labels = rng.integers(0, k, size=n)
    labels[rng.random(n) < 0.2] = -100  # padded rows
    class_weight = rng.uniform(0.0, 2.0, size=k).astype(x.dtype)
    kw = {"label_smoothing": eps, "temperature": temperature, "reduction": reduction,
              "class_weight": class_weight, "ignore_index": -100}  # fmt: skip
    with np.errstate(all="ignore"), _isa(isa):
        got, numpy_path = _with_and_without_core(
            sk.softmax_cross_entropy_with_grad, x, labels, **kw
        )
    for a, b in zip(got, numpy_path, strict=True):
        _same(a, b, x.dtype, 64)  # sums of up to 40 rows: a few ulp each


@needs_core
def test_compiled_cross_entropy_gradient_is_y_hat_minus_y():
    # result 5 on the compiled path: (softmax - y') / n, against mpmath's softmax
    rng = np.random.default_rng(11)
    x = rng.normal(scale=4.0, size=(50, 10))
    x = x - np.max(x, axis=1, keepdims=True)  # exact shifts (see the mpmath test above)
    labels = rng.integers(0, 10, size=50)
    _, grad = sk.softmax_cross_entropy_with_grad(x, labels, label_smoothing=0.1)
    for row, label, g in zip(x, labels, grad, strict=True):
        p = to_float(mp_softmax(list(row)))
        y = np.full(10, 0.01)
        y[label] += 0.9
        np.testing.assert_allclose(g, (p - y) / 50, rtol=0, atol=4e-18)


@needs_core
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_compiled_loss_per_row_at_the_label_as_the_numpy_path(isa, dtype, temperature):
    # The loss at integer labels, -((x_label - m) / T - log-normaliser), the label's
    # d kept by the exponential's step (8 or 16 lanes a vector under AVX-512, one by
    # one after): per row as the NumPy path, the sign of an exact zero included
    # (-(0 - 0) = -0 where the label holds the only mass, as PyTorch's -log_softmax
    # writes it). 67 rows: whole vectors and a remainder.
    rng = np.random.default_rng(3)
    n, k = 67, 10
    x = rng.normal(scale=3.0, size=(n, k)).astype(dtype)
    labels = rng.integers(0, k, size=n)
    lonely = rng.random(n) < 0.3  # the label holds all the mass: a loss of exactly -0
    x[lonely] = -1e4
    x[lonely, labels[lonely]] = 0.0
    with np.errstate(all="ignore"), _isa(isa):
        got, numpy_path = _with_and_without_core(
            sk.softmax_cross_entropy, x, labels, temperature=temperature, reduction="none"
        )
    assert np.array_equal(np.signbit(got), np.signbit(numpy_path))
    assert np.all(got[lonely] == 0)
    assert np.all(got[~lonely] > 0)
    _same(got, numpy_path, dtype, 4)


@needs_core
def test_compiled_cross_entropy_refuses_labels_out_of_range():
    x = np.zeros((3, 4))
    out = np.zeros(3)
    with pytest.raises(ValueError, match=r"labels in \[0, 4\), got 4"):
        core.ce(x, np.array([0, 4, 1]), np.ones(3), None, 0.0, 1.0, out, None,
                np.zeros(3, np.uint8))  # fmt: skip
    with pytest.raises(ValueError, match=r"labels in \[0, 40\), got 40"):  # a long row
        core.ce(np.zeros((3, 40)), np.array([0, 40, 1]), np.ones(3), None, 0.0, 1.0, out, None,
                np.zeros(3, np.uint8))  # fmt: skip
    with pytest.raises(ValueError, match="transposed: 1 <= K <= 32"):  # (K, n) logits
        core.ce(np.zeros((40, 3)), np.zeros(3, np.int64), np.ones(3), None, 0.0, 1.0, out, None,
                np.zeros(3, np.uint8), True)  # fmt: skip


@needs_core
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("k", [33, 65, 256, 257, 4099])
def test_compiled_long_row_cross_entropy_against_mpmath(isa, dtype, k):
    # Rows of more than 32 classes go to the compiled core one at a time (chunks of 64,
    # 128 or 256 lanes, a tail when K is not a multiple). Called directly, so that a kernel that
    # flagged every row (and left it to the NumPy path) fails here: no row flagged,
    # and the loss -sum_j y'_j log softmax(x / T)_j and the gradient factor f (p - y')
    # against mpmath at 40 digits, for an integer label and a probability row, with
    # and without smoothing, T = 1 and 2, and a weight.
    rng = np.random.default_rng(k)
    n = 3
    x = rng.normal(scale=4.0, size=(n, k)).astype(dtype)
    x[1, 7] = x[1, 3] = np.max(x[1]) + 1  # tied maxima
    labels = rng.integers(0, k, size=n)
    probs = rng.dirichlet(np.full(k, 0.5), size=n)
    probs[rng.random((n, k)) < 0.2] = 0.0  # 0 log 0 = 0
    probs /= probs.sum(axis=1, keepdims=True)
    probs = probs.astype(dtype)
    factor, weights = np.array([0.5, 1.0, 2.0], dtype), np.array([1.0, 0.25, 3.0], dtype)
    tol = 8 * np.finfo(dtype).eps
    for target, eps, T in itertools.product(("labels", "probs"), (0.0, 0.1), (1.0, 2.0)):
        loss, grad = np.full(n, np.nan, dtype), np.full((n, k), np.nan, dtype)
        flags = np.ones(n, np.uint8)
        y_in = labels if target == "labels" else probs
        with _isa(isa):
            flagged = core.ce(x, y_in, factor, weights, eps, T, loss, grad, flags)
        assert flagged == 0
        assert not flags.any()
        with mpmath.workdps(40):
            for i in range(n):
                z = [mpmath.mpf(float(v)) / T for v in x[i]]
                lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in z))
                y = [mpmath.mpf(float(v)) for v in probs[i]] if target == "probs" else [
                    mpmath.mpf(int(j == labels[i])) for j in range(k)]  # fmt: skip
                y = [(1 - eps) * v + eps / k for v in y]  # y' at 40 digits
                ref = -mpmath.fsum(v * (zj - lse) for v, zj in zip(y, z, strict=True) if v)
                ref_loss = float(weights[i] * ref)
                assert abs(float(loss[i]) - ref_loss) <= tol * abs(ref_loss), (target, eps, T)
                p = [mpmath.exp(zj - lse) for zj in z]
                ref_grad = np.array([float(factor[i] * (a - b)) for a, b in zip(p, y, strict=True)])
                # each entry a few roundings of numbers below 1 (times f)
                assert np.max(np.abs(grad[i] - ref_grad)) <= tol * float(factor[i])


@needs_core
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("padded", [True, False])  # False: no weights, one factor for all
@pytest.mark.parametrize("edge", [True, False])
def test_compiled_linear_cross_entropy_matches_the_numpy_path(dtype, eps, padded, edge):
    # The fused layer's epilogue on the transposed (K, rows) logits: the compiled core
    # reads them with strides. A row whose logits overflow to inf (the reference's
    # edge case) sends its block the NumPy way (edge); without one every block is the
    # compiled core's.
    rng = np.random.default_rng(5)
    h = rng.normal(size=(5000, 20)).astype(dtype)
    W = rng.normal(size=(10, 20)).astype(dtype)
    b = rng.normal(size=10).astype(dtype)
    y = rng.integers(0, 10, size=5000)
    if padded:
        y[::7] = -100
    if edge:
        h[4321] = np.finfo(dtype).max / 4  # logits past fmax: +-inf in this row
    kw = {"bias": b, "label_smoothing": eps, "ignore_index": -100}
    with np.errstate(over="ignore", invalid="ignore"):
        got, numpy_path = _with_and_without_core(sk.linear_cross_entropy_with_grad, h, W, y, **kw)
        if not edge:  # per row too
            rows, rows_numpy = _with_and_without_core(
                sk.linear_cross_entropy, h, W, y, reduction="none", **kw
            )
            _same(rows, rows_numpy, dtype, 4)
    for a, c in zip(got, numpy_path, strict=True):
        _same(a, c, dtype, 5000 if dtype == np.float32 else 64)  # sums over 5000 rows


@needs_core
def test_log_normaliser_within_two_ulp_of_mpmath():
    # The core's vectorised log1p: logsumexp([0, d]) = log1p(e^d) for d from -745 to 0
    # (q = e^d from subnormal to 1), rows of up to 32 with the rest summing near 31,
    # and tied maxima (log c + log1p(rest / c)). Reference: mpmath at 400 digits.
    d = np.concatenate([np.linspace(-745.0, 0.0, 3001), -np.geomspace(1e-15, 30.0, 500)])
    rows = [np.array([0.0, v]) for v in d]
    rng = np.random.default_rng(2)
    rows += [np.concatenate([[0.0], -rng.exponential(0.05, size=31)]) for _ in range(200)]
    rows += [np.concatenate([[0.0] * c, -rng.uniform(0, 3, size=32 - c)]) for c in (2, 5, 32)]
    for row in rows:
        got = sk.logsumexp(row[None, :], axis=-1)
        ref = np.array([float(mp_logsumexp(list(row)))])
        assert ulp_error(got, ref)[0] <= 2, (row, got, ref)


@needs_core
@pytest.mark.parametrize("isa", ISAS)
@given(
    x=logits(),
    eps=st.sampled_from([0.0, 0.1, 1.0]),
    temperature=st.sampled_from([1.0, 0.5, 3.0]),
    reduction=st.sampled_from(["mean", "sum", "none"]),
    weighted=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_compiled_cross_entropy_with_probability_targets_matches_the_reference(
    isa, x, eps, temperature, reduction, weighted, seed
):
    # Probability rows (soft labels): Dirichlet rows, some entries exactly 0 (0 log 0 = 0
    # even against a -inf log p), one row one-hot. The oracle is the path without the
    # compiled core: the reference for rows of up to 24 classes, the NumPy path beyond.
    rng = np.random.default_rng(seed)
    n, k = x.shape
    y = rng.dirichlet(np.full(k, 0.5), size=n)
    y[rng.random((n, k)) < 0.2] = 0.0
    y[:, 0] += 1e-3  # no row all 0
    y /= y.sum(axis=1, keepdims=True)
    y[0] = np.eye(k)[rng.integers(k)]
    y = y.astype(x.dtype)
    kw = {"label_smoothing": eps, "temperature": temperature, "reduction": reduction}
    if weighted:
        kw["sample_weight"] = rng.uniform(0.0, 2.0, size=n).astype(x.dtype)
    with np.errstate(all="ignore"), _isa(isa):
        got, oracle = _with_and_without_core(sk.softmax_cross_entropy_with_grad, x, y, **kw)
    for a, b in zip(got, oracle, strict=True):
        _same(a, b, x.dtype, 64)


@needs_core
def test_compiled_probability_targets_against_mpmath():
    # -sum_j y_j log p_j and p - y for soft targets, against mpmath's softmax at
    # 400 digits (exactly shifted rows, as in the tests above).
    rng = np.random.default_rng(12)
    x = rng.normal(scale=4.0, size=(40, 10))
    x = x - np.max(x, axis=1, keepdims=True)
    y = rng.dirichlet(np.ones(10), size=40)
    loss, grad = sk.softmax_cross_entropy_with_grad(x, y, reduction="none")
    for row, yr, l_, g in zip(x, y, loss, grad, strict=True):
        p = to_float(mp_softmax(list(row)))
        with mpmath.workdps(400):
            lse = mp_logsumexp(list(row))
            ref = -mpmath.fsum(
                mpmath.mpf(float(a)) * (mpmath.mpf(float(b)) - lse)
                for a, b in zip(yr, row, strict=True)
            )
        assert ulp_error(np.array([l_]), np.array([float(ref)]))[0] <= 8
        # "none": the rows' sum; p and p - y each rounded once: 2 ulp of 1
        np.testing.assert_allclose(g, p - yr, rtol=0, atol=4.5e-16)


@needs_core
def test_unweighted_route_gives_the_weighted_result_with_weights_one():
    # Without weights the loss takes a route with one gradient factor for every row
    # and no per-row weight arrays; weights of 1 take the weighted route. Same numbers.
    rng = np.random.default_rng(13)
    for dtype in (np.float64, np.float32):
        x = rng.normal(scale=3.0, size=(20_000, 10)).astype(dtype)
        y = rng.integers(0, 10, size=20_000)
        for kw in ({}, {"temperature": 3.0}, {"label_smoothing": 0.1, "reduction": "sum"}):
            plain = sk.softmax_cross_entropy_with_grad(x, y, **kw)
            ones = sk.softmax_cross_entropy_with_grad(
                x, y, sample_weight=np.ones(20_000, dtype), **kw
            )
            for a, b in zip(plain, ones, strict=True):
                assert np.array_equal(a, b)


@needs_core
def test_isa_chooses_among_the_cpu_s_instruction_sets():
    best = core.isa()
    assert best in ISA_ORDER
    assert core.isa("baseline") == best  # returns the previous one
    try:
        assert core.isa() == "baseline"
        with pytest.raises(ValueError, match="instruction sets"):
            core.isa("sse9")
    finally:
        core.isa(best)
    assert f"({best})" in numpy_fast.compiled_core()


def test_numpy_path_soft_loss_does_not_overflow_where_the_reference_does_not(monkeypatch):
    # Found by the probability-target test above: 25 classes, one logit 1.7e308 and the
    # rest 0, smoothing 0.1. The true loss, sum_j y'_j (m - x_j) + ..., is about 1.6e307;
    # the NumPy path summed log p alone first (24 x -1.7e308: -inf) and said inf. The
    # oracle is the reference's term-by-term sum, written out here in float64.
    x = np.zeros((1, 25))
    x[0, 0] = 1.7e308
    y = np.full((1, 25), 1.0 / 25)
    yb = 0.9 * y + 0.1 / 25
    logp = x - 1.7e308  # log p: 0 at the maximum, -1.7e308 elsewhere (exp underflows)
    expected = -np.sum(yb * logp)
    assert np.isfinite(expected)
    fn, kw = sk.softmax_cross_entropy_with_grad, {"label_smoothing": 0.1, "reduction": "sum"}
    got, _ = _numpy_path(monkeypatch, fn, x, y, **kw)
    np.testing.assert_allclose(got, expected, rtol=1e-15)
    if core is not None:
        np.testing.assert_allclose(fn(x, y, **kw)[0], expected, rtol=1e-15)


def _tame(on):
    """Tame tiles' quicker steps (one-step 2^n, the division by multiply-adds) on or off
    within the block."""
    return _core_setting(core.tame if core is not None else None, on)


def _tame_and_general(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with tame tiles' quicker steps, then with the general ones."""
    with _tame(True):
        quick = fn(*args, **kwargs)
    with _tame(False):
        general = fn(*args, **kwargs)
    return quick, general


@needs_core
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tame_tiles_give_the_bits_of_the_general_steps(isa, dtype):
    # The quicker steps claim the same bits, not a few ulp: one-step 2^n equals the
    # two-step product for normal results, and the multiply-add quotient is the
    # correctly rounded division (Markstein). Compared bit for bit over millions of
    # quotients e / (c + rest): spreads from 0.1 to the tame bound, ties, 1 to 32
    # classes, temperatures; tiles with a row past the bound take the general steps.
    rng = np.random.default_rng(17)
    bound = 600.0 if dtype == np.float64 else 60.0
    with _isa(isa):
        for k in (1, 2, 3, 5, 10, 17, 32):
            n = 2_000_000 // k // (1 if isa == ISAS[-1] else 8)
            spread = rng.choice([0.1, 3.0, 30.0, bound * 0.999], size=(n, 1))
            x = rng.uniform(-1.0, 0.0, size=(n, k)) * spread + rng.normal(size=(n, 1)) * 100
            x = x.astype(dtype)
            x[::7, -1] = x[::7, 0]  # ties at the maximum
            x[5::1000, 0] = x[5::1000, -1] - 2 * bound  # an untame row in some tiles
            for temperature in (1.0, 0.7, 2.5):
                for name in ("softmax", "log_softmax"):
                    quick, general = _tame_and_general(_call, name, x, temperature)
                    assert np.array_equal(quick, general), (name, k, temperature)
            labels = rng.integers(0, k, size=n)
            probs = sk.softmax(rng.normal(size=(n, k)).astype(dtype), axis=-1)
            for target, eps in ((labels, 0.0), (labels, 0.1), (probs, 0.1)):
                quick, general = _tame_and_general(
                    sk.softmax_cross_entropy_with_grad, x, target, label_smoothing=eps,
                    reduction="none",
                )  # fmt: skip
                assert np.array_equal(quick[0], general[0]), (k, eps)  # the losses
                assert np.array_equal(quick[1], general[1]), (k, eps)  # the gradients


@needs_core
def test_tame_switch_reports_and_restores():
    assert core.tame() is True
    assert core.tame(False) is True
    assert core.tame() is False
    assert core.tame(True) is False
    assert core.tame() is True


@needs_core
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_nan_off_the_first_class_makes_its_tile_untame(dtype):
    # regression: the tile's minimum skipped a NaN as its maximum does, so a tile
    # with a NaN after the first class passed as tame and its row went unflagged
    x = np.random.default_rng(2).normal(size=(300, 7)).astype(dtype)
    x[3, 2] = np.nan
    flags = np.zeros(300, dtype=np.uint8)
    assert core.rows(0, x, np.empty_like(x), flags, 1.0) == 1
    assert np.flatnonzero(flags).tolist() == [3]
    # the reference gives a row without weight a zero gradient, NaN or not
    labels = np.zeros(300, dtype=int)
    labels[3] = -100
    loss, grad = sk.softmax_cross_entropy_with_grad(x, labels, reduction="none", ignore_index=-100)
    assert loss[3] == 0.0
    assert np.all(grad[3] == 0.0)
    assert np.all(np.isfinite(grad))
