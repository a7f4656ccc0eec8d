"""``softmaxkit train``: fit, calibrate, evaluate and report on a data table."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _metrics
from ._errors import UsageError

HELP = "train a softmax classifier on a CSV/Parquet table (default: the digits data)"
EPILOG = """examples:
  softmaxkit train                                  # embedded digits data
  softmaxkit train data.csv --target species --calibrate
  softmaxkit train customers.csv --target churn --id customer_id --impute --cv 5
  softmaxkit train data.csv --features age,income,region --categorical region_code
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
    p.add_argument(
        "--features",
        action="append",
        metavar="COLS",
        help="feature columns, comma-separated (default: every column but the target and --id)",
    )
    p.add_argument("--drop", action="append", metavar="COLS", help="columns to leave out")
    p.add_argument(
        "--categorical",
        action="append",
        metavar="COLS",
        help="columns to one-hot encode although numeric (integer codes); text, bool and "
        "category columns are categorical already",
    )
    p.add_argument(
        "--id",
        metavar="COL",
        help="a row-ID column: never a feature, carried into predict's output",
    )
    p.add_argument(
        "--impute",
        action="store_true",
        help="fill missing feature values (numeric: the training mean; categorical: a "
        "category of its own) instead of refusing them",
    )
    p.add_argument(
        "--test-size",
        type=float,
        default=0.2,
        help="test fraction (default 0.2); with --calibrate the same fraction of the rest "
        "is the validation split",
    )
    p.add_argument(
        "--cv",
        type=int,
        metavar="K",
        help="K-fold cross-validation on the training rows before the final fit (memory engine)",
    )
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
    if args.cv is not None and args.cv < 2:
        raise UsageError(f"--cv must be >= 2, got {args.cv}")
    if args.cv is not None and args.engine == "dask":
        raise UsageError("--cv needs --engine memory (K more fits over the whole table)")
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
    from sklearn.pipeline import Pipeline

    from . import _columns, _data, _model, _run

    _check_args(args)
    out_dir = _run.check_out_dir(args.out)
    if args.engine == "dask":
        from . import _dask_engine

        return _dask_engine.run(args, out_dir, finish)
    frame, source = _data.read_table(args.data)
    columns = _data.plan_columns(frame, source, args)
    prof = _columns.profile_part(frame, columns, 0, args.seed, args.test_size, args.calibrate)
    columns = _columns.settle(columns, prof, quiet=args.quiet)
    classes = check_classes(prof, columns.target)
    split = _columns.split_codes(0, len(frame), args.seed, args.test_size, args.calibrate)
    X = frame[columns.features]
    codes = _model.label_codes(frame[columns.target].to_numpy(), classes)
    train, val, test = (np.flatnonzero(split == s) for s in range(3))

    clf = make_classifier(args)
    pipeline = Pipeline([("columns", _columns.transformer(columns)), ("softmaxregression", clf)])
    cv = cross_validate(args, pipeline, X.iloc[train], codes[train]) if args.cv else None
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pipeline.fit(X.iloc[train], classes[codes[train]])
    fit_time = time.perf_counter() - start
    ct = pipeline[0]
    with warnings.catch_warnings(record=True) as more:
        warnings.simplefilter("always")
        if args.calibrate:
            clf.calibrate(ct.transform(X.iloc[val]), classes[codes[val]])
    for w in [*caught, *more]:
        sys.stderr.write(f"warning: {w.message}\n")
    ids = frame[columns.id].to_numpy()[test] if columns.id else None
    result = Result(
        pipeline=pipeline,
        columns=columns,
        source=source,
        classes=classes,
        Z_test=_model.logit_blocks(clf, ct, X.iloc[test]),
        y_test=codes[test],
        test_rows=test,
        test_ids=ids,
        train_summary=_metrics.counts(
            _model.logit_blocks(clf, ct, X.iloc[train]), codes[train], len(classes)
        ),
        train_class_counts=np.bincount(codes[train], minlength=len(classes)),
        splits={"train": len(train), "validation": len(val), "test": len(test)},
        fit_time=fit_time,
        cv=cv,
    )
    return finish(args, out_dir, result)


def check_classes(prof: Any, target: str) -> np.ndarray:
    """The sorted classes; every one must have training rows, and two at least."""
    classes = np.array(sorted(prof.classes))
    if len(classes) < 2:
        raise UsageError(f"the target column {target!r} has one class only: need 2 or more")
    lacking = [c for c, n in prof.classes.items() if n[0] == 0]
    if lacking:
        raise UsageError(
            f"class {lacking[0]!r} has no row in the training split "
            f"({sum(prof.classes[lacking[0]])} row(s) in all): add rows of it, or drop them"
        )
    if prof.split_rows[2] == 0:
        raise UsageError("the test split is empty: the table is too small for --test-size")
    return classes


def cross_validate(
    args: argparse.Namespace, pipeline: Any, X: Any, codes: np.ndarray
) -> dict[str, Any]:
    """K-fold (stratified, shuffled by --seed) scores of the pipeline on the training rows."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold
    from sklearn.model_selection import cross_validate as sk_cross_validate

    smallest = int(np.bincount(codes).min())
    if smallest < args.cv:
        raise UsageError(
            f"--cv {args.cv} needs {args.cv} training rows of each class; the smallest class "
            f"has {smallest}"
        )
    model = clone(pipeline).set_params(softmaxregression__verbose=0)
    folds = StratifiedKFold(args.cv, shuffle=True, random_state=args.seed)
    if not args.quiet:
        sys.stderr.write(f"{args.cv}-fold cross-validation on {len(codes)} training rows...\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = sk_cross_validate(
            model, X, codes, cv=folds, scoring=["accuracy", "f1_macro", "neg_log_loss"]
        )
    if caught and not args.quiet:
        sys.stderr.write(f"warning (cross-validation): {caught[0].message}\n")
    out = {"folds": args.cv}
    for key, name, sign in (
        ("test_accuracy", "accuracy", 1),
        ("test_f1_macro", "macro_f1", 1),
        ("test_neg_log_loss", "log_loss", -1),
    ):
        values = sign * np.asarray(scores[key], dtype=float)
        out[name] = {
            "mean": float(values.mean()),
            "std": float(values.std()),
            "folds": values.tolist(),
        }
    return out


@dataclass
class Result:
    """What a fit on either engine hands to :func:`finish`."""

    pipeline: Any
    columns: Any
    source: str
    classes: np.ndarray
    Z_test: Any  # the test rows' logits: an array, or an iterable of row blocks
    y_test: np.ndarray
    test_rows: np.ndarray
    test_ids: np.ndarray | None
    train_summary: dict[str, Any]
    train_class_counts: np.ndarray
    splits: dict[str, int]
    fit_time: float
    cv: dict[str, Any] | None = None


def finish(args: argparse.Namespace, out_dir: Any, r: Result) -> int:
    """Evaluate on the test split, write the run folder, print the summary (both engines)."""
    from . import _model, _run, report

    clf = r.pipeline[-1]
    k = len(r.classes)
    names = [str(c) for c in r.classes]
    a = _metrics.assess(
        r.Z_test,
        r.y_test,
        names,
        temperature=clf.temperature_ if args.calibrate else None,
        label_smoothing=args.label_smoothing,
        rows=r.test_rows,
        ids=r.test_ids,
        keep_up_to=report.RANKING_UP_TO,
    )
    metrics = a.metrics
    metrics.update(
        {
            "train": _metrics.from_counts(r.train_summary),
            "baseline": _metrics.baseline(r.train_class_counts, r.y_test),
            "fit_time_s": r.fit_time,
            "n_iter": clf.n_iter_,
            "temperature": clf.temperature_,
            "calibration": getattr(clf, "calibration_", None),
            "splits": r.splits,
            "split_rule": "by row position and --seed (the same on both engines)",
            "data": r.source,
            "target": r.columns.target,
            "features": r.columns.features,
            "columns": r.columns.header(),
            "encoded_features": int(clf.n_features_in_),
            "classes": names,
            "command": report.command_line(args.argv),
            "versions": report.versions(),
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
                "cv": args.cv,
                "impute": args.impute,
                "engine": args.engine,
            },
        }
    )
    if r.cv is not None:
        metrics["cv"] = r.cv
    extra = {"fit time": f"{r.fit_time:.2f} s ({clf.n_iter_} iterations)"}
    if args.calibrate:
        extra["temperature"] = f"{clf.temperature_:.4f}"
    table_text = _metrics.summary_table(metrics, extra)
    rows = f"{r.splits['train']} / {r.splits['validation']} / {r.splits['test']}"
    n_cat = len(r.columns.categorical)
    info = {
        "data": r.source,
        "target": str(r.columns.target),
        "rows (train / validation / test)": rows,
        "features": f"{len(r.columns.numeric)} numeric, {n_cat} categorical "
        f"({clf.n_features_in_} after one-hot encoding)",
        "classes": str(k),
        "C": str(args.C),
        "l1_ratio": str(args.l1_ratio),
        "solver": args.solver,
        "class weight": args.class_weight,
        "label smoothing": str(args.label_smoothing),
        "engine": args.engine,
    }
    if r.columns.id:
        info["row ID column"] = r.columns.id
    context = report.Context(
        title="softmaxkit train",
        info=info,
        class_names=names,
        y=r.y_test,
        scores=a.scores,
        loss_curve=list(clf.loss_curve_),
        coef=np.asarray(clf.coef_),
        feature_names=[str(f) for f in r.pipeline[0].get_feature_names_out()],
        image_shape=report.image_shape(r.columns),
        label_smoothing=args.label_smoothing,
    )
    with _run.run_folder(out_dir) as tmp:
        _model.save_model(tmp / "model.npz", r.pipeline, r.columns)
        _run.write_json(tmp / "metrics.json", metrics)
        report.write(tmp, metrics, context)
    cv_text = ""
    if r.cv is not None:
        cv = r.cv
        cv_text = (
            f"{cv['folds']}-fold cross-validation on the training rows (mean +- std):\n"
            + "".join(
                f"  {name:<9} {cv[key]['mean']:.4f} +- {cv[key]['std']:.4f}\n"
                for name, key in (
                    ("accuracy", "accuracy"),
                    ("macro F1", "macro_f1"),
                    ("log loss", "log_loss"),
                )
            )
            + "\n"
        )
    sys.stdout.write(
        f"trained on {r.source}: {r.splits['train']} rows, {len(r.columns.features)} feature "
        f"columns, {k} classes (target {r.columns.target!r})\n\n{cv_text}"
        f"test split ({r.splits['test']} rows):\n{table_text}\n"
        f"run folder: {out_dir}\nreport: {out_dir / 'report.html'}\n"
    )
    return 0
