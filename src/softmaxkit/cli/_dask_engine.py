"""``softmaxkit train --engine dask``: train on a table that need not fit in memory.

The table is read lazily with ``dask.dataframe`` (a Parquet file or folder, or
CSV files, globs allowed). The column rules and the split are those of the
in-memory engine (:mod:`softmaxkit.cli._columns`): one pass counts each
partition's rows, so every row knows its position in the table and hence its
split; one pass profiles the partitions (the scaler's statistics on the training
rows, the categories, missing values), and the classifier takes one pass per
evaluation of its objective (:mod:`softmaxkit.classifier._dask`). Only the
logits of the validation and test rows (n x classes) and the training rows'
confusion counts come back to this process. With no ``--scheduler`` a local
``dask.distributed`` cluster is started (``--workers``, ``--memory-limit``) and
its dashboard address is printed.
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
        except (ValueError, TypeError) as exc:  # distributed's parse of the address
            raise UsageError(f"not a Dask scheduler address: {args.scheduler!r} ({exc})") from None
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
                f"local Dask cluster: {len(cluster.workers)} worker(s), dashboard "
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


@dataclass(frozen=True)
class _Encoding:
    """What a task needs to take a partition's rows of one split and encode them."""

    ct: Any  # the fitted ColumnTransformer
    columns: Any
    classes: np.ndarray
    seed: int
    test_size: float
    calibrate: bool

    def rows(
        self, part: Any, offset: int, which: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """Rows of split ``which`` of a partition starting at table row ``offset``:
        encoded features, class codes, positions in the table, IDs (or None)."""
        from ..classifier._targets import label_codes
        from . import _columns

        split = _columns.split_codes(offset, len(part), self.seed, self.test_size, self.calibrate)
        rows = np.flatnonzero(split == which)
        sub = part.iloc[rows]
        X = np.asarray(self.ct.transform(sub[self.columns.features]), dtype=np.float64)
        y = label_codes(sub[self.columns.target].to_numpy(), self.classes)
        ids = sub[self.columns.id].to_numpy() if self.columns.id else None
        return X, y, rows + offset, ids

    def logits(
        self, part: Any, offset: int, which: int, coef: np.ndarray, intercept: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        X, y, rows, ids = self.rows(part, offset, which)
        return X @ coef.T + intercept, y, rows, ids

    def train_counts(
        self, part: Any, offset: int, coef: np.ndarray, intercept: np.ndarray
    ) -> dict[str, Any]:
        """The training rows' confusion counts and summed log loss."""
        from . import _columns, _metrics

        X, y, _, _ = self.rows(part, offset, _columns.TRAIN)
        return _metrics.counts(_metrics.linear_blocks(X, coef, intercept), y, len(self.classes))


def run(args: argparse.Namespace, out_dir: Any, finish: Callable[..., int]) -> int:
    """Train with Dask; ``finish`` (from ``train``) evaluates and writes the run folder."""
    import dask

    # One partition per Parquet file or row group whatever columns a step selects
    # (Dask would otherwise merge small partitions after a column projection).
    with dask.config.set({"dataframe.parquet.minimum-partition-size": 1}):
        return _run(args, out_dir, finish)


def _run(args: argparse.Namespace, out_dir: Any, finish: Callable[..., int]) -> int:
    import dask.array as da
    from dask.base import compute
    from dask.delayed import delayed
    from sklearn.pipeline import Pipeline

    from . import _columns, _metrics
    from .train import Result, check_classes, make_classifier

    # the table's metadata only: bad paths and columns fail before a cluster starts
    frame, source = _read(args.data)
    columns = _data.plan_columns(frame, source, args)
    keep = [*columns.features, columns.target, *([columns.id] if columns.id else [])]
    frame = frame[keep]
    with _client(args):
        # pass 1: the partitions' lengths give each row its position in the table,
        # which alone decides its split (as in memory)
        lengths = [int(n) for n in frame.map_partitions(len).compute()]
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int).tolist()
        parts = frame.to_delayed()
        # pass 2: one profile per partition (statistics, categories, missing values)
        profiles = compute(
            *[
                delayed(_columns.profile_part)(
                    part, columns, off, args.seed, args.test_size, args.calibrate
                )
                for part, off in zip(parts, offsets, strict=True)
            ]
        )
        prof = _columns.combine(list(profiles))
        columns = _columns.settle(columns, prof, quiet=args.quiet)
        classes = check_classes(prof, columns.target)
        ct = _columns.from_profile(columns, prof)
        d = len(ct.get_feature_names_out())
        enc = _Encoding(ct, columns, classes, args.seed, args.test_size, args.calibrate)

        blocks = [
            delayed(enc.rows, nout=4)(part, off, _columns.TRAIN)
            for part, off in zip(parts, offsets, strict=True)
        ]
        counts = [p.split_rows[_columns.TRAIN] for p in profiles]
        X_train = da.concatenate(
            [
                da.from_delayed(b[0], shape=(n, d), dtype=np.float64)
                for b, n in zip(blocks, counts, strict=True)
                if n
            ]
        )
        y_train = da.concatenate(
            [
                da.from_delayed(b[1], shape=(n,), dtype=np.intp)
                for b, n in zip(blocks, counts, strict=True)
                if n
            ]
        )
        clf = make_classifier(args)
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                clf.fit(X_train, y_train)  # on the class codes: classes_ set to the labels below
            except ValueError as exc:
                raise UsageError(str(exc).splitlines()[0]) from None
        fit_time = time.perf_counter() - start
        for w in caught:
            sys.stderr.write(f"warning: {w.message}\n")
        clf.classes_ = classes

        def fetch(
            which: int, logits: bool = True
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
            """The rows of a split, as logits (n x K) or encoded features (n x d)."""
            got = compute(
                *[
                    delayed(enc.logits)(part, off, which, clf.coef_, clf.intercept_)
                    if logits
                    else delayed(enc.rows)(part, off, which)
                    for part, off in zip(parts, offsets, strict=True)
                ]
            )
            Z = np.concatenate([g[0] for g in got])
            y = np.concatenate([g[1] for g in got])
            rows = np.concatenate([g[2] for g in got])
            ids = np.concatenate([g[3] for g in got]) if columns.id else None
            return Z, y, rows, ids

        # The validation and test rows come back as whichever is narrower, logits (K) or
        # features (d); features are turned into logits a row block at a time, so that
        # the client's memory does not grow with n x K when classes outnumber features.
        narrow = clf.coef_.shape[1] < len(classes)
        if args.calibrate:
            val, y_val, _, _ = fetch(_columns.VALIDATION, logits=not narrow)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                if narrow:
                    clf.calibrate(val, classes[y_val])
                else:
                    clf.calibrate_logits(val, classes[y_val])
            for w in caught:
                sys.stderr.write(f"warning: {w.message}\n")
        test, y_test, test_rows, test_ids = fetch(_columns.TEST, logits=not narrow)
        Z_test = _metrics.linear_blocks(test, clf.coef_, clf.intercept_) if narrow else test
        summaries = compute(
            *[
                delayed(enc.train_counts)(part, off, clf.coef_, clf.intercept_)
                for part, off in zip(parts, offsets, strict=True)
            ]
        )
        train_summary = summaries[0]
        for more in summaries[1:]:
            train_summary = _metrics.add_counts(train_summary, more)
    result = Result(
        pipeline=Pipeline([("columns", ct), ("softmaxregression", clf)]),
        columns=columns,
        source=source,
        classes=classes,
        Z_test=Z_test,
        y_test=y_test,
        test_rows=test_rows,
        test_ids=test_ids,
        train_summary=train_summary,
        train_class_counts=np.array([prof.classes[c][0] for c in classes]),
        splits=dict(zip(("train", "validation", "test"), prof.split_rows, strict=True)),
        fit_time=fit_time,
    )
    return finish(args, out_dir, result)
