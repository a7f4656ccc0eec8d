"""Numerical checks of the six results against the library's own functions.

Each check compares two routes to the same number on random inputs of several
sizes and on hard cases (logits of +-1000, near ties, zero probabilities) and
reports the largest absolute difference beside the tolerance it must meet. A
tolerance is the rounding the comparison allows, and the comment beside it
says where it comes from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import softmaxkit as sk

from ._types import NumericCheck

EPS = float(np.finfo(np.float64).eps)


def _rng() -> np.random.Generator:
    return np.random.default_rng(20261127)


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    same_inf = np.isinf(a) & (a == b)
    diff = np.where(same_inf, 0.0, np.abs(a - b))
    return float(np.max(diff)) if not np.any(np.isnan(diff)) else float("nan")


def _finite_difference_jacobian(x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of softmax: column j is (s(x + h e_j) - s(x - h e_j)) / 2h."""
    K = x.shape[0]
    J = np.empty((K, K))
    for col in range(K):
        e = np.zeros(K)
        e[col] = h
        J[:, col] = (sk.softmax(x + e) - sk.softmax(x - e)) / (2 * h)
    return J


HARD_LOGITS = [
    np.array([1000.0, 999.0, -1000.0]),
    np.array([-1000.0, -1000.5, -999.0]),
    np.array([1.0, 1.0 + 1e-15, 1.0 - 1e-15, 1.0]),  # near ties
    np.array([0.0, -40.0, 40.0]),
]


# --------------------------------------------------------------------------------------


def shift_invariance() -> list[NumericCheck]:
    rng = _rng()
    checks = []
    for C in (-1000.0, -3.5, 0.25, 1000.0, 1e6):
        worst, tol = 0.0, 0.0
        for shape in ((3,), (10,), (1000, 50)):
            x = rng.normal(scale=3.0, size=shape)
            worst = max(worst, _max_abs(sk.softmax(x + C), sk.softmax(x)))
            # x + C is rounded to an ulp of |x| + |C|; a logit moved by u moves a
            # probability by at most u/2 (the largest entry of J is 1/4 per unit, twice).
            tol = max(tol, 4 * EPS * (float(np.max(np.abs(x))) + abs(C)))
        checks.append(
            NumericCheck(f"softmax(x + C) vs softmax(x), C = {C:g}", worst, tol, "random")
        )
    worst = 0.0
    for x in HARD_LOGITS:
        for C in (-1000.0, 1000.0):
            worst = max(worst, _max_abs(sk.softmax(x + C), sk.softmax(x)))
    checks.append(NumericCheck("softmax(x + C) vs softmax(x), hard logits", worst, 1e-12, "hard"))
    # The consequence: no overflow. softmax of logits at 1000 is finite and sums to 1.
    s = sk.softmax(np.array([1000.0, 1001.0, 1002.0]))
    err = abs(float(np.sum(s)) - 1.0) if np.all(np.isfinite(s)) else float("inf")
    checks.append(
        NumericCheck("sum of softmax([1000, 1001, 1002]) - 1 (no overflow)", err, 4 * EPS)
    )
    return checks


def two_class_sigmoid() -> list[NumericCheck]:
    rng = _rng()
    z0 = np.concatenate([rng.normal(scale=10.0, size=1000), [1000.0, -1000.0, 3.0, 0.0]])
    z1 = np.concatenate([rng.normal(scale=10.0, size=1000), [-1000.0, 1000.0, 3.0 + 1e-15, 0.0]])
    s = sk.softmax(np.stack([z0, z1], axis=-1))
    # Both sides are correctly rounded to a few ulp of values <= 1.
    tol = 8 * EPS
    return [
        NumericCheck(
            "softmax(z)_1 vs sigmoid(z1 - z0)", _max_abs(s[:, 1], sk.sigmoid(z1 - z0)), tol
        ),
        NumericCheck(
            "softmax(z)_0 vs sigmoid(z0 - z1)", _max_abs(s[:, 0], sk.sigmoid(z0 - z1)), tol
        ),
        NumericCheck(
            "softmax(z)_0 vs 1 - sigmoid(z1 - z0)", _max_abs(s[:, 0], 1 - sk.sigmoid(z1 - z0)), tol
        ),
    ]


def softmax_jacobian() -> list[NumericCheck]:
    rng = _rng()
    worst_fd, worst_formula = 0.0, 0.0
    for K in (2, 5, 20):
        for _ in range(3):
            x = rng.normal(scale=2.0, size=K)
            s = sk.softmax(x)
            J = sk.softmax_jacobian(s)
            worst_fd = max(worst_fd, _max_abs(J, _finite_difference_jacobian(x)))
            worst_formula = max(worst_formula, _max_abs(J, np.diag(s) - np.outer(s, s)))
    hard_fd = max(
        _max_abs(sk.softmax_jacobian(sk.softmax(x)), _finite_difference_jacobian(x))
        for x in HARD_LOGITS
    )
    return [
        # Central differences with h = 1e-6: truncation ~h^2, rounding ~eps/h ~ 2e-10.
        NumericCheck(
            "softmax_jacobian vs central finite differences", worst_fd, 1e-8, "K = 2, 5, 20"
        ),
        NumericCheck("softmax_jacobian vs diag(s) - outer(s, s)", worst_formula, 4 * EPS),
        NumericCheck("softmax_jacobian vs finite differences, hard logits", hard_fd, 1e-8, "hard"),
    ]


SEED_J = np.array(
    [
        [0.03388568, -0.00911326, -0.02477242],
        [-0.00911326, 0.19215805, -0.18304478],
        [-0.02477242, -0.18304478, 0.2078172],
    ]
)


def iterative_vectorized() -> list[NumericCheck]:
    rng = _rng()
    s = sk.softmax(np.array([5.0, 7.0, 8.0]))
    seed_err = _max_abs(sk.softmax_jacobian(s), SEED_J)
    worst = _max_abs(sk.softmax_jacobian(s), sk.softmax_jacobian_iterative(s))
    for K in (2, 7, 50):
        sv = sk.softmax(rng.normal(scale=3.0, size=K))
        worst = max(worst, _max_abs(sk.softmax_jacobian(sv), sk.softmax_jacobian_iterative(sv)))
    for x in HARD_LOGITS:
        sv = sk.softmax(x)
        worst = max(worst, _max_abs(sk.softmax_jacobian(sv), sk.softmax_jacobian_iterative(sv)))
    return [
        NumericCheck("seed example softmax([5, 7, 8]) vs the 8-decimal table", seed_err, 5e-9),
        # Same two products per entry in both: they agree to the last bit or one rounding.
        NumericCheck("vectorized vs iterative Jacobian", worst, 2 * EPS, "K = 3, 2, 7, 50, hard"),
    ]


def _finite_difference_grad(logits: np.ndarray, target: np.ndarray, h: float = 1e-6) -> np.ndarray:
    g = np.zeros_like(logits)
    for idx in np.ndindex(logits.shape):
        up, down = logits.copy(), logits.copy()
        up[idx] += h
        down[idx] -= h
        g[idx] = (
            float(sk.softmax_cross_entropy(up, target, reduction="sum"))
            - float(sk.softmax_cross_entropy(down, target, reduction="sum"))
        ) / (2 * h)
    return g


def cross_entropy_gradient() -> list[NumericCheck]:
    rng = _rng()
    n, K = 8, 5
    logits = rng.normal(scale=2.0, size=(n, K))
    onehot = np.eye(K)[rng.integers(0, K, size=n)]
    targets = {
        "one-hot": onehot,
        "smoothed (eps = 0.1)": 0.9 * onehot + 0.1 / K,
        "soft": sk.softmax(rng.normal(size=(n, K))),
    }
    checks = []
    for name, y in targets.items():
        grad = sk.softmax_cross_entropy_grad(logits, y, reduction="sum")
        checks.append(
            NumericCheck(
                f"gradient vs y_hat - y, {name} targets",
                _max_abs(grad, sk.softmax(logits) - y),
                4 * EPS,
            )
        )
        # Central differences of the loss, h = 1e-6: error ~ eps * |L| / h.
        checks.append(
            NumericCheck(
                f"gradient vs finite differences, {name} targets",
                _max_abs(grad, _finite_difference_grad(logits, y)),
                1e-7,
            )
        )
    hard = np.stack([np.array([1000.0, -1000.0, 0.0]), np.array([1.0, 1.0 + 1e-15, 1.0])])
    y = np.array([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0]])  # zero probabilities included
    grad = sk.softmax_cross_entropy_grad(hard, y, reduction="sum")
    checks.append(
        NumericCheck(
            "gradient vs y_hat - y, hard logits",
            _max_abs(grad, sk.softmax(hard) - y),
            4 * EPS,
            "hard",
        )
    )
    return checks


# --------------------------------------------------------------------------------------
# result 6 and its training demonstration


@dataclass(frozen=True)
class TrainingComparison:
    """Cross-entropy and KL training of the same model from the same start.

    Attributes
    ----------
    label_smoothing : float
        The targets are ``(1 - eps) onehot + eps / K``.
    steps : int
        Gradient-descent steps taken.
    entropy_of_targets : float
        ``H(P)``, the mean entropy of the targets (0 for one-hot).
    max_weight_difference : float
        Largest ``|W_CE - W_KL|`` over all steps: the two trajectories.
    max_gap_error : float
        Largest ``|(CE - KL) - H(P)|`` over all steps.
    cross_entropy : tuple of float
        The cross-entropy objective per step (of the CE run).
    kl : tuple of float
        The KL objective per step (of the KL run).
    """

    label_smoothing: float
    steps: int
    entropy_of_targets: float
    max_weight_difference: float
    max_gap_error: float
    cross_entropy: tuple[float, ...]
    kl: tuple[float, ...]

    def plot(self, ax: Any = None) -> Any:
        """Draw both objectives per step and their gap ``H(P)`` on a Matplotlib axes.

        The cross-entropy curve lies exactly ``H(P)`` above the KL curve at every
        step (the dotted line is ``KL + H(P)``, drawn over it), and both runs
        take the same steps. Needs Matplotlib (``pip install matplotlib``, part
        of ``softmaxkit[cli]``), imported only here.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Where to draw; a new figure's axes by default.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on.
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError as exc:  # optional: say what to install
            raise ImportError(
                'TrainingComparison.plot needs Matplotlib: pip install "softmaxkit[cli]"'
            ) from exc
        if ax is None:
            _, ax = plt.subplots(figsize=(6.4, 4.0), layout="constrained")
        steps = np.arange(1, self.steps + 1)
        kl = np.asarray(self.kl)
        ax.plot(steps, self.cross_entropy, label="cross-entropy H(P, Q)", color="C0", lw=2.5)
        ax.plot(steps, kl, label="KL divergence D(P || Q)", color="C1", lw=2.5)
        ax.plot(steps, kl + self.entropy_of_targets, ":", color="k", lw=1.2, label="KL + H(P)")
        ax.axhline(self.entropy_of_targets, color="0.5", lw=1, ls="--", label="H(P)")
        ax.set_xlabel("gradient step")
        ax.set_ylabel("mean objective (nats)")
        ax.set_title(
            f"label smoothing {self.label_smoothing:g}: CE - KL = H(P) = "
            f"{self.entropy_of_targets:.4f} at every step",
            fontsize="medium",
        )
        ax.legend()
        return ax


def _toy_data() -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian blobs in 2-D, 30 points each, with a constant feature for the bias."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    X = np.concatenate([c + rng.normal(size=(30, 2)) for c in centres])
    X = np.hstack([X, np.ones((90, 1))])
    labels = np.repeat(np.arange(3), 30)
    return X, labels


def ce_vs_kl_training(
    *, label_smoothing: float = 0.0, steps: int = 100, learning_rate: float = 0.5
) -> TrainingComparison:
    """Train a linear softmax model twice, by cross-entropy and by KL, and compare.

    The CE run uses the fused gradient ``(y_hat - y) / n``
    (:func:`softmaxkit.softmax_cross_entropy_grad`). The KL run differentiates
    ``mean D_KL(P || softmax(z))`` by another route: ``dKL/dq = -p / q`` pulled
    back through the softmax Jacobian (:func:`softmaxkit.softmax_vjp`). Because
    ``H(P)`` does not depend on the model, the two gradients are equal and so
    are the trajectories, up to rounding; the objectives differ by ``H(P)``.

    Examples
    --------
    >>> from softmaxkit.theory import ce_vs_kl_training
    >>> run = ce_vs_kl_training(label_smoothing=0.1, steps=20)
    >>> run.max_weight_difference < 1e-12, round(run.entropy_of_targets, 4)
    (True, 0.2911)
    """
    X, labels = _toy_data()
    n, K = X.shape[0], 3
    P = (1 - label_smoothing) * np.eye(K)[labels] + label_smoothing / K
    H_P = float(np.mean(sk.entropy(P)))
    W_ce = np.zeros((X.shape[1], K))
    W_kl = np.zeros((X.shape[1], K))
    ce_curve, kl_curve = [], []
    worst_w, worst_gap = 0.0, 0.0
    for _ in range(steps):
        z_ce, z_kl = X @ W_ce, X @ W_kl
        ce = float(sk.softmax_cross_entropy(z_ce, P))
        q = sk.softmax(z_kl)
        kl = float(np.mean(sk.kl_divergence(P, q)))
        # The same model gives CE - KL = H(P): evaluate CE at the KL run's weights too.
        ce_at_kl = float(sk.softmax_cross_entropy(z_kl, P))
        worst_gap = max(worst_gap, abs((ce_at_kl - kl) - H_P))
        ce_curve.append(ce)
        kl_curve.append(kl)
        grad_ce = X.T @ sk.softmax_cross_entropy_grad(z_ce, P)
        dkl_dq = -np.divide(P, q, out=np.zeros_like(P), where=P > 0) / n
        grad_kl = X.T @ sk.softmax_vjp(q, dkl_dq)
        W_ce = W_ce - learning_rate * grad_ce
        W_kl = W_kl - learning_rate * grad_kl
        worst_w = max(worst_w, float(np.max(np.abs(W_ce - W_kl))))
    return TrainingComparison(
        label_smoothing=label_smoothing,
        steps=steps,
        entropy_of_targets=H_P,
        max_weight_difference=worst_w,
        max_gap_error=worst_gap,
        cross_entropy=tuple(ce_curve),
        kl=tuple(kl_curve),
    )


def information() -> list[NumericCheck]:
    rng = _rng()
    p = sk.softmax(rng.normal(scale=3.0, size=(200, 10)))
    p[:20, :3] = 0.0  # zero probabilities: 0 log 0 = 0
    p /= p.sum(axis=-1, keepdims=True)
    q = sk.softmax(rng.normal(scale=3.0, size=(200, 10)))
    ce, h, kl = sk.cross_entropy(p, q), sk.entropy(p), sk.kl_divergence(p, q)
    checks = [
        # Sums of 10 terms of size ~ 10: a few ulp of 10 each.
        NumericCheck(
            "cross_entropy vs entropy + kl_divergence", _max_abs(ce, h + kl), 64 * EPS * 10
        ),
        NumericCheck("max(0, -min KL) (Gibbs: KL >= 0)", max(0.0, -float(np.min(kl))), 0.0),
        NumericCheck("KL(P || P)", float(np.max(np.abs(sk.kl_divergence(p, p)))), 0.0),
        NumericCheck(
            "bits vs nats / ln 2",
            _max_abs(sk.kl_divergence(p, q, base=2), kl / np.log(2)),
            16 * EPS * float(np.max(kl)),
        ),
    ]
    a, b = np.array([0.5, 0.5]), np.array([0.9, 0.1])
    asym = abs(float(sk.kl_divergence(a, b)) - float(sk.kl_divergence(b, a)))
    # The check passes when the two directions differ: the "error" is how far they are
    # from differing by the exact 0.14276 (mpmath: 0.5108256237659907 - 0.3680642071684971).
    checks.append(
        NumericCheck(
            "KL asymmetry |D(P||Q) - D(Q||P)| - 0.1427614166", abs(asym - 0.1427614165974936), 1e-15
        )
    )
    for eps in (0.0, 0.1):
        run = ce_vs_kl_training(label_smoothing=eps)
        checks.append(
            NumericCheck(
                f"training by CE vs by KL, label smoothing {eps:g}: max |W_CE - W_KL|",
                run.max_weight_difference,
                1e-12,
                f"{run.steps} gradient steps, H(P) = {run.entropy_of_targets:.4f}",
            )
        )
        checks.append(
            NumericCheck(
                f"training, label smoothing {eps:g}: max |(CE - KL) - H(P)| per step",
                run.max_gap_error,
                1e-13,
            )
        )
    return checks
