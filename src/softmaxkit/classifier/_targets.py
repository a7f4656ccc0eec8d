"""What the classifier is fitted to: label codes or probability rows, and the weights.

Every row ``i`` has a target (a class code, or a row of class probabilities), a
sample weight ``s_i`` and, through ``class_weight``, a class weight ``c``; its
weight in the objective is ``w_i = s_i c_{y_i}`` (``s_i sum_k P_ik c_k`` for a
soft target, its expected class weight), as in
:func:`softmaxkit.softmax_cross_entropy`. Plain functions on NumPy arrays: the
in-memory fit, ``partial_fit`` and every Dask chunk use the same ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Targets:
    """The encoded targets of some rows and their weights.

    ``target``: intp codes into ``classes`` (shape (n,)) or probabilities (n, K);
    ``sample_weight``: shape (n,); ``class_weight``: one weight per class or None.
    """

    target: np.ndarray
    classes: np.ndarray
    soft: bool
    sample_weight: np.ndarray
    class_weight: np.ndarray | None

    @cached_property
    def row_weight(self) -> np.ndarray:
        """``w_i``: the sample weight times the (expected) class weight of the row
        (computed once: the record is frozen)."""
        return row_weights(self.target, self.soft, self.sample_weight, self.class_weight)

    @cached_property
    def total(self) -> float:
        """``sum_i w_i``, the normaliser of the mean loss."""
        return float(np.sum(self.row_weight, dtype=np.float64))

    def rows(self, index: Any) -> Targets:
        """The same targets restricted to ``index`` (a slice or integer array)."""
        return Targets(
            self.target[index],
            self.classes,
            self.soft,
            self.sample_weight[index],
            self.class_weight,
        )


def label_codes(labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The index in ``classes`` (sorted) of each label; ``ValueError`` for one not there."""
    idx = np.clip(np.searchsorted(classes, labels), 0, len(classes) - 1)
    unknown = classes[idx] != labels
    if np.any(unknown):
        raise ValueError(
            f"expected labels among classes {classes.tolist()}, got {labels[unknown][0]!r}"
        )
    return idx.astype(np.intp)


def is_soft(y: Any) -> bool:
    """Whether ``y`` is given as probability rows (2-D with at least two columns)."""
    y_arr = np.asarray(y)
    return y_arr.ndim == 2 and y_arr.shape[1] >= 2


def encode(y: Any, classes: np.ndarray | None, dtype: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(target, classes, soft)``: integer codes, or a checked probability matrix.

    ``classes=None`` takes the sorted distinct labels of ``y`` (``arange(K)`` for
    probability rows).
    """
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import column_or_1d

    y_arr = np.asarray(y)
    if is_soft(y_arr):
        P = _probabilities(y_arr, dtype)
        k = P.shape[1]
        if classes is not None and len(classes) != k:
            raise ValueError(
                f"expected soft targets with {len(classes)} columns (one per class), got {k}"
            )
        return P, (np.arange(k) if classes is None else classes), True
    y1 = column_or_1d(y, warn=True)
    check_classification_targets(y1)
    if classes is None:
        classes = np.unique(y1)
    return label_codes(y1, classes), classes, False


def _probabilities(y: np.ndarray, dtype: Any) -> np.ndarray:
    if y.dtype.kind not in "fiub":
        raise ValueError(
            f"expected soft targets (a 2-D y) to be numeric probabilities, got dtype {y.dtype}"
        )
    P = y.astype(dtype)
    if not np.all(np.isfinite(P)):
        raise ValueError("expected soft targets without NaN or inf")
    if np.any(P < 0):
        raise ValueError(f"expected soft targets >= 0, got an entry {P.min():g}")
    sums = P.sum(axis=1)
    tol = math.sqrt(np.finfo(dtype).eps)
    bad = np.flatnonzero(np.abs(sums - 1) > tol)
    if bad.size:
        raise ValueError(
            f"expected each row of soft targets to sum to 1, got row {bad[0]} summing to "
            f"{sums[bad[0]]:.6g}"
        )
    return P


def sample_weights(sample_weight: Any, n: int, dtype: Any) -> np.ndarray:
    """Checked sample weights of ``n`` rows: finite, >= 0, not all 0 (ones for None)."""
    if sample_weight is None:
        return np.ones(n, dtype=dtype)
    raw = np.asarray(sample_weight)
    if raw.dtype.kind not in "biuf":  # complex (cast with a warning), text, objects, dates
        raise ValueError(f"expected real numbers for sample_weight, got dtype {raw.dtype}")
    sw = raw.astype(dtype, copy=False)
    if sw.ndim == 0:
        sw = np.full(n, sw, dtype=dtype)
    if sw.shape != (n,):
        raise ValueError(f"expected sample_weight of shape ({n},), got shape {sw.shape}")
    if not np.all(np.isfinite(sw)):
        raise ValueError("expected finite sample_weight, got NaN or inf")
    if np.any(sw < 0):
        raise ValueError(f"expected sample_weight >= 0, got {sw.min():g}")
    if not np.any(sw > 0):
        raise ValueError("expected at least one positive sample_weight, got all zeros")
    return sw.copy()


def class_counts(target: np.ndarray, soft: bool, k: int, sw: np.ndarray) -> np.ndarray:
    """The sample weight per class (expected weight for soft targets), float64."""
    if soft:
        return np.asarray(target.T @ sw, dtype=np.float64)
    return np.bincount(target, weights=sw, minlength=k).astype(np.float64)


def class_weights(
    spec: dict[Any, float] | str | None, classes: np.ndarray, counts: np.ndarray | None, dtype: Any
) -> np.ndarray | None:
    """One weight per class from the ``class_weight`` parameter.

    ``"balanced"`` is scikit-learn's ``N / (K n_k)`` with ``n_k`` the weighted
    ``counts`` of class k and ``N`` their sum (0 for a class without weight);
    a dict is checked against ``classes`` (classes it does not name weigh 1).
    """
    if spec is None:
        return None
    k = len(classes)
    if spec == "balanced":
        assert counts is not None
        with np.errstate(divide="ignore"):
            out = np.where(counts > 0, float(counts.sum()) / (k * counts), 0.0)
        return np.asarray(out, dtype=dtype)
    assert isinstance(spec, dict)
    out = np.ones(k, dtype=dtype)
    for label, weight in spec.items():
        where = np.flatnonzero(classes == label)
        if where.size == 0:
            raise ValueError(
                f"expected class_weight keys among classes {classes.tolist()}, got {label!r}"
            )
        out[where[0]] = weight
    if not np.all(np.isfinite(out)) or np.any(out < 0):
        raise ValueError("expected class_weight values finite and >= 0")
    return out


def build(
    y: Any,
    classes: np.ndarray | None,
    sample_weight: Any,
    class_weight: dict[Any, float] | str | None,
    n: int,
    dtype: Any,
) -> Targets:
    """Encode ``y`` (against ``classes`` when given) and check the weights of ``n`` rows."""
    target, classes, soft = encode(y, classes, dtype)
    sw = sample_weights(sample_weight, n, dtype)
    counts = class_counts(target, soft, len(classes), sw) if class_weight == "balanced" else None
    return Targets(target, classes, soft, sw, class_weights(class_weight, classes, counts, dtype))


def row_weights(
    target: np.ndarray, soft: bool, sw: np.ndarray, cw: np.ndarray | None
) -> np.ndarray:
    """``w_i``: the sample weight times the class weight of the row's class (its expected
    class weight under a soft target)."""
    if cw is None:
        return sw
    return np.asarray(sw * (target @ cw if soft else cw[target]))


# --------------------------------------------------------------------------------------
# row fingerprints: how partial_fit knows the size of the data set it is fed


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on a uint64 array (wrapping arithmetic)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return np.asarray(x ^ (x >> np.uint64(31)))


def _bits(a: np.ndarray) -> np.ndarray:
    """The float64 bit patterns of ``a`` as uint64 (``-0.0`` as ``0.0``)."""
    return np.ascontiguousarray(np.asarray(a, dtype=np.float64) + 0.0).view(np.uint64)


def _row_hashes(X: Any) -> np.ndarray:
    """A 64-bit hash of each row of a dense or sparse ``X``: ``sum_j bits(x_ij) h(j)``
    (mod 2^64) with ``h(j)`` an odd hash of the column, so a zero entry adds nothing
    and dense and sparse rows with the same values hash alike."""
    n, d = X.shape
    cols = _mix(np.arange(d, dtype=np.uint64)) | np.uint64(1)
    if hasattr(X, "indptr"):  # CSR
        terms = _bits(X.data) * cols[X.indices]
        sums = np.concatenate([np.zeros(1, np.uint64), np.cumsum(terms, dtype=np.uint64)])
        return np.asarray(sums[X.indptr[1:]] - sums[X.indptr[:-1]])
    out = np.zeros(n, dtype=np.uint64)
    for start in range(0, d, 256):  # a bounded temporary of n x 256
        block = slice(start, start + 256)
        out += (_bits(X[:, block]) * cols[block]).sum(axis=1, dtype=np.uint64)
    return out


def fingerprints(X: Any, t: Targets) -> np.ndarray:
    """One 64-bit key per row of ``(X, target, sample_weight)``, identical rows told
    apart by their order of occurrence in this call: the ``j``-th copy of a row gets
    the same key whenever it is passed again. So the keys seen so far count the
    rows of a data set fed in pieces, epoch after epoch, once each; two equal rows
    of the data set are both counted as soon as one call holds both. Collisions of
    distinct rows: probability about ``n^2 / 2^64``."""
    h = _row_hashes(X)
    if t.soft:
        h ^= _mix(_row_hashes(t.target))
    else:
        h ^= _mix(np.asarray(t.target, dtype=np.uint64) + np.uint64(0x5BD1E995))
    h = _mix(h ^ _mix(_bits(t.sample_weight)))
    order = np.argsort(h, kind="stable")
    ranked = h[order]
    n = len(h)
    first = np.ones(n, dtype=bool)
    first[1:] = ranked[1:] != ranked[:-1]
    starts = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    occurrence = np.empty(n, dtype=np.uint64)
    occurrence[order] = (np.arange(n) - starts).astype(np.uint64)
    return _mix(h + occurrence * np.uint64(0x9E3779B97F4A7C15))
