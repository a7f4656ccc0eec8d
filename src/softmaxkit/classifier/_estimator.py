"""SoftmaxRegression: the estimator (parameters, fit, predict, calibrate, save, load).

A thin layer over :mod:`._targets` (what it is fitted to), :mod:`._loss` (the
objective), :mod:`._solvers` (how it is minimised), :mod:`._dask` (the same
objective over Dask chunks) and :mod:`._model_file` (the saved form).
"""

from __future__ import annotations

import math
import numbers
import os
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .. import _model_file as _container
from ..activations import log_softmax, softmax
from . import _dask, _loss, _model_file, _solvers, _targets
from ._loss import LinearSoftmaxLoss, penalty_strength

__all__ = ["SoftmaxRegression"]

SOLVERS = ("lbfgs", "newton-cg", "saga", "sgd", "adam")
SAGA_ROWS = 4  # saga's default batch: a few rows per vectorised step
_DTYPES = [np.float64, np.float32]  # float32 stays float32; anything else becomes float64


_RECORDED = ("n_features_in_", "feature_names_in_")  # what validating X records


def _computed(y: Any) -> Any:
    """``y`` itself, or its values if it is a Dask collection (validation labels)."""
    return y.compute() if _dask.is_dask(y) else y


def _check_magnitude(X: Any) -> None:
    """Refuse training features whose squares overflow: past ``sqrt(fmax) / 1e4``
    (1.3e150 in float64, 1.8e15 in float32) the Hessian products ``X^T D X`` of
    newton-cg overflow and no solver's steps mean anything (lbfgs stopped at
    iteration 0 with a gradient of 1e299). The fix is the user's: scale the features."""
    values = X.data if _loss.is_sparse(X) else X
    if values.size == 0:
        return
    bound = math.sqrt(float(np.finfo(values.dtype).max)) / 1e4
    largest = max(float(np.max(values)), -float(np.min(values)))  # no |X| copy
    if largest > bound:
        raise ValueError(
            f"expected feature values within {bound:.1e} in magnitude for {values.dtype} "
            f"(their squares overflow), got {largest:.3g}: scale the features "
            "(for instance with sklearn.preprocessing.StandardScaler)"
        )


class SoftmaxRegression(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    r"""Multinomial softmax regression, scikit-learn compatible.

    Minimises

    .. math::

        F(W, b) = \frac{\sum_i w_i \ell_i}{\sum_i w_i}
                  + \frac{m (1 - r) \lVert W \rVert_F^2 / 2 + r \lVert W \rVert_1}
                         {C \sum_i w_i}

    with ``l_i`` the softmax cross-entropy of row i (``softmax_cross_entropy``),
    ``w_i`` its sample weight times its class weight, ``r`` the ``l1_ratio``, and
    ``m = 1`` for three or more classes, ``m = 2`` for two: the objective of
    ``LogisticRegression(C=C, l1_ratio=r)`` for any number of classes. For two
    classes the loss sees only the logit difference ``w = W_1 - W_0``; the optimum
    has ``W_1 = -W_0 = w / 2``, where
    ``m ||W||^2 = ||w||^2``, the binary ``LogisticRegression(C)``'s penalty, so both
    give the same ``w``, intercept difference and probabilities (without ``m`` it
    would be ``LogisticRegression(2 C)``). Its gradient with
    respect to the logits is ``w_i (y_hat_i - y_i) / sum(w)``
    (:func:`softmaxkit.softmax_cross_entropy_grad`), and the objective and its
    gradient are computed by :func:`softmaxkit.linear_cross_entropy` (the logits
    never held whole); the Hessian-vector
    product used by ``"newton-cg"`` applies the softmax Jacobian
    ``diag(s) - s s^T`` row by row (:func:`softmaxkit.softmax_jvp`).

    ``X`` may be dense or a SciPy sparse matrix or array (a TF-IDF matrix, say),
    for every solver, :meth:`partial_fit`, the predictions and :meth:`calibrate`;
    a sparse ``X`` is never densified (see :meth:`fit`).

    Parameters
    ----------
    C : float, default 1.0
        Inverse regularisation strength, > 0 (``inf`` for no penalty).
    l1_ratio : float, default 0.0
        The elastic net's mix, as scikit-learn's: 0 is the L2 penalty, 1 the L1
        penalty (exact zeros in ``coef_``), in between both. Every solver but
        newton-cg takes it.
    fit_intercept : bool, default True
        Fit an unpenalised intercept per class.
    solver : {"lbfgs", "newton-cg", "saga", "sgd", "adam"}, default "lbfgs"
        ``"lbfgs"``: SciPy's L-BFGS-B with the analytic gradient; with
        ``l1_ratio > 0`` on ``W = W+ - W-`` with ``W+, W- >= 0`` (the L1 term is then
        linear, the problem smooth with bounds, and coefficients L1 removes end
        exactly at 0). ``"newton-cg"``: a Newton conjugate-gradient trust-region
        method (SciPy's ``trust-ncg``) with the analytic Hessian-vector product.
        ``"saga"``: SAGA, variance-reduced and proximal (:func:`._solvers.saga`),
        scikit-learn's step; ``batch_size`` rows per step (default 4). Measured on
        digits and a TF-IDF set, lbfgs reaches the elastic net's optimum to 1e-10
        in a tenth of a second where saga (ours or scikit-learn's) takes 3 to 80
        s, so lbfgs stays the default for every ``l1_ratio``.
        ``"sgd"`` and ``"adam"``: mini-batch solvers (also used by
        :meth:`partial_fit`), for data that comes in pieces; the L1 term by
        proximal steps; ``coef_`` is the polynomial-decay average of the
        iterates (the last iterate with an L1 term).
    max_iter : int, default 1000
        Iterations (lbfgs, newton-cg) or epochs (saga, sgd, adam).
    tol : float, default 1e-6
        Every solver stops when the largest entry of the objective's gradient
        (its smallest subgradient with an L1 term) is at most ``tol``, and
        raises ``ConvergenceWarning`` when ``max_iter`` ends first; the
        first-order solvers test it after each epoch (one more pass). sgd and
        adam rarely reach 1e-6: they warn, and report the gradient they did reach.
    class_weight : dict, "balanced" or None, default None
        Weights per class label; ``"balanced"`` is scikit-learn's
        ``n_samples / (n_classes * bincount(y))`` (with sample weights and
        soft targets, their weighted counts).
    label_smoothing : float, default 0.0
        ``eps`` in [0, 1): targets become ``(1 - eps) y + eps / n_classes``.
    warm_start : bool, default False
        Start ``fit`` from the previous solution; sgd and adam also keep their
        state (iterate, average, moments, step size), so a warm-started fit
        continues the last one.
    batch_size : int, optional
        Mini-batch size: for sgd/adam ``min(32, n_samples)`` in ``fit`` by
        default, and in ``partial_fit`` each piece passed is one batch unless
        this is set; for saga 4 by default.
    learning_rate : float, optional
        Step size for sgd/adam (default 0.5 for sgd, 0.2 for adam), decayed
        as ``1 / sqrt(1 + passes)``, passes counted over every call (so
        ``partial_fit`` and a warm-started ``fit`` go on where the last call
        left it).
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
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
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
    _opt_state: _solvers.OptimizerState

    def __init__(
        self,
        *,
        C: float = 1.0,
        l1_ratio: float = 0.0,
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
        self.l1_ratio = l1_ratio
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

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # SciPy CSR/CSC matrices and arrays, never densified
        return tags

    # ----------------------------------------------------------------------------------
    # validation

    # scikit-learn's declarative parameter validation (``BaseEstimator._validate_params``):
    # an ``InvalidParameterError`` (a ValueError and a TypeError) naming the parameter,
    # what it must be, and what it got.
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "C": [Interval(numbers.Real, 0, math.inf, closed="right")],  # inf: no penalty
        "l1_ratio": [Interval(numbers.Real, 0, 1, closed="both")],
        "fit_intercept": ["boolean"],
        "solver": [StrOptions(set(SOLVERS))],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "label_smoothing": [Interval(numbers.Real, 0, 1, closed="left")],
        "warm_start": ["boolean"],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def _check_params(self) -> None:
        self._validate_params()
        # An Integral interval admits bools (True is 1): max_iter=True ran one iteration.
        for name in ("max_iter", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, (bool, np.bool_)):
                raise InvalidParameterError(
                    f"The {name!r} parameter of {type(self).__name__} must be an int, "
                    f"not a bool. Got {value!r} instead."
                )
        if self.l1_ratio > 0 and self.solver == "newton-cg":
            raise InvalidParameterError(
                f"expected a solver other than 'newton-cg' with l1_ratio > 0 (it needs a "
                f"smooth objective), got l1_ratio={self.l1_ratio!r}"
            )

    def _validate_X(self, X: Any, *, reset: bool) -> np.ndarray:
        X = validate_data(self, X, reset=reset, dtype=_DTYPES, accept_sparse="csr")
        return X if _loss.is_sparse(X) else np.asarray(X)

    def _loss(self, X: Any, t: _targets.Targets, data_weight: float) -> LinearSoftmaxLoss:
        """The objective on ``(X, t)``, its penalty that of a data set of total weight
        ``data_weight``."""
        alpha, beta = penalty_strength(self.C, data_weight, len(t.classes), float(self.l1_ratio))
        return LinearSoftmaxLoss(
            X,
            t,
            alpha=alpha,
            beta=beta,
            fit_intercept=self.fit_intercept,
            label_smoothing=float(self.label_smoothing),
        )

    def _optimizer_state(self, W: np.ndarray, b: np.ndarray) -> _solvers.OptimizerState:
        """SGD/Adam's state: the last one with ``warm_start`` (the step size goes on
        decaying, Adam's moments are kept), else a fresh one."""
        last: _solvers.OptimizerState | None = getattr(self, "_opt_state", None)
        if self.warm_start and last is not None and last.m[0].shape == W.shape:
            return last
        return _solvers.OptimizerState.fresh(W, b, check_random_state(self.random_state))

    def _start(self, k: int, n_features: int, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
        """The starting point of ``fit``: the last solution with ``warm_start``, else 0."""
        if self.warm_start and getattr(self, "coef_", np.zeros(0)).shape == (k, n_features):
            return self.coef_.astype(dtype), self.intercept_.astype(dtype)
        return np.zeros((k, n_features), dtype=dtype), np.zeros(k, dtype=dtype)

    # ----------------------------------------------------------------------------------
    # fitting

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> SoftmaxRegression:
        """Fit on labels (1-D, any label type) or soft targets (2-D probabilities).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Finite features; float32 stays float32, anything else becomes float64.
            SciPy sparse matrices and arrays (CSR; CSC and others are converted to
            CSR) are used as they are, never densified: each iteration costs a
            multiple of the non-zeros.
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
        if _dask.is_dask(X) or _dask.is_dask(y) or _dask.is_dask(sample_weight):
            return self._fit_dask(X, y, sample_weight)
        X, y = validate_data(self, X, y, dtype=_DTYPES, multi_output=True, accept_sparse="csr")
        X = X if _loss.is_sparse(X) else np.asarray(X)
        _check_magnitude(X)
        t = _targets.build(y, None, sample_weight, self.class_weight, X.shape[0], X.dtype)
        if len(t.classes) < 2:
            raise ValueError(
                f"expected at least 2 classes in y, got 1 class: {t.classes.tolist()!r}"
            )
        total = t.total
        if not total > 0:
            raise ValueError("expected a positive total weight after class weights, got 0")
        self.classes_ = t.classes
        loss = self._loss(X, t, total)
        W0, b0 = self._start(len(t.classes), X.shape[1], X.dtype)
        self.loss_curve_: list[float] = []
        solver = str(self.solver)
        if solver in ("lbfgs", "newton-cg"):
            W, b, n_iter = self._full_batch(loss, W0, b0)
        elif solver == "saga":
            W, b, n_iter = _solvers.saga(
                loss,
                W0,
                b0,
                max_iter=int(self.max_iter),
                tol=float(self.tol),
                batch_size=int(self.batch_size or SAGA_ROWS),
                rng=check_random_state(self.random_state),
                verbose=int(self.verbose),
                curve=self.loss_curve_,
            )
        else:
            self._opt_state = self._optimizer_state(W0, b0)
            n = X.shape[0]
            W, b, n_iter = self._minibatch(
                loss, min(32, n), total, int(self.max_iter), solver, tol=float(self.tol)
            )
        return self._fitted(W, b, n_iter, float(np.sum(t.sample_weight)))

    def _full_batch(
        self, loss: Any, W0: np.ndarray, b0: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, int]:
        return _solvers.full_batch(
            loss,
            W0,
            b0,
            solver="newton-cg" if self.solver == "newton-cg" else "lbfgs",
            max_iter=int(self.max_iter),
            tol=float(self.tol),
            verbose=int(self.verbose),
            curve=self.loss_curve_,
        )

    def _minibatch(
        self,
        loss: LinearSoftmaxLoss,
        default_batch: int,
        data_weight: float,
        epochs: int,
        method: str,
        *,
        tol: float | None,
    ) -> tuple[np.ndarray, np.ndarray, int]:
        adam = method == "adam"
        return _solvers.minibatch(
            loss,
            self._opt_state,
            epochs=epochs,
            batch_size=int(self.batch_size) if self.batch_size is not None else default_batch,
            lr0=_solvers.initial_step(self.learning_rate, adam),
            adam=adam,
            data_weight=data_weight,
            tol=tol,
            verbose=int(self.verbose),
            label=method,
            curve=self.loss_curve_,
        )

    def _fit_dask(self, X: Any, y: Any, sample_weight: Any) -> SoftmaxRegression:
        """``fit`` on Dask collections: the same solvers on :class:`._dask.ChunkedLoss`."""
        solver = str(self.solver)
        if solver == "saga":
            raise ValueError(
                "expected solver 'lbfgs', 'newton-cg', 'sgd' or 'adam' for Dask data, got "
                "'saga' (it keeps a gradient per row in memory)"
            )
        data = _dask.Data(X, y, sample_weight)
        classes = data.classes()
        if len(classes) < 2:
            raise ValueError(f"expected at least 2 classes in y, got {classes.tolist()!r}")
        counts = data.class_totals(classes)
        cw = _targets.class_weights(self.class_weight, classes, counts, data.dtype)
        total = float(counts @ cw) if cw is not None else float(counts.sum())
        if not total > 0:
            raise ValueError("expected a positive total weight after class weights, got 0")
        self.classes_ = classes
        self.n_features_in_ = data.n_features
        if data.names is not None:
            self.feature_names_in_ = np.asarray(data.names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        alpha, beta = penalty_strength(self.C, total, len(classes), float(self.l1_ratio))
        loss = _dask.ChunkedLoss(
            data,
            classes,
            cw,
            total,
            alpha=alpha,
            beta=beta,
            fit_intercept=self.fit_intercept,
            label_smoothing=float(self.label_smoothing),
        )
        W0, b0 = self._start(len(classes), data.n_features, data.dtype)
        self.loss_curve_ = []
        if solver in ("lbfgs", "newton-cg"):
            W, b, n_iter = self._full_batch(loss, W0, b0)
        else:
            adam = solver == "adam"
            self._opt_state = self._optimizer_state(W0, b0)
            W, b, n_iter = _dask.minibatch(
                loss,
                self._opt_state,
                epochs=int(self.max_iter),
                batch_size=self.batch_size,
                lr0=_solvers.initial_step(self.learning_rate, adam),
                adam=adam,
                tol=float(self.tol),
                verbose=int(self.verbose),
                label=solver,
                curve=self.loss_curve_,
            )
        dtype = data.dtype
        return self._fitted(W.astype(dtype), b.astype(dtype), n_iter, float(counts.sum()))

    def _distinct(self, X: Any, t: _targets.Targets) -> float:
        """The total weight of the distinct rows ``partial_fit`` has seen (this call's
        included): the size of the data set its pieces come from, which stops growing
        when the same rows come again (:func:`._targets.fingerprints`)."""
        seen: set[int] = self.__dict__.setdefault("_rows_seen", set())
        keys = _targets.fingerprints(X, t).tolist()
        new = np.fromiter((k not in seen for k in keys), dtype=bool, count=len(keys))
        seen.update(keys)
        self._distinct_weight = getattr(self, "_distinct_weight", 0.0) + float(
            np.sum(t.row_weight[new], dtype=np.float64)
        )
        return max(self._distinct_weight, np.finfo(float).tiny)

    def _fitted(self, W: np.ndarray, b: np.ndarray, n_iter: int, seen: float) -> SoftmaxRegression:
        """Store the result of ``fit`` (either kind of data): coefficients, iterations,
        temperature 1, and the total sample weight seen."""
        self.coef_ = np.ascontiguousarray(W, dtype=W.dtype)
        self.intercept_ = np.ascontiguousarray(b, dtype=W.dtype)
        self.n_iter_ = int(n_iter)
        self.temperature_ = 1.0
        self.__dict__.pop("calibration_", None)  # a new fit is not calibrated
        for stale in ("_rows_seen", "_distinct_weight"):  # partial_fit counts afresh
            self.__dict__.pop(stale, None)
        if self.solver not in ("sgd", "adam"):
            self.__dict__.pop("_opt_state", None)  # partial_fit starts from coef_
        self.n_samples_seen_ = seen
        return self

    def objective(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """The training objective F of the fitted coefficients on ``(X, y)``.

        Uses the same ``C``, class weights and label smoothing as ``fit``, so
        ``model.objective(X, y)`` is the value ``fit`` minimised on that data.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        t = _targets.build(y, self.classes_, sample_weight, self.class_weight, X.shape[0], X.dtype)
        return self._loss(X, t, t.total).value(self.coef_, self.intercept_)

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
            set would use. By default, the total weight of the *distinct* rows
            passed so far: each row's 64-bit fingerprint (its values, target
            and weight; the j-th copy of a row within one call is its own row)
            is remembered, so feeding the same data for many epochs counts it
            once, and the loop converges to ``fit``'s optimum instead of
            weakening the penalty every epoch; a stream seen once counts every
            row. Memory: about 60 bytes per distinct row.

        Notes
        -----
        Each call makes Adam steps (SGD steps for ``solver="sgd"``) on the
        piece, from the state the last call left: the iterate, its
        polynomial-decay average (reported as ``coef_``), Adam's moments and
        the step size ``learning_rate / sqrt(1 + passes)``. On iris, wine and
        digits (standardised, C = 1), 300 epochs of 5 shuffled pieces end
        within 1e-4 of the full-batch optimum.
        """
        self._check_params()
        if _dask.is_dask(X) or _dask.is_dask(y) or _dask.is_dask(sample_weight):
            data = _dask.Data(X, y, sample_weight)
            for i in range(len(data)):
                xb, yb, swb = data.fetch(i)
                self.partial_fit(
                    xb,
                    yb,
                    classes=classes if i == 0 else None,
                    sample_weight=swb,
                    n_samples=n_samples,
                )
            return self
        first = not hasattr(self, "classes_")
        # validation first, all of it: a call that fails leaves the model as it was
        # (validating X on the first call records n_features_in_: undone on failure)
        recorded = {name: self.__dict__[name] for name in _RECORDED if name in self.__dict__}
        try:
            X, t = self._partial_fit_inputs(X, y, classes, sample_weight, n_samples, first)
        except BaseException:
            for name in _RECORDED:
                self.__dict__.pop(name, None)
            self.__dict__.update(recorded)
            raise
        dtype = X.dtype
        if first:
            k = len(t.classes)
            self.classes_ = t.classes
            self.coef_ = np.zeros((k, X.shape[1]), dtype=dtype)
            self.intercept_ = np.zeros(k, dtype=dtype)
            self.n_samples_seen_ = 0.0
            self.n_iter_ = 0
            self.temperature_ = 1.0
            self.loss_curve_ = []
        self.n_samples_seen_ += float(np.sum(t.sample_weight))
        data_weight = float(n_samples) if n_samples is not None else self._distinct(X, t)
        W, b = self.coef_.astype(dtype), self.intercept_.astype(dtype)
        if not hasattr(self, "_opt_state"):
            self._opt_state = _solvers.OptimizerState.fresh(
                W, b, check_random_state(self.random_state)
            )
        method = "sgd" if self.solver == "sgd" else "adam"
        loss = self._loss(X, t, data_weight)
        self.coef_, self.intercept_, _ = self._minibatch(
            loss, X.shape[0], data_weight, 1, method, tol=None
        )
        self.n_iter_ += 1
        return self

    def _partial_fit_inputs(
        self,
        X: Any,
        y: Any,
        classes: Any,
        sample_weight: Any,
        n_samples: float | None,
        first: bool,
    ) -> tuple[Any, _targets.Targets]:
        """partial_fit's checks of every argument, before anything changes."""
        X = self._validate_X(X, reset=first)
        _check_magnitude(X)
        dtype = X.dtype
        if first:
            if classes is None and not _targets.is_soft(y):
                raise ValueError("expected classes= on the first call to partial_fit, got None")
            known = None if classes is None else np.unique(np.asarray(classes))
        else:
            known = self.classes_
            if classes is not None and not np.array_equal(np.unique(np.asarray(classes)), known):
                raise ValueError(
                    f"expected the same classes as the first call {known.tolist()}, got "
                    f"{np.unique(classes).tolist()}"
                )
        y_rows = np.asarray(y).shape[0] if np.ndim(y) else 0
        if y_rows != X.shape[0]:
            raise ValueError(f"expected y with {X.shape[0]} rows like X, got {y_rows}")
        t = _targets.build(y, known, sample_weight, self.class_weight, X.shape[0], dtype)
        if len(t.classes) < 2:
            raise ValueError(f"expected at least 2 classes, got 1 class: {t.classes.tolist()!r}")
        if n_samples is not None and not (
            isinstance(n_samples, numbers.Real) and 0 < n_samples < math.inf
        ):
            raise ValueError(f"expected n_samples to be a finite number > 0, got {n_samples!r}")
        return X, t

    # ----------------------------------------------------------------------------------
    # prediction

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits ``X W^T + b``, shape (n_samples, n_classes); for two classes the single
        logit ``z1 - z0`` (shape (n_samples,)): softmax of two classes is the sigmoid of
        the logit difference. Not divided by ``temperature_``."""
        Z = self._logits(X)
        out = Z[:, 1] - Z[:, 0] if Z.shape[1] == 2 else Z
        return out if _dask.is_dask(out) else np.asarray(out)

    def _logits(self, X: Any) -> Any:
        """``X W^T + b``: a NumPy array, or a lazy Dask array for Dask input."""
        check_is_fitted(self)
        if _dask.is_dask(X):
            return _dask.logits(X, self.coef_, self.intercept_)
        X = self._validate_X(X, reset=False)
        return np.asarray(X @ self.coef_.T) + self.intercept_

    def predict_proba(self, X: Any) -> Any:
        """``softmax(z / temperature_)`` per row (lazy for Dask input)."""
        return _result(softmax(self._logits(X), temperature=float(self.temperature_)))

    def predict_log_proba(self, X: Any) -> Any:
        """``log_softmax(z / temperature_)``: exact where ``log(predict_proba)`` gives -inf."""
        return _result(log_softmax(self._logits(X), temperature=float(self.temperature_)))

    def predict(self, X: Any) -> Any:
        """The class with the largest logit (unchanged by temperature; lazy for Dask input)."""
        Z = self._logits(X)  # checks that the model is fitted before classes_ is read
        if _dask.is_dask(Z):
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
        check_is_fitted(self)
        if _dask.is_dask(X_val):  # the validation logits are n x K: small enough to fetch
            Z = self._logits(X_val).compute()
            return self.calibrate_logits(np.asarray(Z), _computed(y_val))
        X = self._validate_X(X_val, reset=False)
        target, _, soft = _targets.encode(_computed(y_val), self.classes_, X.dtype)
        if len(target) != X.shape[0]:
            raise ValueError(f"expected {X.shape[0]} validation labels, got {len(target)}")
        step = _solvers.block_rows(len(self.classes_))

        def blocks() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            # the logits anew for each evaluation, a row block at a time: never n x K
            for start in range(0, X.shape[0], step):
                Xb = X[start : start + step]
                yield np.asarray(Xb @ self.coef_.T) + self.intercept_, target[start : start + step]

        return self._set_temperature(_solvers.fit_temperature(blocks, X.shape[0], soft))

    def calibrate_logits(self, Z_val: Any, y_val: Any) -> SoftmaxRegression:
        """:meth:`calibrate` from validation logits already computed (``X_val W^T + b``,
        shape (n, n_classes)), for example on a cluster where only they come back."""
        check_is_fitted(self)
        Z = np.asarray(Z_val)
        k = len(self.classes_)
        if Z.ndim != 2 or Z.shape[1] != k or Z.dtype.kind != "f":
            raise ValueError(f"expected float logits of shape (n, {k}), got {Z.dtype} {Z.shape}")
        target, _, soft = _targets.encode(y_val, self.classes_, Z.dtype)
        if len(target) != Z.shape[0]:
            raise ValueError(f"expected {Z.shape[0]} validation labels, got {len(target)}")
        step = _solvers.block_rows(k)

        def blocks() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            for start in range(0, Z.shape[0], step):
                yield Z[start : start + step], target[start : start + step]

        return self._set_temperature(_solvers.fit_temperature(blocks, Z.shape[0], soft))

    def _set_temperature(self, result: dict[str, Any]) -> SoftmaxRegression:
        if result["kept_reason"] is not None:
            warnings.warn(
                f"calibrate kept temperature_ = 1: {result['kept_reason']}; temperature "
                "scaling needs a validation split with some errors (a larger or harder one)",
                UserWarning,
                stacklevel=_solvers.user_stacklevel(),
            )
        self.temperature_ = result["temperature"]
        self.calibration_ = result
        return self

    # ----------------------------------------------------------------------------------
    # the model file

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted model to ``path`` (``.npz`` with a JSON header; never pickled)."""
        header, arrays = self.model_state()
        _container.write(path, header, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SoftmaxRegression:
        """Read a model written by :meth:`save`; ``ValueError`` for any bad file."""
        header, arrays = _container.read(path, _model_file.KIND, _model_file.shapes)
        return cls.from_model_state(header, arrays, str(path))

    def model_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The fitted model as ``(header, arrays)``: a JSON-safe dict (parameters,
        classes, feature names, scalars) and the float arrays (coefficients, loss
        curve). What :meth:`save` writes; for embedding the model in a larger file.
        """
        check_is_fitted(self)
        return _model_file.header(self), _model_file.arrays(self)

    @classmethod
    def from_model_state(
        cls, header: dict[str, Any], arrays: dict[str, np.ndarray], source: str = "<state>"
    ) -> SoftmaxRegression:
        """The fitted model from :meth:`model_state`'s parts, every field checked;
        ``ValueError`` naming ``source`` for anything inconsistent."""
        model: SoftmaxRegression = _model_file.restore(cls, header, arrays, source)
        return model


def _result(a: Any) -> Any:
    """NumPy arrays as such; Dask results stay lazy."""
    return a if _dask.is_dask(a) else np.asarray(a)
