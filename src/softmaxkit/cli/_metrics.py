"""The numbers of a run: accuracy, macro F1, cross-entropy and its decomposition, ECE."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import cross_entropy, entropy, kl_divergence, softmax_cross_entropy


def reliability(proba: np.ndarray, y: np.ndarray, bins: int = 15) -> dict[str, list[float]]:
    """Accuracy, mean confidence (max probability) and count per equal-width confidence bin."""
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, bins - 1)
    acc, conf, count = [], [], []
    for b in range(bins):
        inside = which == b
        count.append(int(inside.sum()))
        acc.append(float(correct[inside].mean()) if inside.any() else float("nan"))
        conf.append(float(confidence[inside].mean()) if inside.any() else float("nan"))
    return {"accuracy": acc, "confidence": conf, "count": count, "edges": edges.tolist()}


def expected_calibration_error(rel: dict[str, list[float]]) -> float:
    """ECE from the bins of :func:`reliability`: the count-weighted mean of
    |accuracy - confidence| over the non-empty bins.

    References: M. P. Naeini, G. Cooper and M. Hauskrecht, "Obtaining Well
    Calibrated Probabilities Using Bayesian Binning", AAAI 2015.
    """
    n = sum(rel["count"])
    ece = 0.0
    for acc, conf, count in zip(rel["accuracy"], rel["confidence"], rel["count"], strict=True):
        if count:
            ece += count / n * abs(acc - conf)
    return float(ece)


@dataclass
class Assessment:
    """The evaluated rows' numbers and the probabilities they came from (each computed
    once: the report draws from the same arrays)."""

    metrics: dict[str, Any]
    proba: np.ndarray
    proba_calibrated: np.ndarray | None


def assess(
    Z: np.ndarray,
    y: np.ndarray,
    names: list[str],
    *,
    temperature: float | None,
    label_smoothing: float,
    rows: np.ndarray,
    ids: Any,
) -> Assessment:
    """Everything ``train`` and ``evaluate`` report about logits ``Z`` of rows with
    codes ``y``: :func:`evaluate`'s metrics (and, with a ``temperature``, after
    calibration), the per-class table, the decomposition by class and the worst
    rows (``rows``: their positions in the table, ``ids``: their IDs or None)."""
    from .. import log_softmax

    k = len(names)
    log_p = np.asarray(log_softmax(Z))
    proba = np.exp(log_p)
    log_p_cal = proba_cal = None
    if temperature is not None:
        log_p_cal = np.asarray(log_softmax(Z, temperature=temperature))
        proba_cal = np.exp(log_p_cal)
    metrics = evaluate(log_p, log_p_cal, y, k, label_smoothing, proba, proba_cal)
    metrics.update(
        {
            "per_class": per_class(y, log_p.argmax(axis=1), names),
            "decomposition_by_class": decomposition_by_class(proba, y, k, label_smoothing),
            "worst_rows": worst_rows(proba if proba_cal is None else proba_cal, y, rows, ids),
        }
    )
    return Assessment(metrics, proba, proba_cal)


def evaluate(
    log_proba: np.ndarray,
    log_proba_calibrated: np.ndarray | None,
    y: np.ndarray,
    n_classes: int,
    label_smoothing: float,
    proba: np.ndarray,
    proba_calibrated: np.ndarray | None,
) -> dict[str, Any]:
    """All metrics for codes ``y`` (indices into classes_), from the model's
    log-probabilities and probabilities (before and after calibration)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    pred = log_proba.argmax(axis=1)
    # The target distribution P the model was trained towards on these rows:
    # one-hot, or smoothed one-hot with label smoothing.
    P = np.eye(n_classes)[y] * (1 - label_smoothing) + label_smoothing / n_classes
    h = float(np.mean(entropy(P)))
    kl = float(np.mean(kl_divergence(P, proba)))
    ce = float(np.mean(cross_entropy(P, proba)))
    log_loss = float(softmax_cross_entropy(log_proba, y))
    out: dict[str, Any] = {
        "n_samples": len(y),
        "accuracy": float(accuracy_score(y, pred)),
        "macro_f1": float(
            f1_score(y, pred, average="macro", labels=np.arange(n_classes), zero_division=0.0)
        ),
        "log_loss": log_loss,
        "cross_entropy_P_Q": ce,
        "entropy_P": h,
        "kl_P_Q": kl,
        "confused_pairs": confused_pairs(y, pred, n_classes),
        "reliability": reliability(proba, y),
    }
    if n_classes <= DENSE_UP_TO:  # beyond, K x K numbers would swamp the file
        out["confusion_matrix"] = confusion_matrix(y, pred, labels=np.arange(n_classes)).tolist()
    out["ece"] = expected_calibration_error(out["reliability"])
    if log_proba_calibrated is not None and proba_calibrated is not None:
        out["reliability_calibrated"] = reliability(proba_calibrated, y)
        out["ece_calibrated"] = expected_calibration_error(out["reliability_calibrated"])
        out["log_loss_calibrated"] = float(softmax_cross_entropy(log_proba_calibrated, y))
    return out


def summary_table(m: dict[str, Any], extra: dict[str, str]) -> str:
    rows = [
        ("accuracy", f"{m['accuracy']:.4f}"),
        ("macro F1", f"{m['macro_f1']:.4f}"),
        ("log loss", f"{m['log_loss']:.4f}"),
        ("cross-entropy H(P, Q)", f"{m['cross_entropy_P_Q']:.4f}"),
        (
            "  = H(P) + KL(P || Q)",
            f"{m['entropy_P']:.4f} + {m['kl_P_Q']:.4f} = {m['entropy_P'] + m['kl_P_Q']:.4f}",
        ),
        ("ECE", f"{m['ece']:.4f}"),
    ]
    if "ece_calibrated" in m:
        rows.append(("ECE after temperature scaling", f"{m['ece_calibrated']:.4f}"))
    rows.extend(extra.items())
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k:<{width}}  {v}" for k, v in rows) + "\n"


DENSE_UP_TO = 100  # classes up to which metrics.json holds the whole confusion matrix


def confused_pairs(
    y: np.ndarray, pred: np.ndarray, n_classes: int, limit: int = 20
) -> list[list[int]]:
    """The most frequent (true, predicted, rows, rows of the true class) with true !=
    predicted, from the pairs that occur (O(n), not K x K)."""
    wrong = y != pred
    if not wrong.any():
        return []
    keys, rows = np.unique(y[wrong].astype(np.int64) * n_classes + pred[wrong], return_counts=True)
    support = np.bincount(y, minlength=n_classes)
    order = np.argsort(-rows, kind="stable")[:limit]
    return [
        [
            int(keys[i] // n_classes),
            int(keys[i] % n_classes),
            int(rows[i]),
            int(support[keys[i] // n_classes]),
        ]
        for i in order
    ]


def _tallies(y: np.ndarray, pred: np.ndarray, n_classes: int) -> dict[str, Any]:
    """Per class: rows right (true positives), true rows, predicted rows (O(K))."""
    return {
        "tp": np.bincount(y[y == pred], minlength=n_classes),
        "true": np.bincount(y, minlength=n_classes),
        "pred": np.bincount(pred, minlength=n_classes),
    }


def counts(Z: np.ndarray, y: np.ndarray, n_classes: int) -> dict[str, Any]:
    """Sufficient numbers for accuracy, macro F1 and log loss of logits ``Z`` against
    codes ``y``: per-class tallies and the summed negative log-likelihood (so that
    parts of a table, on a cluster, can be added up), O(K) whatever the rows."""
    from .. import log_softmax

    log_p = np.asarray(log_softmax(np.asarray(Z)))
    pred = log_p.argmax(axis=1)
    nll = -float(log_p[np.arange(len(y)), y].sum()) if len(y) else 0.0
    return {**_tallies(y, pred, n_classes), "nll_sum": nll, "n": len(y)}


def add_counts(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {k: a[k] + b[k] for k in ("tp", "true", "pred", "nll_sum", "n")}


def macro_f1(tp: np.ndarray, true: np.ndarray, pred: np.ndarray) -> float:
    """Macro-averaged F1 from per-class tallies, a class with no true and no predicted
    row counting 0 as in scikit-learn (F1 = 2 tp / (true + predicted))."""
    tp = tp.astype(float)
    denom = (true + pred).astype(float)
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(f1.mean())


def from_counts(c: dict[str, Any]) -> dict[str, float]:
    n = max(int(c["n"]), 1)
    return {
        "accuracy": float(np.sum(c["tp"]) / n),
        "macro_f1": macro_f1(np.asarray(c["tp"]), np.asarray(c["true"]), np.asarray(c["pred"])),
        "log_loss": float(c["nll_sum"] / n),
    }


def baseline(train_counts: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The majority-class baseline on codes ``y``: always predict the most frequent
    training class, with the training class frequencies as the probabilities (the
    best constant model in log loss)."""
    k = len(train_counts)
    prior = (train_counts + 0.0) / train_counts.sum()
    pred = np.full(len(y), int(np.argmax(train_counts)))
    with np.errstate(divide="ignore"):
        nll = -float(np.log(prior[y]).sum())
    return from_counts({**_tallies(y, pred, k), "nll_sum": nll, "n": len(y)})


def decomposition_by_class(
    proba: np.ndarray, y: np.ndarray, n_classes: int, label_smoothing: float
) -> dict[str, list[float]]:
    """Mean H(P), KL(P || Q) and H(P, Q) over the test rows of each true class."""
    P = np.eye(n_classes)[y] * (1 - label_smoothing) + label_smoothing / n_classes
    h, kl = np.asarray(entropy(P)), np.asarray(kl_divergence(P, proba))
    out: dict[str, list[float]] = {"entropy_P": [], "kl_P_Q": [], "cross_entropy_P_Q": []}
    for c in range(n_classes):
        rows = y == c
        if not rows.any():
            for key in out:
                out[key].append(float("nan"))
            continue
        out["entropy_P"].append(float(h[rows].mean()))
        out["kl_P_Q"].append(float(kl[rows].mean()))
        out["cross_entropy_P_Q"].append(float(h[rows].mean() + kl[rows].mean()))
    return out


def worst_rows(
    proba: np.ndarray, y: np.ndarray, rows: np.ndarray, ids: Any, limit: int = 10
) -> list[dict[str, Any]]:
    """The test rows whose true class got the lowest probability."""
    p_true = proba[np.arange(len(y)), y]
    order = np.argsort(p_true, kind="stable")[:limit]
    pred = proba.argmax(axis=1)
    return [
        {
            "row": int(rows[i]) + 1,
            "id": None if ids is None else _plain(ids[i]),
            "true": int(y[i]),
            "predicted": int(pred[i]),
            "p_true": float(p_true[i]),
            "p_predicted": float(proba[i, pred[i]]),
        }
        for i in order
    ]


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def per_class(y: np.ndarray, pred: np.ndarray, names: list[str]) -> dict[str, Any]:
    """scikit-learn's ``classification_report`` as a dict (precision, recall, F1 and
    support per class, with the macro and weighted averages)."""
    from sklearn.metrics import classification_report

    out: dict[str, Any] = classification_report(
        y,
        pred,
        labels=np.arange(len(names)),
        target_names=names,
        output_dict=True,
        zero_division=0.0,
    )
    return out
