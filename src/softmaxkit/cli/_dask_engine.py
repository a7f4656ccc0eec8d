"""``softmaxkit train --engine dask``: train on a table that need not fit in memory.

The table is read lazily with ``dask.dataframe`` (a Parquet file or folder, or
CSV files, globs allowed) and split at random row by row (the same split at
every pass, from ``--seed``); the scaler's mean and variance take one pass over
the training rows, the classifier one pass per evaluation of its objective
(:mod:`softmaxkit._dask_fit`). Only the logits of the validation and test rows
(n x classes) come back to this process, for calibration, the metrics and the
report. With no ``--scheduler`` a local ``dask.distributed`` cluster is started
(``--workers``, ``--memory-limit``) and its dashboard address is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import UsageError


@dataclass
class _Table:
    source: str
    features: list[str]
    target: str


@contextlib.contextmanager
def _client(args: argparse.Namespace) -> Iterator[Any]:
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError("--engine dask needs Dask: pip install 'softmaxkit[cli,dask]'") from None
    if args.scheduler:
        try:
            client = Client(args.scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise UsageError(f"cannot reach the Dask scheduler {args.scheduler!r}: {exc}") from None
        with client:
            yield client
        return
    options: dict[str, Any] = {"processes": True, "dashboard_address": ":0", "silence_logs": 40}
    if args.workers:
        options["n_workers"] = args.workers
        options["threads_per_worker"] = 1
    if args.memory_limit:
        options["memory_limit"] = args.memory_limit
    try:
        cluster = LocalCluster(**options)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"cannot start a local Dask cluster: {exc}") from None
    with cluster, Client(cluster) as client:
        if not args.quiet:
            sys.stderr.write(
                f"local Dask cluster: {len(cluster.workers)} workers, dashboard "
                f"{client.dashboard_link}\n"
            )
        yield client


def _read(path: str | None) -> tuple[Any, str]:
    import dask.dataframe as dd

    if path is None:
        import pandas as pd
        from sklearn.datasets import load_digits

        frame = load_digits(as_frame=True).frame.rename(columns={"target": "digit"})
        return dd.from_pandas(pd.DataFrame(frame), npartitions=4), "digits (scikit-learn, embedded)"
    p = Path(path)
    has_glob = any(ch in path for ch in "*?[")
    if not has_glob and not p.exists():
        raise UsageError(f"cannot read {path!r}: no such file or folder")
    parquet = p.is_dir() or p.suffix.lower() in (".parquet", ".pq")
    try:
        if parquet:
            frame = dd.read_parquet(path)
        elif p.suffix.lower() in (".csv", ".txt", ".tsv"):
            frame = dd.read_csv(path, sep="\t" if p.suffix.lower() == ".tsv" else ",")
        else:
            raise UsageError(
                f"cannot read {path!r}: expected a Parquet file or folder, or CSV files"
            )
    except UsageError:
        raise
    except Exception as exc:  # pyarrow/pandas parse errors, permissions
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"cannot read {path!r}: {first}") from None
    return frame, str(path)


def _columns(frame: Any, target: str | None, quiet: bool) -> tuple[str, list[str]]:
    """The target (default: the last column) and the numeric feature columns, from the
    column types alone (no pass over the data)."""
    import pandas as pd

    columns = [str(c) for c in frame.columns]
    if target is None:
        target = columns[-1]
    elif target not in columns:
        shown = ", ".join(columns[:8]) + (", ..." if len(columns) > 8 else "")
        raise UsageError(f"no column {target!r}: the columns are {shown}")
    features, skipped = [], []
    for name, dtype in zip(columns, frame.dtypes, strict=True):
        if name == target:
            continue
        if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            features.append(name)
        else:
            skipped.append(name)
    if skipped and not quiet:
        sys.stderr.write(f"note: ignoring non-numeric columns: {', '.join(skipped)}\n")
    if not features:
        raise UsageError("no numeric feature columns besides the target")
    return target, features


def run(args: argparse.Namespace, out_dir: Any, finish: Callable[..., int]) -> int:
    """Train with Dask; ``finish`` (from ``train``) evaluates and writes the run folder."""
    from dask.base import compute
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from .._dask_fit import _as_array
    from ..classifier import SoftmaxRegression

    # the table's metadata only: bad paths and columns fail before a cluster starts
    frame, source = _read(args.data)
    frame.columns = [str(c) for c in frame.columns]
    target, features = _columns(frame, args.target, args.quiet)
    frame = frame[[*features, target]]
    with _client(args):
        t = args.test_size
        rest, test = frame.random_split([1 - t, t], random_state=args.seed)
        train, val = rest.random_split([1 - t, t], random_state=args.seed + 1)

        X_train = train[features].astype(float)
        mean, var, n_train = compute(X_train.mean(), X_train.var(ddof=0), X_train.shape[0])
        if n_train == 0:
            raise UsageError(f"cannot use {source!r}: the training split has no rows")
        scaler = StandardScaler()
        scale = np.sqrt(np.asarray(var, dtype=float))
        scaler.mean_ = np.asarray(mean, dtype=float)
        scaler.var_ = np.asarray(var, dtype=float)
        scaler.scale_ = np.where(scale > 0, scale, 1.0)  # constant columns: as scikit-learn
        scaler.n_features_in_ = len(features)
        scaler.n_samples_seen_ = int(n_train)
        scaler.feature_names_in_ = np.asarray(features, dtype=object)

        def standardized(part: Any) -> Any:
            X = (part[features].astype(float) - scaler.mean_) / scaler.scale_
            Xd = _as_array(X, "X")
            return Xd, _as_array(part[target], "y", lengths=list(Xd.chunks[0]))

        clf = SoftmaxRegression(
            C=args.C,
            solver=args.solver,
            label_smoothing=args.label_smoothing,
            random_state=args.seed,
            verbose=0 if args.quiet else 1,
        )
        start = time.perf_counter()
        Xd, yd = standardized(train)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                clf.fit(Xd, yd)
            except ValueError as exc:  # NaN or inf in a feature, one class only, ...
                raise UsageError(str(exc).splitlines()[0]) from None
        fit_time = time.perf_counter() - start
        for w in caught:
            sys.stderr.write(f"warning: {w.message}\n")
        classes = clf.classes_

        X_val, y_val = standardized(val)
        if args.calibrate:
            clf.calibrate(X_val, y_val)
        X_test, y_test = standardized(test)
        Z_test, labels_test = compute(clf._logits(X_test), y_test)
        codes = np.searchsorted(classes, labels_test)
        codes = np.clip(codes, 0, len(classes) - 1)
        unseen = classes[codes] != labels_test
        if np.any(unseen):
            raise UsageError(
                f"the test split has a class the training split lacks: {labels_test[unseen][0]!r}"
            )
        splits = {"train": int(n_train), "validation": int(y_val.shape[0]), "test": len(codes)}
    pipeline = make_pipeline(scaler, clf)
    table = _Table(source, features, target)
    return finish(
        args, out_dir, pipeline, classes, np.asarray(Z_test), codes, splits, table, fit_time
    )
