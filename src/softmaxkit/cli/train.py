"""``softmaxkit train``: fit, calibrate, evaluate and report on a data table."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from typing import Any

import numpy as np

from ._errors import UsageError

HELP = "train a softmax classifier on a CSV/Parquet table (default: the digits data)"
EPILOG = """examples:
  softmaxkit train                                  # embedded digits data
  softmaxkit train data.csv --target species --calibrate
  softmaxkit train data.parquet --C 0.5 --label-smoothing 0.1 --out runs/exp1
  softmaxkit train big/ --engine dask --workers 2 --memory-limit 1GB   # a Parquet folder
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        allow_abbrev=False,  # --c must not silently mean --calibrate
        help=HELP,
        description=HELP,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("data", nargs="?", help="CSV or Parquet file; omitted: scikit-learn's digits")
    p.add_argument("--target", help="target column (default: the last column)")
    p.add_argument("--test-size", type=float, default=0.2, help="test fraction (default 0.2)")
    p.add_argument("--C", type=float, default=1.0, help="inverse regularisation (default 1.0)")
    p.add_argument(
        "--l1-ratio",
        type=float,
        default=0.0,
        help="elastic-net mix in [0, 1]: 0 = L2, 1 = L1 (default 0)",
    )
    p.add_argument(
        "--solver",
        default="lbfgs",
        choices=["lbfgs", "newton-cg", "saga", "sgd", "adam"],
        help="(default lbfgs)",
    )
    p.add_argument("--max-iter", type=int, default=1000, help="iterations or epochs (default 1000)")
    p.add_argument(
        "--tol",
        type=float,
        default=1e-6,
        help="stop when the largest gradient entry is at most this (default 1e-6)",
    )
    p.add_argument(
        "--class-weight",
        choices=["none", "balanced"],
        default="none",
        help="balanced: weigh classes by n / (K n_k) (default none)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        help="rows per step of saga (default 4), sgd and adam (default 32)",
    )
    p.add_argument(
        "--learning-rate",
        type=float,
        help="step size of sgd (default 0.5) and adam (default 0.2)",
    )
    p.add_argument("--label-smoothing", type=float, default=0.0, help="in [0, 1) (default 0)")
    p.add_argument(
        "--calibrate", action="store_true", help="fit a temperature on the validation split"
    )
    p.add_argument("--out", help="run folder to create (default runs/<timestamp>)")
    p.add_argument("--seed", type=int, default=0, help="seed of the splits and solvers")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument(
        "--engine",
        default="memory",
        choices=["memory", "dask"],
        help="memory: read the table into memory (default); dask: read it lazily with "
        "dask.dataframe (a Parquet file or folder, or CSV files) and train on a Dask cluster",
    )
    p.add_argument("--scheduler", help="with --engine dask: address of a running Dask scheduler")
    p.add_argument(
        "--workers", type=int, help="with --engine dask: worker processes of the local cluster"
    )
    p.add_argument(
        "--memory-limit",
        help="with --engine dask: memory per local worker, e.g. 2GB (default: auto)",
    )
    p.set_defaults(run=run)


def _check_args(args: argparse.Namespace) -> None:
    if args.engine != "dask" and (args.scheduler or args.workers or args.memory_limit):
        raise UsageError("--scheduler, --workers and --memory-limit need --engine dask")
    if args.scheduler and (args.workers or args.memory_limit):
        raise UsageError("--workers and --memory-limit size a local cluster: not with --scheduler")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}")
    if not 0 < args.test_size < 1:
        raise UsageError(f"--test-size must be between 0 and 1, got {args.test_size}")
    if not args.C > 0:
        raise UsageError(f"--C must be > 0, got {args.C}")
    if not 0 <= args.label_smoothing < 1:
        raise UsageError(f"--label-smoothing must be in [0, 1), got {args.label_smoothing}")
    if not 0 <= args.l1_ratio <= 1:
        raise UsageError(f"--l1-ratio must be in [0, 1], got {args.l1_ratio}")
    if args.l1_ratio > 0 and args.solver == "newton-cg":
        raise UsageError("--l1-ratio > 0 needs a solver other than newton-cg")
    if args.max_iter < 1:
        raise UsageError(f"--max-iter must be >= 1, got {args.max_iter}")
    if not args.tol >= 0:
        raise UsageError(f"--tol must be >= 0, got {args.tol}")
    if args.batch_size is not None and args.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.learning_rate is not None and not 0 < args.learning_rate < float("inf"):
        raise UsageError(f"--learning-rate must be a finite number > 0, got {args.learning_rate}")


def _split(X: Any, codes: np.ndarray, test_size: float, seed: int) -> tuple[Any, ...]:
    from sklearn.model_selection import train_test_split

    counts = np.bincount(codes)
    if counts.min() < 3:
        raise UsageError(
            f"a class has only {counts.min()} row(s): the stratified train/validation/test "
            "split needs at least 3 per class"
        )
    try:
        X_rest, X_test, y_rest, y_test = train_test_split(
            X, codes, test_size=test_size, stratify=codes, random_state=seed
        )
        X_train, X_val, y_train, y_val = train_test_split(
            X_rest, y_rest, test_size=test_size, stratify=y_rest, random_state=seed
        )
    except ValueError as exc:
        raise UsageError(f"cannot split the data: {exc}") from None
    return X_train, X_val, X_test, y_train, y_val, y_test


def make_classifier(args: argparse.Namespace) -> Any:
    """The SoftmaxRegression the command's options ask for (both engines)."""
    from ..classifier import SoftmaxRegression

    return SoftmaxRegression(
        C=args.C,
        l1_ratio=args.l1_ratio,
        solver=args.solver,
        max_iter=args.max_iter,
        tol=args.tol,
        class_weight=None if args.class_weight == "none" else args.class_weight,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        label_smoothing=args.label_smoothing,
        random_state=args.seed,
        verbose=0 if args.quiet else 1,
    )


def run(args: argparse.Namespace) -> int:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from . import _data, _model, _run

    _check_args(args)
    out_dir = _run.check_out_dir(args.out)
    if args.engine == "dask":
        from . import _dask_engine

        return _dask_engine.run(args, out_dir, finish)
    frame, source = _data.read_table(args.data)
    table = _data.split_table(frame, source, args.target, quiet=args.quiet)
    X = table.frame[table.features].astype(float)
    labels = table.frame[table.target].to_numpy()
    classes, codes = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        raise UsageError(f"the target column {table.target!r} has one class only: need 2 or more")
    X_train, X_val, X_test, y_train, y_val, y_test = _split(X, codes, args.test_size, args.seed)

    clf = make_classifier(args)
    pipeline = make_pipeline(StandardScaler(), clf)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pipeline.fit(X_train, classes[y_train])
    fit_time = time.perf_counter() - start
    for w in caught:
        sys.stderr.write(f"warning: {w.message}\n")
    scaler = pipeline[0]
    if args.calibrate:
        clf.calibrate(scaler.transform(X_val), classes[y_val])
    splits = {"train": len(y_train), "validation": len(y_val), "test": len(y_test)}
    Z_test = _model.logits(clf, scaler.transform(X_test))
    return finish(args, out_dir, pipeline, classes, Z_test, y_test, splits, table, fit_time)


def finish(
    args: argparse.Namespace,
    out_dir: Any,
    pipeline: Any,
    classes: np.ndarray,
    Z_test: np.ndarray,
    y_test: np.ndarray,
    splits: dict[str, int],
    table: Any,
    fit_time: float,
) -> int:
    """Evaluate on the test split, write the run folder, print the summary (both engines)."""
    from .. import log_softmax
    from . import _metrics, _model, _run, report

    clf = pipeline[-1]
    log_p = np.asarray(log_softmax(Z_test))
    log_p_cal = None
    if args.calibrate:
        log_p_cal = np.asarray(log_softmax(Z_test, temperature=clf.temperature_))
    metrics = _metrics.evaluate(log_p, log_p_cal, y_test, len(classes), args.label_smoothing)
    metrics.update(
        {
            "fit_time_s": fit_time,
            "n_iter": clf.n_iter_,
            "temperature": clf.temperature_,
            "splits": splits,
            "data": table.source,
            "target": table.target,
            "features": table.features,
            "classes": [str(c) for c in classes],
            "params": {
                "C": args.C,
                "l1_ratio": args.l1_ratio,
                "solver": args.solver,
                "max_iter": args.max_iter,
                "tol": args.tol,
                "class_weight": args.class_weight,
                "batch_size": args.batch_size,
                "learning_rate": args.learning_rate,
                "label_smoothing": args.label_smoothing,
                "calibrate": args.calibrate,
                "seed": args.seed,
                "test_size": args.test_size,
                "engine": args.engine,
            },
        }
    )
    extra = {"fit time": f"{fit_time:.2f} s ({clf.n_iter_} iterations)"}
    if args.calibrate:
        extra["temperature"] = f"{clf.temperature_:.4f}"
    table_text = _metrics.summary_table(metrics, extra)
    rows = f"{splits['train']} / {splits['validation']} / {splits['test']}"
    with _run.run_folder(out_dir) as tmp:
        _model.save_model(tmp / "model.npz", pipeline, table.features, str(table.target))
        _run.write_json(tmp / "metrics.json", metrics)
        proba = np.exp(log_p_cal if log_p_cal is not None else log_p)
        images = report.draw(
            tmp, metrics, clf.loss_curve_, proba, y_test, [str(c) for c in classes]
        )
        info = {
            "data": table.source,
            "target": str(table.target),
            "rows (train / validation / test)": rows,
            "features": str(len(table.features)),
            "classes": str(len(classes)),
            "C": str(args.C),
            "l1_ratio": str(args.l1_ratio),
            "solver": args.solver,
            "class weight": args.class_weight,
            "label smoothing": str(args.label_smoothing),
            "engine": args.engine,
        }
        report.write_html(tmp / "report.html", "softmaxkit train", table_text, info, images)
    sys.stdout.write(
        f"trained on {table.source}: {splits['train']} rows, {len(table.features)} features, "
        f"{len(classes)} classes (target {table.target!r})\n\n"
        f"test split ({splits['test']} rows):\n{table_text}\n"
        f"run folder: {out_dir}\nreport: {out_dir / 'report.html'}\n"
    )
    return 0
