"""Dask: the softmax family over chunked class axes, and SoftmaxRegression on Dask data."""

from __future__ import annotations

import math
import threading

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import softmaxkit as sk
from softmaxkit import _fast

da = pytest.importorskip("dask.array")

_EDGE = st.one_of(
    st.floats(-50, 50),
    st.sampled_from([-math.inf, math.inf, math.nan, 1e300, -1e300, 0.0]),
)


def _agree(got, want, ulps=8):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    finite = np.isfinite(want)
    eps = np.finfo(np.float64).eps
    np.testing.assert_allclose(got[finite], want[finite], rtol=ulps * eps, atol=ulps * eps)


@pytest.mark.parametrize("fn", [sk.softmax, sk.log_softmax, sk.logsumexp])
@given(
    x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=12), elements=_EDGE),
    row_chunk=st.integers(1, 12),
    class_chunk=st.integers(1, 12),
)
def test_chunked_class_axis_matches_numpy(fn, x, row_chunk, class_chunk):
    d = da.from_array(x, chunks=(row_chunk, class_chunk))
    out = fn(d, axis=1)
    assert isinstance(out, da.Array)
    _agree(out.compute(scheduler="sync"), fn(x, axis=1))


def test_temperature_mask_and_several_axes():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 6, 10)) * 30
    mask = rng.random(10) < 0.7
    d = da.from_array(x, chunks=(2, 3, 4))
    _agree(
        sk.softmax(d, axis=2, temperature=0.25, where=da.from_array(mask)).compute(),
        sk.softmax(x, axis=2, temperature=0.25, where=mask),
    )
    _agree(
        sk.log_softmax(d, axis=(1, 2), temperature=3.0).compute(),
        sk.log_softmax(x, axis=(1, 2), temperature=3.0),
    )
    _agree(
        sk.logsumexp(d, axis=(0, 2), keepdims=True).compute(),
        sk.logsumexp(x, axis=(0, 2), keepdims=True),
    )


class _Counting:
    """An array-like that counts reads of each chunk (Dask reads chunks by slicing)."""

    def __init__(self, a):
        self.a, self.shape, self.dtype, self.ndim = a, a.shape, a.dtype, a.ndim
        self.reads: dict[tuple, int] = {}
        self._lock = threading.Lock()

    def __getitem__(self, key):
        if all(isinstance(k, slice) for k in key) and np.prod([k.stop - k.start for k in key]) > 0:
            with self._lock:
                where = tuple((k.start, k.stop) for k in key)
                self.reads[where] = self.reads.get(where, 0) + 1
        return self.a[key]


@pytest.mark.parametrize("fn", [sk.softmax, sk.log_softmax, sk.logsumexp])
def test_each_chunk_is_read_once_and_the_class_axis_is_not_rechunked(fn):
    """1000 classes in 10 chunks: one pass over the data, as a tree reduction."""
    x = np.random.default_rng(1).normal(size=(60, 1000)) * 10
    source = _Counting(x)
    d = da.from_array(source, chunks=(20, 100), asarray=True)
    out = fn(d, axis=1)
    assert not any("rechunk" in str(k) for k in dict(out.__dask_graph__()))
    got = out.compute(scheduler="threads")
    assert len(source.reads) == 30  # 3 row chunks x 10 class chunks
    assert set(source.reads.values()) == {1}
    _agree(got, fn(x, axis=1))


def test_reference_reads_are_what_the_fast_path_saves():
    """Context for the test above: the reference (two Dask reductions) on the same
    array gives the same numbers."""
    x = np.random.default_rng(2).normal(size=(30, 200))
    d = da.from_array(x, chunks=(10, 50))
    with _fast.reference_only():
        ref = sk.logsumexp(d, axis=1).compute()
    _agree(sk.logsumexp(d, axis=1).compute(), ref)
