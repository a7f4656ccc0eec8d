r"""Log-sum-exp over data that arrives in pieces: a state, its update and its merge.

The normaliser of a softmax row is ``sum_i exp(x_i)``. Kept as the triple

.. math::

    (m,\ c,\ r), \qquad m = \max_i x_i,\quad c = \#\{i : x_i = m\},\quad
    r = \sum_{i:\, x_i < m} e^{x_i - m},

it is the state of the online normaliser (Milakov and Gimelshein, 2018) with
the count of maxima split off as in :func:`softmaxkit.logsumexp`, so that the
log-sum-exp ``m + log(c) + log1p(r / c)`` of a merged state is that of the
whole row to a few ulp (the tiny tail that ``log(c + r)`` would round away is
kept). Two states merge associatively and commutatively: the larger maximum
wins, and the other state's ``c + r`` joins ``r`` scaled by ``exp(m' - m)``.
So a row split over chunks, threads, processes or a Dask tree reduction gives
the same answer as one pass over it, whatever the order.

Edge cases are those of the core functions: an empty or all ``-inf`` state is
``(-inf, 0, 0)`` and its log-sum-exp ``-inf``; a ``+inf`` entry makes ``m =
+inf`` and ``c`` the number of ``+inf`` entries (the softmax limit is uniform
over them); a NaN makes the state NaN and stays NaN through every merge.

References
----------
M. Milakov and N. Gimelshein, "Online normalizer calculation for softmax",
arXiv:1805.02867, 2018.

Examples
--------
>>> import numpy as np
>>> from softmaxkit.streaming import LogSumExpState
>>> x = np.array([[0.0, -40.0, 3.0, 1000.0], [1.0, 2.0, 3.0, 4.0]])
>>> state = LogSumExpState.empty((2,))
>>> for chunk in (x[:, :1], x[:, 1:3], x[:, 3:]):   # the class axis in three pieces
...     state = state.update(chunk)
>>> state.logsumexp().tolist() == [1000.0, 4.440189698561196]
True
>>> np.allclose(state.softmax(x[:, 3:]), [[1.0], [0.6439142598879722]])
True
"""

from __future__ import annotations

import math
from typing import Any

from ._array import Array, Axis, Namespace, as_float, const, namespace, normalize_axis
from .activations import _shift_by

__all__ = ["LogSumExpState", "merge"]


class LogSumExpState:
    """The running ``(max, count, rest)`` of the rows of a log-sum-exp (see the module).

    Build one with :meth:`empty` or :meth:`from_chunk`, add data with
    :meth:`update`, combine partial states with :meth:`merge` (or the module's
    :func:`merge`), and read :meth:`logsumexp`; a second pass over the data can
    then produce :meth:`softmax` and :meth:`log_softmax` chunk by chunk. States
    are immutable: every operation returns a new one. The three arrays have the
    shape of the rows (the data's shape without the reduced axes) and the data's
    floating dtype; ``count`` is a float (exact below 2**24 maxima in float32).
    """

    __slots__ = ("count", "max", "rest")

    def __init__(self, max: Array, count: Array, rest: Array) -> None:
        self.max, self.count, self.rest = max, count, rest

    def __repr__(self) -> str:
        return f"LogSumExpState(max={self.max!r}, count={self.count!r}, rest={self.rest!r})"

    @classmethod
    def empty(cls, shape: tuple[int, ...] = (), *, like: Array | None = None) -> LogSumExpState:
        """The state of no data: ``(-inf, 0, 0)`` for each row.

        ``like`` gives the library, dtype and device (default: NumPy float64).
        """
        if like is None:
            import numpy as np

            like = np.zeros((), dtype=np.float64)
        xp = namespace(("like", like))
        like = as_float(xp, like, "like")
        m = xp.full(shape, -math.inf, dtype=like.dtype, device=_device(like))
        zero = xp.zeros(shape, dtype=like.dtype, device=_device(like))
        return cls(m, zero, xp.zeros_like(zero))

    @classmethod
    def from_chunk(cls, x: Array, /, *, axis: Axis = -1) -> LogSumExpState:
        """The state of one chunk of every row: ``x`` reduced over ``axis``."""
        xp = namespace(("x", x))
        x = as_float(xp, x)
        axes = normalize_axis(axis, x.ndim)
        m, count, rest = _chunk_state(xp, x, axes, 1.0)
        return cls(*(_squeeze(xp, a, axes) for a in (m, count, rest)))

    def update(self, x: Array, /, *, axis: Axis = -1) -> LogSumExpState:
        """This state with the chunk ``x`` of every row added."""
        return self.merge(LogSumExpState.from_chunk(x, axis=axis))

    def merge(self, other: LogSumExpState) -> LogSumExpState:
        """The state of this state's data and ``other``'s together."""
        if not isinstance(other, LogSumExpState):
            raise TypeError(f"expected a LogSumExpState, got {type(other).__name__}")
        xp = namespace(("state", self.max), ("other", other.max))
        if tuple(self.max.shape) != tuple(other.max.shape):
            raise ValueError(
                "expected states of the same rows, got shapes "
                f"{tuple(self.max.shape)} and {tuple(other.max.shape)}"
            )
        parts = (xp.stack([a, b]) for a, b in zip(self.arrays, other.arrays, strict=True))
        m, count, rest = _merge_states(xp, *parts, axes=(0,), temperature=1.0)
        return LogSumExpState(*(xp.squeeze(a, axis=0) for a in (m, count, rest)))

    @property
    def arrays(self) -> tuple[Array, Array, Array]:
        """``(max, count, rest)``."""
        return self.max, self.count, self.rest

    def logsumexp(self) -> Array:
        """``m + log(c) + log1p(r / c)`` per row: ``-inf`` for no data or all ``-inf``."""
        xp = namespace(("state", self.max))
        return _log_normaliser(xp, *self.arrays)

    def softmax(self, x: Array, /, *, axis: Axis = -1) -> Array:
        """``exp(x - m) / (c + r)`` for a chunk ``x`` of the rows this state summed
        (the rows' shape with the chunk's class entries along ``axis``), as
        :func:`softmaxkit.softmax` computes it for the whole row."""
        xp, x, axes = self._chunk(x, axis)
        m, c, r = (_expand(xp, a, axes) for a in self.arrays)
        return _softmax(xp, x, m, c, r, 1.0)

    def log_softmax(self, x: Array, /, *, axis: Axis = -1) -> Array:
        """``(x - m) - (log(c) + log1p(r / c))`` for a chunk ``x`` of the rows."""
        xp, x, axes = self._chunk(x, axis)
        m, c, r = (_expand(xp, a, axes) for a in self.arrays)
        return _log_softmax(xp, x, m, c, r, 1.0)

    def _chunk(self, x: Array, axis: Axis) -> tuple[Namespace, Array, tuple[int, ...]]:
        xp = namespace(("x", x), ("state", self.max))
        x = as_float(xp, x)
        axes = normalize_axis(axis, x.ndim)
        rows = tuple(n for i, n in enumerate(x.shape) if i not in axes)
        if rows != tuple(self.max.shape):
            raise ValueError(
                f"expected a chunk whose rows have the state's shape {tuple(self.max.shape)}, "
                f"got shape {tuple(x.shape)} reduced over axis {axis!r}"
            )
        return xp, x, axes


def merge(*states: LogSumExpState) -> LogSumExpState:
    """The state of all the data of ``states`` (at least one), in any order."""
    if not states:
        raise ValueError("expected at least one LogSumExpState, got none")
    out = states[0]
    for s in states[1:]:
        out = out.merge(s)
    return out


# --------------------------------------------------------------------------------------
# array-level pieces, shared with the Dask tree reduction (softmaxkit._fast.dask)


def _device(x: Array) -> Any:
    from ._array import device

    return device(x)


def _chunk_state(
    xp: Namespace, x: Array, axes: tuple[int, ...], temperature: float
) -> tuple[Array, Array, Array]:
    """``(m, c, r)`` of ``x`` over ``axes`` (keepdims), for the logits divided by
    ``temperature`` as the core functions do: ``d = (x - m) / T``."""
    if any(x.shape[a] == 0 for a in axes):
        shape = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
        m = xp.full(shape, -math.inf, dtype=x.dtype, device=_device(x))
        zero = xp.zeros(shape, dtype=x.dtype, device=_device(x))
        return m, zero, xp.zeros_like(zero)
    m = xp.max(x, axis=axes, keepdims=True)
    d = _shift_by(xp, x, m, temperature)
    top = d == 0
    count = xp.sum(xp.astype(top, x.dtype), axis=axes, keepdims=True)
    rest = xp.sum(xp.where(top, const(xp, 0.0, d), xp.exp(d)), axis=axes, keepdims=True)
    return m, count, rest


def _merge_states(
    xp: Namespace,
    m: Array,
    count: Array,
    rest: Array,
    *,
    axes: tuple[int, ...],
    temperature: float,
) -> tuple[Array, Array, Array]:
    """Merge the states laid side by side along ``axes`` (keepdims)."""
    nan = xp.any(xp.isnan(m), axis=axes, keepdims=True)
    top = xp.max(xp.where(xp.isnan(m), const(xp, -math.inf, m), m), axis=axes, keepdims=True)
    at_top = m == top
    zero = const(xp, 0.0, m)
    # each state below the top: all its mass, scaled by exp((m_i - M) / T)
    scale = xp.exp(_shift_by(xp, m, top, temperature))
    moved = xp.where(at_top, rest, (count + rest) * xp.where(at_top, zero, scale))
    new_count = xp.sum(xp.where(at_top, count, zero), axis=axes, keepdims=True)
    new_rest = xp.sum(moved, axis=axes, keepdims=True)
    nan_value = const(xp, math.nan, m)
    return (
        xp.where(nan, nan_value, top),
        xp.where(nan, zero, new_count),
        xp.where(nan, nan_value, new_rest),
    )


def _total(xp: Namespace, count: Array, rest: Array) -> Array:
    """``c + r``, with 1 for no maximum (all ``-inf``: softmax 0, log-sum-exp ``-inf``)."""
    count = xp.where(count == 0, const(xp, 1.0, count), count)
    return count + rest


def _log_normaliser(xp: Namespace, m: Array, count: Array, rest: Array) -> Array:
    """``m + log(c) + log1p(r / c)``, the log-sum-exp of the state."""
    c = xp.where(count == 0, const(xp, 1.0, count), count)
    return m + (xp.log(c) + xp.log1p(rest / c))


def _softmax(
    xp: Namespace, x: Array, m: Array, count: Array, rest: Array, temperature: float
) -> Array:
    """``exp((x - m) / T) / (c + r)`` for a chunk of rows whose merged state (broadcast
    against ``x``) is ``(m, c, r)``, as :func:`softmaxkit.softmax` forms it."""
    return xp.exp(_shift_by(xp, x, m, temperature)) / _total(xp, count, rest)


def _log_softmax(
    xp: Namespace, x: Array, m: Array, count: Array, rest: Array, temperature: float
) -> Array:
    """``(x - m) / T - (log(c) + log1p(r / c))`` for a chunk of rows (see :func:`_softmax`)."""
    return _shift_by(xp, x, m, temperature) - _log_normaliser(xp, xp.zeros_like(m), count, rest)


def _expand(xp: Namespace, a: Array, axes: tuple[int, ...]) -> Array:
    for ax in sorted(axes):
        a = xp.expand_dims(a, axis=ax)
    return a


def _squeeze(xp: Namespace, a: Array, axes: tuple[int, ...]) -> Array:
    return xp.squeeze(a, axis=axes) if axes else a
