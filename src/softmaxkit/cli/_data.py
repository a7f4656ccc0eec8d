"""Reading a data table, and the feature rows a saved model takes from one."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from . import _columns
from ._errors import UsageError


def read_table(path: str | None) -> tuple[Any, str]:
    """Read a CSV or Parquet file, or the embedded digits data when ``path`` is None."""
    import pandas as pd

    if path is None:
        from sklearn.datasets import load_digits

        data = load_digits(as_frame=True)
        frame = data.frame.rename(columns={"target": "digit"})
        return frame, "digits (scikit-learn, embedded)"
    p = Path(path)
    if not p.exists():
        raise UsageError(f"cannot read {path!r}: no such file")
    if p.is_dir():
        raise UsageError(f"cannot read {path!r}: it is a folder; give a .csv or .parquet file")
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(p)
        elif suffix in (".csv", ".txt", ".tsv"):
            frame = pd.read_csv(p, sep="\t" if suffix == ".tsv" else ",")
        else:
            got = suffix or "no extension"
            raise UsageError(f"cannot read {path!r}: expected a .csv or .parquet file, got {got!r}")
    except UsageError:
        raise
    except ImportError as exc:
        raise UsageError(f"cannot read {path!r}: {exc}") from None
    except Exception as exc:  # pandas/pyarrow parse errors, permissions, encodings
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"cannot read {path!r}: {first} (is it a valid {suffix.lstrip('.') or 'data'} file?)"
        ) from None
    if frame.shape[0] == 0:
        raise UsageError(f"cannot use {path!r}: it has no rows")
    return _decimals_as_numbers(frame), str(path)


def _decimals_as_numbers(frame: Any) -> Any:
    """Parquet decimal columns arrive as Python ``Decimal`` objects: as float64, so that
    they are numeric columns (Dask reads them with a numeric Arrow dtype already)."""
    import decimal

    for name in frame.columns:
        col = frame[name]
        if col.dtype != object:
            continue
        values = col.dropna()
        if len(values) and all(isinstance(v, decimal.Decimal) for v in values.iloc[:1000]):
            try:
                frame[name] = col.astype("float64")
            except (TypeError, ValueError, decimal.InvalidOperation):
                continue
    return frame


def named_columns(frame: Any, source: str) -> Any:
    """The frame with its column names as text; duplicate names refused."""
    columns = [str(c) for c in frame.columns]
    seen: set[str] = set()
    for c in columns:
        if c in seen:
            raise UsageError(f"{source} has two columns named {c!r}: rename one")
        seen.add(c)
    frame.columns = columns
    return frame


def plan_columns(frame: Any, source: str, args: Any) -> _columns.Columns:
    """The first column plan from ``train``'s options and the table's column types."""
    frame = named_columns(frame, source)
    return _columns.plan(
        dict(frame.dtypes),
        args.target,
        features=args.features,
        drop=args.drop,
        categorical=args.categorical,
        id_column=args.id,
        impute=args.impute,
        source=source,
    )


def model_rows(frame: Any, columns: _columns.Columns, source: str, *, quiet: bool) -> Any:
    """The model's feature columns of ``frame`` (raw: the pipeline encodes them), with
    the training rules: a missing value refused unless the model imputes, a text
    value in a numeric column or an infinite one refused; unseen categories noted."""
    import pandas as pd

    frame = named_columns(frame, source)
    missing = [f for f in columns.features if f not in frame.columns]
    if missing:
        shown = ", ".join(missing[:6]) + (", ..." if len(missing) > 6 else "")
        raise UsageError(
            f"{source} lacks {len(missing)} column(s) the model was trained on: {shown}"
        )
    for name in columns.features:
        col = frame[name]
        isna = col.isna().to_numpy()
        if isna.any() and not columns.impute:
            row = int(np.flatnonzero(isna)[0]) + 1
            raise UsageError(
                f"column {name!r} has {int(isna.sum())} missing value(s) (row {row} first), "
                "and the model was trained without --impute: fill or drop them"
            )
        if name in columns.numeric:
            if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
                bad = pd.to_numeric(col, errors="coerce").isna().to_numpy() & ~isna
                if bad.any():
                    i = int(np.flatnonzero(bad)[0])
                    raise UsageError(
                        f"column {name!r} has a non-numeric value {col.iloc[i]!r} (row {i + 1}):"
                        " fix or remove it"
                    )
                frame[name] = pd.to_numeric(col)
            values = frame[name].to_numpy(dtype=float, na_value=np.nan)
            with np.errstate(invalid="ignore"):
                bad = np.abs(values) > _columns.HUGE  # inf too
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise UsageError(
                    f"column {name!r} has a value {values[i]:g} (row {i + 1}) beyond "
                    f"+-{_columns.HUGE:g}: rescale it as for training"
                )
        elif not quiet:
            texts = _columns.category_text(col)
            known = set(columns.categories[name])
            unseen = [t for t in texts if t not in known]
            if unseen:
                sys.stderr.write(
                    f"note: column {name!r}: {len(unseen)} row(s) with a category the model "
                    f"never saw ({unseen[0]!r} first); they count as none of the known ones\n"
                )
    return frame[columns.features]
