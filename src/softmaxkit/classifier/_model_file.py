"""A fitted SoftmaxRegression as the safe model file's parts: a JSON header and arrays.

The container (an ``.npz`` with a JSON header, never pickled, written atomically)
is :mod:`softmaxkit._model_file`; this module says what the classifier puts in it
and checks every field when reading it back. Class labels travel as JSON
(str, int, float or bool), the coefficients as float arrays.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from .._model_file import ModelFileError

KIND = "SoftmaxRegression"


def header(model: Any) -> dict[str, Any]:
    """The JSON-safe description of a fitted ``model`` (parameters, classes, scalars)."""
    labels = [_label_to_json(c) for c in model.classes_]
    params = model.get_params()
    cw = params["class_weight"]
    if isinstance(cw, dict):
        params["class_weight"] = [[_label_to_json(k), float(v)] for k, v in cw.items()]
    if not isinstance(params["random_state"], int):
        params["random_state"] = None
    out: dict[str, Any] = {
        "kind": KIND,
        "params": params,
        "classes": labels,
        "classes_dtype": str(np.asarray(model.classes_).dtype),
        "n_features_in": int(model.n_features_in_),
        "n_iter": int(model.n_iter_),
        "temperature": float(model.temperature_),
        "dtype": str(model.coef_.dtype),
    }
    if hasattr(model, "feature_names_in_"):
        out["feature_names_in"] = [str(f) for f in model.feature_names_in_]
    return out


def arrays(model: Any) -> dict[str, np.ndarray]:
    """The float arrays of a fitted ``model``."""
    return {
        "coef": model.coef_,
        "intercept": model.intercept_,
        "loss_curve": np.asarray(model.loss_curve_, dtype=np.float64),
    }


def shapes(head: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """The shape of each array a header implies (checked before any array is read):
    ``coef`` (classes, features), ``intercept`` (classes,), ``loss_curve`` any length."""
    from .._model_file import ANY

    classes, n_features = head["classes"], head["n_features_in"]
    if not isinstance(classes, list) or not 2 <= len(classes) <= 10**7:
        raise ValueError("expected a list of 2 or more class labels")
    if isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 1:
        raise ValueError(f"expected a feature count >= 1, got {n_features!r}")
    k = len(classes)
    return {"coef": (k, n_features), "intercept": (k,), "loss_curve": (ANY,)}


def restore(cls: Any, head: dict[str, Any], arrs: dict[str, np.ndarray], where: str) -> Any:
    """A fitted ``cls`` from :func:`header` and :func:`arrays`; ``ModelFileError``
    (a ``ValueError``) naming ``where`` for anything inconsistent."""
    try:
        params = dict(head["params"])
        if isinstance(params.get("class_weight"), list):
            params["class_weight"] = {
                _label_from_json(k): float(v) for k, v in params["class_weight"]
            }
        model = cls(**params)
        model._check_params()  # the parameters a fit would accept, and no others
        classes_dtype = np.dtype(head["classes_dtype"])
        if classes_dtype.kind not in "iufbUO":
            raise ValueError(f"class labels of dtype {classes_dtype}")
        classes = np.asarray([_label_from_json(c) for c in head["classes"]], dtype=classes_dtype)
        # as fit stores them: unique and sorted (predict indexes them by position)
        if classes.ndim != 1 or not all(a < b for a, b in itertools.pairwise(classes.tolist())):
            raise ValueError("class labels that are unique and sorted")
        n_features = head["n_features_in"]
        n_iter = head["n_iter"]
        if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 0:
            raise ValueError(f"an iteration count, got {n_iter!r}")
        coef, intercept = arrs["coef"], arrs["intercept"]
        dtype = np.dtype(head["dtype"])
        temperature = head["temperature"]
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
            raise ValueError(f"a number for the temperature, got {temperature!r}")
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise ModelFileError(
            f"expected a consistent SoftmaxRegression header in {where!r}, got {exc}"
        ) from None
    k = len(classes)
    if k < 2 or coef.shape != (k, n_features) or intercept.shape != (k,):
        raise ModelFileError(
            f"expected coef of shape ({k}, {n_features}) and intercept of shape ({k},) in "
            f"{where!r}, got {coef.shape} and {intercept.shape}"
        )
    if dtype not in (np.float32, np.float64) or coef.dtype != dtype or intercept.dtype != dtype:
        raise ModelFileError(
            f"expected float32 or float64 coefficients in {where!r}, got {coef.dtype}"
        )
    if not (np.all(np.isfinite(coef)) and np.all(np.isfinite(intercept))):
        raise ModelFileError(f"expected finite coefficients in {where!r}")
    temperature = float(temperature)
    if not (math.isfinite(temperature) and 1e-3 <= temperature <= 1e3):
        raise ModelFileError(
            f"expected a temperature in [1e-3, 1e3] (calibrate's range) in {where!r}, "
            f"got {temperature}"
        )
    model.classes_ = classes
    model.coef_ = coef
    model.intercept_ = intercept
    model.n_features_in_ = n_features
    if "feature_names_in" in head:
        names = head["feature_names_in"]
        if (
            not isinstance(names, list)
            or len(names) != n_features
            or not all(isinstance(f, str) for f in names)
            or len(set(names)) != len(names)
        ):
            raise ModelFileError(f"expected {n_features} distinct feature names in {where!r}")
        model.feature_names_in_ = np.asarray(names, dtype=object)
    model.n_iter_ = n_iter
    model.temperature_ = temperature
    model.loss_curve_ = [float(v) for v in arrs.get("loss_curve", [])]
    return model


def _label_to_json(label: Any) -> Any:
    """Class labels travel as JSON: str, int, float and bool only (never pickled)."""
    if isinstance(label, np.generic):
        label = label.item()
    if isinstance(label, (str, bool, int, float)):
        return label
    raise ValueError(
        f"expected class labels of type str, int, float or bool to save safely, got "
        f"{type(label).__name__}"
    )


def _label_from_json(label: Any) -> Any:
    if isinstance(label, (str, bool, int, float)):
        return label
    raise ValueError(f"expected a str, int, float or bool label, got {type(label).__name__}")
