"""The solvers: plain functions of an objective (:class:`._loss.Objective`).

* :func:`full_batch`: SciPy's L-BFGS-B on ``loss_gradient``, or trust-region
  Newton-CG (``trust-ncg``) with ``hessp``; BLAS on one thread.
* :func:`saga`: SAGA (Defazio, Bach and Lacoste-Julien, 2014), variance-reduced
  and proximal, for the elastic net; linear convergence on F.
* :func:`minibatch` and :func:`steps`: SGD and Adam over rows in memory, the
  optimiser's state in an :class:`OptimizerState` that outlives a call (so
  ``partial_fit`` and a warm-started ``fit`` continue where they stopped); the
  Dask fit runs :func:`steps` on each chunk where the chunk lives.

The first-order solvers stop when the largest entry of F's smallest subgradient
(:meth:`._loss.Objective.value_and_stationarity`, one pass after each epoch) is
at most ``tol``, the test L-BFGS-B applies to the gradient, and raise
``ConvergenceWarning`` when ``max_iter`` epochs end before that.
* :func:`fit_temperature`: the one-dimensional solver of temperature scaling.
* :class:`Progress`: iteration, objective and gradient norm on stderr.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..losses import softmax_cross_entropy
from ._loss import LinearSoftmaxLoss, Objective, is_sparse, soft_threshold


class Progress:
    """Iteration, objective and gradient norm on stderr while a solver runs.

    On a terminal, a tqdm bar (tqdm comes with the ``cli`` extra: a well-kept,
    small library whose bar redraws in place without leftovers, rate-limits itself
    and shows an ETA) with the objective and the largest gradient entry beside
    it; a fit that converges before ``max_iter`` ends the bar at 100% (its total
    becomes the iterations run). Without tqdm, or when stderr is not a terminal
    (a log file, CI), one plain line now and then (``verbose=2``: every
    iteration). The ETA is an upper bound: ``max_iter`` iterations at the
    current rate.
    """

    def __init__(self, total: int, verbose: int, label: str) -> None:
        self.total, self.verbose, self.label = total, verbose, label
        self.stream = sys.stderr
        self.start = time.perf_counter()
        self.last = 0.0
        self.printed = -1  # the last iteration written
        self.bar: Any = None
        if verbose == 1 and self.stream.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                try:
                    size = os.get_terminal_size(self.stream.fileno())
                except (OSError, ValueError, AttributeError):
                    size = os.terminal_size((0, 0))
                sized = size.columns > 0 and size.lines > 0
                self.bar = tqdm(
                    total=total,
                    desc=label,
                    unit="it",
                    file=self.stream,
                    dynamic_ncols=sized,
                    # a terminal that reports no size (a bare pty) would get an empty bar
                    ncols=None if sized else 100,
                    nrows=None if sized else 24,
                )

    def update(self, it: int, objective: float, grad_norm: float, *, final: bool = False) -> None:
        if not self.verbose:
            return
        if self.bar is not None:
            self.bar.set_postfix_str(f"objective {objective:.6g} |grad| {grad_norm:.2e}", False)
            if final:
                if it < self.bar.total:
                    self.bar.total = it  # converged: the bar ends full
                self.bar.update(it - self.bar.n)
                self.bar.close()
            else:
                self.bar.update(it - self.bar.n)
            return
        now = time.perf_counter()
        if not final and self.verbose < 2 and now - self.last < 0.1:
            return
        if final and it == self.printed:
            return  # already on its own line
        self.last, self.printed = now, it
        self.stream.write(
            f"{self.label} {it}/{self.total}  objective {objective:.6g}  "
            f"|grad| {grad_norm:.2e}  {now - self.start:.1f}s\n"
        )
        self.stream.flush()


_CONTROLLER: list[Any] = []


def blas_controller() -> Any:
    """One ``threadpoolctl.ThreadpoolController`` for the process: building it scans the
    loaded libraries (milliseconds, as long as a small fit)."""
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


# --------------------------------------------------------------------------------------
# full batch


def full_batch(
    loss: Objective,
    W0: np.ndarray,
    b0: np.ndarray,
    *,
    solver: str,
    max_iter: int,
    tol: float,
    verbose: int,
    curve: list[float],
) -> tuple[np.ndarray, np.ndarray, int]:
    """Minimise ``loss`` from ``(W0, b0)`` with L-BFGS-B (``"lbfgs"``) or trust-region
    Newton-CG on its Hessian-vector product (``"newton-cg"``); the objective after
    each iteration is appended to ``curve``. ``ConvergenceWarning`` when the largest
    gradient component is still above ``tol`` after ``max_iter`` iterations.

    With an L1 term (``loss.beta > 0``, lbfgs only) ``W = W+ - W-`` with ``W+, W- >=
    0``: ``beta ||W||_1`` becomes the linear ``beta sum(W+ + W-)``, smooth on the
    bounds L-BFGS-B keeps, and a coefficient L1 removes ends exactly at 0 (both
    parts at their bound).
    """
    from scipy import optimize
    from sklearn.exceptions import ConvergenceWarning

    progress = Progress(max_iter, verbose, solver)
    last = {"grad": math.nan}

    def tracked(params: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = loss.loss_gradient(params)
        last["grad"] = float(np.max(np.abs(grad), initial=0.0))
        return value, grad

    def callback(intermediate_result: Any) -> None:
        curve.append(float(intermediate_result.fun))
        progress.update(len(curve), float(intermediate_result.fun), last["grad"])

    x0 = loss.pack(W0, b0)
    fun, bounds = tracked, None
    size = loss.k * loss.n_features
    if loss.beta:
        fun, x0, bounds = _split_l1(tracked, x0, size, loss.beta)
    # BLAS on one thread: the objective's own threads share the row blocks, and
    # NumPy's and SciPy's BLAS thread pools spinning against each other and
    # against L-BFGS's bookkeeping made a small fit several times slower.
    with blas_controller().limit(limits=1, user_api="blas"):
        if solver == "lbfgs":
            options = {
                "maxiter": max_iter,
                "gtol": tol,
                "ftol": 64 * np.finfo(float).eps,
                "maxls": 50,
            }
            res = optimize.minimize(
                fun,
                x0,
                method="L-BFGS-B",
                jac=True,
                bounds=bounds,
                callback=callback,
                options=options,
            )
        else:
            res = optimize.minimize(
                tracked,
                x0,
                method="trust-ncg",
                jac=True,
                hessp=loss.hessp,
                callback=callback,
                options={"maxiter": max_iter, "gtol": tol},
            )
    progress.update(len(curve), float(res.fun), last["grad"], final=True)
    x = res.x
    if loss.beta:
        x = np.concatenate([x[:size] - x[size : 2 * size], x[2 * size :]])
        largest = 0.0 if res.success else loss.value_and_stationarity(*loss.unpack(x))[1]
    else:
        largest = float(np.max(np.abs(res.jac), initial=0.0))
    if not res.success and largest > tol:
        warnings.warn(
            f"{solver} did not converge in {res.nit} iterations (largest gradient component "
            f"{largest:.2e} > tol={tol}): increase max_iter or scale the features",
            ConvergenceWarning,
            stacklevel=user_stacklevel(),
        )
    if not curve:
        curve.append(float(res.fun))
    W, b = loss.unpack(x)
    return W, b, int(res.nit)


def _split_l1(
    fun: Any, x0: np.ndarray, size: int, beta: float
) -> tuple[Any, np.ndarray, list[tuple[float | None, float | None]]]:
    """``fun`` (the smooth part, of ``(W, b)`` flat) plus ``beta ||W||_1`` as a smooth
    function of ``(W+, W-, b)`` with ``W+, W- >= 0``, its start and its bounds."""

    def split(z: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = fun(np.concatenate([z[:size] - z[size : 2 * size], z[2 * size :]]))
        gW = grad[:size]
        total = value + beta * float(z[: 2 * size].sum())
        return total, np.concatenate([gW + beta, beta - gW, grad[size:]])

    W0 = x0[:size]
    z0 = np.concatenate([np.maximum(W0, 0.0), np.maximum(-W0, 0.0), x0[size:]])
    bounds: list[tuple[float | None, float | None]] = [(0.0, None)] * (2 * size)
    bounds += [(None, None)] * (len(x0) - size)
    return split, z0, bounds


# --------------------------------------------------------------------------------------
# mini-batches


AVERAGING = 10.0  # eta of the polynomial-decay average (Shamir and Zhang, 2013)


@dataclass
class OptimizerState:
    """What SGD / Adam carry from step to step and call to call: the iterate ``(W, b)``,
    its running average, Adam's moments, the step counts, the sample weight
    processed (for the step size) and the random state that shuffles the rows."""

    W: np.ndarray
    b: np.ndarray
    average: list[np.ndarray]
    m: list[np.ndarray]
    v: list[np.ndarray]
    t: int = 0  # Adam's steps (its bias correction)
    k: int = 0  # all steps (the average's)
    processed: float = 0.0
    rng: Any = field(default=None, repr=False)

    @classmethod
    def fresh(cls, W: np.ndarray, b: np.ndarray, rng: Any = None) -> OptimizerState:
        W, b = np.array(W), np.array(b)
        return cls(
            W=W,
            b=b,
            average=[W.copy(), b.copy()],
            m=[np.zeros_like(W), np.zeros_like(b)],
            v=[np.zeros_like(W), np.zeros_like(b)],
            rng=rng,
        )

    def result(self, beta: float) -> tuple[np.ndarray, np.ndarray]:
        """The coefficients to report: the average of the iterates, or the last
        iterate with an L1 term (whose proximal steps put exact zeros there, which
        an average would blur)."""
        if beta or self.k == 0:
            return self.W, self.b
        return self.average[0], self.average[1]


def initial_step(learning_rate: float | None, adam: bool) -> float:
    """``learning_rate``, by default 0.2 for Adam and 0.5 for SGD."""
    if learning_rate is not None:
        return float(learning_rate)
    return 0.2 if adam else 0.5


def steps(
    loss: LinearSoftmaxLoss,
    order: np.ndarray,
    batch_size: int,
    lr: float,
    state: OptimizerState,
    adam: bool,
) -> None:
    """One SGD or Adam step per batch of ``batch_size`` rows taken in ``order``, from
    and into ``state`` (the iterate, its average, Adam's moments, the counts).

    The average is the polynomial-decay average ``avg_k = (1 - c) avg_{k-1} + c x_k``,
    ``c = (eta + 1) / (k + eta)`` with ``eta = AVERAGING``: it forgets the first
    iterates, far from the optimum, and averages out the noise of the last ones
    (Shamir and Zhang, "Stochastic Gradient Descent for Non-smooth Optimization",
    ICML 2013).
    """
    W, b = state.W, state.b
    for start in range(0, len(order), batch_size):
        grads = loss.batch_gradient(order[start : start + batch_size], W, b)
        if grads is None:
            continue
        gW, gb = grads
        if adam:
            state.t += 1
            t = state.t
            for idx, g in enumerate((gW, gb)):
                state.m[idx] = 0.9 * state.m[idx] + 0.1 * g
                state.v[idx] = 0.999 * state.v[idx] + 0.001 * g * g
            mh = [m / (1 - 0.9**t) for m in state.m]
            vh = [v / (1 - 0.999**t) for v in state.v]
            scale: Any = lr / (np.sqrt(vh[0]) + 1e-8)
            W = W - scale * mh[0]
            b = b - lr * mh[1] / (np.sqrt(vh[1]) + 1e-8)
        else:
            scale = lr
            W = W - lr * gW
            b = b - lr * gb
        if loss.beta:  # the L1 term's proximal step, in Adam's metric for Adam
            W = soft_threshold(W, scale * loss.beta)
        state.k += 1
        c = (AVERAGING + 1.0) / (state.k + AVERAGING)
        state.average = [(1 - c) * state.average[0] + c * W, (1 - c) * state.average[1] + c * b]
    state.W, state.b = W, b


def end_epoch(
    loss: Objective,
    W: np.ndarray,
    b: np.ndarray,
    curve: list[float],
    progress: Progress,
    done: int,
    tol: float,
) -> float:
    """After an epoch: F and its stationarity at ``(W, b)`` (one pass), F recorded in
    ``curve`` and reported; returns the stationarity (converged when <= ``tol``)."""
    value, largest = loss.value_and_stationarity(W, b)
    curve.append(value)
    progress.update(done, value, largest)
    return largest


def not_converged(solver: str, epochs: int, largest: float, tol: float) -> None:
    """The ``ConvergenceWarning`` of a first-order solver that used all its epochs."""
    from sklearn.exceptions import ConvergenceWarning

    warnings.warn(
        f"{solver} did not converge in {epochs} epochs (largest entry of the objective's "
        f"gradient {largest:.2e} > tol={tol}): increase max_iter, scale the features, or "
        "use lbfgs, newton-cg or saga",
        ConvergenceWarning,
        stacklevel=user_stacklevel(),
    )


def user_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning raised by the caller point at the first
    frame outside softmaxkit (the user's ``fit`` or ``calibrate`` line), however
    deep the package's own calls run (in memory, on Dask, via a solver)."""
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith(
        "softmaxkit."
    ):
        frame = frame.f_back
        level += 1
    return level


def run_epochs(
    loss: Objective,
    epoch: Callable[[int], tuple[np.ndarray, np.ndarray]],
    *,
    epochs: int,
    tol: float | None,
    verbose: int,
    label: str,
    curve: list[float],
) -> int:
    """The first-order solvers' outer loop: ``epoch(done)`` makes one pass and returns
    the coefficients to report; after each, F and its stationarity at them
    (:func:`end_epoch`); stop when it is at most ``tol``, ``ConvergenceWarning``
    when ``epochs`` end first. ``tol=None`` (``partial_fit``): no test, no
    warning, F not computed. Returns the passes made."""
    progress = Progress(epochs, verbose, label)
    done, largest = 0, math.inf
    for _ in range(epochs):
        W, b = epoch(done)
        done += 1
        if tol is None:
            continue
        largest = end_epoch(loss, W, b, curve, progress, done, tol)
        if largest <= tol:
            break
    if tol is not None:
        progress.update(done, curve[-1], largest, final=True)
        if largest > tol:
            not_converged(label, done, largest, tol)
    return done


def minibatch(
    loss: LinearSoftmaxLoss,
    state: OptimizerState,
    *,
    epochs: int,
    batch_size: int,
    lr0: float,
    adam: bool,
    data_weight: float,
    tol: float | None,
    verbose: int,
    label: str,
    curve: list[float],
) -> tuple[np.ndarray, np.ndarray, int]:
    """Mini-batch SGD or Adam on ``loss``, up to ``epochs`` passes over its rows, from
    ``state`` (see :func:`steps`); returns the coefficients to report (their average
    over the steps) and the passes made.

    Each step follows the gradient of the batch's weighted-mean loss plus the
    penalty: an unbiased estimate of the gradient of F (the L1 term by its
    proximal step). The step size is ``lr0 / sqrt(1 + passes)``, passes being the
    sample weight processed (``state.processed``, kept across calls) divided by
    ``data_weight``, so ``partial_fit`` pieces and warm-started fits go on
    decaying where the last call stopped. ``tol=None`` (``partial_fit``): no test,
    no warning, F not computed.
    """
    n = loss.X.shape[0]
    sw_sum = float(np.sum(loss.targets.sample_weight))

    def epoch(done: int) -> tuple[np.ndarray, np.ndarray]:
        lr = lr0 / math.sqrt(1.0 + math.floor(state.processed / data_weight))
        state.processed += sw_sum
        steps(loss, state.rng.permutation(n), batch_size, lr, state, adam)
        return state.result(loss.beta)

    done = run_epochs(
        loss, epoch, epochs=epochs, tol=tol, verbose=verbose, label=label, curve=curve
    )
    W, b = state.result(loss.beta)
    return W.astype(loss.dtype), b.astype(loss.dtype), done


def _gt_x(G: np.ndarray, X: Any) -> np.ndarray:
    """``G^T X`` (K x d) for a dense or sparse ``X``."""
    if is_sparse(X):
        return np.asarray(X.T @ G).T
    return np.asarray(G.T @ X)


def saga_step_size(loss: LinearSoftmaxLoss, batch_size: int) -> float:
    """``1 / (3 (L_B + alpha))``: SAGA's step for batches of ``batch_size`` rows.

    Row i's term ``f_i = n w_i l_i / sum(w)`` is ``L_i``-smooth in ``(W, b)`` with
    ``L_i = n w_i (||x_i||^2 + [fit_intercept]) / (2 sum(w))``, the largest
    eigenvalue of ``diag(p) - p p^T`` being at most 1/2. For batches,
    ``L_B = n (B - 1) / (B (n - 1)) mean(L_i) + (n - B) / (B (n - 1)) max(L_i)``
    (Gazagnadou, Gower and Salmon, 2019, with ``mean L_i`` bounding the
    smoothness of the mean); ``B = 1`` gives SAGA's ``1 / (3 L_max)``.
    """
    X = loss.X
    n = X.shape[0]
    if is_sparse(X):
        sq = np.asarray(X.multiply(X).sum(axis=1)).ravel()
    else:
        sq = np.einsum("ij,ij->i", X, X)
    w = loss.targets.row_weight
    L = 0.5 * n * w / loss.targets.total * (sq + float(loss.fit_intercept))
    B = min(max(1, batch_size), n)
    LB = float(L.max())
    if n > 1:
        LB = (n * (B - 1) * float(L.mean()) + (n - B) * LB) / (B * (n - 1))
    curvature = LB + loss.alpha
    # no curvature (every row zero, no intercept, no penalty): F is flat in W and
    # any step leaves it so
    return 1.0 / (STEP_FACTOR * curvature) if curvature > 0 else 1.0


def saga(
    loss: LinearSoftmaxLoss,
    W: np.ndarray,
    b: np.ndarray,
    *,
    max_iter: int,
    tol: float,
    batch_size: int,
    rng: Any,
    verbose: int,
    curve: list[float],
) -> tuple[np.ndarray, np.ndarray, int]:
    """SAGA with the elastic net's proximal step, on rows in memory (dense or sparse).

    Keeps each row's last gradient in its logits, ``G_i = w_i (p_i - y_i) / sum(w)``
    (an ``(n, K)`` table, as scikit-learn's saga does), and their sum ``A = sum_i
    G_i x_i^T``. A step on the rows ``B`` (an epoch visits every row once, in a new
    random order) computes their new ``G_i``, follows ``v = (n / |B|) sum_B (G_i^new
    - G_i) x_i^T + A + alpha W`` (an unbiased estimate of F's gradient whose
    variance vanishes at the optimum), updates the table and ``A``, and applies
    the L1 term's proximal map (soft thresholding by ``eta beta``), which puts
    exact zeros in ``W``. Step ``eta`` from :func:`saga_step_size`. ``A`` is
    summed afresh from the table after each epoch (no drift from rounding).

    References
    ----------
    A. Defazio, F. Bach and S. Lacoste-Julien, "SAGA: A Fast Incremental Gradient
    Method With Support for Non-Strongly Convex Composite Objectives", NeurIPS 2014.
    """
    X = loss.X
    n = X.shape[0]
    B = min(max(1, batch_size), n)
    eta = saga_step_size(loss, B)
    alpha, beta, fit_intercept = loss.alpha, loss.beta, loss.fit_intercept
    W = np.array(W, dtype=loss.dtype)
    b = np.array(b, dtype=loss.dtype)
    memory = np.concatenate(
        [loss.logit_gradients(np.arange(s, min(s + 65536, n)), W, b) for s in range(0, n, 65536)]
    )

    def epoch(done: int) -> tuple[np.ndarray, np.ndarray]:
        nonlocal W, b
        A_W, A_b = _gt_x(memory, X), memory.sum(axis=0)
        order = rng.permutation(n)
        for start in range(0, n, B):
            rows = order[start : start + B]
            new = loss.logit_gradients(rows, W, b)
            D = new - memory[rows]
            memory[rows] = new
            dW, db = _gt_x(D, X[rows]), D.sum(axis=0)
            scale = n / len(rows)
            W -= eta * (scale * dW + A_W + alpha * W)
            if beta:
                W = soft_threshold(W, eta * beta)
            if fit_intercept:
                b -= eta * (scale * db + A_b)
            A_W += dW
            A_b += db
        return W, b

    done = run_epochs(
        loss, epoch, epochs=max_iter, tol=tol, verbose=verbose, label="saga", curve=curve
    )
    return W, b, done


# --------------------------------------------------------------------------------------
# temperature


BLOCK_ENTRIES = 1 << 22  # logits in one row block (32 MB in float64): memory bounded in K


def block_rows(n_classes: int) -> int:
    """Rows in a block of at most :data:`BLOCK_ENTRIES` logits (of ``n_classes`` each):
    the unit in which the validation logits (here) and the command line's evaluated
    rows are computed, so that nothing holds n x K at once."""
    return max(1, BLOCK_ENTRIES // max(n_classes, 1))


def separated(Z: np.ndarray, labels: np.ndarray) -> bool:
    """Whether every row's label has the strictly largest logit (no row at all: no)."""
    if Z.shape[0] == 0 or Z.shape[1] < 2:
        return False
    step = block_rows(Z.shape[1])  # a copy of a row block, never of Z (n x K)
    for start in range(0, Z.shape[0], step):
        block, y = Z[start : start + step], labels[start : start + step]
        rows = np.arange(block.shape[0])
        others = block.copy()
        others[rows, y] = -np.inf
        if not np.all(block[rows, y] > others.max(axis=1)):
            return False
    return True


TEMPERATURE_BOUNDS = (1e-3, 1e3)
STEP_FACTOR = 1.0  # eta = 1 / L_B: scikit-learn's saga step (its 1 / (2 L) with L = ||x||^2 / 4)


LogitBlocks = Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]]


def fit_temperature(blocks: LogitBlocks, n: int, soft: bool) -> dict[str, Any]:
    """Temperature scaling on validation logits: the ``T`` minimising
    ``mean_i CE(softmax(z_i / T), y_i)`` over ``log T`` in ``log TEMPERATURE_BOUNDS``
    (bounded Brent), or ``T = 1`` with the reason when the minimum is not inside
    the range (a separated split, or a minimum at a bound).

    ``blocks()`` yields ``(logits, targets)`` for the ``n`` validation rows a row block
    at a time, anew for each evaluation, so that the (n, K) logits need never be held
    (10,000 classes x 22,000 rows would be 1.8 GB).

    Returns ``{"temperature", "log_loss_before", "log_loss_after", "kept_reason"}``.
    """
    from scipy import optimize

    def nll(T: float) -> float:
        total = sum(
            float(softmax_cross_entropy(Z, t, temperature=T, reduction="sum")) for Z, t in blocks()
        )
        return total / max(n, 1)

    before = nll(1.0)
    bounds = (math.log(TEMPERATURE_BOUNDS[0]), math.log(TEMPERATURE_BOUNDS[1]))
    reason = None
    T = 1.0
    if not soft and n and all(separated(Z, t) for Z, t in blocks()):
        reason = (
            "every validation row's true class has the largest logit (the split is "
            "separated), so the validation cross-entropy keeps falling as T -> 0"
        )
    else:
        res = optimize.minimize_scalar(
            lambda log_t: nll(math.exp(log_t)),
            bounds=bounds,
            method="bounded",
            options={"xatol": 1e-8},
        )
        log_t = float(res.x)
        if min(log_t - bounds[0], bounds[1] - log_t) < 0.01:
            reason = (
                "the validation cross-entropy is smallest at the edge of the search range, "
                f"T = {math.exp(log_t):.3g}"
            )
        else:
            T = math.exp(log_t)
    after = nll(T)
    return {
        "temperature": T,
        "log_loss_before": before,
        "log_loss_after": after,
        "kept_reason": reason,
    }
