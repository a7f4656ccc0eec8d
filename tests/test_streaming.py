"""softmaxkit.streaming: the (max, count, rest) state, chunk by chunk, against one pass."""

from __future__ import annotations

import math
import random

import hypothesis.extra.numpy as hnp
import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import softmaxkit as sk
from softmaxkit.streaming import LogSumExpState, merge

_EDGE = st.one_of(
    st.floats(-50, 50),
    st.sampled_from([-math.inf, math.inf, math.nan, 1e300, -1e300, 0.0, -745.0]),
)


def _agree(got, want, dtype=np.float64, ulps=8):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    finite = np.isfinite(want)
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(got[finite], want[finite], rtol=ulps * eps, atol=ulps * eps)


def _split(k, cuts):
    """Chunk boundaries of a length-k axis: sorted cut points, empty chunks allowed."""
    points = sorted(min(c, k) for c in cuts)
    return list(zip([0, *points], [*points, k], strict=True))


@given(
    x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=9), elements=_EDGE),
    cuts=st.lists(st.integers(0, 9), max_size=4),
    seed=st.integers(0, 2**16),
)
def test_chunked_state_is_the_one_pass_logsumexp(x, cuts, seed):
    """Any split of the class axis (empty pieces too), merged in any order and
    any tree shape, gives logsumexp, softmax and log_softmax of the whole rows."""
    bounds = _split(x.shape[1], cuts)
    states = [LogSumExpState.from_chunk(x[:, a:b]) for a, b in bounds]
    random.Random(seed).shuffle(states)
    sequential = merge(*states)
    while len(states) > 1:  # a pairwise tree, as Dask reduces
        states = [merge(*states[i : i + 2]) for i in range(0, len(states), 2)]
    for state in (sequential, states[0]):
        _agree(state.logsumexp(), sk.logsumexp(x, axis=1))
        soft = np.concatenate([state.softmax(x[:, a:b]) for a, b in bounds], axis=1)
        _agree(soft, sk.softmax(x, axis=1))
        log_soft = np.concatenate([state.log_softmax(x[:, a:b]) for a, b in bounds], axis=1)
        _agree(log_soft, sk.log_softmax(x, axis=1))


def test_tiny_tail_survives_the_merge():
    """The 1e-61 tail of linspace(-700, 700, 11), split one entry per chunk: the
    log-softmax of the largest entry is -sum_{i<10} exp(x_i - 700), which
    log(c + r) would round to 0. Oracle: mpmath at 400 digits."""
    x = np.linspace(-700.0, 700.0, 11)
    state = merge(*(LogSumExpState.from_chunk(x[i : i + 1]) for i in range(11)))
    mpmath.mp.dps = 400
    want_lse = mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(float(v))) for v in x))
    assert float(state.logsumexp()) == float(want_lse)
    got = float(state.log_softmax(x[10:])[0])
    want = float(mpmath.mpf(700) - want_lse)
    assert got == pytest.approx(want, rel=4 * np.finfo(float).eps)
    assert got < 0  # -1.0e-61, not 0


def test_edge_states():
    empty = LogSumExpState.empty((3,))
    assert np.array_equal(empty.logsumexp(), [-np.inf] * 3)
    rows = np.array([[-np.inf, -np.inf], [np.inf, 1.0], [np.nan, 1.0]])
    state = empty.update(rows[:, :1]).update(rows[:, 1:]).update(np.zeros((3, 0)))
    lse = state.logsumexp()
    assert lse[0] == -np.inf
    assert lse[1] == np.inf
    assert np.isnan(lse[2])
    np.testing.assert_array_equal(state.softmax(rows[:, :1])[:2], [[0.0], [1.0]])
    # two +inf entries in different chunks share the mass equally
    two = merge(
        LogSumExpState.from_chunk(np.array([np.inf, 3.0])),
        LogSumExpState.from_chunk(np.array([np.inf])),
    )
    assert float(two.softmax(np.array([np.inf]))[0]) == 0.5


def test_float32_and_other_axes():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 6, 5)).astype(np.float32) * 30
    state = merge(
        LogSumExpState.from_chunk(x[:, :2], axis=1), LogSumExpState.from_chunk(x[:, 2:], axis=1)
    )
    assert state.logsumexp().dtype == np.float32
    _agree(state.logsumexp(), sk.logsumexp(x, axis=1), np.float32)
    _agree(state.softmax(x[:, 2:], axis=1), sk.softmax(x, axis=1)[:, 2:], np.float32)


def test_bad_input():
    a = LogSumExpState.from_chunk(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="same rows"):
        a.merge(LogSumExpState.from_chunk(np.zeros((3, 3))))
    with pytest.raises(TypeError, match="LogSumExpState"):
        a.merge(np.zeros(2))
    with pytest.raises(ValueError, match="at least one"):
        merge()
    with pytest.raises(ValueError, match="rows"):
        a.softmax(np.zeros((3, 1)))
    with pytest.raises(TypeError):
        LogSumExpState.from_chunk([1.0, 2.0])


def test_every_backend(xp):
    x = np.random.default_rng(1).normal(size=(3, 8)) * 10
    chunks = [xp.asarray(x[:, :3]), xp.asarray(x[:, 3:])]
    state = merge(*(LogSumExpState.from_chunk(c) for c in chunks))
    _agree(xp.to_numpy(state.logsumexp()), sk.logsumexp(x))
    _agree(xp.to_numpy(state.softmax(chunks[1])), sk.softmax(x)[:, 3:])
