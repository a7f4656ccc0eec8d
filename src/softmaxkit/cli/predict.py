"""``softmaxkit predict``: labels (and probabilities) for each row, as CSV."""

from __future__ import annotations

import argparse
import sys
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
    p.add_argument("--output", help="CSV file to write (default: standard output)")
    p.add_argument(
        "--id",
        metavar="COL",
        help="a column copied to the output as its first column (default: the model's --id "
        "column, when the table has it)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from .._model_file import replaced_atomically
    from . import _data, _model

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
    target = Path(args.output)
    with replaced_atomically(target, "w") as fh:
        out.to_csv(fh, index=False, lineterminator="\n")
    sys.stderr.write(f"wrote {len(out)} predictions to {target}\n")
    return 0
