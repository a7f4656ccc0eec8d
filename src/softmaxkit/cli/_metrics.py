"""The numbers of a run: accuracy, macro F1, cross-entropy and its decomposition, ECE."""

from __future__ import annotations

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


def evaluate(
    log_proba: np.ndarray,
    log_proba_calibrated: np.ndarray | None,
    y: np.ndarray,
    n_classes: int,
    label_smoothing: float,
) -> dict[str, Any]:
    """All metrics for codes ``y`` (indices into classes_) and model log-probabilities."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    proba = np.exp(log_proba)
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
        "macro_f1": float(f1_score(y, pred, average="macro", labels=np.arange(n_classes))),
        "log_loss": log_loss,
        "cross_entropy_P_Q": ce,
        "entropy_P": h,
        "kl_P_Q": kl,
        "confusion_matrix": confusion_matrix(y, pred, labels=np.arange(n_classes)).tolist(),
        "reliability": reliability(proba, y),
    }
    out["ece"] = expected_calibration_error(out["reliability"])
    if log_proba_calibrated is not None:
        out["reliability_calibrated"] = reliability(np.exp(log_proba_calibrated), y)
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
