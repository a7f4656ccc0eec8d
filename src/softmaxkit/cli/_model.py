"""The run's model file: the fitted scaler and classifier together, in the safe format.

``model.npz`` holds a JSON header (``kind = "SoftmaxRegressionPipeline"``) with
the classifier's own header, the feature and target column names, and the
scaler's arrays beside the classifier's; never pickled. :func:`load_model`
returns a fitted scikit-learn ``Pipeline`` that takes raw rows.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .. import _model_file
from ..classifier import SoftmaxRegression
from ..classifier._targets import label_codes
from ._errors import UsageError

__all__ = ["label_codes", "load_model", "load_model_for_cli", "logits", "save_model"]

KIND = "SoftmaxRegressionPipeline"


def save_model(
    path: str | os.PathLike[str], pipeline: Any, features: list[str], target: str
) -> None:
    scaler, clf = pipeline[0], pipeline[-1]
    clf_header, clf_arrays = clf.model_state()
    header = {
        "kind": KIND,
        "classifier": clf_header,
        "features": list(features),
        "target": target,
    }
    arrays = {f"clf_{k}": v for k, v in clf_arrays.items()}
    arrays["scaler_mean"] = np.asarray(scaler.mean_, dtype=np.float64)
    arrays["scaler_scale"] = np.asarray(scaler.scale_, dtype=np.float64)
    _model_file.write(path, header, arrays)


def load_model(path: str | os.PathLike[str]) -> tuple[Any, list[str], str]:
    """Read ``model.npz``; returns ``(pipeline, feature_columns, target_column)``.

    Raises ``ValueError`` (a :class:`softmaxkit._model_file.ModelFileError`) for a
    missing, corrupted, truncated or foreign file.
    """
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    header, arrays = _model_file.read(path, KIND)
    bad = _model_file.ModelFileError
    try:
        features = [str(f) for f in header["features"]]
        target = str(header["target"])
        clf_arrays = {k[4:]: v for k, v in arrays.items() if k.startswith("clf_")}
        clf = SoftmaxRegression.from_model_state(header["classifier"], clf_arrays, str(path))
        mean, scale = arrays["scaler_mean"], arrays["scaler_scale"]
    except (KeyError, TypeError) as exc:
        raise bad(f"expected a complete softmaxkit model in {str(path)!r}, got no {exc}") from None
    n = len(features)
    if mean.shape != (n,) or scale.shape != (n,) or clf.n_features_in_ != n:
        raise bad(f"expected {n} features throughout {str(path)!r}, got inconsistent shapes")
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale)) and np.all(scale > 0)):
        raise bad(f"expected finite scaler statistics in {str(path)!r}")
    scaler = StandardScaler()
    scaler.mean_, scaler.scale_, scaler.var_ = mean, scale, scale**2
    scaler.n_features_in_ = n
    scaler.n_samples_seen_ = 0
    scaler.feature_names_in_ = np.asarray(features, dtype=object)
    return Pipeline([("standardscaler", scaler), ("softmaxregression", clf)]), features, target


def logits(clf: SoftmaxRegression, X: Any) -> np.ndarray:
    """All ``n_classes`` logits ``X W^T + b`` of a fitted classifier (also for two classes,
    where ``decision_function`` gives their difference)."""
    return np.asarray(np.asarray(X, dtype=clf.coef_.dtype) @ clf.coef_.T + clf.intercept_)


def load_model_for_cli(path: str) -> tuple[Any, list[str], str]:
    try:
        return load_model(path)
    except ValueError as exc:
        raise UsageError(f"{exc}: give a model.npz written by 'softmaxkit train'") from None
