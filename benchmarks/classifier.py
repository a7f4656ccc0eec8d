"""SoftmaxRegression vs scikit-learn's LogisticRegression, side by side in one process.

For each data set (digits, iris, wine, and a synthetic 200,000 x 100 problem
with 10 classes; features standardised) and the same C, it fits
LogisticRegression(C, tol=1e-10) as the reference optimum, then, at tol=1e-4
(LogisticRegression's default) and tol=1e-6 (SoftmaxRegression's), times
LogisticRegression as shipped, LogisticRegression with BLAS limited to one
thread (as SoftmaxRegression fits), and SoftmaxRegression(solver="lbfgs"); then
SoftmaxRegression(solver="newton-cg"). It prints the median fit time of several
repeats, the ratio to LogisticRegression's time at the same tol, the relative
gap of each final objective to the optimum, and whether the fit reached
LogisticRegression's final objective to a relative 1e-6 (the performance
issue's criterion). All objectives are evaluated by one formula,
``SoftmaxRegression.objective``.

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
from threadpoolctl import threadpool_limits

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
    probe.coef_, probe.intercept_ = coef, intercept
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
    print(
        f"C = {C}; times are medians of {args.repeats} fits; gap = F / F_opt - 1; "
        "ratio = time / LogisticRegression's at the same tol; "
        "ok = F <= F_LogisticRegression * (1 + 1e-6)"
    )
    header = f"{'data':<22}{'method':<44}{'time [s]':>10}{'ratio':>8}{'gap':>11}{'ok':>5}"
    print(header)
    print("-" * len(header))
    for name, (X, y) in sets.items():
        X = StandardScaler().fit_transform(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ref = LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(X, y)
        f_opt = objective_of(ref.coef_, ref.intercept_, X, y, C)
        labels = [f"{name} {X.shape[0]}x{X.shape[1]}"]

        def row(
            method: str,
            t: float,
            f: float,
            t_ref: float,
            f_ref: float,
            f_opt: float = f_opt,
            labels: list[str] = labels,
        ) -> None:
            ok = "yes" if f <= f_ref * (1 + 1e-6) else "no"
            gap = f / f_opt - 1
            label = labels.pop() if labels else ""
            print(f"{label:<22}{method:<44}{t:>10.3f}{t / t_ref:>8.2f}{gap:>11.1e}{ok:>5}")

        for tol in (1e-4, 1e-6):
            t_sk, sk = median_time(
                lambda X=X, y=y, tol=tol: LogisticRegression(C=C, tol=tol, max_iter=10_000).fit(
                    X, y
                ),
                args.repeats,
            )
            f_sk = objective_of(sk.coef_, sk.intercept_, X, y, C)
            default = " (its default)" if tol == 1e-4 else ""
            row(f"LogisticRegression tol={tol:g}{default}", t_sk, f_sk, t_sk, f_sk)
            # scikit-learn with BLAS on one thread, as SoftmaxRegression fits: shows
            # how much of the difference is thread oversubscription
            with threadpool_limits(limits=1, user_api="blas"):
                t1, sk1 = median_time(
                    lambda X=X, y=y, tol=tol: LogisticRegression(C=C, tol=tol, max_iter=10_000).fit(
                        X, y
                    ),
                    args.repeats,
                )
            f1 = objective_of(sk1.coef_, sk1.intercept_, X, y, C)
            row("  same, BLAS limited to 1 thread", t1, f1, t_sk, f_sk)
            t, model = median_time(
                lambda X=X, y=y, tol=tol: SoftmaxRegression(C=C, tol=tol).fit(X, y), args.repeats
            )
            row(f"SoftmaxRegression lbfgs tol={tol:g}", t, model.objective(X, y), t_sk, f_sk)
        t, model = median_time(
            lambda X=X, y=y: SoftmaxRegression(C=C, solver="newton-cg").fit(X, y), args.repeats
        )
        row("SoftmaxRegression newton-cg tol=1e-06", t, model.objective(X, y), t_sk, f_sk)


if __name__ == "__main__":
    main()
