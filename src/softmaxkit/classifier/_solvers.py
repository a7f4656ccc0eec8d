"""The solvers: plain functions of an objective (:class:`._loss.Objective`).

* :func:`full_batch`: SciPy's L-BFGS-B on ``loss_gradient``, or trust-region
  Newton-CG (``trust-ncg``) with ``hessp``; BLAS on one thread.
* :func:`minibatch` and :func:`steps`: SGD and Adam over rows in memory, the
  optimiser's state in an :class:`OptimizerState` that outlives a call (so
  ``partial_fit`` continues where it stopped); the Dask fit runs :func:`steps`
  on each chunk where the chunk lives.
* :func:`fit_temperature`: the one-dimensional solver of temperature scaling.
* :class:`Progress`: iteration, objective and gradient norm on stderr.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..losses import softmax_cross_entropy
from ._loss import LinearSoftmaxLoss, Objective


class Progress:
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
    gradient component is still above ``tol`` after ``max_iter`` iterations."""
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
                tracked, x0, method="L-BFGS-B", jac=True, callback=callback, options=options
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
    largest = float(np.max(np.abs(res.jac), initial=0.0))
    if not res.success and largest > tol:
        warnings.warn(
            f"{solver} did not converge in {res.nit} iterations (largest gradient component "
            f"{largest:.2e} > tol={tol}): increase max_iter or scale the features",
            ConvergenceWarning,
            stacklevel=4,
        )
    if not curve:
        curve.append(float(res.fun))
    W, b = loss.unpack(res.x)
    return W, b, int(res.nit)


# --------------------------------------------------------------------------------------
# mini-batches


@dataclass
class OptimizerState:
    """What SGD / Adam carry from step to step and call to call: Adam's moments of
    ``W`` and ``b``, the step count, the sample weight processed (for the step size)
    and the random state that shuffles the rows."""

    m: list[np.ndarray]
    v: list[np.ndarray]
    t: int = 0
    processed: float = 0.0
    rng: Any = field(default=None, repr=False)

    @classmethod
    def fresh(cls, W: np.ndarray, b: np.ndarray, rng: Any = None) -> OptimizerState:
        zeros = [np.zeros_like(W), np.zeros_like(b)]
        return cls(m=zeros, v=[np.zeros_like(W), np.zeros_like(b)], rng=rng)


def initial_step(learning_rate: float | None, adam: bool) -> float:
    """``learning_rate``, by default 0.05 for Adam and 0.5 for SGD."""
    if learning_rate is not None:
        return float(learning_rate)
    return 0.05 if adam else 0.5


def steps(
    loss: LinearSoftmaxLoss,
    W: np.ndarray,
    b: np.ndarray,
    order: np.ndarray,
    batch_size: int,
    lr: float,
    state: OptimizerState,
    adam: bool,
) -> tuple[np.ndarray, np.ndarray, float]:
    """One SGD or Adam step per batch of ``batch_size`` rows taken in ``order``; returns
    the new ``(W, b)`` and the largest gradient entry of the last step. Adam's
    moments and the step count are updated in ``state``."""
    grad_norm = 0.0
    for start in range(0, len(order), batch_size):
        grads = loss.batch_gradient(order[start : start + batch_size], W, b)
        if grads is None:
            continue
        gW, gb = grads
        grad_norm = max(float(np.max(np.abs(gW))), float(np.max(np.abs(gb), initial=0.0)))
        if adam:
            state.t += 1
            t = state.t
            for idx, g in enumerate((gW, gb)):
                state.m[idx] = 0.9 * state.m[idx] + 0.1 * g
                state.v[idx] = 0.999 * state.v[idx] + 0.001 * g * g
            mh = [m / (1 - 0.9**t) for m in state.m]
            vh = [v / (1 - 0.999**t) for v in state.v]
            W = W - lr * mh[0] / (np.sqrt(vh[0]) + 1e-8)
            b = b - lr * mh[1] / (np.sqrt(vh[1]) + 1e-8)
        else:
            W = W - lr * gW
            b = b - lr * gb
    return W, b, grad_norm


def end_epoch(
    curve: list[float],
    progress: Progress,
    value: float,
    previous: float,
    done: int,
    grad_norm: float,
    tol: float,
) -> bool:
    """Record an epoch's objective and report it; True when it changed by at most
    ``tol`` (relative) since the last epoch."""
    curve.append(value)
    progress.update(done, value, grad_norm)
    return abs(previous - value) <= tol * max(abs(value), 1e-12)


def minibatch(
    loss: LinearSoftmaxLoss,
    W: np.ndarray,
    b: np.ndarray,
    state: OptimizerState,
    *,
    epochs: int,
    batch_size: int,
    lr0: float,
    adam: bool,
    data_weight: float,
    tol: float,
    verbose: int,
    label: str,
    curve: list[float],
) -> tuple[np.ndarray, np.ndarray, int]:
    """Mini-batch SGD or Adam on ``loss``, ``epochs`` passes over its rows.

    Each step follows the gradient of the batch's weighted-mean loss plus the
    penalty (``loss.alpha``): an unbiased estimate of the gradient of F. The step
    size is ``lr0 / sqrt(1 + passes)``, passes being the sample weight processed
    (``state.processed``) divided by ``data_weight``, so ``partial_fit`` pieces
    decay like ``fit`` epochs.
    """
    progress = Progress(epochs, verbose, label)
    n = loss.X.shape[0]
    sw_sum = float(np.sum(loss.targets.sample_weight))
    previous = math.inf
    done = 0
    grad_norm = 0.0
    for _ in range(epochs):
        lr = lr0 / math.sqrt(1.0 + math.floor(state.processed / data_weight))
        state.processed += sw_sum
        W, b, grad_norm = steps(loss, W, b, state.rng.permutation(n), batch_size, lr, state, adam)
        done += 1
        if end_epoch(curve, progress, loss.value(W, b), previous, done, grad_norm, tol):
            break
        previous = curve[-1]
    progress.update(done, curve[-1] if curve else math.nan, grad_norm, final=True)
    return W.astype(loss.dtype), b.astype(loss.dtype), done


# --------------------------------------------------------------------------------------
# temperature


def separated(Z: np.ndarray, labels: np.ndarray) -> bool:
    """Whether every row's label has the strictly largest logit (no row at all: no)."""
    if Z.shape[0] == 0 or Z.shape[1] < 2:
        return False
    rows = np.arange(Z.shape[0])
    others = Z.copy()
    others[rows, labels] = -np.inf
    return bool(np.all(Z[rows, labels] > others.max(axis=1)))


TEMPERATURE_BOUNDS = (1e-3, 1e3)


def fit_temperature(Z: np.ndarray, target: np.ndarray, soft: bool) -> dict[str, Any]:
    """Temperature scaling on validation logits ``Z``: the ``T`` minimising
    ``mean_i CE(softmax(z_i / T), y_i)`` over ``log T`` in ``log TEMPERATURE_BOUNDS``
    (bounded Brent), or ``T = 1`` with the reason when the minimum is not inside
    the range (a separated split, or a minimum at a bound).

    Returns ``{"temperature", "log_loss_before", "log_loss_after", "kept_reason"}``.
    """
    from scipy import optimize

    before = float(softmax_cross_entropy(Z, target))
    bounds = (math.log(TEMPERATURE_BOUNDS[0]), math.log(TEMPERATURE_BOUNDS[1]))
    reason = None
    T = 1.0
    if not soft and separated(Z, target):
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
        if min(log_t - bounds[0], bounds[1] - log_t) < 0.01:
            reason = (
                "the validation cross-entropy is smallest at the edge of the search range, "
                f"T = {math.exp(log_t):.3g}"
            )
        else:
            T = math.exp(log_t)
    after = float(softmax_cross_entropy(Z, target, temperature=T))
    return {
        "temperature": T,
        "log_loss_before": before,
        "log_loss_after": after,
        "kept_reason": reason,
    }
