"""SoftmaxRegression vs scikit-learn's LogisticRegression, side by side in one process.

Data sets: digits, iris, wine, a synthetic 200,000 x 100 problem with 10
classes (features standardised), and a sparse TF-IDF matrix of a generated
corpus (20,000 documents x 50,000 terms, 20 classes; CSR, not standardised).
For each and the same C, LogisticRegression(C, tol=1e-10) gives the reference
optimum; then, at tol=1e-4 (LogisticRegression's default) and tol=1e-6
(SoftmaxRegression's), it times LogisticRegression with BLAS limited to one
thread (the fair comparison: SoftmaxRegression fits so, and the ratio column is
relative to it), LogisticRegression as shipped (all BLAS threads), and
SoftmaxRegression(solver="lbfgs"); then SoftmaxRegression(solver="newton-cg").
It prints the median fit time of several repeats, the ratio, the relative gap of
each final objective to the optimum, and whether the fit reached the one-thread
LogisticRegression's final objective to a relative 1e-6. All objectives are
evaluated by one formula, ``SoftmaxRegression.objective``.

Run: ``python benchmarks/classifier.py [--repeats 5] [--quick] [--only NAME]``
(``--quick`` shrinks the synthetic set to 20,000 rows and the corpus to 5,000
documents x 20,000 terms).
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


def tfidf_corpus(
    n_docs: int = 20_000, n_terms: int = 50_000, k: int = 20, seed: int = 0
) -> tuple[object, np.ndarray]:
    """A TF-IDF matrix (CSR) of generated documents: Zipfian common words, each class
    with 400 topic words of its own, and 35% of a document's words drawn as if from
    another class (so the classes overlap); about 120 words per document."""
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfTransformer

    rng = np.random.default_rng(seed)
    base = 1.0 / (np.arange(n_terms) + 10.0) ** 1.1
    base /= base.sum()
    y = rng.integers(0, k, n_docs)
    other = (y + rng.integers(1, k, n_docs)) % k
    lengths = rng.poisson(120, n_docs) + 5
    docs, terms = [], []
    for c in range(k):
        p = base.copy()
        p[rng.choice(n_terms, 400, replace=False)] += 0.5 / 400
        p /= p.sum()
        for source, share in ((y, 0.65), (other, 0.35)):
            rows = np.flatnonzero(source == c)
            counts = rng.binomial(lengths[rows], share)
            docs.append(np.repeat(rows, counts))
            terms.append(rng.choice(n_terms, int(counts.sum()), p=p))
    doc, term = np.concatenate(docs), np.concatenate(terms)
    counts = sp.csr_matrix((np.ones(len(doc)), (doc, term)), shape=(n_docs, n_terms))
    counts.sum_duplicates()
    return TfidfTransformer(sublinear_tf=True).fit_transform(counts).tocsr(), y


def objective_of(coef: np.ndarray, intercept: np.ndarray, X, y, C: float, l1_ratio=0.0) -> float:
    probe = SoftmaxRegression(C=C, l1_ratio=l1_ratio)
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
    parser.add_argument("--only", help="one data set: digits, iris, wine, synthetic, tfidf")
    parser.add_argument(
        "--l1-ratio", type=float, default=0.5, help="the elastic-net rows' l1_ratio (0: none)"
    )
    parser.add_argument(
        "--enet-C",
        type=float,
        default=0.1,
        help="the elastic-net rows' C (at C = 1 scikit-learn's saga needs minutes on digits)",
    )
    args = parser.parse_args()
    C = args.C
    sets = {
        "digits": lambda: load_digits(return_X_y=True),
        "iris": lambda: load_iris(return_X_y=True),
        "wine": lambda: load_wine(return_X_y=True),
        "synthetic": lambda: synthetic(20_000 if args.quick else 200_000),
        "tfidf": lambda: tfidf_corpus(*((5_000, 20_000) if args.quick else ())),
    }
    print(
        f"C = {C}; times are medians of {args.repeats} fits; gap = F / F_opt - 1; "
        "ratio = time / LogisticRegression's with BLAS on one thread at the same tol; "
        "ok = F <= that fit's F * (1 + 1e-6)"
    )
    header = f"{'data':<26}{'method':<48}{'time [s]':>10}{'ratio':>8}{'gap':>11}{'ok':>5}"
    print(header)
    print("-" * len(header))
    for name, load in sets.items():
        if args.only and name != args.only:
            continue
        X, y = load()
        if name != "tfidf":
            X = StandardScaler().fit_transform(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ref = LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(X, y)
        f_opt = objective_of(ref.coef_, ref.intercept_, X, y, C)
        kind = " sparse" if name == "tfidf" else ""
        labels = [f"{name} {X.shape[0]}x{X.shape[1]}{kind}"]

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
            print(f"{label:<26}{method:<48}{t:>10.3f}{t / t_ref:>8.2f}{gap:>11.1e}{ok:>5}")

        def sklearn_fit(X=X, y=y, **params):
            return lambda: LogisticRegression(C=C, max_iter=10_000, **params).fit(X, y)

        for tol in (1e-4, 1e-6):
            # the fair comparison: scikit-learn with BLAS on one thread, as
            # SoftmaxRegression fits
            with threadpool_limits(limits=1, user_api="blas"):
                t1, sk1 = median_time(sklearn_fit(tol=tol), args.repeats)
            f1 = objective_of(sk1.coef_, sk1.intercept_, X, y, C)
            default = " (its default)" if tol == 1e-4 else ""
            row(f"LogisticRegression 1 thread tol={tol:g}{default}", t1, f1, t1, f1)
            t_sk, sk = median_time(sklearn_fit(tol=tol), args.repeats)
            f_sk = objective_of(sk.coef_, sk.intercept_, X, y, C)
            row("  same, all BLAS threads", t_sk, f_sk, t1, f1)
            t, model = median_time(
                lambda X=X, y=y, tol=tol: SoftmaxRegression(C=C, tol=tol).fit(X, y), args.repeats
            )
            row(f"SoftmaxRegression lbfgs tol={tol:g}", t, model.objective(X, y), t1, f1)
        t, model = median_time(
            lambda X=X, y=y: SoftmaxRegression(C=C, solver="newton-cg").fit(X, y), args.repeats
        )
        row("SoftmaxRegression newton-cg tol=1e-06", t, model.objective(X, y), t1, f1)
        if name != "synthetic" and args.l1_ratio > 0:
            elastic_net(X, y, args.enet_C, args.l1_ratio, args.repeats)


def elastic_net(X, y, C: float, r: float, repeats: int) -> None:
    """LogisticRegression(solver="saga", l1_ratio=r) against SoftmaxRegression's lbfgs
    (on W+ - W-) and saga, at their own C (``--enet-C``); the optimum is
    lbfgs at tol 1e-10 (the tests check it against scikit-learn's saga at tol 1e-7,
    which takes minutes on the sparse set)."""
    print(f"{'':<26}elastic net: C = {C}, l1_ratio = {r}")
    best = SoftmaxRegression(C=C, l1_ratio=r, tol=1e-10, max_iter=10_000).fit(X, y)
    f_opt = best.objective(X, y)

    def line(method: str, t: float, model, t_ref: float, f_ref: float) -> None:
        f = objective_of(model.coef_, model.intercept_, X, y, C, r)
        ok = "yes" if f <= f_ref * (1 + 1e-6) else "no"
        zeros = f"{np.mean(model.coef_ == 0):.0%} zeros"
        print(
            f"{'':<26}{method:<48}{t:>10.3f}{t / t_ref:>8.2f}{f / f_opt - 1:>11.1e}{ok:>5}  {zeros}"
        )

    for tol in (1e-4, 1e-6):
        with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            t1, sk = median_time(
                lambda tol=tol: LogisticRegression(
                    C=C, l1_ratio=r, solver="saga", tol=tol, max_iter=50_000
                ).fit(X, y),
                repeats,
            )
        f1 = objective_of(sk.coef_, sk.intercept_, X, y, C, r)
        line(f"LogisticRegression saga l1_ratio={r} tol={tol:g}", t1, sk, t1, f1)
        for solver in ("lbfgs", "saga"):
            if solver == "saga" and hasattr(X, "nnz"):
                # each step updates all K x d coefficients (no lazy updates yet): an
                # epoch of the 20,000 x 50,000 set is minutes; lbfgs is the tool here
                print(f"{'':<26}SoftmaxRegression saga: not run on the sparse set")
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                t, model = median_time(
                    lambda solver=solver, tol=tol: SoftmaxRegression(
                        C=C, l1_ratio=r, solver=solver, tol=tol, random_state=0
                    ).fit(X, y),
                    repeats,
                )
            line(f"SoftmaxRegression {solver} l1_ratio={r} tol={tol:g}", t, model, t1, f1)


if __name__ == "__main__":
    main()
