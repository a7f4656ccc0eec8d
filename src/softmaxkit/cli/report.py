"""The run's report: figures (2x PNG) and one self-contained HTML page.

Built from scikit-learn's metrics and displays where they exist
(``classification_report``, ``ConfusionMatrixDisplay``, ``RocCurveDisplay``,
``PrecisionRecallDisplay``); drawn here only what scikit-learn has no display
for (the multi-class reliability diagram with its bin counts, the
cross-entropy decomposition, the coefficients). Every figure is embedded in the
page and also written beside it, and the page links each to its full-size file.
Figures are saved at 200 dpi and shown at half their pixel size: sharp on a
high-density screen and in slides. Nothing in the page depends on the network.
"""

from __future__ import annotations

import base64
import html
import io
import math
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._metrics import RowScores

DPI = 200  # saved at 2x the 100 dpi the page shows them at
SMALL_BIN = 20  # a reliability bin with fewer rows than this is noise
VALUES_UP_TO = 20  # classes up to which the confusion matrix prints its counts
CURVES_UP_TO = 10  # classes up to which ROC / PR draw one curve each
MATRIX_UP_TO = 100  # classes up to which the confusion matrix is drawn (then: the pairs)
BARS_UP_TO = 40  # classes drawn in the per-class figures (beyond: the worst ones)
RANKING_UP_TO = 200  # classes up to which ROC / PR and per-class AUC are computed


@dataclass
class Context:
    """What the report draws, beside the metrics dict."""

    title: str
    info: dict[str, str]
    class_names: list[str]
    y: np.ndarray  # codes of the evaluated rows
    scores: RowScores  # their per-row numbers (probabilities only up to RANKING_UP_TO classes)
    loss_curve: list[float]
    coef: np.ndarray  # (K, encoded features)
    feature_names: list[str]
    image_shape: tuple[int, int] | None
    label_smoothing: float = 0.0


def command_line(argv: list[str]) -> str:
    """The command that produced the run, as a shell would take it back."""
    return shlex.join(["softmaxkit", *argv])


def versions() -> dict[str, str]:
    """The versions of the packages that shaped the numbers."""
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for name in ("softmaxkit", "numpy", "scipy", "scikit-learn", "pandas", "matplotlib", "dask"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def image_shape(columns: Any) -> tuple[int, int] | None:
    """A square grid when every feature is numeric and their number is a square of at
    least 4 x 4 (digits: 8 x 8 pixels), else None."""
    d = len(columns.numeric)
    side = math.isqrt(d)
    if columns.categorical or side < 4 or side * side != d:
        return None
    return side, side


def tick_labels(names: list[str], width: int = 18) -> list[str]:
    """Class names short enough for an axis: as they are when all fit in ``width``
    characters, else ``"<index>: <start>..."`` (the per-class table's ``#`` column
    gives the index, so two names that start alike stay apart)."""
    if all(len(n) <= width for n in names):
        return list(names)
    return [
        f"{i}: {n[: width - 4]}\u2026" if len(n) > width - 4 else f"{i}: {n}"
        for i, n in enumerate(names)
    ]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


class _Figures:
    """Saves figures to the run folder and keeps their bytes for the page."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.saved: dict[str, tuple[bytes, int, str]] = {}  # name -> (png, width px, caption)

    def save(self, fig: Any, name: str, caption: str) -> None:
        plt = _plt()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
        plt.close(fig)
        data = buf.getvalue()
        width = int.from_bytes(data[16:20], "big")  # the PNG header's IHDR width
        (self.folder / name).write_bytes(data)
        self.saved[name] = (data, width, caption)

    def html(self, name: str) -> str:
        if name not in self.saved:
            return ""
        data, width, caption = self.saved[name]
        shown = max(1, width * 100 // DPI)
        src = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        cap = html.escape(caption)
        return (
            f'<figure><a href="{html.escape(name)}" title="full size">'
            f'<img alt="{cap}" src="{src}" style="width: min({shown}px, 100%)"></a>'
            f'<figcaption>{cap} <a href="{html.escape(name)}">(full size)</a></figcaption>'
            "</figure>"
        )


# --------------------------------------------------------------------------------------
# figures


def _objective(figs: _Figures, curve: list[float]) -> None:
    from matplotlib.ticker import MaxNLocator

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    if curve:
        ax.plot(np.arange(1, len(curve) + 1), curve, marker="." if len(curve) < 60 else None)
        if min(curve) > 0:
            ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("iteration (epoch for sgd, adam, saga)")
    ax.set_ylabel("objective: mean cross-entropy + penalty")
    ax.set_title("Training objective")
    ax.grid(alpha=0.3)
    figs.save(fig, "training_objective.png", "Training objective per iteration")


def _confusion(figs: _Figures, y: np.ndarray, pred: np.ndarray, names: list[str]) -> None:
    from sklearn.metrics import ConfusionMatrixDisplay

    plt = _plt()
    k = len(names)
    cell = min(0.5, 10.0 / k)  # inches per class: the matrix at most 10 in, shown ~1000 px
    side = max(4.5, 1.5 + cell * k)
    for normalize, name, caption in (
        (None, "confusion_matrix.png", "Confusion matrix (test rows; counts)"),
        (
            "true",
            "confusion_matrix_normalized.png",
            "Confusion matrix normalised by row (recall on the diagonal)",
        ),
    ):
        fig, ax = plt.subplots(figsize=(side + 1.2, side))
        ConfusionMatrixDisplay.from_predictions(
            y,
            pred,
            labels=np.arange(k),
            display_labels=tick_labels(names),
            normalize=normalize,
            include_values=k <= VALUES_UP_TO,
            values_format=".2f" if normalize else "d",
            xticks_rotation="vertical",
            cmap="Blues",
            ax=ax,
            colorbar=True,
            text_kw={"fontsize": 7 if k > 10 else 9},
        )
        if k > VALUES_UP_TO:
            ax.tick_params(labelsize=7)
        ax.set_title(caption)
        figs.save(fig, name, caption)


def _reliability(figs: _Figures, metrics: dict[str, Any]) -> None:
    plt = _plt()
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(6.4, 6.4), sharex=True, gridspec_kw={"height_ratios": [3, 1.3]}
    )
    top.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect calibration")
    runs = [("reliability", "ece", "log_loss", "model", "C0")]
    if "reliability_calibrated" in metrics:
        runs.append(
            (
                "reliability_calibrated",
                "ece_calibrated",
                "log_loss_calibrated",
                "after temperature scaling",
                "C1",
            )
        )
    width = None
    for i, (key, ece_key, ll_key, label, color) in enumerate(runs):
        rel = metrics[key]
        edges = np.asarray(rel["edges"])
        width = np.diff(edges)
        conf = np.asarray(rel["confidence"], dtype=float)
        acc = np.asarray(rel["accuracy"], dtype=float)
        count = np.asarray(rel["count"])
        keep = count > 0
        small = keep & (count < SMALL_BIN)
        text = f"{label}: ECE {metrics[ece_key]:.3f}, log loss {metrics[ll_key]:.3f}"
        top.plot(conf[keep], acc[keep], color=color, marker="o", label=text)
        # a bin of few rows drawn hollow: its accuracy is mostly chance
        top.scatter(conf[small], acc[small], s=60, facecolors="white", edgecolors=color, zorder=3)
        offset = (i - (len(runs) - 1) / 2) * width / len(runs)
        bottom.bar(
            edges[:-1] + width / 2 + offset,
            count,
            width=width / len(runs),
            color=color,
            alpha=0.8,
            label=label,
        )
    top.set_ylabel("accuracy in the bin")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.02)
    fig.suptitle("Reliability: accuracy against confidence (hollow: bins under 20 rows)")
    # above the axes, so that it never covers the curve
    top.legend(loc="lower left", bbox_to_anchor=(0, 1.0), fontsize=8, frameon=False)
    top.grid(alpha=0.3)
    bottom.set_yscale("symlog", linthresh=10)
    bottom.set_ylabel("rows")
    bottom.set_xlabel("confidence (largest predicted probability)")
    bottom.grid(alpha=0.3)
    fig.subplots_adjust(hspace=0.08)
    figs.save(fig, "reliability.png", "Reliability diagram with the rows in each bin")


def _curves(figs: _Figures, y: np.ndarray, proba: np.ndarray, names: list[str]) -> None:
    from sklearn.metrics import PrecisionRecallDisplay, RocCurveDisplay

    plt = _plt()
    k = len(names)
    present = [c for c in range(k) if 0 < np.sum(y == c) < len(y)]
    if not present:
        return
    for display, name, caption in (
        (RocCurveDisplay, "roc.png", "ROC curves, one class against the rest"),
        (PrecisionRecallDisplay, "precision_recall.png", "Precision-recall, one vs rest"),
    ):
        fig, ax = plt.subplots(figsize=(6.4, 5.2))
        if k == 2:
            shown = [1] if 1 in present else present[:1]
        elif k <= CURVES_UP_TO:
            shown = present
        else:
            shown = []
        for c in shown:
            display.from_predictions(
                y == c, proba[:, c], name=names[c], ax=ax, plot_chance_level=False
            )
        if k > 2:  # micro average: every (row, class) pair as one binary decision
            onehot = np.eye(k, dtype=bool)[y][:, present].ravel()
            display.from_predictions(
                onehot,
                proba[:, present].ravel(),
                name="micro-average",
                ax=ax,
                curve_kwargs={"color": "black", "linestyle": ":"},
                plot_chance_level=False,
            )
        legend = ax.get_legend()
        if legend is not None:
            ax.legend(fontsize=7, loc="lower right" if display is RocCurveDisplay else "lower left")
        if display is RocCurveDisplay:
            ax.set_xlabel("false positive rate")
            ax.set_ylabel("true positive rate (recall)")
        else:
            ax.set_xlabel("recall")
            ax.set_ylabel("precision")
        ax.set_title(caption + ("" if k <= CURVES_UP_TO else " (AUC per class in the table)"))
        figs.save(fig, name, caption)


def _true_class_probability(
    figs: _Figures, y: np.ndarray, p_true: np.ndarray, names: list[str]
) -> None:
    plt = _plt()
    # each class's rows by one sort, not a pass over the rows per class: O(n log n + K)
    order = np.argsort(y, kind="stable")
    groups = np.split(p_true[order], np.cumsum(np.bincount(y, minlength=len(names)))[:-1])
    data = [g if len(g) else np.array([np.nan]) for g in groups]
    shown = list(range(len(names)))
    if len(shown) > BARS_UP_TO:  # the classes the model is least sure of
        medians = [np.median(d) if len(d) else np.inf for d in data]
        shown = sorted(np.argsort(medians, kind="stable")[:BARS_UP_TO].tolist())
    k = len(shown)
    labels = tick_labels(names)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * k + 1.5), 4.0))
    fliers = {"markersize": 3, "alpha": 0.6}
    ax.boxplot([data[c] for c in shown], showfliers=True, flierprops=fliers)
    ax.set_xticks(range(1, k + 1), [labels[c] for c in shown], rotation=90)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("true class")
    ax.set_ylabel("probability given to the true class")
    ax.set_title(
        "How sure the model is of the right answer, per class (dots: outlying rows)"
        + ("" if k == len(names) else f"\nthe {k} classes with the lowest median of {len(names)}")
    )
    ax.grid(axis="y", alpha=0.3)
    figs.save(fig, "class_probabilities.png", "Probability of the true class, per true class")


def _decomposition(figs: _Figures, metrics: dict[str, Any], names: list[str]) -> None:
    plt = _plt()
    by = metrics["decomposition_by_class"]
    shown = list(range(len(names)))
    if len(shown) > BARS_UP_TO:  # the classes farthest from their targets
        worst = np.argsort(-np.nan_to_num(np.asarray(by["kl_P_Q"], dtype=float), nan=-1.0))
        shown = sorted(worst[:BARS_UP_TO].tolist())
    short = tick_labels(names)
    labels = ["all test rows", *[short[c] for c in shown]]
    h = np.array([metrics["entropy_P"], *[by["entropy_P"][c] for c in shown]], dtype=float)
    kl = np.array([metrics["kl_P_Q"], *[by["kl_P_Q"][c] for c in shown]], dtype=float)
    k = len(labels)
    fig, ax = plt.subplots(figsize=(7.0, max(2.5, 0.28 * k + 1.2)))
    rows = np.arange(k)[::-1]
    ax.barh(rows, h, color="0.7", label="H(P): uncertainty in the targets")
    ax.barh(rows, kl, left=h, color="C3", label="KL(P || Q): the model's distance from them")
    for r, a, b in zip(rows, h, kl, strict=True):
        if np.isfinite(a + b):
            ax.text(a + b, r, f" {a + b:.3f}", va="center", fontsize=7)
    ax.set_yticks(rows, labels, fontsize=8 if k <= 20 else 6)
    ax.set_xlabel("nats per row: cross-entropy H(P, Q) = H(P) + KL(P || Q)")
    ax.set_title(
        "Cross-entropy = entropy of the targets + KL divergence (test rows)"
        + ("" if len(shown) == len(names) else f"\nthe {len(shown)} classes of largest KL")
    )
    # below the axes, so that it never covers a bar
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 - 1.0 / k), ncol=2, fontsize=8)
    ax.set_xlim(0, np.nanmax(h + kl) * 1.2 if np.any(np.isfinite(h + kl)) else 1)
    figs.save(fig, "decomposition.png", "Cross-entropy = H(P) + KL(P || Q), overall and per class")


def _coefficients(figs: _Figures, ctx: Context) -> None:
    if ctx.image_shape is None or len(ctx.class_names) > 40:
        return
    plt = _plt()
    k = len(ctx.class_names)
    cols = min(k, 5)
    rows = math.ceil(k / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.8 * cols, 1.9 * rows + 0.4), squeeze=False)
    bound = float(np.abs(ctx.coef).max()) or 1.0
    image = None
    for c, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if c < k:
            image = ax.imshow(
                ctx.coef[c].reshape(ctx.image_shape), cmap="RdBu_r", vmin=-bound, vmax=bound
            )
            ax.set_title(ctx.class_names[c][:18], fontsize=8)
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.6, label="weight")
    fig.suptitle("Weights of each class on the standardised pixels (red: evidence for)")
    figs.save(fig, "coefficients.png", "Coefficients per class as images")


# --------------------------------------------------------------------------------------
# the page


def _esc(v: Any) -> str:
    return html.escape(str(v))


def _num(v: Any, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "&ndash;"
    return f"{v:.{digits}f}"


def _table(header: list[str], rows: list[list[str]], table_id: str = "") -> str:
    ident = f' id="{table_id}"' if table_id else ""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    table = f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="scroll">{table}</div>'


def _summary(metrics: dict[str, Any]) -> str:
    """Train and test side by side, with the majority-class baseline and the
    cross-validated scores when there are any."""
    cols: list[tuple[str, dict[str, Any]]] = []
    if "train" in metrics:
        cols.append(("train", metrics["train"]))
    cols.append(("test", metrics))
    if "baseline" in metrics:
        cols.append(("majority-class baseline (test)", metrics["baseline"]))
    cv = metrics.get("cv")
    header = ["", *[_esc(name) for name, _ in cols]]
    if cv:
        header.append(f"{cv['folds']}-fold cross-validation (mean &plusmn; std)")
    rows = []
    for key, label in (
        ("accuracy", "accuracy"),
        ("macro_f1", "macro F1"),
        ("log_loss", "log loss"),
        ("ece", "ECE (15 bins)"),
    ):
        row = [label, *[_num(m.get(key)) if key in m else "" for _, m in cols]]
        if cv:
            row.append(f"{cv[key]['mean']:.4f} &plusmn; {cv[key]['std']:.4f}" if key in cv else "")
        rows.append(row)
    return _table(header, rows, "summary")


def _per_class(metrics: dict[str, Any], ctx: Context) -> str:
    from sklearn.metrics import roc_auc_score

    report = metrics["per_class"]
    by = metrics["decomposition_by_class"]
    rows = []
    for c, name in enumerate(ctx.class_names):
        r = report[name]
        positive = ctx.y == c
        auc = (
            float(roc_auc_score(positive, ctx.scores.proba[:, c]))
            if 0 < positive.sum() < len(positive) and ctx.scores.proba is not None
            else None
        )
        rows.append(
            [
                str(c),
                f'<span class="name">{_esc(name)}</span>',
                _num(r["precision"], 3),
                _num(r["recall"], 3),
                _num(r["f1-score"], 3),
                str(int(r["support"])),
                _num(auc, 3),
                _num(by["kl_P_Q"][c], 3),
            ]
        )
    header = [
        "#",
        "class",
        "precision",
        "recall",
        "F1",
        "support",
        "ROC AUC (one vs rest)",
        "KL(P || Q)",
    ]
    foot = [
        [
            "",
            f"<em>{avg}</em>",
            _num(report[avg]["precision"], 3),
            _num(report[avg]["recall"], 3),
            _num(report[avg]["f1-score"], 3),
            str(int(report[avg]["support"])),
            "",
            "",
        ]
        for avg in ("macro avg", "weighted avg")
    ]
    table = _table(header, rows, "per-class")
    return table + _table(["", "average", *header[2:]], foot, "per-class-averages")


def _confused_pairs(metrics: dict[str, Any], names: list[str], limit: int = 10) -> str:
    rows = [
        [_esc(names[t]), _esc(names[p]), str(n), f"{n / max(support, 1):.1%}"]
        for t, p, n, support in metrics["confused_pairs"][:limit]
    ]
    if not rows:
        return "<p>No test row was confused.</p>"
    return _table(["true class", "predicted as", "rows", "share of the true class"], rows)


def _calibration_note(metrics: dict[str, Any]) -> str:
    notes = []
    rel = metrics["reliability"]
    small = [c for c in rel["count"] if 0 < c < SMALL_BIN]
    if small:
        n = sum(rel["count"])
        big = max(rel["count"])
        notes.append(
            f"{len(small)} of the {sum(1 for c in rel['count'] if c)} non-empty confidence bins "
            f"hold fewer than {SMALL_BIN} rows (drawn hollow): their accuracy swings by chance; "
            f"{big} of the {n} rows sit in one bin."
        )
    cal = metrics.get("calibration")
    if cal and cal.get("kept_reason"):
        notes.append(
            f"Temperature scaling was not applied (temperature kept at 1): {cal['kept_reason']}."
        )
    elif cal and not 0.05 < metrics.get("temperature", 1.0) < 20:
        notes.append(
            f"The fitted temperature {metrics['temperature']:.3g} is extreme: the validation "
            "split may be too small or too easy to calibrate on."
        )
    if "ece_calibrated" in metrics and metrics["log_loss_calibrated"] > metrics["log_loss"]:
        notes.append(
            "Calibration made the test log loss worse "
            f"({metrics['log_loss']:.4f} &rarr; {metrics['log_loss_calibrated']:.4f})."
        )
    return "".join(f'<p class="warn">{n}</p>' for n in notes)


def _worst(metrics: dict[str, Any], names: list[str]) -> str:
    rows = []
    with_id = any(r.get("id") is not None for r in metrics["worst_rows"])
    for r in metrics["worst_rows"]:
        row = [str(r["row"])]
        if with_id:
            row.append(_esc(r["id"]))
        row += [
            _esc(names[r["true"]]),
            _num(r["p_true"], 4),
            _esc(names[r["predicted"]]),
            _num(r["p_predicted"], 4),
        ]
        rows.append(row)
    header = ["row of the table", *(["ID"] if with_id else [])]
    header += ["true class", "p(true class)", "predicted", "p(predicted)"]
    return _table(header, rows, "worst-rows")


def _top_features(ctx: Context, limit: int = 5) -> str:
    shown = [f.split("__", 1)[-1] for f in ctx.feature_names]  # without "numeric__"
    rows = []
    for c, name in enumerate(ctx.class_names[:50]):
        order = np.argsort(ctx.coef[c])[::-1]
        pos = ", ".join(
            f"{_esc(shown[j])} ({ctx.coef[c, j]:+.2f})" for j in order[:limit] if ctx.coef[c, j] > 0
        )
        neg = ", ".join(
            f"{_esc(shown[j])} ({ctx.coef[c, j]:+.2f})"
            for j in order[::-1][:limit]
            if ctx.coef[c, j] < 0
        )
        rows.append([f'<span class="name">{_esc(name)}</span>', pos or "&ndash;", neg or "&ndash;"])
    return _table(
        ["class", "strongest evidence for", "strongest evidence against"], rows, "top-features"
    )


CSS = """
body { font-family: system-ui, sans-serif; max-width: 70em; margin: 1.5em auto; padding: 0 1em;
       color: #222; line-height: 1.45; overflow-wrap: break-word; }
h1 { margin-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.3em 0 1.2em; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 0.2em 0.9em 0.2em 0; border-bottom: 1px solid #ddd;
         vertical-align: top; }
thead th { border-bottom: 2px solid #999; }
.scroll { max-width: 100%; overflow-x: auto; }
.name { display: inline-block; max-width: 24em; }
figure { margin: 0 0 1.5em; max-width: 100%; }
figure img { max-width: 100%; height: auto; display: block; }
figcaption { color: #555; font-size: 0.9em; }
.grid { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.grid figure { flex: 0 1 auto; }
.warn { background: #fff4e0; border-left: 4px solid #e0a000; padding: 0.4em 0.8em; }
.lead { font-size: 1.05em; max-width: 48em; }
code { background: #f3f3f3; padding: 0 0.2em; overflow-wrap: anywhere; }
details { margin: 1em 0; }
"""


def write(folder: Path, metrics: dict[str, Any], ctx: Context) -> None:
    """Draw the figures into ``folder`` and write ``folder / "report.html"``."""
    figs = _Figures(folder)
    names = ctx.class_names
    k = len(names)
    sc = ctx.scores
    p_true, _, proba = sc.final()
    _objective(figs, ctx.loss_curve)
    if k <= MATRIX_UP_TO:
        _confusion(figs, ctx.y, sc.pred, names)
    _reliability(figs, metrics)
    if proba is not None:  # kept up to RANKING_UP_TO classes
        _curves(figs, ctx.y, proba, names)
    _true_class_probability(figs, ctx.y, p_true, names)
    _decomposition(figs, metrics, names)
    _coefficients(figs, ctx)

    info = "".join(f"<tr><th>{_esc(k_)}</th><td>{_esc(v)}</td></tr>" for k_, v in ctx.info.items())
    versions = ", ".join(f"{_esc(k_)} {_esc(v)}" for k_, v in metrics.get("versions", {}).items())
    h, kl = metrics["entropy_P"], metrics["kl_P_Q"]
    smoothing = (
        f"With label smoothing {ctx.label_smoothing:g} the targets are not one-hot, so H(P) = "
        f"{h:.4f} &gt; 0 is part of every loss and no model can go below it."
        if ctx.label_smoothing > 0
        else "With one-hot targets H(P) = 0, so here the cross-entropy is the KL divergence."
    )
    coefficients = (
        figs.html("coefficients.png")
        if "coefficients.png" in figs.saved
        else "<p>The features that weigh most for and against each class (weights on "
        "standardised features; one-hot columns named <code>column_value</code>):</p>"
        + _top_features(ctx)
    )
    pairs = "<h3>Most confused pairs</h3>" + _confused_pairs(metrics, names) if k > 6 else ""
    calibration = ""
    if "ece_calibrated" in metrics:
        calibration = (
            f"<p>Temperature scaling (T = {metrics.get('temperature', 1.0):.4f}): ECE "
            f"{metrics['ece']:.4f} &rarr; {metrics['ece_calibrated']:.4f}, log loss "
            f"{metrics['log_loss']:.4f} &rarr; {metrics['log_loss_calibrated']:.4f}.</p>"
        )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_esc(ctx.title)}</title><style>{CSS}</style></head>
<body>
<h1>{_esc(ctx.title)}</h1>
<p><code>{_esc(metrics.get("command", ""))}</code></p>
<div class="scroll"><table id="info">{info}</table></div>

<h2>Summary</h2>
{_summary(metrics)}

<h2>Per class (test rows)</h2>
{_per_class(metrics, ctx)}

<h2>Errors</h2>
<div class="grid">{figs.html("confusion_matrix.png")}
{figs.html("confusion_matrix_normalized.png")}</div>
{pairs}
<h3>The test rows the model got most wrong</h3>
{_worst(metrics, names)}

<h2>Cross-entropy = H(P) + KL(P || Q)</h2>
<p class="lead">The loss the model was trained on splits in two: H(P), the uncertainty
in the targets themselves, which no model can remove, and KL(P || Q), how far the
model's probabilities Q are from the targets P, which is all that training can
reduce. Minimising cross-entropy therefore minimises KL. On the test rows:
H(P, Q) = {h:.4f} + {kl:.4f} = {h + kl:.4f} nats per row. {smoothing}</p>
{figs.html("decomposition.png")}

<h2>Calibration</h2>
{calibration}{_calibration_note(metrics)}
<div class="grid">{figs.html("reliability.png")}{figs.html("class_probabilities.png")}</div>

<h2>Ranking: ROC and precision-recall</h2>
<div class="grid">{figs.html("roc.png")}{figs.html("precision_recall.png")}</div>

<h2>Coefficients</h2>
{coefficients}

<h2>Training</h2>
{figs.html("training_objective.png")}

<details><summary>Package versions</summary><p>{versions}</p></details>
</body></html>
"""
    (folder / "report.html").write_text(page, encoding="utf-8")
