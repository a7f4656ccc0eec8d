"""The classifier's data on Dask collections: a chunked loss, data that stays where it is.

``fit`` with ``lbfgs`` or ``newton-cg``: every objective-and-gradient evaluation
is one Dask computation over the row chunks of ``X``. Each chunk's task gets the
current coefficients (a few kilobytes: the only thing that travels to the
workers each iteration), computes its share of the loss, of ``G^T X`` and of
``sum G`` in one pass over the chunk (:func:`softmaxkit.linear_cross_entropy`),
and a pairwise tree of additions brings one ``(K, d)`` result back. Whatever
scheduler is active runs it: threads, processes, or a ``dask.distributed``
cluster, where Dask recomputes the chunks of a lost worker. On a cluster, Dask
arrays that take at most half of the workers' memory are persisted there for
the fit; anything else (and every DataFrame, whose size is unknown until read)
is read from where it lives at every evaluation. ``X.persist()`` before ``fit``
keeps it in memory in any case.

``sgd`` / ``adam``: chunks are the mini-batches (or ``batch_size`` rows within a
chunk), visited in a new random order every epoch as a chain of tasks that
hand the coefficients on from chunk to chunk; the objective after each epoch
is one more pass. ``partial_fit`` fetches each chunk here and calls
``partial_fit`` on it.

:class:`ChunkedLoss` is the objective of :mod:`._loss` over the chunks, with the
same interface; this module never imports the estimator.

Before the first iteration one pass over ``y`` (and ``sample_weight``) finds the
classes, the total weight and, for ``class_weight="balanced"``, the class counts.
The fitted model is an ordinary in-memory one.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ._loss import Objective, weighted_hessp
from ._solvers import OptimizerState, run_epochs, steps
from ._targets import Targets, label_codes


def is_dask(obj: Any) -> bool:
    """Whether ``obj`` is a Dask collection (array, DataFrame, Series), without importing Dask."""
    module = type(obj).__module__ or ""
    return module.split(".")[0] in ("dask", "dask_expr") and hasattr(obj, "__dask_graph__")


def _as_array(obj: Any, name: str, lengths: Any = True) -> Any:
    """A Dask array from a Dask array, DataFrame or Series (row lengths computed, or
    ``lengths`` given as the partitions' row counts)."""
    import dask.array as da

    if isinstance(obj, da.Array):
        return obj
    if hasattr(obj, "to_dask_array"):
        with warnings.catch_warnings():
            # string labels (a pandas extension dtype) become an object array: wanted
            warnings.filterwarnings("ignore", "Dask currently has limited support", UserWarning)
            return obj.to_dask_array(lengths=lengths)
    raise TypeError(f"expected a Dask array or DataFrame for {name}, got {type(obj).__name__}")


def _check_chunks(a: Any, name: str) -> None:
    if any(math.isnan(c) for c in a.chunks[0]):
        raise ValueError(
            f"expected {name} with known chunk sizes, got unknown ones (NaN): call "
            f"{name}.compute_chunk_sizes(), or to_dask_array(lengths=True) on a DataFrame"
        )


def _rows_like(a: Any, X: Any, name: str) -> Any:
    """``a`` (y or sample_weight) as a 1-D Dask array chunked like the rows of X."""
    import dask.array as da

    if a is None:
        return None
    if not is_dask(a):
        arr = np.asarray(a)
        if arr.ndim != 1 or arr.shape[0] != X.shape[0]:
            raise ValueError(
                f"expected {name} of shape ({X.shape[0]},) like the rows of X, got shape "
                f"{arr.shape}"
            )
        return da.from_array(arr, chunks=(X.chunks[0],))
    a = _as_array(a, name)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ValueError(
            f"expected a 1-D {name} on Dask (class labels; soft targets are not supported "
            f"on Dask), got {a.ndim} dimensions"
        )
    _check_chunks(a, name)
    if a.chunks[0] != X.chunks[0]:
        raise ValueError(
            f"expected {name} chunked like the rows of X, got mismatched row chunking: X has "
            f"{X.chunks[0][:4]}..., {name} has {a.chunks[0][:4]}...; rechunk one to the "
            f"other's chunks"
        )
    return a


def prepare(X: Any, y: Any, sample_weight: Any) -> tuple[Any, Any, Any]:
    """``(X, y, sample_weight)`` as Dask arrays with the same row chunks, X float and
    in one column chunk; clear ``ValueError``/``TypeError`` otherwise."""
    X = _as_array(X, "X")
    if X.ndim != 2:
        raise ValueError(f"expected a 2-D X, got {X.ndim} dimensions")
    _check_chunks(X, "X")
    if X.dtype.kind not in "fiub":
        raise ValueError(f"expected numeric features, got dtype {X.dtype}")
    if X.dtype != np.float32:
        X = X.astype(np.float64)
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})  # features in one chunk; the rows stay as they are
    return X, _rows_like(y, X, "y"), _rows_like(sample_weight, X, "sample_weight")


_Y, _W = "__softmaxkit_target__", "__softmaxkit_weight__"
PERSIST_FRACTION = 0.5  # of the cluster's memory: Dask arrays at most this big are persisted


def _cluster_client() -> Any:
    """The ``dask.distributed`` Client that computes now, or None (threads, processes)."""
    from dask.base import get_scheduler

    client = getattr(get_scheduler(), "__self__", None)
    return client if type(client).__name__ == "Client" else None


def _is_frame(obj: Any) -> bool:
    return is_dask(obj) and hasattr(obj, "columns") and hasattr(obj, "to_delayed")


class _FromFrame:
    """A partition of the combined frame -> ``(X block, labels, weights or None)``."""

    def __init__(self, features: list[Any], dtype: Any) -> None:
        self.features, self.dtype = features, dtype

    def __call__(self, part: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        xb = part[self.features].to_numpy(dtype=self.dtype)
        yb = part[_Y].to_numpy()
        swb = part[_W].to_numpy(dtype=np.float64) if _W in part.columns else None
        return xb, yb, swb


def _from_arrays(xb: Any, yb: Any, swb: Any) -> tuple[Any, Any, Any]:
    return xb, yb, swb


def _apply(
    fn: Callable[..., Any],
    load: Callable[..., Any],
    with_x: bool,
    args: tuple[Any, ...],
    *item: Any,
) -> Any:
    xb, yb, swb = load(*item)
    return fn(xb, yb, swb, *args) if with_x else fn(yb, swb, *args)


def _unique(yb: Any, swb: Any) -> np.ndarray:
    return np.unique(np.asarray(yb))


class Data:
    """The training data as row chunks: ``items`` (delayed) that ``load`` turns into
    ``(X block, labels, weights or None)`` on a worker, plus ``n_features``,
    ``dtype`` and the feature ``names`` (DataFrames).

    A DataFrame X is combined with its y (and sample_weight) into one frame first,
    whose partitions are the chunks: X's and y's rows then always pair up, even
    where Dask would partition two column selections of one Parquet data set
    differently (it merges small partitions after a column projection).
    """

    def __init__(self, X: Any, y: Any, sample_weight: Any) -> None:
        if y is None:
            raise ValueError("expected y, got None")
        self.names: list[str] | None = None
        self.persisted = False
        if _is_frame(X):
            self._frame(X, y, sample_weight)
        else:
            X, y, sw = prepare(X, y, sample_weight)
            X, y, sw = self._persist_if_it_fits(X, y, sw)
            self.n_features, self.dtype = int(X.shape[1]), np.dtype(X.dtype)
            # persisted here: without graph optimisation, as optimising it had the
            # cluster cancel the computation ("lost dependencies")
            opt = not self.persisted
            xs = list(X.to_delayed(optimize_graph=opt).ravel())
            ys = list(y.to_delayed(optimize_graph=opt).ravel())
            ws = [None] * len(xs) if sw is None else list(sw.to_delayed(optimize_graph=opt).ravel())
            self.items = [tuple(t) for t in zip(xs, ys, ws, strict=True)]
            self.load: Callable[..., Any] = _from_arrays

    def _persist_if_it_fits(self, X: Any, y: Any, sw: Any) -> tuple[Any, Any, Any]:
        """On a ``dask.distributed`` cluster, keep the arrays in the workers' memory for
        the whole fit when they take at most ``PERSIST_FRACTION`` of it (their size is
        known; a DataFrame's is not until it is read, so frames are always re-read)."""
        client = _cluster_client()
        if client is None:
            return X, y, sw
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
        memory = sum(float(w.get("memory_limit") or 0) for w in workers)
        size = X.nbytes + y.nbytes + (0 if sw is None else sw.nbytes)
        if not memory or size > PERSIST_FRACTION * memory:
            return X, y, sw
        self.persisted = True
        if sw is None:
            X, y = client.persist([X, y])
            return X, y, None
        X, y, sw = client.persist([X, y, sw])
        return X, y, sw

    def _frame(self, X: Any, y: Any, sample_weight: Any) -> None:
        import pandas as pd

        columns = list(X.columns)
        for name, dtype in zip(columns, X.dtypes, strict=True):
            if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
                raise ValueError(f"expected numeric features, got column {name!r} of dtype {dtype}")
        extra = {}
        for key, value, name in ((_Y, y, "y"), (_W, sample_weight, "sample_weight")):
            if value is None:
                continue
            if not (is_dask(value) and hasattr(value, "to_frame")):
                raise ValueError(
                    f"expected {name} as a column (a Dask Series) of the same DataFrame as X, "
                    f"got {type(value).__name__}"
                )
            extra[key] = value
        try:
            combined = X.assign(**extra)
        except (ValueError, NotImplementedError) as exc:
            raise ValueError(
                f"expected y and sample_weight partitioned like X (columns of the same "
                f"DataFrame), got mismatched row chunking: {exc}"
            ) from None
        all32 = all(np.dtype(d) == np.float32 for d in X.dtypes)
        self.n_features = len(columns)
        self.dtype = np.dtype(np.float32 if all32 else np.float64)
        if all(isinstance(c, str) for c in columns):
            self.names = [str(c) for c in columns]
        self.items = [(part,) for part in combined.to_delayed()]
        self.load = _FromFrame(columns, self.dtype)

    def __len__(self) -> int:
        return len(self.items)

    def map(self, fn: Callable[..., Any], *args: Any, with_x: bool = True) -> Any:
        """``fn(x_i, y_i, sw_i, *args)`` (``fn(y_i, sw_i, *args)`` without X) for each
        chunk, summed as a tree, computed, on whatever scheduler is active. Keys
        are fresh every call (``pure=False``), so nothing is taken from a cache."""
        from dask.base import compute
        from dask.delayed import delayed

        from .._fast.dask import tree_sum

        parts = [
            delayed(_apply, pure=False)(fn, self.load, with_x, args, *item) for item in self.items
        ]
        return compute(tree_sum(parts, _add))[0]

    def classes(self) -> np.ndarray:
        """The sorted distinct labels (one pass over y)."""
        from dask.base import compute
        from dask.delayed import delayed

        parts = [
            delayed(_apply, pure=False)(_unique, self.load, False, (), *item) for item in self.items
        ]
        found = compute(*parts)
        return np.unique(np.concatenate([np.asarray(f) for f in found])) if found else np.array([])

    def class_totals(self, classes: np.ndarray) -> np.ndarray:
        """The sample weight per class (one pass over y and the weights)."""
        (counts,) = self.map(_class_totals, classes, with_x=False)
        return np.asarray(counts, dtype=np.float64)

    def fetch(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Chunk ``i`` here, as NumPy arrays."""
        from dask.base import compute

        xb, yb, swb = compute(_delayed_load(self.load, self.items[i]))[0]
        return np.asarray(xb, dtype=self.dtype), np.asarray(yb), swb


def _delayed_load(load: Callable[..., Any], item: tuple[Any, ...]) -> Any:
    from dask.delayed import delayed

    return delayed(load, pure=False)(*item)


# --------------------------------------------------------------------------------------
# per-chunk tasks (plain functions of NumPy blocks, so any worker can run them)


def _codes_and_weights(
    yb: Any, swb: Any, classes: np.ndarray, dtype: Any
) -> tuple[np.ndarray, np.ndarray]:
    """A chunk's label codes (checked against ``classes``) and sample weights (checked;
    ones when none were given)."""
    codes = label_codes(np.asarray(yb), classes)
    if swb is None:
        return codes, np.ones(len(codes), dtype=dtype)
    w = np.asarray(swb, dtype=dtype)
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("expected sample_weight finite and >= 0")
    return codes, w


def _chunk_targets(yb: Any, swb: Any, classes: np.ndarray, cw: Any, dtype: Any) -> Targets:
    codes, w = _codes_and_weights(yb, swb, classes, dtype)
    return Targets(codes, classes, False, w, None if cw is None else cw.astype(dtype))


def _class_totals(yb: Any, swb: Any, classes: np.ndarray) -> tuple[np.ndarray]:
    """The chunk's sample weight per class (labels checked against ``classes``)."""
    codes, w = _codes_and_weights(yb, swb, classes, np.float64)
    return (np.bincount(codes, weights=w, minlength=len(classes)).astype(np.float64),)


def _chunk_objective(
    xb: np.ndarray,
    yb: Any,
    swb: Any,
    W: np.ndarray,
    b: np.ndarray,
    classes: np.ndarray,
    cw: np.ndarray | None,
    eps: float,
    scale: float,
) -> tuple[float, np.ndarray, np.ndarray]:
    """The chunk's share of the data term: its weighted loss sum and gradients / ``scale``."""
    from ..losses import _linear_objective

    xb = np.ascontiguousarray(xb)
    if not np.all(np.isfinite(xb)):
        raise ValueError("expected finite features, got NaN or inf in X")
    t = _chunk_targets(yb, swb, classes, cw, xb.dtype)
    loss, grad_W, grad_b = _linear_objective(
        xb,
        W.astype(xb.dtype),
        b.astype(xb.dtype),
        t.target,
        class_weight=None,
        sample_weight=t.row_weight,
        label_smoothing=eps,
        reduction="sum",
    )
    return loss / scale, grad_W / scale, grad_b / scale


def _chunk_hessp(
    xb: np.ndarray,
    yb: Any,
    swb: Any,
    W: np.ndarray,
    b: np.ndarray,
    V: np.ndarray,
    vb: np.ndarray,
    classes: np.ndarray,
    cw: np.ndarray | None,
    scale: float,
) -> tuple[np.ndarray, np.ndarray]:
    xb = np.asarray(xb)
    w = _chunk_targets(yb, swb, classes, cw, xb.dtype).row_weight
    return weighted_hessp(xb, w / scale, W, b, V, vb)


def _add(a: Any, b: Any) -> Any:
    return tuple(x + y for x, y in zip(a, b, strict=True))


# --------------------------------------------------------------------------------------
# the objective over the chunks


class ChunkedLoss(Objective):
    """The objective of :mod:`._loss` with the rows in Dask chunks: each evaluation is
    one Dask computation (:meth:`Data.map`) whose tasks get only the coefficients.

    ``total`` is the sum of the row weights (found by :meth:`Data.class_totals`).
    """

    def __init__(
        self,
        data: Data,
        classes: np.ndarray,
        class_weight: np.ndarray | None,
        total: float,
        *,
        alpha: float,
        fit_intercept: bool,
        label_smoothing: float,
        beta: float = 0.0,
    ) -> None:
        super().__init__(
            len(classes),
            data.n_features,
            data.dtype,
            alpha=alpha,
            fit_intercept=fit_intercept,
            beta=beta,
        )
        self.data, self.classes, self.class_weight = data, classes, class_weight
        self.total, self.label_smoothing = float(total), float(label_smoothing)

    def data_terms(self, W: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        loss, gW, gb = self.data.map(
            _chunk_objective,
            W,
            b,
            self.classes,
            self.class_weight,
            self.label_smoothing,
            self.total,
        )
        return float(loss), gW, gb

    def data_hessp(
        self, W: np.ndarray, b: np.ndarray, V: np.ndarray, vb: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        hW, hb = self.data.map(
            _chunk_hessp, W, b, V, vb, self.classes, self.class_weight, self.total
        )
        return hW, hb


def minibatch(
    loss: ChunkedLoss,
    state: OptimizerState,
    *,
    epochs: int,
    batch_size: int | None,
    lr0: float,
    adam: bool,
    tol: float,
    verbose: int,
    label: str,
    curve: list[float],
) -> tuple[np.ndarray, np.ndarray, int]:
    """SGD / Adam with the chunks as mini-batches, in a new order every epoch.

    An epoch is one Dask computation: a chain of tasks, one per chunk, each
    taking the previous task's ``(W, b, optimiser state)``, making its steps on
    its chunk where the chunk is (:func:`._solvers.steps`), and handing the new
    state on. So only the coefficients and the optimiser's moments travel; the
    objective after the epoch is one more pass.
    """
    from dask.base import compute
    from dask.delayed import delayed

    data = loss.data
    rng = state.rng
    config = (
        loss.classes,
        loss.class_weight,
        loss.alpha,
        loss.beta,
        loss.fit_intercept,
        loss.label_smoothing,
    )

    def epoch(done: int) -> tuple[np.ndarray, np.ndarray]:
        nonlocal state
        lr = lr0 / math.sqrt(1.0 + done)
        state.rng = None  # the chain's tasks get their own seeds
        carry: Any = state
        for i in rng.permutation(len(data)):
            seed = int(rng.randint(2**31))
            args = (carry, config, batch_size, lr, adam, seed)
            carry = delayed(_apply, pure=False)(_chunk_steps, data.load, True, args, *data.items[i])
        state = compute(carry)[0]
        state.rng = rng
        return state.result(loss.beta)

    done = run_epochs(
        loss, epoch, epochs=epochs, tol=tol, verbose=verbose, label=label, curve=curve
    )
    W, b = state.result(loss.beta)
    return W, b, done


def _chunk_steps(
    xb: Any,
    yb: Any,
    swb: Any,
    state: OptimizerState,
    config: tuple[np.ndarray, np.ndarray | None, float, float, bool, float],
    batch_size: int | None,
    lr: float,
    adam: bool,
    seed: int,
) -> OptimizerState:
    """One chunk's mini-batch steps (the chunk is one batch unless ``batch_size``)."""
    from ._loss import LinearSoftmaxLoss

    classes, cw, alpha, beta, fit_intercept, eps = config
    dtype = state.W.dtype
    t = _chunk_targets(yb, swb, classes, cw, dtype)
    if len(t.target) == 0:
        return state
    loss = LinearSoftmaxLoss(
        np.asarray(xb, dtype=dtype),
        t,
        alpha=alpha,
        beta=beta,
        fit_intercept=fit_intercept,
        label_smoothing=eps,
    )
    bs = int(batch_size) if batch_size is not None else len(t.target)
    steps(loss, np.random.default_rng(seed).permutation(len(t.target)), bs, lr, state, adam)
    return state


# --------------------------------------------------------------------------------------
# prediction


def logits(X: Any, coef: np.ndarray, intercept: np.ndarray) -> Any:
    """``X W^T + b`` as a lazy Dask array, chunked like the rows of X."""
    import dask.array as da

    X = X if isinstance(X, da.Array) else X.to_dask_array()
    if X.ndim != 2 or X.shape[1] != coef.shape[1]:
        raise ValueError(f"expected X with {coef.shape[1]} features, got shape {tuple(X.shape)}")
    X = X.rechunk({1: -1}) if len(X.chunks[1]) > 1 else X
    return X.map_blocks(
        lambda xb: np.asarray(np.asarray(xb, dtype=coef.dtype) @ coef.T + intercept),
        chunks=(X.chunks[0], (coef.shape[0],)),
        dtype=coef.dtype,
        meta=np.empty((0, 0), dtype=coef.dtype),
    )
