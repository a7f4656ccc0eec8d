r"""SoftmaxRegression: multinomial logistic regression trained on the ``y_hat - y`` gradient.

The objective, for weights ``W`` (n_classes x n_features) and intercepts ``b``:

.. math::

    F(W, b) = \frac{\sum_i w_i\, \ell_i(W x_i + b)}{\sum_i w_i}
              + \frac{\lVert W \rVert_F^2}{2\, C \sum_i w_i}

where ``l_i`` is the softmax cross-entropy of row i (against its label, its
smoothed label, or its soft target) and ``w_i`` is its sample weight times the
class weight of its class; with unit weights ``sum_i w_i = n_samples``. The
intercept is not penalised. This is the objective of
``sklearn.linear_model.LogisticRegression(C=C)`` for three or more classes, so
the two can be compared value for value.

scikit-learn and SciPy are imported here, not by ``import softmaxkit``.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import optimize
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state, compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
from threadpoolctl import ThreadpoolController

from . import _dask_fit, _model_file
from .activations import log_softmax, softmax
from .jacobian import softmax_jvp
from .losses import _linear_objective, linear_cross_entropy, softmax_cross_entropy

__all__ = ["SoftmaxRegression"]

_SOLVERS = ("lbfgs", "newton-cg", "sgd", "adam")


class _Progress:
    """Iteration, objective and gradient norm on stderr; a bar when it is a terminal."""

    def __init__(self, total: int, verbose: int, label: str) -> None:
        self.total, self.verbose, self.label = total, verbose, label
        self.tty = sys.stderr.isatty()
        self.start = time.perf_counter()
        self.last = 0.0
        self.printed = -1  # the last iteration written

    def update(self, it: int, objective: float, grad_norm: float, *, final: bool = False) -> None:
        if not self.verbose:
            return
        now = time.perf_counter()
        if not final and self.verbose < 2 and now - self.last < 0.1:
            return
        if final and it == self.printed and not self.tty:
            return  # already on its own line
        self.last, self.printed = now, it
        frac = min(1.0, it / max(self.total, 1))
        msg = (
            f"{self.label} {it}/{self.total}  objective {objective:.6g}  "
            f"|grad| {grad_norm:.2e}  {now - self.start:.1f}s"
        )
        if self.tty:
            bar = "#" * int(20 * frac) + "-" * (20 - int(20 * frac))
            end = "\n" if final else ""
            sys.stderr.write(f"\r[{bar}] {msg}{end}")
        else:
            sys.stderr.write(msg + "\n")
        sys.stderr.flush()


class SoftmaxRegression(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    r"""Multinomial softmax regression, scikit-learn compatible.

    Minimises

    .. math::

        F(W, b) = \frac{\sum_i w_i \ell_i}{\sum_i w_i}
                  + \frac{\lVert W \rVert_F^2}{2 C \sum_i w_i}

    with ``l_i`` the softmax cross-entropy of row i (``softmax_cross_entropy``)
    and ``w_i`` its sample weight times its class weight: the objective of
    ``LogisticRegression(C=C)`` for three or more classes. Its gradient with
    respect to the logits is ``w_i (y_hat_i - y_i) / sum(w)``
    (:func:`softmaxkit.softmax_cross_entropy_grad`), and the objective and its
    gradient are computed by :func:`softmaxkit.linear_cross_entropy` (the logits
    never held whole); the Hessian-vector
    product used by ``"newton-cg"`` applies the softmax Jacobian
    ``diag(s) - s s^T`` row by row (:func:`softmaxkit.softmax_jvp`).

    Parameters
    ----------
    C : float, default 1.0
        Inverse regularisation strength, > 0 (``inf`` for no penalty).
    fit_intercept : bool, default True
        Fit an unpenalised intercept per class.
    solver : {"lbfgs", "newton-cg", "sgd", "adam"}, default "lbfgs"
        ``"lbfgs"``: SciPy's L-BFGS-B with the analytic gradient.
        ``"newton-cg"``: a Newton conjugate-gradient trust-region method
        (SciPy's ``trust-ncg``) with the analytic Hessian-vector product.
        ``"sgd"`` and ``"adam"``: mini-batch solvers (also used by
        :meth:`partial_fit`), for data too large for full-batch methods.
    max_iter : int, default 1000
        Iterations (lbfgs, newton-cg) or epochs (sgd, adam).
    tol : float, default 1e-6
        Stop when the largest gradient component is below ``tol`` (lbfgs,
        newton-cg), or when an epoch improves the objective by less than
        ``tol`` relative (sgd, adam).
    class_weight : dict, "balanced" or None, default None
        Weights per class label; ``"balanced"`` is scikit-learn's
        ``n_samples / (n_classes * bincount(y))`` (with sample weights and
        soft targets, their weighted counts).
    label_smoothing : float, default 0.0
        ``eps`` in [0, 1): targets become ``(1 - eps) y + eps / n_classes``.
    warm_start : bool, default False
        Start ``fit`` from the previous solution.
    batch_size : int, optional
        Mini-batch size for sgd/adam: default ``min(32, n_samples)`` in ``fit``;
        in ``partial_fit`` each piece passed is one batch unless this is set.
    learning_rate : float, optional
        Step size for sgd/adam (default 0.5 for sgd, 0.05 for adam), decayed
        as ``1 / sqrt(epoch)``.
    random_state : int, RandomState or None
        Shuffling of the mini-batch solvers.
    verbose : int, default 0
        1 shows progress (iteration, objective, gradient norm) on stderr, as a
        bar on a terminal; 2 prints every iteration.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (``arange(n_classes)`` when fitted on soft targets).
    coef_ : ndarray of shape (n_classes, n_features)
    intercept_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        When fitted on a DataFrame with string column names.
    n_iter_ : int
        Iterations (or epochs) run by the last ``fit``.
    temperature_ : float
        1.0 after ``fit``; set by :meth:`calibrate`.
    calibration_ : dict
        After :meth:`calibrate`: ``temperature``, the validation ``log_loss_before``
        and ``log_loss_after``, and ``kept_reason`` (why ``T`` stayed 1, or None).
    loss_curve_ : list of float
        The objective after each iteration (or epoch).
    n_samples_seen_ : float
        Total sample weight seen by :meth:`partial_fit` (or in ``fit``).

    References
    ----------
    C. Guo, G. Pleiss, Y. Sun and K. Q. Weinberger, "On Calibration of Modern
    Neural Networks", ICML 2017 (temperature scaling).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from softmaxkit import SoftmaxRegression
    >>> X, y = load_iris(return_X_y=True)
    >>> model = SoftmaxRegression(C=1.0).fit(X, y)
    >>> model.predict(X[:3]), round(model.score(X, y), 2)
    (array([0, 0, 0]), 0.97)
    """

    # Fitted state (set by fit/partial_fit/load, never by __init__).
    coef_: np.ndarray
    intercept_: np.ndarray
    classes_: np.ndarray
    _rng: np.random.RandomState
    _opt_state: dict[str, Any]

    def __init__(
        self,
        *,
        C: float = 1.0,
        fit_intercept: bool = True,
        solver: str = "lbfgs",
        max_iter: int = 1000,
        tol: float = 1e-6,
        class_weight: dict[Any, float] | str | None = None,
        label_smoothing: float = 0.0,
        warm_start: bool = False,
        batch_size: int | None = None,
        learning_rate: float | None = None,
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
    ) -> None:
        self.C = C
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing
        self.warm_start = warm_start
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.random_state = random_state
        self.verbose = verbose

    # ----------------------------------------------------------------------------------
    # validation

    def _check_params(self) -> None:
        if not isinstance(self.C, numbers.Real) or isinstance(self.C, bool) or not self.C > 0:
            raise ValueError(f"expected C > 0 (inf for no penalty), got {self.C!r}")
        if self.solver not in _SOLVERS:
            raise ValueError(f"expected solver in {_SOLVERS}, got {self.solver!r}")
        if not isinstance(self.max_iter, numbers.Integral) or self.max_iter < 1:
            raise ValueError(f"expected max_iter to be an int >= 1, got {self.max_iter!r}")
        if not isinstance(self.tol, numbers.Real) or not self.tol >= 0:
            raise ValueError(f"expected tol >= 0, got {self.tol!r}")
        eps = self.label_smoothing
        if not isinstance(eps, numbers.Real) or isinstance(eps, bool) or not 0 <= eps < 1:
            raise ValueError(f"expected label_smoothing in [0, 1), got {eps!r}")
        if self.batch_size is not None and (
            not isinstance(self.batch_size, numbers.Integral) or self.batch_size < 1
        ):
            raise ValueError(
                f"expected batch_size to be None or an int >= 1, got {self.batch_size!r}"
            )
        lr = self.learning_rate
        if lr is not None and (not isinstance(lr, numbers.Real) or not (0 < lr < math.inf)):
            raise ValueError(
                f"expected learning_rate to be None or a finite number > 0, got {lr!r}"
            )
        if not (
            self.class_weight is None
            or self.class_weight == "balanced"
            or isinstance(self.class_weight, dict)
        ):
            raise ValueError(
                f"expected class_weight to be None, 'balanced' or a dict, got {self.class_weight!r}"
            )

    def _validate_X(self, X: Any, *, reset: bool) -> np.ndarray:
        X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
        return np.asarray(X)

    def _targets(
        self, y: Any, classes: np.ndarray | None, dtype: Any
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        """Return ``(target, classes, soft)``: integer codes or a probability matrix."""
        y_arr = np.asarray(y)
        if y_arr.ndim == 2 and y_arr.shape[1] >= 2:
            if y_arr.dtype.kind not in "fiub":
                raise ValueError(
                    f"expected soft targets (a 2-D y) to be numeric probabilities, got dtype "
                    f"{y_arr.dtype}"
                )
            P = y_arr.astype(dtype)
            if not np.all(np.isfinite(P)):
                raise ValueError("expected soft targets without NaN or inf")
            if np.any(P < 0):
                raise ValueError(f"expected soft targets >= 0, got an entry {P.min():g}")
            sums = P.sum(axis=1)
            tol = math.sqrt(np.finfo(dtype).eps)
            bad = np.flatnonzero(np.abs(sums - 1) > tol)
            if bad.size:
                raise ValueError(
                    f"expected each row of soft targets to sum to 1, got row {bad[0]} summing "
                    f"to {sums[bad[0]]:.6g}"
                )
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
        return _label_codes(y1, classes), classes, False

    def _sample_weight(self, sample_weight: Any, n: int, dtype: Any) -> np.ndarray:
        if sample_weight is None:
            return np.ones(n, dtype=dtype)
        sw = np.asarray(sample_weight, dtype=dtype)
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

    def _class_weights(
        self, target: np.ndarray, soft: bool, classes: np.ndarray, sw: np.ndarray, dtype: Any
    ) -> np.ndarray | None:
        if self.class_weight == "balanced" and not soft:
            labels = classes[target]
            balanced = compute_class_weight("balanced", classes=classes, y=labels, sample_weight=sw)
            return np.asarray(balanced, dtype=dtype)
        counts = target.T @ sw if soft and self.class_weight == "balanced" else None
        return self._class_weights_of(classes, counts, float(sw.sum()), dtype)

    def _class_weights_of(
        self, classes: np.ndarray, counts: np.ndarray | None, total: float, dtype: Any
    ) -> np.ndarray | None:
        """The class weights from the weighted class ``counts`` and their ``total``
        (needed for "balanced" only): "balanced" is scikit-learn's ``total / (K
        count)``, 0 for a class without weight; a dict is checked against ``classes``."""
        cw = self.class_weight
        if cw is None:
            return None
        k = len(classes)
        if cw == "balanced":
            assert counts is not None
            with np.errstate(divide="ignore"):
                out = np.where(counts > 0, total / (k * counts), 0.0)
            return np.asarray(out, dtype=dtype)
        assert isinstance(cw, dict)
        out = np.ones(k, dtype=dtype)
        for label, weight in cw.items():
            where = np.flatnonzero(classes == label)
            if where.size == 0:
                raise ValueError(
                    f"expected class_weight keys among classes {classes.tolist()}, got {label!r}"
                )
            out[where[0]] = weight
        if not np.all(np.isfinite(out)) or np.any(out < 0):
            raise ValueError("expected class_weight values finite and >= 0")
        return out

    # ----------------------------------------------------------------------------------
    # objective

    def _objective(
        self,
        X: np.ndarray,
        target: np.ndarray,
        sw: np.ndarray,
        cw: np.ndarray | None,
        penalty_scale: float,
    ) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
        """``params -> (F, dF/dparams)`` for the flat parameter vector (W then b).

        One evaluation is :func:`softmaxkit.linear_cross_entropy`'s (the loss and the
        gradients of ``W`` and ``b``, never ``dF/dX``); with class labels and few
        classes its NumPy path reads ``X`` once: logits, loss, fused gradient and
        ``G^T X`` block by block while the block is in cache.
        """
        n_features = X.shape[1]
        k = self._k
        dtype = X.dtype
        eps = float(self.label_smoothing)
        fit_intercept = self.fit_intercept

        def fun(params: np.ndarray) -> tuple[float, np.ndarray]:
            W, b = self._unpack(params, k, n_features, dtype)
            loss, grad_W, grad_b = _loss_and_grads(X, W, b, target, sw, cw, eps)
            grad_W = grad_W + penalty_scale * W
            value = loss + 0.5 * penalty_scale * float(np.sum(W * W, dtype=np.float64))
            grad = [grad_W.ravel()] + ([grad_b] if fit_intercept else [])
            return value, np.concatenate(grad).astype(np.float64)

        return fun

    def _hessp(
        self, X: np.ndarray, sw_total: np.ndarray, penalty_scale: float
    ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """Hessian-vector product: per row, the softmax Jacobian applied to the
        change of logits, weighted by ``w_i / sum(w)``; never forms the Hessian."""
        n_features = X.shape[1]
        k = self._k
        dtype = X.dtype

        def hessp(params: np.ndarray, v: np.ndarray) -> np.ndarray:
            W, b = self._unpack(params, k, n_features, dtype)
            V, vb = self._unpack(v, k, n_features, dtype)
            S = softmax(X @ W.T + b)
            dZ = X @ V.T + vb
            R = sw_total[:, None] * softmax_jvp(S, dZ)
            out = [(R.T @ X + penalty_scale * V).ravel()]
            if self.fit_intercept:
                out.append(R.sum(axis=0))
            return np.concatenate(out).astype(np.float64)

        return hessp

    def _penalty_scale(self, total_weight: float) -> float:
        """``1 / (C * sum(w))``, the weight of ``||W||^2 / 2`` in F (0 for C = inf)."""
        return 0.0 if math.isinf(self.C) else 1.0 / (float(self.C) * total_weight)

    def _unpack(
        self, params: np.ndarray, k: int, n_features: int, dtype: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        params = np.asarray(params, dtype=dtype)
        W = params[: k * n_features].reshape(k, n_features)
        b = params[k * n_features :] if self.fit_intercept else np.zeros(k, dtype=dtype)
        return W, b

    def _pack(self, W: np.ndarray, b: np.ndarray) -> np.ndarray:
        parts = [W.ravel()] + ([b] if self.fit_intercept else [])
        return np.concatenate(parts).astype(np.float64)

    # ----------------------------------------------------------------------------------
    # fitting

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> SoftmaxRegression:
        """Fit on labels (1-D, any label type) or soft targets (2-D probabilities).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite features; float32 stays float32, anything else becomes float64.
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            Labels, or rows of class probabilities (each >= 0, summing to 1);
            with soft targets ``classes_`` is ``arange(n_classes)``.
        sample_weight : array-like of shape (n_samples,), optional
            Finite, >= 0, not all 0.

        Returns
        -------
        self
        """
        self._check_params()
        if _dask_fit.is_dask(X) or _dask_fit.is_dask(y) or _dask_fit.is_dask(sample_weight):
            return _dask_fit.fit(self, X, y, sample_weight)
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], multi_output=True)
        X = np.asarray(X)
        dtype = X.dtype
        target, classes, soft = self._targets(y, None, dtype)
        if len(classes) < 2:
            raise ValueError(f"expected at least 2 classes in y, got 1 class: {classes.tolist()!r}")
        sw = self._sample_weight(sample_weight, X.shape[0], dtype)
        cw = self._class_weights(target, soft, classes, sw, dtype)
        self.classes_ = classes
        self._k = len(classes)
        row_w = _row_weights(target, soft, sw, cw)
        total = float(np.sum(row_w, dtype=np.float64))
        if not total > 0:
            raise ValueError("expected a positive total weight after class weights, got 0")
        penalty_scale = self._penalty_scale(total)

        n_features = X.shape[1]
        if self.warm_start and hasattr(self, "coef_") and self.coef_.shape == (self._k, n_features):
            W0, b0 = self.coef_.astype(dtype), self.intercept_.astype(dtype)
        else:
            W0 = np.zeros((self._k, n_features), dtype=dtype)
            b0 = np.zeros(self._k, dtype=dtype)

        self.loss_curve_: list[float] = []
        if self.solver in ("lbfgs", "newton-cg"):
            fun = self._objective(X, target, sw, cw, penalty_scale)
            hessp = None
            if self.solver == "newton-cg":
                hessp = self._hessp(X, (row_w / total).astype(X.dtype), penalty_scale)
            params, n_iter = self._full_batch(fun, hessp, W0, b0)
            W, b = self._unpack(params, self._k, n_features, dtype)
        else:
            W, b, n_iter = self._minibatch(
                X,
                target,
                sw,
                cw,
                total,
                W0,
                b0,
                epochs=int(self.max_iter),
                fresh=True,
                method=self.solver,
            )
        return self._fitted(W, b, n_iter, float(np.sum(sw)))

    def _fitted(self, W: np.ndarray, b: np.ndarray, n_iter: int, seen: float) -> SoftmaxRegression:
        """Store the result of ``fit`` (either kind of data): coefficients, iterations,
        temperature 1, and the total sample weight seen."""
        self.coef_ = np.ascontiguousarray(W, dtype=W.dtype)
        self.intercept_ = np.ascontiguousarray(b, dtype=W.dtype)
        self.n_iter_ = int(n_iter)
        self.temperature_ = 1.0
        self.__dict__.pop("calibration_", None)  # a new fit is not calibrated
        self.n_samples_seen_ = seen
        return self

    def _full_batch(
        self,
        fun: Callable[[np.ndarray], tuple[float, np.ndarray]],
        hessp: Callable[[np.ndarray, np.ndarray], np.ndarray] | None,
        W0: np.ndarray,
        b0: np.ndarray,
    ) -> tuple[np.ndarray, int]:
        """Minimise ``fun`` (value and gradient of the flat parameters) from ``(W0, b0)``
        with L-BFGS-B, or with trust-region Newton-CG on ``hessp`` (newton-cg)."""
        progress = _Progress(int(self.max_iter), int(self.verbose), self.solver)
        x0 = self._pack(W0, b0)
        last: dict[str, Any] = {"value": math.nan, "grad": math.nan}

        def tracked(params: np.ndarray) -> tuple[float, np.ndarray]:
            value, grad = fun(params)
            last["value"], last["grad"] = value, float(np.max(np.abs(grad), initial=0.0))
            return value, grad

        def callback(intermediate_result: optimize.OptimizeResult) -> None:
            self.loss_curve_.append(float(intermediate_result.fun))
            progress.update(len(self.loss_curve_), float(intermediate_result.fun), last["grad"])

        # BLAS on one thread: the objective's own threads share the row blocks, and
        # NumPy's and SciPy's BLAS thread pools spinning against each other and
        # against L-BFGS's bookkeeping made a small fit several times slower.
        with _blas_controller().limit(limits=1, user_api="blas"):
            if self.solver == "lbfgs":
                res = optimize.minimize(
                    tracked,
                    x0,
                    method="L-BFGS-B",
                    jac=True,
                    callback=callback,
                    options={
                        "maxiter": int(self.max_iter),
                        "gtol": float(self.tol),
                        "ftol": 64 * np.finfo(float).eps,
                        "maxls": 50,
                    },
                )
            else:
                res = optimize.minimize(
                    tracked,
                    x0,
                    method="trust-ncg",
                    jac=True,
                    hessp=hessp,
                    callback=callback,
                    options={"maxiter": int(self.max_iter), "gtol": float(self.tol)},
                )
        progress.update(len(self.loss_curve_), float(res.fun), last["grad"], final=True)
        if not res.success and float(np.max(np.abs(res.jac), initial=0.0)) > float(self.tol):
            warnings.warn(
                f"{self.solver} did not converge in {res.nit} iterations "
                f"(largest gradient component {np.max(np.abs(res.jac)):.2e} > tol={self.tol}): "
                "increase max_iter or scale the features",
                ConvergenceWarning,
                stacklevel=3,
            )
        if not self.loss_curve_:
            self.loss_curve_.append(float(res.fun))
        return np.asarray(res.x), int(res.nit)

    def _minibatch(
        self,
        X: np.ndarray,
        target: np.ndarray,
        sw: np.ndarray,
        cw: np.ndarray | None,
        total_weight: float,
        W: np.ndarray,
        b: np.ndarray,
        *,
        epochs: int,
        fresh: bool,
        method: str,
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """Mini-batch SGD or Adam on the objective, ``epochs`` passes over the rows.

        Each step follows the gradient of the batch's weighted-mean loss plus the
        penalty ``||W||^2 / (2 C N)``, N being the total weight of the data set
        (``fit``, or ``n_samples`` in ``partial_fit``) or seen so far: an unbiased
        estimate of the gradient of F. The step size is ``learning_rate /
        sqrt(1 + passes)``, passes being the rows processed divided by N.
        """
        rng = (
            check_random_state(self.random_state)
            if fresh or not hasattr(self, "_rng")
            else self._rng
        )
        self._rng = rng
        n = X.shape[0]
        # fit: batches of 32 by default; partial_fit: the piece given is the batch.
        default_bs = min(32, n) if fresh else n
        bs = int(self.batch_size) if self.batch_size is not None else default_bs
        adam = method == "adam"
        lr0 = self._initial_step(adam)
        if fresh or not hasattr(self, "_opt_state"):
            self._reset_optimiser(W, b)
        state = self._opt_state
        penalty_scale = self._penalty_scale(total_weight)
        progress = _Progress(epochs, int(self.verbose), self.solver)
        previous = math.inf
        done = 0
        for _ in range(epochs):
            # The step decays as 1 / sqrt(passes): passes over data of total weight N,
            # counted in rows processed, so partial_fit pieces decay like fit epochs.
            lr = lr0 / math.sqrt(1.0 + math.floor(state["processed"] / total_weight))
            state["processed"] += float(np.sum(sw))
            W, b, grad_norm = self._steps(
                X, target, sw, cw, W, b, rng.permutation(n), bs, lr, penalty_scale, adam
            )
            value = self._objective_value(X, target, sw, cw, W, b, penalty_scale)
            done += 1
            if self._end_epoch(value, previous, done, grad_norm, progress):
                break
            previous = value
        self._end_epoch(math.nan, math.nan, done, 0.0, progress, final=True)
        return W.astype(X.dtype), b.astype(X.dtype), done

    def _initial_step(self, adam: bool) -> float:
        """``learning_rate``, by default 0.05 for Adam and 0.5 for SGD."""
        if self.learning_rate is not None:
            return float(self.learning_rate)
        return 0.05 if adam else 0.5

    def _reset_optimiser(self, W: np.ndarray, b: np.ndarray) -> None:
        """Fresh Adam moments, step count and rows processed (for the step size)."""
        self._opt_state = {
            "m": [np.zeros_like(W), np.zeros_like(b)],
            "v": [np.zeros_like(W), np.zeros_like(b)],
            "t": 0,
            "processed": 0.0,
        }

    def _end_epoch(
        self,
        value: float,
        previous: float,
        done: int,
        grad_norm: float,
        progress: _Progress,
        *,
        final: bool = False,
    ) -> bool:
        """Record an epoch's objective and report it; True when it changed by at most
        ``tol`` (relative) since the last epoch. ``final``: close the progress line."""
        if final:
            last = self.loss_curve_[-1] if self.loss_curve_ else math.nan
            progress.update(done, last, grad_norm, final=True)
            return True
        self.loss_curve_.append(value)
        progress.update(done, value, grad_norm)
        return abs(previous - value) <= float(self.tol) * max(abs(value), 1e-12)

    def _steps(
        self,
        X: np.ndarray,
        target: np.ndarray,
        sw: np.ndarray,
        cw: np.ndarray | None,
        W: np.ndarray,
        b: np.ndarray,
        order: np.ndarray,
        bs: int,
        lr: float,
        penalty_scale: float,
        adam: bool,
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """One SGD or Adam step per batch of ``bs`` rows taken in ``order``; returns the
        new ``(W, b)`` and the largest gradient entry of the last step. Adam's moments
        live in ``self._opt_state``, so steps continue across calls."""
        state = self._opt_state
        eps = float(self.label_smoothing)
        grad_norm = 0.0
        for start in range(0, len(order), bs):
            rows = order[start : start + bs]
            if not np.any(sw[rows] > 0):
                continue
            _, gW, gb = _loss_and_grads(X[rows], W, b, target[rows], sw[rows], cw, eps)
            gW = gW + penalty_scale * W
            gb = gb if self.fit_intercept else np.zeros_like(b)
            grad_norm = max(float(np.max(np.abs(gW))), float(np.max(np.abs(gb), initial=0.0)))
            if adam:
                state["t"] += 1
                t = state["t"]
                for idx, g in enumerate((gW, gb)):
                    state["m"][idx] = 0.9 * state["m"][idx] + 0.1 * g
                    state["v"][idx] = 0.999 * state["v"][idx] + 0.001 * g * g
                mh = [m / (1 - 0.9**t) for m in state["m"]]
                vh = [v / (1 - 0.999**t) for v in state["v"]]
                W = W - lr * mh[0] / (np.sqrt(vh[0]) + 1e-8)
                b = b - lr * mh[1] / (np.sqrt(vh[1]) + 1e-8)
            else:
                W = W - lr * gW
                b = b - lr * gb
        return W, b, grad_norm

    def _objective_value(
        self,
        X: np.ndarray,
        target: np.ndarray,
        sw: np.ndarray,
        cw: np.ndarray | None,
        W: np.ndarray,
        b: np.ndarray,
        penalty_scale: float,
    ) -> float:
        loss = linear_cross_entropy(
            X,
            W,
            target,
            bias=b,
            class_weight=cw,
            sample_weight=sw,
            label_smoothing=float(self.label_smoothing),
        )
        return float(loss) + 0.5 * penalty_scale * float(np.sum(W * W, dtype=np.float64))

    def objective(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """The training objective F of the fitted coefficients on ``(X, y)``.

        Uses the same ``C``, class weights and label smoothing as ``fit``, so
        ``model.objective(X, y)`` is the value ``fit`` minimised on that data.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        target, _, soft = self._targets(y, self.classes_, X.dtype)
        sw = self._sample_weight(sample_weight, X.shape[0], X.dtype)
        cw = self._class_weights(target, soft, self.classes_, sw, X.dtype)
        total = float(np.sum(_row_weights(target, soft, sw, cw), dtype=np.float64))
        penalty_scale = self._penalty_scale(total)
        return self._objective_value(X, target, sw, cw, self.coef_, self.intercept_, penalty_scale)

    def partial_fit(
        self,
        X: Any,
        y: Any,
        classes: Any = None,
        sample_weight: Any = None,
        *,
        n_samples: float | None = None,
    ) -> SoftmaxRegression:
        """One multinomial mini-batch pass over ``(X, y)`` (sgd; adam for the other solvers).

        Parameters
        ----------
        X, y, sample_weight
            As for :meth:`fit`; ``y`` labels must be among ``classes``.
        classes : array-like, optional
            All class labels; required on the first call with 1-D labels.
        n_samples : float, optional
            Size (total sample weight) of the data set the pieces come from: the
            penalty is ``||W||^2 / (2 C n_samples)``, as ``fit`` on that data
            set would use. By default, the total weight seen by ``partial_fit``
            so far, which is right for a stream seen once; when the same rows
            are fed again for several passes, pass ``n_samples`` (else the
            penalty weakens with every pass, as for an ever larger data set).
        """
        self._check_params()
        if _dask_fit.is_dask(X) or _dask_fit.is_dask(y) or _dask_fit.is_dask(sample_weight):
            return _dask_fit.partial_fit(self, X, y, classes, sample_weight, n_samples)
        first = not hasattr(self, "classes_")
        X = validate_data(self, X, reset=first, dtype=[np.float64, np.float32])
        X = np.asarray(X)
        dtype = X.dtype
        y_arr = np.asarray(y)
        if first:
            if classes is None and not (y_arr.ndim == 2 and y_arr.shape[1] >= 2):
                raise ValueError("expected classes= on the first call to partial_fit, got None")
            known = None if classes is None else np.unique(np.asarray(classes))
        else:
            known = self.classes_
            if classes is not None and not np.array_equal(np.unique(np.asarray(classes)), known):
                raise ValueError(
                    f"expected the same classes as the first call {known.tolist()}, got "
                    f"{np.unique(classes).tolist()}"
                )
        if y_arr.shape[0] != X.shape[0]:
            raise ValueError(f"expected y with {X.shape[0]} rows like X, got {y_arr.shape[0]}")
        target, classes_, soft = self._targets(y, known, dtype)
        if len(classes_) < 2:
            raise ValueError(f"expected at least 2 classes, got 1 class: {classes_.tolist()!r}")
        sw = self._sample_weight(sample_weight, X.shape[0], dtype)
        cw = self._class_weights(target, soft, classes_, sw, dtype)
        if first:
            self.classes_ = classes_
            self._k = len(classes_)
            self.coef_ = np.zeros((self._k, X.shape[1]), dtype=dtype)
            self.intercept_ = np.zeros(self._k, dtype=dtype)
            self.n_samples_seen_ = 0.0
            self.n_iter_ = 0
            self.temperature_ = 1.0
            self.loss_curve_ = []
        self._k = len(self.classes_)
        self.n_samples_seen_ += float(np.sum(sw))
        if n_samples is not None and not (
            isinstance(n_samples, numbers.Real) and 0 < n_samples < math.inf
        ):
            raise ValueError(f"expected n_samples to be a finite number > 0, got {n_samples!r}")
        W, b, _ = self._minibatch(
            X,
            target,
            sw,
            cw,
            float(n_samples) if n_samples is not None else self.n_samples_seen_,
            self.coef_.astype(dtype),
            self.intercept_.astype(dtype),
            epochs=1,
            fresh=False,
            method="sgd" if self.solver == "sgd" else "adam",
        )
        self.coef_, self.intercept_ = W, b
        self.n_iter_ += 1
        return self

    # ----------------------------------------------------------------------------------
    # prediction

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits ``X W^T + b``, shape (n_samples, n_classes); for two classes the single
        logit ``z1 - z0`` (shape (n_samples,)): softmax of two classes is the sigmoid of
        the logit difference. Not divided by ``temperature_``."""
        Z = self._logits(X)
        out = Z[:, 1] - Z[:, 0] if Z.shape[1] == 2 else Z
        return out if _dask_fit.is_dask(out) else np.asarray(out)

    def _logits(self, X: Any) -> Any:
        """``X W^T + b``: a NumPy array, or a lazy Dask array for Dask input."""
        check_is_fitted(self)
        if _dask_fit.is_dask(X):
            return _dask_fit.logits(self, X)
        X = self._validate_X(X, reset=False)
        return np.asarray(X @ self.coef_.T + self.intercept_)

    def predict_proba(self, X: Any) -> Any:
        """``softmax(z / temperature_)`` per row (lazy for Dask input)."""
        return _result(softmax(self._logits(X), temperature=float(self.temperature_)))

    def predict_log_proba(self, X: Any) -> Any:
        """``log_softmax(z / temperature_)``: exact where ``log(predict_proba)`` gives -inf."""
        return _result(log_softmax(self._logits(X), temperature=float(self.temperature_)))

    def predict(self, X: Any) -> Any:
        """The class with the largest logit (unchanged by temperature; lazy for Dask input)."""
        Z = self._logits(X)  # checks that the model is fitted before classes_ is read
        if _dask_fit.is_dask(Z):
            classes = self.classes_
            return Z.argmax(axis=1).map_blocks(
                lambda i: classes[i], dtype=classes.dtype, meta=np.empty(0, dtype=classes.dtype)
            )
        return np.asarray(self.classes_[np.argmax(Z, axis=1)])

    # ----------------------------------------------------------------------------------
    # calibration

    def calibrate(self, X_val: Any, y_val: Any) -> SoftmaxRegression:
        """Temperature scaling: fit ``T > 0`` minimising validation cross-entropy.

        ``T`` minimises ``mean_i CE(softmax(z_i / T), y_i)`` over ``log T`` in
        ``[log 1e-3, log 1e3]`` (bounded Brent). Afterwards ``predict_proba`` is
        ``softmax(z / T)``; ``predict`` is unchanged (argmax is scale-free).

        The fitted ``T`` is trusted only where the minimum exists inside the
        search range. When every validation row's true class already has the
        largest logit (a separated split: the cross-entropy keeps falling as
        ``T -> 0``, and the "optimum" would make every probability 0 or 1), or
        the minimum lies at a bound of the range, ``temperature_`` stays 1 and a
        ``UserWarning`` says why. ``calibration_`` records the temperature, the
        validation log loss before and after, and that reason (None when ``T``
        was fitted). Temperature scaling is trustworthy on a validation split
        that the model gets partly wrong: enough rows (hundreds) and some
        errors among them.

        References
        ----------
        C. Guo, G. Pleiss, Y. Sun and K. Q. Weinberger, "On Calibration of
        Modern Neural Networks", ICML 2017.
        """
        Z = self._logits(X_val)
        if _dask_fit.is_dask(Z):  # the validation logits are n x K: small enough to fetch
            Z = Z.compute()
        if _dask_fit.is_dask(y_val):
            y_val = y_val.compute()
        return self._fit_temperature(np.asarray(Z), y_val)

    def _fit_temperature(self, Z: np.ndarray, y_val: Any) -> SoftmaxRegression:
        """:meth:`calibrate` from the validation logits ``Z``."""
        target, _, soft = self._targets(y_val, self.classes_, Z.dtype)
        before = float(softmax_cross_entropy(Z, target))
        bounds = (math.log(1e-3), math.log(1e3))
        reason = None
        T = 1.0
        if not soft and _separated(Z, target):
            reason = (
                "every validation row's true class has the largest logit (the split is "
                "separated), so the validation cross-entropy keeps falling as T -> 0"
            )
        else:

            def nll(log_t: float) -> float:
                return float(softmax_cross_entropy(Z, target, temperature=math.exp(log_t)))

            res = optimize.minimize_scalar(
                nll, bounds=bounds, method="bounded", options={"xatol": 1e-8}
            )
            log_t = float(res.x)
            at_bound = min(log_t - bounds[0], bounds[1] - log_t) < 0.01
            if at_bound:
                reason = (
                    "the validation cross-entropy is smallest at the edge of the search "
                    f"range, T = {math.exp(log_t):.3g}"
                )
            else:
                T = math.exp(log_t)
        if reason is not None:
            warnings.warn(
                f"calibrate kept temperature_ = 1: {reason}; temperature scaling needs a "
                "validation split with some errors (a larger or harder one)",
                UserWarning,
                stacklevel=3,
            )
        after = float(softmax_cross_entropy(Z, target, temperature=T))
        self.temperature_ = T
        self.calibration_ = {
            "temperature": T,
            "log_loss_before": before,
            "log_loss_after": after,
            "kept_reason": reason,
        }
        return self

    # ----------------------------------------------------------------------------------
    # the model file

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted model to ``path`` (``.npz`` with a JSON header; never pickled)."""
        check_is_fitted(self)
        _model_file.write(path, self._header(), self._arrays())

    def _header(self) -> dict[str, Any]:
        labels = [_label_to_json(c) for c in self.classes_]
        params = self.get_params()
        params["class_weight"] = (
            None
            if params["class_weight"] is None
            else params["class_weight"]
            if params["class_weight"] == "balanced"
            else [[_label_to_json(k), float(v)] for k, v in params["class_weight"].items()]
        )
        params["random_state"] = (
            params["random_state"] if isinstance(params["random_state"], int) else None
        )
        header: dict[str, Any] = {
            "kind": "SoftmaxRegression",
            "params": params,
            "classes": labels,
            "classes_dtype": str(np.asarray(self.classes_).dtype),
            "n_features_in": int(self.n_features_in_),
            "n_iter": int(self.n_iter_),
            "temperature": float(self.temperature_),
            "dtype": str(self.coef_.dtype),
        }
        if hasattr(self, "feature_names_in_"):
            header["feature_names_in"] = [str(f) for f in self.feature_names_in_]
        return header

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "coef": self.coef_,
            "intercept": self.intercept_,
            "loss_curve": np.asarray(self.loss_curve_, dtype=np.float64),
        }

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SoftmaxRegression:
        """Read a model written by :meth:`save`; ``ValueError`` for any bad file."""
        header, arrays = _model_file.read(path, "SoftmaxRegression")
        return cls._from_parts(header, arrays, str(path))

    @classmethod
    def _from_parts(
        cls, header: dict[str, Any], arrays: dict[str, np.ndarray], where: str
    ) -> SoftmaxRegression:
        bad = _model_file.ModelFileError
        try:
            params = dict(header["params"])
            if isinstance(params.get("class_weight"), list):
                params["class_weight"] = {
                    _label_from_json(k): float(v) for k, v in params["class_weight"]
                }
            model = cls(**params)
            classes = np.asarray(
                [_label_from_json(c) for c in header["classes"]], dtype=header["classes_dtype"]
            )
            n_features = int(header["n_features_in"])
            coef, intercept = arrays["coef"], arrays["intercept"]
            dtype = np.dtype(header["dtype"])
        except (KeyError, TypeError, ValueError) as exc:
            raise bad(
                f"expected a consistent SoftmaxRegression header in {where!r}, got {exc}"
            ) from None
        k = len(classes)
        if k < 2 or coef.shape != (k, n_features) or intercept.shape != (k,):
            raise bad(
                f"expected coef of shape ({k}, {n_features}) and intercept of shape ({k},) in "
                f"{where!r}, got {coef.shape} and {intercept.shape}"
            )
        if dtype not in (np.float32, np.float64) or coef.dtype != dtype or intercept.dtype != dtype:
            raise bad(f"expected float32 or float64 coefficients in {where!r}, got {coef.dtype}")
        if not (np.all(np.isfinite(coef)) and np.all(np.isfinite(intercept))):
            raise bad(f"expected finite coefficients in {where!r}")
        temperature = float(header["temperature"])
        if not (math.isfinite(temperature) and temperature > 0):
            raise bad(f"expected a temperature > 0 in {where!r}, got {temperature}")
        model.classes_ = classes
        model._k = k
        model.coef_ = coef
        model.intercept_ = intercept
        model.n_features_in_ = n_features
        if "feature_names_in" in header:
            names = np.asarray(header["feature_names_in"], dtype=object)
            if names.shape != (n_features,):
                raise bad(f"expected {n_features} feature names in {where!r}")
            model.feature_names_in_ = names
        model.n_iter_ = int(header["n_iter"])
        model.temperature_ = temperature
        model.loss_curve_ = [float(v) for v in arrays.get("loss_curve", [])]
        return model


def _label_codes(labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The index in ``classes`` (sorted) of each label; ``ValueError`` for one not there."""
    idx = np.clip(np.searchsorted(classes, labels), 0, len(classes) - 1)
    unknown = classes[idx] != labels
    if np.any(unknown):
        raise ValueError(
            f"expected labels among classes {classes.tolist()}, got {labels[unknown][0]!r}"
        )
    return idx.astype(np.intp)


def _result(a: Any) -> Any:
    """NumPy arrays as such; Dask results stay lazy."""
    return a if _dask_fit.is_dask(a) else np.asarray(a)


_CONTROLLER: list[ThreadpoolController] = []


def _blas_controller() -> ThreadpoolController:
    """One ThreadpoolController for the process: building it scans the loaded
    libraries (milliseconds, as long as a small fit)."""
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


def _separated(Z: np.ndarray, labels: np.ndarray) -> bool:
    """Whether every row's label has the strictly largest logit (no row at all: no)."""
    if Z.shape[0] == 0 or Z.shape[1] < 2:
        return False
    rows = np.arange(Z.shape[0])
    others = Z.copy()
    others[rows, labels] = -np.inf
    return bool(np.all(Z[rows, labels] > others.max(axis=1)))


def _loss_and_grads(
    X: np.ndarray,
    W: np.ndarray,
    b: np.ndarray,
    target: np.ndarray,
    sw: np.ndarray,
    cw: np.ndarray | None,
    eps: float,
) -> tuple[float, np.ndarray, np.ndarray]:
    """The weighted-mean cross-entropy of ``z = X W^T + b`` and its gradients in ``W``
    and ``b`` (:func:`softmaxkit.linear_cross_entropy_with_grad` less ``dF/dX``)."""
    return _linear_objective(
        X, W, b, target, class_weight=cw, sample_weight=sw, label_smoothing=eps, reduction="mean"
    )


def _row_weights(
    target: np.ndarray, soft: bool, sw: np.ndarray, cw: np.ndarray | None
) -> np.ndarray:
    """w_i: the sample weight times the class weight of the row's class (its expected
    class weight under a soft target), as in :func:`softmaxkit.softmax_cross_entropy`."""
    if cw is None:
        return sw
    return np.asarray(sw * (target @ cw if soft else cw[target]))


def _label_to_json(label: Any) -> Any:
    """Class labels travel as JSON: str, int, float and bool only (never pickled)."""
    if isinstance(label, (np.generic,)):
        label = label.item()
    if isinstance(label, (str, bool, int, float)):
        return label
    raise ValueError(
        f"expected class labels of type str, int, float or bool to save safely, got "
        f"{type(label).__name__}"
    )


def _label_from_json(label: Any) -> Any:
    if isinstance(label, (str, bool, int, float)):
        return label
    raise ValueError(f"expected a str, int, float or bool label, got {type(label).__name__}")
