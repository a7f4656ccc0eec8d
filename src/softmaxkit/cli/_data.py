"""Reading the data table and splitting it into features and target."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import UsageError


@dataclass
class Table:
    """A data table: the frame, where it came from, its feature and target columns."""

    frame: Any  # pandas.DataFrame (a Dask DataFrame with train --engine dask)
    source: str
    features: list[str]
    target: str | None


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
    return frame, str(path)


def _non_numeric_example(column: Any) -> tuple[int, Any] | None:
    import pandas as pd

    converted = pd.to_numeric(column, errors="coerce")
    bad = converted.isna() & column.notna()
    if not bad.any():
        return None
    i = int(np.flatnonzero(bad.to_numpy())[0])
    return i, column.iloc[i]


def feature_columns(frame: Any, target: str | None, *, quiet: bool) -> list[str]:
    """The numeric columns other than the target.

    A text column with no number in it is left out (with a note); a column that
    is mostly numbers but has some text is an error, since that is usually a typo
    or a missing-value marker the user should fix.
    """
    import pandas as pd

    features, skipped = [], []
    for name in frame.columns:
        if name == target:
            continue
        col = frame[name]
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            features.append(str(name))
            continue
        numeric = pd.to_numeric(col, errors="coerce")
        if numeric.notna().sum() == 0:
            skipped.append(str(name))
            continue
        example = _non_numeric_example(col)
        assert example is not None
        row, value = example
        raise UsageError(
            f"column {name!r} has a non-numeric value {value!r} (row {row + 1}): "
            "fix or remove it, or drop the column"
        )
    if skipped and not quiet:
        sys.stderr.write(f"note: ignoring non-numeric columns: {', '.join(skipped)}\n")
    if not features:
        raise UsageError(
            "no numeric feature columns: the table needs at least one numeric column "
            "besides the target"
        )
    return features


def split_table(frame: Any, source: str, target: str | None, *, quiet: bool) -> Table:
    """Pick the target column (default: the last) and the numeric features."""
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    if target is None:
        target = columns[-1]
    elif target not in columns:
        shown = ", ".join(columns[:8]) + (", ..." if len(columns) > 8 else "")
        raise UsageError(f"no column {target!r} in {source}: the columns are {shown}")
    if frame[target].isna().any():
        raise UsageError(f"the target column {target!r} has missing values: drop those rows")
    features = feature_columns(frame, target, quiet=quiet)
    check_finite(frame, features)
    return Table(frame, source, features, target)


def check_finite(frame: Any, features: list[str]) -> None:
    values = frame[features].to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = (int(v[0]) for v in np.nonzero(bad))
        raise UsageError(
            f"column {features[col]!r} has a missing or infinite value (row {row + 1}): "
            "fill or drop it"
        )


def model_features(frame: Any, features: list[str], source: str) -> Any:
    """The model's feature columns from ``frame``, by name, as float."""
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    missing = [f for f in features if f not in columns]
    if missing:
        shown = ", ".join(missing[:6]) + (", ..." if len(missing) > 6 else "")
        raise UsageError(
            f"{source} lacks {len(missing)} column(s) the model was trained on: {shown}"
        )
    import pandas as pd

    for name in features:
        col = frame[name]
        if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            example = _non_numeric_example(col)
            value = example[1] if example else col.iloc[0]
            row = example[0] + 1 if example else 1
            raise UsageError(
                f"column {name!r} has a non-numeric value {value!r} (row {row}): fix or remove it"
            )
    check_finite(frame, features)
    return frame[features]
