"""The run's model file: the fitted scaler and classifier together, in the safe format.

``model.npz`` holds a JSON header (``kind = "SoftmaxRegressionPipeline"``) with
the classifier's own header, the feature and target column names and the column
plan (numeric and categorical columns, each one's categories, the ID column,
whether missing values are imputed), and the scaler's arrays beside the
classifier's; never pickled. :func:`load_model`
returns a fitted scikit-learn ``Pipeline`` that takes raw rows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import _model_file
from ..classifier import SoftmaxRegression
from ..classifier._targets import label_codes
from . import _columns
from ._errors import UsageError

__all__ = ["label_codes", "load_model", "load_model_for_cli", "logits", "save_model"]

KIND = "SoftmaxRegressionPipeline"


def save_model(path: str | os.PathLike[str], pipeline: Any, columns: _columns.Columns) -> None:
    ct, clf = pipeline[0], pipeline[-1]
    clf_header, clf_arrays = clf.model_state()
    header = {
        "kind": KIND,
        "classifier": clf_header,
        "features": columns.features,
        "target": columns.target,
        "columns": columns.header(),
    }
    arrays = {f"clf_{k}": v for k, v in clf_arrays.items()}
    arrays.update({f"scaler_{k}": v for k, v in _columns.statistics(ct, columns).items()})
    _model_file.write(path, header, arrays)


def _str_list(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{what} as a list of names")
    if len(set(value)) != len(value):
        raise TypeError(f"{what} without repeats")
    return list(value)


def _columns_from(header: dict[str, Any]) -> _columns.Columns:
    features = _str_list(header["features"], "features")
    target = header["target"]
    if not isinstance(target, str):
        raise TypeError("a target column name")
    spec = header.get("columns")
    if spec is None:  # files from before categorical columns: all numeric
        return _columns.Columns(target, tuple(features), ())
    if not isinstance(spec, dict):
        raise TypeError("a column description")
    numeric = _str_list(spec["numeric"], "numeric columns")
    categorical = _str_list(spec["categorical"], "categorical columns")
    if numeric + categorical != features:
        raise TypeError("features that are the numeric then the categorical columns")
    cats = spec["categories"]
    if not isinstance(cats, dict) or set(cats) != set(categorical):
        raise TypeError("the categories of each categorical column")
    categories = {c: _str_list(cats[c], f"categories of {c!r}") for c in categorical}
    if any(not v for v in categories.values()):
        raise TypeError("at least one category per categorical column")
    id_column = spec.get("id")
    if id_column is not None and not isinstance(id_column, str):
        raise TypeError("an ID column name")
    impute = spec.get("impute", False)
    if not isinstance(impute, bool):
        raise TypeError("impute as true or false")
    return _columns.Columns(
        target, tuple(numeric), tuple(categorical), id_column, impute, (), categories
    )


def _shapes(header: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """The arrays a pipeline header implies, with their shapes (before any is read)."""
    from ..classifier import _model_file as clf_file

    columns = _columns_from(header)
    out = {f"clf_{k}": v for k, v in clf_file.shapes(header["classifier"]).items()}
    n = len(columns.numeric)
    if n:
        listed = header["arrays"]
        out.update(
            {f"scaler_{k}": (n,) for k in ("mean", "scale", "fill") if f"scaler_{k}" in listed}
        )
        if "scaler_mean" not in out or "scaler_scale" not in out:
            raise ValueError("expected the scaler's mean and scale")
    return out


def load_run_model(path: str | os.PathLike[str]) -> tuple[Any, _columns.Columns]:
    """Read ``model.npz``; returns ``(pipeline, columns)``."""
    from sklearn.pipeline import Pipeline

    header, arrays = _model_file.read(path, KIND, _shapes)
    bad = _model_file.ModelFileError
    try:
        columns = _columns_from(header)
        clf_arrays = {k[4:]: v for k, v in arrays.items() if k.startswith("clf_")}
        clf = SoftmaxRegression.from_model_state(header["classifier"], clf_arrays, str(path))
        n = len(columns.numeric)
        if n:
            mean, scale = arrays["scaler_mean"], arrays["scaler_scale"]
            fill = arrays.get("scaler_fill", mean)
        else:
            mean = scale = fill = np.zeros(0)
    except (KeyError, TypeError) as exc:
        raise bad(f"expected a complete softmaxkit model in {str(path)!r}, got no {exc}") from None
    if mean.shape != (n,) or scale.shape != (n,) or fill.shape != (n,):
        raise bad(f"expected {n} numeric columns throughout {str(path)!r}, got other shapes")
    if not (np.all(np.isfinite(mean)) and np.all(scale >= np.finfo(np.float64).tiny)):
        raise bad(f"expected finite scaler statistics, scales normal and > 0, in {str(path)!r}")
    if not np.all(np.isfinite(fill)):
        raise bad(f"expected finite fill values in {str(path)!r}")
    encoded = n + sum(len(v) for v in columns.categories.values())
    if clf.n_features_in_ != encoded:
        raise bad(
            f"expected a classifier of {encoded} inputs in {str(path)!r}, got {clf.n_features_in_}"
        )
    ct = _columns.restore(columns, mean, scale, fill)
    return Pipeline([("columns", ct), ("softmaxregression", clf)]), columns


def load_model(path: str | os.PathLike[str]) -> tuple[Any, list[str], str]:
    """Read ``model.npz``; returns ``(pipeline, feature_columns, target_column)``.

    ``pipeline`` is a fitted scikit-learn ``Pipeline``: a ``ColumnTransformer``
    (numeric columns standardised, categorical ones one-hot encoded) and the
    ``SoftmaxRegression``; its ``predict`` takes raw rows with the feature
    columns. Raises ``ValueError`` (a :class:`softmaxkit._model_file.ModelFileError`)
    for a missing, corrupted, truncated or foreign file.
    """
    pipeline, columns = load_run_model(path)
    return pipeline, columns.features, columns.target


def logits(clf: SoftmaxRegression, X: Any) -> np.ndarray:
    """All ``n_classes`` logits ``X W^T + b`` of a fitted classifier (also for two classes,
    where ``decision_function`` gives their difference)."""
    return np.asarray(np.asarray(X, dtype=clf.coef_.dtype) @ clf.coef_.T + clf.intercept_)


def logit_blocks(clf: SoftmaxRegression, ct: Any, X: Any) -> Iterator[np.ndarray]:
    """:func:`logits` of the table rows ``X`` (raw: ``ct`` encodes them), in row blocks
    (``block_rows``), so that memory stays bounded however many classes (10,000
    classes x 16,000 rows would be 1.3 GB at once)."""
    from ..classifier._solvers import block_rows

    step = block_rows(len(clf.classes_))
    for start in range(0, len(X), step):
        yield logits(clf, ct.transform(X.iloc[start : start + step]))


def load_model_for_cli(path: str) -> tuple[Any, _columns.Columns]:
    try:
        return load_run_model(path)
    except ValueError as exc:
        raise UsageError(f"{exc}: give a model.npz written by 'softmaxkit train'") from None
