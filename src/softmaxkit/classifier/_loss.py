r"""The classifier's objective, written once: value, gradient, Hessian-vector product.

For weights ``W`` (K x d) and intercepts ``b``:

.. math::

    F(W, b) = \frac{\sum_i w_i\, \ell_i(W x_i + b)}{\sum_i w_i}
              + \alpha\, \frac{\lVert W \rVert_F^2}{2},
    \qquad \alpha = \frac{m}{C \sum_i w_i}

with ``l_i`` the softmax cross-entropy of row i, ``w_i`` its weight
(:mod:`._targets`), and ``m = 1`` for three or more classes, ``m = 2`` for two.
Two classes: the loss depends on ``W`` only through ``w = W_1 - W_0``, and at
the optimum ``W_1 = -W_0 = w / 2``, so ``||W||^2 = ||w||^2 / 2``; with ``m = 2``
the penalty is ``||w||^2 / (2 C sum w_i)``, the binary
``LogisticRegression(C)``'s, and the two models give the same probabilities.

The data term and its gradients come from
:func:`softmaxkit.linear_cross_entropy`'s engine (the logits never held whole);
its gradient in the logits is ``w_i (y_hat_i - y_i) / sum(w)``. The penalty is
:func:`penalty` and nowhere else.

:class:`Objective` holds what every data source shares (the packing of ``(W, b)``
into the flat vector the solvers see, the penalty); :class:`LinearSoftmaxLoss`
is the objective on rows in memory, and the Dask module gives the same
interface over row chunks (:class:`._dask.ChunkedLoss`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..activations import softmax
from ..jacobian import softmax_jvp
from ..losses import LOGITS_BUDGET, _linear_objective, _terms, softmax_cross_entropy_with_grad
from ._targets import Targets


def is_sparse(X: Any) -> bool:
    """Whether ``X`` is a SciPy sparse matrix or array (without importing SciPy)."""
    return type(X).__module__.startswith("scipy.sparse") and hasattr(X, "nnz")


def penalty_strength(C: float, total: float, k: int, l1_ratio: float = 0.0) -> tuple[float, float]:
    """``(alpha, beta)``: the weights of ``||W||^2 / 2`` and ``||W||_1`` in F.

    ``alpha = m (1 - r) / (C sum_i w_i)`` and ``beta = r / (C sum_i w_i)`` with ``r``
    the ``l1_ratio`` (scikit-learn's elastic net) and ``m = 2`` for ``k = 2``
    classes, else 1: for two classes the loss sees only ``w = W_1 - W_0``, whose
    optimum has ``W_1 = -W_0 = w / 2``, so ``m ||W||^2 / 2 = ||w||^2 / 2`` and
    ``||W||_1 = ||w||_1``: the binary ``LogisticRegression(C)``'s penalty. Both 0 for
    ``C = inf``.
    """
    if math.isinf(C):
        return 0.0, 0.0
    scale = 1.0 / (float(C) * total)
    m = 2.0 if k == 2 else 1.0
    return m * (1.0 - l1_ratio) * scale, l1_ratio * scale


def soft_threshold(U: np.ndarray, t: Any) -> np.ndarray:
    """``sign(u) max(|u| - t, 0)``: the proximal map of ``t ||.||_1`` (``t`` may be an
    array of per-entry thresholds)."""
    return np.asarray(np.sign(U) * np.maximum(np.abs(U) - t, 0.0))


def l1_subgradient(G: np.ndarray, W: np.ndarray, beta: float) -> np.ndarray:
    """The smallest subgradient of ``f + beta ||W||_1`` given ``G = grad f``: ``G + beta
    sign(W)`` where ``W != 0``, ``sign(G) max(|G| - beta, 0)`` where ``W = 0``; zero
    exactly at a minimum, so its largest entry measures the distance from one."""
    if beta == 0:
        return G
    return np.where(W != 0, G + beta * np.sign(W), soft_threshold(G, beta))


def penalty(W: np.ndarray, alpha: float, out: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """``(alpha ||W||^2 / 2, alpha W)``: the penalty and its gradient (written into
    ``out`` when given)."""
    grad = np.multiply(W, alpha, out=out)
    return (0.5 * alpha * float(np.vdot(W, W)) if alpha else 0.0), grad


def weighted_hessp(
    X: Any, w: np.ndarray, W: np.ndarray, b: np.ndarray, V: np.ndarray, vb: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The data term's Hessian at ``(W, b)`` applied to ``(V, vb)``, rows weighted by
    ``w``: per row the softmax Jacobian ``diag(s) - s s^T`` applied to the change of
    logits ``x V^T + vb``, then ``(R^T X, sum R)``. ``X`` dense or sparse; shared by
    the in-memory loss (row blocks) and each Dask chunk."""
    S = softmax(np.asarray(X @ W.T) + b)
    R = w[:, None] * softmax_jvp(S, np.asarray(X @ V.T) + vb)
    return np.asarray(X.T @ R).T, R.sum(axis=0)


class Objective:
    """``F = data term + penalty`` as the solvers see it: a function of one flat float64
    vector (``W`` row by row, then ``b`` when the intercept is fitted).

    Subclasses give the data term: :meth:`data_terms` (value and gradients, each
    a mean over the total weight) and :meth:`data_hessp`.
    """

    def __init__(
        self,
        k: int,
        n_features: int,
        dtype: Any,
        *,
        alpha: float,
        fit_intercept: bool,
        beta: float = 0.0,
    ) -> None:
        self.k, self.n_features, self.dtype = k, n_features, np.dtype(dtype)
        self.alpha, self.fit_intercept = float(alpha), bool(fit_intercept)
        self.beta = float(beta)  # the weight of ||W||_1: the solvers handle it (prox)

    # packing ---------------------------------------------------------------------------

    def unpack(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        params = np.asarray(params, dtype=self.dtype)
        size = self.k * self.n_features
        W = params[:size].reshape(self.k, self.n_features)
        b = params[size:] if self.fit_intercept else np.zeros(self.k, dtype=self.dtype)
        return W, b

    def pack(self, W: np.ndarray, b: np.ndarray) -> np.ndarray:
        parts = [np.ravel(W)] + ([b] if self.fit_intercept else [])
        return np.concatenate(parts, dtype=np.float64)

    # the data term ---------------------------------------------------------------------

    def data_terms(self, W: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def data_hessp(
        self, W: np.ndarray, b: np.ndarray, V: np.ndarray, vb: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    # F ---------------------------------------------------------------------------------

    def value(self, W: np.ndarray, b: np.ndarray) -> float:
        """F at ``(W, b)``, with the L1 term."""
        loss, _, _ = self.data_terms(W, b)
        return loss + penalty(W, self.alpha)[0] + self.beta * float(np.abs(W).sum())

    def value_and_stationarity(self, W: np.ndarray, b: np.ndarray) -> tuple[float, float]:
        """F and the largest entry of its smallest subgradient (the gradient when there
        is no L1 term): 0 exactly at the minimum. One pass over the data."""
        loss, gW, gb = self.data_terms(W, b)
        pen, gpen = penalty(W, self.alpha)
        g = l1_subgradient(gW + gpen, W, self.beta)
        largest = float(np.max(np.abs(g), initial=0.0))
        if self.fit_intercept:
            largest = max(largest, float(np.max(np.abs(gb), initial=0.0)))
        return loss + pen + self.beta * float(np.abs(W).sum()), largest

    def loss_gradient(self, params: np.ndarray) -> tuple[float, np.ndarray]:
        """``(F, dF/dparams)`` of the smooth part (no L1 term: the full-batch solvers
        are used only without one)."""
        W, b = self.unpack(params)
        loss, gW, gb = self.data_terms(W, b)
        grad = np.empty(len(params), dtype=np.float64)
        size = self.k * self.n_features
        pen, gradW = penalty(W, self.alpha, out=grad[:size].reshape(self.k, self.n_features))
        gradW += gW
        if self.fit_intercept:
            grad[size:] = gb
        return loss + pen, grad

    def hessp(self, params: np.ndarray, v: np.ndarray) -> np.ndarray:
        """The Hessian of F at ``params`` applied to ``v``; the Hessian is never formed."""
        W, b = self.unpack(params)
        V, vb = self.unpack(v)
        hW, hb = self.data_hessp(W, b, V, vb)
        return self.pack(hW + penalty(V, self.alpha)[1], hb)


class LinearSoftmaxLoss(Objective):
    """F on rows in memory: ``X`` (n, d), dense or a SciPy CSR matrix, and their
    :class:`._targets.Targets`.

    A sparse ``X`` is never densified: the logits ``X W^T + b`` are formed for as
    many rows at a time as keep them within 64 MiB, and ``dF/dW = G^T X`` is the
    sparse product ``(X^T G)^T``, so the work is proportional to the non-zeros.
    """

    def __init__(
        self,
        X: Any,
        targets: Targets,
        *,
        alpha: float,
        fit_intercept: bool,
        label_smoothing: float,
        beta: float = 0.0,
    ) -> None:
        super().__init__(
            len(targets.classes),
            X.shape[1],
            X.dtype,
            alpha=alpha,
            fit_intercept=fit_intercept,
            beta=beta,
        )
        self.X, self.targets, self.label_smoothing = X, targets, float(label_smoothing)

    def data_terms(self, W: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        return self._mean_terms(self.X, self.targets, W, b)

    def _mean_terms(
        self, X: Any, t: Targets, W: np.ndarray, b: np.ndarray
    ) -> tuple[float, np.ndarray, np.ndarray]:
        if is_sparse(X):
            return self._sparse_terms(X, t, W, b)
        loss, gW, gb = _linear_objective(
            X,
            W.astype(self.dtype, copy=False),
            b.astype(self.dtype, copy=False),
            t.target,
            class_weight=t.class_weight,
            sample_weight=t.sample_weight,
            label_smoothing=self.label_smoothing,
            reduction="mean",
        )
        return loss, gW, gb

    def _blocks(self, X: Any) -> Any:
        """``(rows, X[rows])`` for row blocks whose ``(rows, K)`` logits fit within
        ``LOGITS_BUDGET``; one block of all of ``X`` (not a copy) when they fit."""
        step = max(1, LOGITS_BUDGET // (self.k * self.dtype.itemsize))
        n = X.shape[0]
        if step >= n:
            yield slice(0, n), X
            return
        for start in range(0, n, step):
            rows = slice(start, start + step)
            yield rows, X[rows]

    def _sparse_terms(
        self, X: Any, t: Targets, W: np.ndarray, b: np.ndarray
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """The weighted-mean loss and its gradients for a sparse ``X``, in row blocks."""
        Wt = np.ascontiguousarray(W.T, dtype=self.dtype)
        total = t.total
        scale = 1.0 / total if total > 0 else 1.0
        loss = 0.0
        gWt: Any = None
        gb = np.zeros(self.k, dtype=self.dtype)
        for rows, Xb in self._blocks(X):
            tb = t if rows.stop - rows.start == X.shape[0] else t.rows(rows)
            Z = np.asarray(Xb @ Wt)
            Z += b
            value, G = softmax_cross_entropy_with_grad(
                Z,
                tb.target,
                class_weight=tb.class_weight,
                sample_weight=tb.sample_weight,
                label_smoothing=self.label_smoothing,
                reduction="sum",
            )
            loss += float(value)
            G *= scale
            part = np.asarray(Xb.T @ G)  # G^T X as the sparse product (X^T G)^T
            gWt = part if gWt is None else gWt + part
            gb += G.sum(axis=0)
        return loss * scale, gWt.T, gb

    def data_hessp(
        self, W: np.ndarray, b: np.ndarray, V: np.ndarray, vb: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per row, the softmax Jacobian ``diag(s) - s s^T`` applied to the change of
        logits ``X V^T + vb``, weighted by ``w_i / sum(w)`` (in row blocks)."""
        t = self.targets
        w = (t.row_weight / t.total).astype(self.dtype)
        hW = np.zeros((self.k, self.n_features), dtype=self.dtype)
        hb = np.zeros(self.k, dtype=self.dtype)
        for rows, Xb in self._blocks(self.X):
            part_W, part_b = weighted_hessp(Xb, w[rows], W, b, V, vb)
            hW += part_W
            hb += part_b
        return hW, hb

    def logit_gradients(self, rows: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``w_i (softmax(z_i) - y'_i) / sum(w)`` for ``rows``: each row's share of the
        data term's gradient in its logits (``dF/dW = sum_i G_i x_i^T``), with
        :func:`softmaxkit.losses._terms`' formula. Lean (a few NumPy calls, no
        checks): the saga solver calls it once per step."""
        t = self.targets
        Z = np.asarray(self.X[rows] @ W.T)
        Z += b
        Z -= Z.max(axis=1, keepdims=True)
        P = np.exp(Z, out=Z)
        P /= P.sum(axis=1, keepdims=True)
        factor = t.row_weight[rows] / t.total
        if t.soft:
            hot, y = None, t.target[rows]
        else:
            hot, y = t.target[rows, None] == np.arange(self.k), None
        _, G = _terms(
            np, P, P, hot, y, eps=self.label_smoothing, K=self.k, factor=factor, want_loss=False
        )
        assert G is not None
        return np.asarray(G)

    def batch_gradient(
        self, rows: np.ndarray, W: np.ndarray, b: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The gradient of F with the data term taken on ``rows`` only (their weighted
        mean loss): an unbiased estimate of ``dF`` for rows drawn at random. None
        when the rows have no weight."""
        t = self.targets.rows(rows)
        if not np.any(t.sample_weight > 0):
            return None
        _, gW, gb = self._mean_terms(self.X[rows], t, W, b)
        gW = gW + penalty(W, self.alpha)[1]
        return gW, (gb if self.fit_intercept else np.zeros_like(b))
