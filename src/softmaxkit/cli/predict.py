"""``softmaxkit predict``: labels (and probabilities) for each row, as CSV."""

from __future__ import annotations

import argparse
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import UsageError

HELP = "predict labels (and probabilities) for each row of a CSV/Parquet table"
EPILOG = """examples:
  softmaxkit predict runs/20261127-101500/model.npz new_rows.csv
  softmaxkit predict model.npz data.parquet --proba --output predictions.csv
  softmaxkit predict model.npz data.csv --id customer_id
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "predict",
        allow_abbrev=False,  # --c must not silently mean --calibrate
        help=HELP,
        description=HELP,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="model.npz written by 'softmaxkit train'")
    p.add_argument("data", help="CSV or Parquet file with the model's feature columns")
    p.add_argument("--proba", action="store_true", help="add one probability column per class")
    p.add_argument(
        "--output",
        help="CSV file to write (default: standard output); an existing file is kept "
        "unless --force; a device such as /dev/null is written to",
    )
    p.add_argument("--force", action="store_true", help="replace an existing --output file")
    p.add_argument(
        "--id",
        metavar="COL",
        help="a column copied to the output as its first column (default: the model's --id "
        "column, when the table has it)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from . import _data, _model

    target = None if args.output is None else check_output(Path(args.output), args.force)
    pipeline, columns = _model.load_model_for_cli(args.model)
    frame, source = _data.read_table(args.data)
    X = _data.model_rows(frame, columns, source, quiet=False)
    id_column = args.id or columns.id
    if args.id is not None and args.id not in frame.columns:
        raise UsageError(f"--id: no column {args.id!r} in {source}")
    clf = pipeline[-1]
    out = pd.DataFrame(index=range(len(X)))
    if id_column is not None and id_column in frame.columns:
        out[id_column] = frame[id_column].to_numpy()
    out["prediction"] = pipeline.predict(X)
    if args.proba:
        proba = np.asarray(pipeline.predict_proba(X))
        for i, c in enumerate(clf.classes_):
            out[f"proba_{c}"] = proba[:, i]
    if args.output is None:
        out.to_csv(sys.stdout, index=False, lineterminator="\n")
        return 0
    assert target is not None
    write_output(target, args.force, lambda fh: out.to_csv(fh, index=False, lineterminator="\n"))
    sys.stderr.write(f"wrote {len(out)} predictions to {target}\n")
    return 0


def _device(path: Path) -> bool:
    return stat.S_ISCHR(path.stat().st_mode)


def check_output(path: Path, force: bool) -> Path:
    """Where ``--output`` may write, decided before any work: a new file in an existing
    folder; an existing regular file only with ``--force``; a character device (as
    ``/dev/null``) written through; never a symbolic link, a folder or another kind."""
    from ._run import _kind, check_parent

    if path.is_symlink():
        raise UsageError(f"--output {str(path)!r} is {_kind(path)}: give the file itself")
    if os.path.lexists(path):
        if _device(path):
            return path
        if not stat.S_ISREG(path.stat().st_mode):
            raise UsageError(f"--output {str(path)!r} is {_kind(path)}: give a file path")
        if not force:
            raise UsageError(f"--output {str(path)!r} exists: --force replaces it")
    check_parent(path, "--output", create=False)
    return path


def write_output(path: Path, force: bool, write: Callable[[Any], None]) -> None:
    """Write through to a device; otherwise all at once (a temporary file renamed into
    place), replacing a regular file only with ``force`` and never whatever took the
    name meanwhile."""
    from .._model_file import replaced_atomically

    check_output(path, force)  # again: the path may have changed during the work
    try:
        if os.path.lexists(path) and _device(path):
            with open(path, "w", encoding="utf-8", newline="") as fh:
                write(fh)
            return
        with replaced_atomically(path, "w", replace=force) as fh:
            write(fh)
    except FileExistsError:
        raise UsageError(
            f"--output {str(path)!r} appeared while predicting: kept; --force replaces it"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot write --output {str(path)!r}: {exc.strerror or exc}") from None
