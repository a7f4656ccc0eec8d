"""Which columns of a table are features, and how each becomes numbers.

The rules, the same on both engines (in memory the whole table is one part; on
Dask each partition is profiled where it lies and the profiles are combined):

* **numeric** columns (numbers) are standardised;
* **categorical** columns (text, ``bool``, pandas ``category``, or any column named
  with ``--categorical``) are one-hot encoded, each value by its text (``1`` and
  ``1.0`` are one category), unknown values at prediction time encoding as none
  of the known ones (``OneHotEncoder(handle_unknown="ignore")``);
* a text column with more distinct values than ``max(10, training rows / 2)`` is **free
  text** (comments, names, keys): left out with a note, since one-hot encoding it
  would give a feature per row; ``--categorical`` keeps it;
* a text column whose values are mostly numbers is a **typo** (``3,4`` among
  numbers): an error naming the value and row;
* the ``--id`` column is never a feature; an integer column that is unique and
  monotonic (``0, 1, 2, ...``) gets a warning that it looks like a row ID;
* **missing values** in a feature are an error naming the row, unless
  ``--impute``: then a numeric column's missing values take its training mean
  (``SimpleImputer(strategy="mean")``, before the scaler) and a categorical
  column's the category ``(missing)``. The target never has missing values.

The preprocessing is a scikit-learn ``ColumnTransformer`` inside the saved
pipeline, so ``predict`` takes raw rows. It is rebuilt from its numbers (means,
scales, categories) when a model file is read, never unpickled.

The train / validation / test split is a function of each row's position in the
table and the seed alone (:func:`split_codes`), so both engines give the same
rows to each split however the table is partitioned.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..classifier._targets import _mix
from ._errors import UsageError

MISSING = "(missing)"
HUGE = 1e150  # a feature value beyond this is refused: its square (the variance) overflows
TEXT_MIN_DISTINCT = 10

TRAIN, VALIDATION, TEST = 0, 1, 2


# --------------------------------------------------------------------------------------
# categories by their text


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isnan(f):
            return MISSING
        return str(int(f)) if f.is_integer() and abs(f) < 2**63 else repr(f)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return MISSING
    except ImportError:  # pragma: no cover - the cli extra has pandas
        pass
    return str(value)


def category_text(column: Any) -> np.ndarray:
    """Each value of a column as the text naming its category (missing: ``(missing)``)."""
    values = column.to_numpy(dtype=object) if hasattr(column, "to_numpy") else column
    return np.asarray([_text(v) for v in values], dtype=object)


def _category_text_frame(X: Any) -> np.ndarray:
    import pandas as pd

    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=object))
    if frame.shape[1] == 0:
        return np.empty((len(frame), 0), dtype=object)
    return np.column_stack([category_text(frame.iloc[:, j]) for j in range(frame.shape[1])])


def _text_transformer() -> Any:
    from sklearn.preprocessing import FunctionTransformer

    return FunctionTransformer(_category_text_frame, feature_names_out="one-to-one")


# --------------------------------------------------------------------------------------
# the plan: which column plays which part


@dataclass(frozen=True)
class Columns:
    """The roles of a table's columns: target, features (numeric, categorical), ID."""

    target: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    id: str | None = None
    impute: bool = False
    forced: tuple[str, ...] = ()  # named with --categorical: no free-text or typo rule
    categories: dict[str, list[str]] = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def header(self) -> dict[str, Any]:
        return {
            "numeric": list(self.numeric),
            "categorical": list(self.categorical),
            "categories": {c: list(self.categories[c]) for c in self.categorical},
            "id": self.id,
            "impute": self.impute,
        }


def _names(values: list[str] | None) -> list[str]:
    """``--features a,b --features c`` as ``[a, b, c]``."""
    out: list[str] = []
    for v in values or []:
        out.extend(s.strip() for s in v.split(",") if s.strip())
    return out


def _is_numeric(dtype: Any) -> bool:
    import pandas as pd

    return bool(
        pd.api.types.is_numeric_dtype(dtype)
        and not pd.api.types.is_bool_dtype(dtype)
        and not isinstance(dtype, pd.CategoricalDtype)
    )


def plan(
    dtypes: dict[str, Any],
    target: str | None,
    *,
    features: list[str] | None = None,
    drop: list[str] | None = None,
    categorical: list[str] | None = None,
    id_column: str | None = None,
    impute: bool = False,
    source: str = "the table",
) -> Columns:
    """A first plan from the column names and types alone (no pass over the data)."""
    import pandas as pd

    columns = list(dtypes)
    shown = ", ".join(columns[:8]) + (", ..." if len(columns) > 8 else "")

    def known(name: str, option: str) -> str:
        if name not in dtypes:
            raise UsageError(f"{option}: no column {name!r} in {source}: the columns are {shown}")
        return name

    if target is None:
        target = columns[-1]
    elif target not in dtypes:
        raise UsageError(f"no column {target!r} in {source}: the columns are {shown}")
    chosen = [known(n, "--features") for n in _names(features)] or list(columns)
    dropped = {known(n, "--drop") for n in _names(drop)}
    forced = {known(n, "--categorical") for n in _names(categorical)}
    if id_column is not None:
        known(id_column, "--id")
        if id_column == target:
            raise UsageError(f"--id {id_column!r} is the target column")
    if target in _names(features):
        raise UsageError(f"--features names the target column {target!r}")
    numeric, cats = [], []
    for name in chosen:
        if name in (target, id_column) or name in dropped:
            continue
        dtype = dtypes[name]
        if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
            raise UsageError(
                f"column {name!r} holds dates or times: derive numbers from it (a year, a "
                f"day of week) or --drop {name}"
            )
        if name in forced or not _is_numeric(dtype):
            cats.append(name)
        else:
            numeric.append(name)
    return Columns(target, tuple(numeric), tuple(cats), id_column, impute, tuple(sorted(forced)))


# --------------------------------------------------------------------------------------
# profiles: one pass over each part of the table


@dataclass
class Profile:
    """What one pass over (part of) a table learns: split sizes, training statistics
    of the numeric columns, categories, missing values, class counts, ID-likeness."""

    rows: int = 0
    split_rows: list[int] = field(default_factory=lambda: [0, 0, 0])
    count: dict[str, int] = field(default_factory=dict)  # observed training values
    mean: dict[str, float] = field(default_factory=dict)
    m2: dict[str, float] = field(default_factory=dict)
    categories: dict[str, set[str]] = field(default_factory=dict)
    numbers: dict[str, int] = field(default_factory=dict)  # values that parse as numbers
    not_number: dict[str, tuple[int, str]] = field(default_factory=dict)  # first text value
    missing: dict[str, tuple[int, int]] = field(default_factory=dict)  # (count, first row)
    infinite: dict[str, tuple[int, Any]] = field(default_factory=dict)  # (first row, value)
    huge: dict[str, tuple[int, Any]] = field(default_factory=dict)  # (first row, value)
    classes: dict[Any, list[int]] = field(default_factory=dict)  # label -> rows per split
    ends: dict[str, tuple[float, float, bool, bool]] = field(default_factory=dict)


def _first(mask: np.ndarray, offset: int) -> int:
    return offset + int(np.flatnonzero(mask)[0])


def profile_part(
    part: Any, columns: Columns, offset: int, seed: int, test_size: float, calibrate: bool
) -> Profile:
    """Profile rows ``offset, offset + 1, ...`` of the table (a pandas frame)."""
    import pandas as pd

    n = len(part)
    p = Profile(rows=n)
    split = split_codes(offset, n, seed, test_size, calibrate)
    train = split == TRAIN
    p.split_rows = [int(np.sum(split == s)) for s in (TRAIN, VALIDATION, TEST)]
    for name in columns.features:
        col = part[name]
        isna = col.isna().to_numpy()
        if isna.any():
            p.missing[name] = (int(isna.sum()), _first(isna, offset))
        if name in columns.numeric:
            values = col.to_numpy(dtype=float, na_value=np.nan)
            inf = np.isinf(values)
            if inf.any():
                i = int(np.flatnonzero(inf)[0])
                p.infinite[name] = (offset + i, values[i])
            with np.errstate(invalid="ignore"):
                huge = np.abs(values) > HUGE
            huge &= ~inf
            if huge.any():
                i = int(np.flatnonzero(huge)[0])
                p.huge[name] = (offset + i, values[i])
            # Huge values are refused after the merge (validate); leaving them out here
            # keeps the pairwise merge's delta**2 from overflowing first.
            seen = values[train & ~isna & ~inf & ~huge]
            p.count[name] = len(seen)
            p.mean[name] = float(seen.mean()) if len(seen) else 0.0
            p.m2[name] = float(((seen - p.mean[name]) ** 2).sum()) if len(seen) else 0.0
            if pd.api.types.is_integer_dtype(col.dtype) and n:
                d = np.diff(values)
                p.ends[name] = (values[0], values[-1], bool(np.all(d > 0)), bool(np.all(d < 0)))
        else:
            texts = category_text(col)
            p.categories[name] = set(texts[train].tolist())
            text_typed = pd.api.types.is_object_dtype(col.dtype) or pd.api.types.is_string_dtype(
                col.dtype
            )
            if text_typed and name not in columns.forced:
                parsed = pd.to_numeric(col, errors="coerce").notna().to_numpy()
                p.numbers[name] = int(parsed.sum())
                text = ~parsed & ~isna
                if text.any():
                    i = int(np.flatnonzero(text)[0])
                    p.not_number[name] = (offset + i, str(col.iloc[i]))
    labels = part[columns.target]
    isna = labels.isna().to_numpy()
    if isna.any():
        p.missing[columns.target] = (int(isna.sum()), _first(isna, offset))
    values = labels.to_numpy()
    if pd.api.types.is_float_dtype(labels.dtype):
        fractional = ~isna & (np.mod(np.nan_to_num(values.astype(float)), 1) != 0)
        if fractional.any():
            i = int(np.flatnonzero(fractional)[0])
            raise UsageError(
                f"the target column {columns.target!r} holds a non-integer number "
                f"{float(values[i]):g} (row {offset + i + 1}): class labels are text or whole "
                "numbers (this is a classifier, not a regression)"
            )
    if len(values) and not isna.all():
        try:
            uniq, inverse = np.unique(values[~isna], return_inverse=True)
        except TypeError:  # e.g. numbers and text in one object column
            kinds = sorted({type(v).__name__ for v in values[~isna]})
            if any(k in ("dict", "list", "tuple", "ndarray") for k in kinds):
                raise UsageError(
                    f"the target column {columns.target!r} holds structured values "
                    f"({', '.join(kinds)}): give a column of labels (text or whole numbers)"
                ) from None
            raise UsageError(
                f"the target column {columns.target!r} mixes value types ({', '.join(kinds)}): "
                "make them all text or all numbers"
            ) from None
        counts = np.zeros((len(uniq), 3), dtype=np.int64)
        np.add.at(counts, (inverse, split[~isna]), 1)
        p.classes = {k: c.tolist() for k, c in zip(uniq.tolist(), counts, strict=True)}
    return p


def combine(parts: list[Profile]) -> Profile:
    """The profile of the whole table from its parts' (in row order)."""
    out = Profile()
    for p in parts:
        out.rows += p.rows
        out.split_rows = [a + b for a, b in zip(out.split_rows, p.split_rows, strict=True)]
        for name, c in p.count.items():  # Chan et al.'s pairwise mean and M2
            c0, m0 = out.count.get(name, 0), out.mean.get(name, 0.0)
            total = c0 + c
            delta = p.mean[name] - m0
            out.mean[name] = m0 + delta * c / total if total else 0.0
            out.m2[name] = out.m2.get(name, 0.0) + p.m2[name] + delta**2 * c0 * c / max(total, 1)
            out.count[name] = total
        for name, cats in p.categories.items():
            out.categories.setdefault(name, set()).update(cats)
        for name, k in p.numbers.items():
            out.numbers[name] = out.numbers.get(name, 0) + k
        for name, v in p.not_number.items():
            out.not_number.setdefault(name, v)
        for name, (k, first) in p.missing.items():
            k0, first0 = out.missing.get(name, (0, first))
            out.missing[name] = (k0 + k, first0)
        for name, v in p.infinite.items():
            out.infinite.setdefault(name, v)
        for name, v in p.huge.items():
            out.huge.setdefault(name, v)
        for label, counts in p.classes.items():
            old = out.classes.get(label, [0, 0, 0])
            out.classes[label] = [a + b for a, b in zip(old, counts, strict=True)]
        for name, ends in p.ends.items():
            if name not in out.ends:
                out.ends[name] = ends
                continue
            f0, l0, i0, d0 = out.ends[name]
            f1, l1, i1, d1 = ends
            out.ends[name] = (f0, l1, i0 and i1 and f1 > l0, d0 and d1 and f1 < l0)
    return out


def settle(columns: Columns, prof: Profile, *, quiet: bool) -> Columns:
    """The final plan from the profile: free text left out, typos and missing values
    refused, ID-like columns warned about, the categories fixed."""
    cats = []
    note = []
    for name in columns.categorical:
        numbers = prof.numbers.get(name, 0)
        observed = prof.rows - prof.missing.get(name, (0, 0))[0]
        if name in prof.not_number and numbers and numbers * 2 >= observed:
            row, value = prof.not_number[name]
            raise UsageError(
                f"column {name!r} has a non-numeric value {value!r} (row {row + 1}) among "
                f"numbers: fix it, --drop {name}, or --categorical {name} to use it as "
                "categories"
            )
        distinct = len(prof.categories.get(name, ()))
        if name in prof.numbers and distinct > max(TEXT_MIN_DISTINCT, prof.split_rows[0] / 2):
            note.append(
                f"{name} ({distinct} distinct values in {prof.split_rows[0]} training rows)"
            )
            continue
        cats.append(name)
    if note and not quiet:
        sys.stderr.write(
            f"note: leaving out free-text columns: {'; '.join(note)}; --categorical NAME "
            "one-hot encodes one anyway\n"
        )
    columns = replace(columns, categorical=tuple(cats))
    if not columns.features:
        left = f" (free text: {', '.join(n.split(' (')[0] for n in note)})" if note else ""
        raise UsageError(f"no feature columns besides the target {columns.target!r}{left}")
    for name in [*columns.features, columns.target]:
        if name in prof.missing:
            k, row = prof.missing[name]
            if name == columns.target:
                raise UsageError(
                    f"the target column {name!r} has {k} missing value(s) (row {row + 1} "
                    "first): drop those rows"
                )
            if not columns.impute:
                raise UsageError(
                    f"column {name!r} has {k} missing value(s) (row {row + 1} first): fill or "
                    "drop them, or --impute (numeric: the training mean; categorical: a "
                    "category of its own)"
                )
        if name in prof.infinite:
            row, value = prof.infinite[name]
            raise UsageError(f"column {name!r} has an infinite value {value} (row {row + 1})")
        if name in prof.huge:
            row, value = prof.huge[name]
            raise UsageError(
                f"column {name!r} has a value {value:g} (row {row + 1}) beyond +-{HUGE:g}, "
                "where its variance overflows: rescale the column (e.g. to other units)"
            )
    if not quiet:
        for name, (_, _, inc, dec) in prof.ends.items():
            if name in columns.numeric and (inc or dec) and prof.rows > 2:
                sys.stderr.write(
                    f"warning: column {name!r} looks like a row ID (unique, "
                    f"{'increasing' if inc else 'decreasing'} integers) and is used as a "
                    f"feature: --id {name} carries it to predictions instead, --drop {name} "
                    "leaves it out\n"
                )
    categories = {c: sorted(prof.categories.get(c, set())) for c in columns.categorical}
    for c in columns.categorical:
        if not categories[c]:
            categories[c] = [MISSING]
    return replace(columns, categories=categories)


# --------------------------------------------------------------------------------------
# the split, by position


def split_codes(offset: int, n: int, seed: int, test_size: float, calibrate: bool) -> np.ndarray:
    """Split of rows ``offset .. offset + n - 1``: ``TEST`` where a hash of the row's
    position and the seed falls below ``test_size``; of the rest, ``VALIDATION``
    (only with ``calibrate``) where a second hash falls below ``test_size``; else
    ``TRAIN``. Each row's split depends on its position and the seed only: the same
    for any partitioning, on both engines."""
    pos = np.arange(offset, offset + n, dtype=np.uint64)
    seeds = np.array([seed % 2**64], dtype=np.uint64)
    key = _mix(seeds * np.uint64(0xD1B54A32D192ED03) + np.uint64(1))[0]
    u1 = (_mix(pos ^ key) >> np.uint64(11)).astype(np.float64) / 2.0**53
    u2 = (_mix(_mix(pos ^ key) ^ np.uint64(0x2545F4914F6CDD1D)) >> np.uint64(11)).astype(
        np.float64
    ) / 2.0**53
    out = np.full(n, TRAIN, dtype=np.int8)
    if calibrate:
        out[u2 < test_size] = VALIDATION
    out[u1 < test_size] = TEST
    return out


# --------------------------------------------------------------------------------------
# the preprocessing: a ColumnTransformer, fitted or restored from its numbers


def transformer(columns: Columns) -> Any:
    """The unfitted ``ColumnTransformer`` (categories fixed from the whole training split)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    parts = []
    if columns.numeric:
        steps = [("scale", StandardScaler())]
        if columns.impute:
            steps.insert(0, ("impute", SimpleImputer(strategy="mean")))
        parts.append(("numeric", Pipeline(steps), list(columns.numeric)))
    if columns.categorical:
        encoder = OneHotEncoder(
            categories=[list(columns.categories[c]) for c in columns.categorical],
            handle_unknown="ignore",
            sparse_output=False,
        )
        parts.append(
            (
                "categorical",
                Pipeline([("text", _text_transformer()), ("onehot", encoder)]),
                list(columns.categorical),
            )
        )
    return ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=True)


def statistics(ct: Any, columns: Columns) -> dict[str, np.ndarray]:
    """The fitted numbers of :func:`transformer`'s result (for the model file)."""
    if not columns.numeric:
        return {}
    numeric = ct.named_transformers_["numeric"]
    scaler = numeric.named_steps["scale"]
    return {
        "mean": np.asarray(scaler.mean_, dtype=np.float64),
        "scale": np.asarray(scaler.scale_, dtype=np.float64),
        "fill": (
            np.asarray(numeric.named_steps["impute"].statistics_, dtype=np.float64)
            if columns.impute
            else np.asarray(scaler.mean_, dtype=np.float64)
        ),
    }


def restore(columns: Columns, mean: Any, scale: Any, fill: Any) -> Any:
    """A fitted :func:`transformer` from its numbers: fitted on a one-row stand-in
    table, then given the saved statistics (categories are fixed in its constructor)."""
    import pandas as pd

    stand_in: dict[str, list[Any]] = {name: [0.0] for name in columns.numeric}
    stand_in.update({c: [columns.categories[c][0]] for c in columns.categorical})
    ct = transformer(columns)
    ct.fit(pd.DataFrame(stand_in, columns=columns.features))
    if columns.numeric:
        numeric = ct.named_transformers_["numeric"]
        scaler = numeric.named_steps["scale"]
        mean, scale = np.asarray(mean, dtype=np.float64), np.asarray(scale, dtype=np.float64)
        scaler.mean_, scaler.scale_, scaler.var_ = mean, scale, scale**2
        if columns.impute:
            numeric.named_steps["impute"].statistics_ = np.asarray(fill, dtype=np.float64)
    return ct


def from_profile(columns: Columns, prof: Profile) -> Any:
    """The preprocessing a fit on the training split gives, from the profile alone
    (the Dask engine: the statistics come from one pass over the partitions)."""
    mean = np.array([prof.mean.get(c, 0.0) for c in columns.numeric])
    count = np.array([prof.count.get(c, 0) for c in columns.numeric], dtype=float)
    m2 = np.array([prof.m2.get(c, 0.0) for c in columns.numeric])
    # imputed values sit at the mean, so they add rows but no squared deviation
    rows = prof.split_rows[TRAIN] if columns.impute else count
    var = m2 / np.maximum(rows, 1)
    scale = np.sqrt(var)
    scale = np.where(scale > 10 * np.finfo(float).eps * np.maximum(np.abs(mean), 1), scale, 1.0)
    return restore(columns, mean, scale, mean)
