"""``softmaxkit train --engine dask``: train on a table that need not fit in memory.

The table is read lazily with ``dask.dataframe`` (a Parquet file or folder, or
CSV files, globs allowed) and split at random row by row (the same split at
every pass, from ``--seed``); the scaler's mean and variance take one pass over
the training rows, the classifier one pass per evaluation of its objective
(:mod:`softmaxkit.classifier._dask`). Only the logits of the validation and test rows
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
from pathlib import Path
from typing import Any

import numpy as np

from . import _data
from ._errors import UsageError


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


def _logits_and_labels(
    part: Any,
    scaler: Any,
    coef: np.ndarray,
    intercept: np.ndarray,
    features: list[str],
    target: str,
) -> Any:
    """A partition's logits (columns z0, z1, ...) beside its labels, in one frame, so
    that both come from the same rows."""
    import pandas as pd

    X = (part[features].to_numpy(dtype=float) - scaler.mean_) / scaler.scale_
    Z = X @ coef.T + intercept
    out = pd.DataFrame(Z, columns=[f"z{j}" for j in range(Z.shape[1])], index=part.index)
    out["label"] = part[target].to_numpy()
    return out


def run(args: argparse.Namespace, out_dir: Any, finish: Callable[..., int]) -> int:
    """Train with Dask; ``finish`` (from ``train``) evaluates and writes the run folder."""
    import dask

    # One partition per Parquet file or row group whatever columns a step selects:
    # Dask would otherwise merge small partitions after a column projection, and the
    # random split (seeded per partition) would differ between the steps.
    with dask.config.set({"dataframe.parquet.minimum-partition-size": 1}):
        return _run(args, out_dir, finish)


def _run(args: argparse.Namespace, out_dir: Any, finish: Callable[..., int]) -> int:
    import pandas as pd
    from dask.base import compute
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from .train import make_classifier

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
        # one pass: the scaler's statistics and the split sizes share the reads
        mean, var, n_train, n_val = compute(
            X_train.mean(), X_train.var(ddof=0), X_train.shape[0], val.shape[0]
        )
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

        clf = make_classifier(args)
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                clf.fit((X_train - scaler.mean_) / scaler.scale_, train[target])
            except ValueError as exc:  # NaN or inf in a feature, one class only, ...
                raise UsageError(str(exc).splitlines()[0]) from None
        fit_time = time.perf_counter() - start
        if hasattr(clf, "feature_names_in_"):  # in the pipeline the scaler gets the names
            del clf.feature_names_in_
        for w in caught:
            sys.stderr.write(f"warning: {w.message}\n")
        classes = clf.classes_

        k = len(classes)
        meta = pd.DataFrame({f"z{j}": pd.Series(dtype=float) for j in range(k)})
        meta["label"] = pd.Series(dtype=frame[target].dtype)
        fetched = {}
        for name, part in (("validation", val), ("test", test)):
            if name == "validation" and not args.calibrate:
                continue
            both = part.map_partitions(
                _logits_and_labels,
                scaler,
                clf.coef_,
                clf.intercept_,
                features,
                target,
                meta=meta,
            ).compute()
            fetched[name] = (both.iloc[:, :k].to_numpy(), both["label"].to_numpy())
        if args.calibrate:
            Z_val, y_val = fetched["validation"]
            clf.calibrate_logits(Z_val, y_val)
        Z_test, labels_test = fetched["test"]
        codes = np.clip(np.searchsorted(classes, labels_test), 0, k - 1)
        unseen = classes[codes] != labels_test
        if np.any(unseen):
            raise UsageError(
                f"the test split has a class the training split lacks: {labels_test[unseen][0]!r}"
            )
        splits = {"train": int(n_train), "validation": int(n_val), "test": len(codes)}
    pipeline = make_pipeline(scaler, clf)
    table = _data.Table(frame, source, features, target)
    return finish(args, out_dir, pipeline, classes, Z_test, codes, splits, table, fit_time)
