"""``softmaxkit evaluate``: the metrics and report of a saved model on labelled data."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from ._errors import UsageError

HELP = "evaluate a saved model on a labelled CSV/Parquet table"
EPILOG = """examples:
  softmaxkit evaluate runs/20261127-101500/model.npz new_data.csv
  softmaxkit evaluate model.npz data.parquet --target species --out runs/eval1
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "evaluate",
        allow_abbrev=False,  # --c must not silently mean --calibrate
        help=HELP,
        description=HELP,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="model.npz written by 'softmaxkit train'")
    p.add_argument("data", help="CSV or Parquet file with the model's columns and labels")
    p.add_argument("--target", help="label column (default: the model's target column)")
    p.add_argument("--out", help="report folder to create (default runs/<timestamp>-evaluate)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from . import _data, _metrics, _model, _run, report

    out_dir = _run.check_out_dir(args.out, "-evaluate")
    pipeline, columns = _model.load_model_for_cli(args.model)
    frame, source = _data.read_table(args.data)
    frame = _data.named_columns(frame, source)
    target = args.target or columns.target
    if target not in frame.columns:
        raise UsageError(f"no label column {target!r} in {source}: name it with --target")
    if frame[target].isna().any():
        raise UsageError(f"the label column {target!r} has missing values: drop those rows")
    if not args.quiet:
        sys.stderr.write(f"evaluating {len(frame)} rows...\n")
    X = _data.model_rows(frame, columns, source, quiet=args.quiet)
    ct, clf = pipeline[0], pipeline[-1]
    classes = clf.classes_
    labels = frame[target].to_numpy()
    if (labels.dtype == bool) != (classes.dtype == bool):
        # True == 1 in NumPy: bool labels matched classes 0/1 (and 0/1 labels True/False)
        # without a word; a model's classes and the table's labels must be one kind.
        raise _label_type_error(target, labels, classes)
    try:  # the classifier's own label check: codes, or "expected labels among classes"
        codes = _model.label_codes(labels, classes)
    except ValueError as exc:
        raise UsageError(f"column {target!r}: {exc}") from None
    except TypeError:  # labels that do not compare with the classes (text against numbers)
        raise _label_type_error(target, labels, classes) from None
    Z = _model.logit_blocks(clf, ct, X)
    smoothing = float(clf.label_smoothing)
    names = [str(c) for c in classes]
    ids = frame[columns.id].to_numpy() if columns.id and columns.id in frame.columns else None
    a = _metrics.assess(
        Z,
        codes,
        names,
        temperature=None if clf.temperature_ == 1.0 else clf.temperature_,
        label_smoothing=smoothing,
        rows=np.arange(len(codes)),
        ids=ids,
        keep_up_to=report.RANKING_UP_TO,
    )
    metrics = a.metrics
    metrics.update(
        {
            "data": source,
            "model": args.model,
            "target": target,
            "temperature": clf.temperature_,
            "classes": names,
            "command": report.command_line(args.argv),
            "versions": report.versions(),
        }
    )
    table_text = _metrics.summary_table(metrics, {})
    info = {
        "model": str(args.model),
        "data": source,
        "target": target,
        "rows": str(len(codes)),
        "temperature": f"{clf.temperature_:.4f}",
    }
    context = report.Context(
        title="softmaxkit evaluate",
        info=info,
        class_names=names,
        y=codes,
        scores=a.scores,
        loss_curve=list(clf.loss_curve_),
        coef=np.asarray(clf.coef_),
        feature_names=[str(f) for f in ct.get_feature_names_out()],
        image_shape=report.image_shape(columns),
        label_smoothing=smoothing,
    )
    with _run.run_folder(out_dir) as tmp:
        _run.write_json(tmp / "metrics.json", metrics)
        report.write(tmp, metrics, context)
    sys.stdout.write(
        f"evaluated {args.model} on {source} ({len(codes)} rows):\n{table_text}\n"
        f"report: {out_dir / 'report.html'}\n"
    )
    return 0


def _label_type_error(target: str, labels: Any, classes: Any) -> UsageError:
    got = sorted({type(v).__name__ for v in labels[:1000]})
    shown = ", ".join(str(c) for c in classes[:5]) + (", ..." if len(classes) > 5 else "")
    return UsageError(
        f"column {target!r} holds {'/'.join(got)} labels, the model's classes are "
        f"{classes.dtype} ({shown})"
    )
