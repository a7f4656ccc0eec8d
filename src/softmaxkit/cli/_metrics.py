"""The numbers of a run: accuracy, macro F1, cross-entropy and its decomposition, ECE."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np


def reliability(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 15
) -> dict[str, list[float | None]]:
    """Accuracy, mean confidence (max probability) and count per equal-width confidence
    bin; an empty bin's accuracy and confidence are None (``null`` in metrics.json)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    right = np.bincount(which, weights=correct.astype(float), minlength=bins)
    sure = np.bincount(which, weights=confidence, minlength=bins)
    acc = [float(right[b] / count[b]) if count[b] else None for b in range(bins)]
    conf = [float(sure[b] / count[b]) if count[b] else None for b in range(bins)]
    return {"accuracy": acc, "confidence": conf, "count": count.tolist(), "edges": edges.tolist()}


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


def row_blocks(Z: Any, n_classes: int) -> Iterator[np.ndarray]:
    """``Z`` as row blocks (:func:`~softmaxkit.classifier._solvers.block_rows`); an
    iterable of blocks (logits computed block by block) passes through."""
    if not isinstance(Z, np.ndarray):
        yield from Z
        return
    from ..classifier._solvers import block_rows  # not at import: --help stays quick

    step = block_rows(n_classes)
    for start in range(0, Z.shape[0], step):
        yield Z[start : start + step]


def linear_blocks(X: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> Iterator[np.ndarray]:
    """The logits ``X W^T + b`` of encoded rows, one row block at a time."""
    from ..classifier._solvers import block_rows

    step = block_rows(coef.shape[0])
    for start in range(0, X.shape[0], step):
        yield X[start : start + step] @ coef.T + intercept


@dataclass
class RowScores:
    """Per evaluated row, what every metric and figure needs: O(n) numbers whatever
    the number of classes K. The (n, K) probabilities are kept only where a figure
    or score needs them all (ROC / PR and per-class AUC, up to ``keep_up_to`` classes)."""

    pred: np.ndarray  # the predicted class (argmax)
    confidence: np.ndarray  # its probability, the largest one
    log_p_true: np.ndarray  # log-probability of the true class
    cross_entropy: np.ndarray  # H(P, Q) against the (smoothed) target, from log Q
    confidence_calibrated: np.ndarray | None
    log_p_true_calibrated: np.ndarray | None
    proba: np.ndarray | None  # (n, K) or None
    proba_calibrated: np.ndarray | None

    def final(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The probabilities a user gets (after calibration where there is one): of
        the true class, of the predicted class, and all (n, K) where kept."""
        if self.log_p_true_calibrated is not None and self.confidence_calibrated is not None:
            return (
                np.exp(self.log_p_true_calibrated),
                self.confidence_calibrated,
                self.proba_calibrated,
            )
        return np.exp(self.log_p_true), self.confidence, self.proba


def score_rows(
    blocks: Iterable[np.ndarray],
    y: np.ndarray,
    n_classes: int,
    *,
    temperature: float | None,
    label_smoothing: float,
    keep_up_to: int,
) -> RowScores:
    """One pass over the logits' row blocks: log-softmax (and at ``temperature``),
    then the per-row numbers of :class:`RowScores`. H(P, Q) comes from the
    log-probabilities, ``-(1 - eps) log q_y - eps / K sum_j log q_j``, so it is
    finite wherever the log loss is (from Q = exp(log Q) a probability that
    underflows to 0 made it inf)."""
    from .. import log_softmax

    k, eps = n_classes, label_smoothing
    keep = k <= keep_up_to
    parts: dict[str, list[np.ndarray]] = {}

    def add(name: str, value: np.ndarray) -> None:
        parts.setdefault(name, []).append(value)

    start = 0
    for Z in blocks:
        yb = y[start : start + len(Z)]
        start += len(Z)
        idx = np.arange(len(yb))
        log_p = np.asarray(log_softmax(Z))
        pred = log_p.argmax(axis=1)
        lp_true = log_p[idx, yb]
        add("pred", pred)
        add("confidence", np.exp(log_p[idx, pred]))
        add("log_p_true", lp_true)
        ce = -lp_true if eps == 0 else -(1 - eps) * lp_true - eps / k * log_p.sum(axis=1)
        add("cross_entropy", ce)
        if keep:
            add("proba", np.exp(log_p))
        if temperature is not None:
            log_pc = np.asarray(log_softmax(Z, temperature=temperature))
            add("confidence_calibrated", np.exp(log_pc[idx, pred]))  # argmax unchanged by T
            add("log_p_true_calibrated", log_pc[idx, yb])
            if keep:
                add("proba_calibrated", np.exp(log_pc))

    def joined(name: str) -> np.ndarray:
        empty = np.zeros((0, k) if name.startswith("proba") else (0,))
        return np.concatenate(parts[name]) if name in parts else empty

    def optional(name: str, when: bool) -> np.ndarray | None:
        return joined(name) if when else None

    cal = temperature is not None
    return RowScores(
        pred=joined("pred").astype(np.intp),
        confidence=joined("confidence"),
        log_p_true=joined("log_p_true"),
        cross_entropy=joined("cross_entropy"),
        confidence_calibrated=optional("confidence_calibrated", cal),
        log_p_true_calibrated=optional("log_p_true_calibrated", cal),
        proba=optional("proba", keep),
        proba_calibrated=optional("proba_calibrated", keep and cal),
    )


def target_entropy(n_classes: int, label_smoothing: float) -> float:
    """H(P) of a (smoothed) one-hot target: the same for every row, 0 without smoothing."""
    from scipy.special import xlogy

    on = 1 - label_smoothing + label_smoothing / n_classes
    off = label_smoothing / n_classes
    return float(-(xlogy(on, on) + (n_classes - 1) * xlogy(off, off))) + 0.0  # never -0.0


@dataclass
class Assessment:
    """The evaluated rows' numbers and the per-row scores they came from (each computed
    once: the report draws from the same arrays)."""

    metrics: dict[str, Any]
    scores: RowScores


def assess(
    Z: Any,
    y: np.ndarray,
    names: list[str],
    *,
    temperature: float | None,
    label_smoothing: float,
    rows: np.ndarray,
    ids: Any,
    keep_up_to: int,
) -> Assessment:
    """Everything ``train`` and ``evaluate`` report about logits ``Z`` (an array or an
    iterable of row blocks) of rows with codes ``y``: :func:`evaluate`'s metrics
    (and, with a ``temperature``, after calibration), the per-class table, the
    decomposition by class and the worst rows (``rows``: their positions in the
    table, ``ids``: their IDs or None). Memory: O(n + K) beside one row block of
    logits, plus the (n, K) probabilities where K <= ``keep_up_to``."""
    k = len(names)
    sc = score_rows(
        row_blocks(Z, k),
        y,
        k,
        temperature=temperature,
        label_smoothing=label_smoothing,
        keep_up_to=keep_up_to,
    )
    metrics = evaluate(sc, y, k, label_smoothing)
    p_true, p_pred, _ = sc.final()
    metrics.update(
        {
            "per_class": per_class(y, sc.pred, names),
            "decomposition_by_class": decomposition_by_class(sc, y, k, label_smoothing),
            "worst_rows": worst_rows(p_true, sc.pred, p_pred, y, rows, ids),
        }
    )
    return Assessment(metrics, sc)


def evaluate(
    sc: RowScores, y: np.ndarray, n_classes: int, label_smoothing: float
) -> dict[str, Any]:
    """All metrics for codes ``y`` (indices into classes_) from the rows' scores
    (before and after calibration)."""
    from sklearn.metrics import confusion_matrix, f1_score

    n = max(len(y), 1)
    h = target_entropy(n_classes, label_smoothing)
    ce = float(np.sum(sc.cross_entropy) / n)
    correct = sc.pred == y
    out: dict[str, Any] = {
        "n_samples": len(y),
        "accuracy": float(np.sum(correct) / n),
        "macro_f1": float(
            f1_score(y, sc.pred, average="macro", labels=np.arange(n_classes), zero_division=0.0)
        ),
        "log_loss": float(-np.sum(sc.log_p_true) / n),
        "cross_entropy_P_Q": ce,
        "entropy_P": h,
        "kl_P_Q": max(ce - h, 0.0),  # H(P, Q) = H(P) + KL(P || Q); KL >= 0
        "confused_pairs": confused_pairs(y, sc.pred, n_classes),
        "reliability": reliability(sc.confidence, correct),
    }
    if n_classes <= DENSE_UP_TO:  # beyond, K x K numbers would swamp the file
        out["confusion_matrix"] = confusion_matrix(y, sc.pred, labels=np.arange(n_classes)).tolist()
    out["ece"] = expected_calibration_error(out["reliability"])
    if sc.confidence_calibrated is not None and sc.log_p_true_calibrated is not None:
        out["reliability_calibrated"] = reliability(sc.confidence_calibrated, correct)
        out["ece_calibrated"] = expected_calibration_error(out["reliability_calibrated"])
        out["log_loss_calibrated"] = float(-np.sum(sc.log_p_true_calibrated) / n)
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


def counts(Z: Any, y: np.ndarray, n_classes: int) -> dict[str, Any]:
    """Sufficient numbers for accuracy, macro F1 and log loss of logits ``Z`` (an array
    or an iterable of row blocks) against codes ``y``: per-class tallies and the summed
    negative log-likelihood (so that parts of a table, on a cluster, can be added up),
    O(K) whatever the rows, one row block of logits at a time."""
    from .. import log_softmax

    preds, nll, start = [], 0.0, 0
    for block in row_blocks(Z, n_classes):
        yb = y[start : start + len(block)]
        start += len(block)
        log_p = np.asarray(log_softmax(np.asarray(block)))
        preds.append(log_p.argmax(axis=1))
        nll -= float(log_p[np.arange(len(yb)), yb].sum())
    pred = np.concatenate(preds) if preds else np.zeros(0, dtype=np.intp)
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
    sc: RowScores, y: np.ndarray, n_classes: int, label_smoothing: float
) -> dict[str, list[float | None]]:
    """Mean H(P), KL(P || Q) and H(P, Q) over the test rows of each true class (None
    for a class with no test row), by per-class sums: O(n + K)."""
    h = target_entropy(n_classes, label_smoothing)
    rows = np.bincount(y, minlength=n_classes)
    ce = np.bincount(y, weights=sc.cross_entropy, minlength=n_classes)
    out: dict[str, list[float | None]] = {"entropy_P": [], "kl_P_Q": [], "cross_entropy_P_Q": []}
    for c in range(n_classes):
        if not rows[c]:
            for key in out:
                out[key].append(None)
            continue
        mean = float(ce[c] / rows[c])
        out["entropy_P"].append(h)
        out["kl_P_Q"].append(max(mean - h, 0.0))
        out["cross_entropy_P_Q"].append(mean)
    return out


def worst_rows(
    p_true: np.ndarray,
    pred: np.ndarray,
    p_pred: np.ndarray,
    y: np.ndarray,
    rows: np.ndarray,
    ids: Any,
    limit: int = 10,
) -> list[dict[str, Any]]:
    """The test rows whose true class got the lowest probability."""
    order = np.argsort(p_true, kind="stable")[:limit]
    return [
        {
            "row": int(rows[i]) + 1,
            "id": None if ids is None else _plain(ids[i]),
            "true": int(y[i]),
            "predicted": int(pred[i]),
            "p_true": float(p_true[i]),
            "p_predicted": float(p_pred[i]),
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
