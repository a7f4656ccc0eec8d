"""SoftmaxRegression vs scikit-learn's LogisticRegression, side by side in one process.

For each data set (digits, iris, wine, and a synthetic 200,000 x 100 problem
with 10 classes; features standardised) and the same C, it fits
LogisticRegression(C, tol=1e-10) as the reference optimum, then times
LogisticRegression with its default tol and with tol=1e-6 (SoftmaxRegression's
default), and SoftmaxRegression with each
full-batch solver, and prints the median fit time of several repeats, the
ratio to LogisticRegression's default fit, and the relative gap of each final
objective to the reference optimum (all objectives evaluated by the same
formula, ``SoftmaxRegression.objective``).

Run: ``python benchmarks/classifier.py [--repeats 5] [--quick]``
(``--quick`` shrinks the synthetic set to 20,000 rows).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from softmaxkit import SoftmaxRegression


def synthetic(n: int, d: int = 100, k: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A linear softmax model with noise: labels drawn from softmax(X W_true)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    W = rng.normal(scale=0.3, size=(d, k))
    logits = X @ W
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    y = (p.cumsum(axis=1) > rng.uniform(size=(n, 1))).argmax(axis=1)
    return X, y


def objective_of(coef: np.ndarray, intercept: np.ndarray, X, y, C: float) -> float:
    probe = SoftmaxRegression(C=C)
    probe.classes_ = np.unique(y)
    probe.n_features_in_ = X.shape[1]
    probe.coef_, probe.intercept_, probe._k = coef, intercept, len(probe.classes_)
    return probe.objective(X, y)


def median_time(fit, repeats: int):
    times, model = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        model = fit()
        times.append(time.perf_counter() - start)
    return statistics.median(times), model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--C", type=float, default=1.0)
    args = parser.parse_args()
    C = args.C
    sets = {
        "digits": load_digits(return_X_y=True),
        "iris": load_iris(return_X_y=True),
        "wine": load_wine(return_X_y=True),
        "synthetic": synthetic(20_000 if args.quick else 200_000),
    }
    print(f"C = {C}; times are medians of {args.repeats} fits; gap = F / F_opt - 1")
    header = f"{'data':<22}{'method':<34}{'time [s]':>10}{'ratio':>8}{'gap':>12}"
    print(header)
    print("-" * len(header))
    for name, (X, y) in sets.items():
        X = StandardScaler().fit_transform(X)
        repeats = 1 if name == "synthetic" else args.repeats
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ref = LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(X, y)
        f_opt = objective_of(ref.coef_, ref.intercept_, X, y, C)
        label = f"{name} {X.shape[0]}x{X.shape[1]}"
        t_sk, sk_model = median_time(
            lambda X=X, y=y: LogisticRegression(C=C, max_iter=10_000).fit(X, y), repeats
        )
        gap = objective_of(sk_model.coef_, sk_model.intercept_, X, y, C) / f_opt - 1
        print(
            f"{label:<22}{'LogisticRegression (tol=1e-4)':<34}{t_sk:>10.3f}{1.0:>8.2f}{gap:>12.1e}"
        )
        # The same stopping tolerance as SoftmaxRegression's default: a like-for-like row.
        t6, sk6 = median_time(
            lambda X=X, y=y: LogisticRegression(C=C, tol=1e-6, max_iter=10_000).fit(X, y), repeats
        )
        gap = objective_of(sk6.coef_, sk6.intercept_, X, y, C) / f_opt - 1
        method = "LogisticRegression (tol=1e-6)"
        print(f"{'':<22}{method:<34}{t6:>10.3f}{t6 / t_sk:>8.2f}{gap:>12.1e}")
        for solver in ("lbfgs", "newton-cg"):
            t, model = median_time(
                lambda X=X, y=y, solver=solver: SoftmaxRegression(C=C, solver=solver).fit(X, y),
                repeats,
            )
            gap = model.objective(X, y) / f_opt - 1
            method = f"SoftmaxRegression {solver}"
            print(f"{'':<22}{method:<34}{t:>10.3f}{t / t_sk:>8.2f}{gap:>12.1e}")


if __name__ == "__main__":
    main()
