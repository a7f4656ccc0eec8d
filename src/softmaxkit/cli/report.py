"""Plots (PNG) and the self-contained HTML report of a run."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import numpy as np

PLOTS = {
    "training_objective.png": "Training objective per iteration",
    "confusion_matrix.png": "Confusion matrix (test split)",
    "reliability.png": "Reliability diagram",
    "class_probabilities.png": "Predicted probability of each class",
}


def _figure() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def draw(
    folder: Path,
    metrics: dict[str, Any],
    loss_curve: list[float],
    proba: np.ndarray,
    y: np.ndarray,
    class_names: list[str],
) -> dict[str, bytes]:
    """Draw the four plots into ``folder``; returns ``{file name: PNG bytes}``."""
    plt = _figure()
    out: dict[str, bytes] = {}

    def save(fig: Any, name: str) -> None:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        plt.close(fig)
        out[name] = buf.getvalue()
        (folder / name).write_bytes(out[name])

    fig, ax = plt.subplots(figsize=(6, 4))
    if loss_curve:
        ax.plot(np.arange(1, len(loss_curve) + 1), loss_curve, marker=".")
        ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("objective (mean cross-entropy + penalty)")
    ax.set_title(PLOTS["training_objective.png"])
    ax.grid(alpha=0.3)
    save(fig, "training_objective.png")

    cm = np.asarray(metrics["confusion_matrix"])
    k = cm.shape[0]
    fig, ax = plt.subplots(figsize=(1.0 + 0.5 * k, 0.8 + 0.5 * k))
    ax.imshow(cm, cmap="Blues")
    for (r, c), v in np.ndenumerate(cm):
        ax.text(
            c,
            r,
            str(v),
            ha="center",
            va="center",
            color="white" if v > cm.max() / 2 else "black",
            fontsize=8,
        )
    ax.set_xticks(range(k), class_names, rotation=90)
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(PLOTS["confusion_matrix.png"])
    save(fig, "confusion_matrix.png")

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect calibration")
    for key, label in (
        ("reliability", "model"),
        ("reliability_calibrated", "after temperature scaling"),
    ):
        if key in metrics:
            rel = metrics[key]
            conf, acc = np.asarray(rel["confidence"]), np.asarray(rel["accuracy"])
            keep = ~np.isnan(conf)
            ax.plot(conf[keep], acc[keep], marker="o", label=label)
    ax.set_xlabel("confidence (max probability)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    ax.set_title(PLOTS["reliability.png"])
    save(fig, "reliability.png")

    fig, ax = plt.subplots(figsize=(max(5, 0.6 * k), 4))
    data = [proba[y == c, c] if np.any(y == c) else np.array([np.nan]) for c in range(k)]
    ax.boxplot(data, showfliers=False)
    ax.set_xticks(range(1, k + 1), class_names, rotation=90)
    ax.set_ylim(0, 1)
    ax.set_xlabel("true class")
    ax.set_ylabel("predicted probability of the true class")
    ax.set_title(PLOTS["class_probabilities.png"])
    save(fig, "class_probabilities.png")
    return out


def write_html(
    path: Path, title: str, table: str, info: dict[str, str], images: dict[str, bytes]
) -> None:
    """A single HTML file with the table and the plots embedded as data URIs."""
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in info.items()
    )
    figures = "".join(
        f'<figure><img alt="{html.escape(PLOTS[name])}" '
        f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'
        f"<figcaption>{html.escape(PLOTS[name])}</figcaption></figure>"
        for name, png in images.items()
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; max-width: 60em; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ text-align: left; padding: 0.2em 1em 0.2em 0; border-bottom: 1px solid #ddd; }}
pre {{ background: #f6f6f6; padding: 1em; }}
figure {{ display: inline-block; margin: 0 1em 1em 0; vertical-align: top; }}
img {{ max-width: 28em; }}
</style></head>
<body>
<h1>{html.escape(title)}</h1>
<table>{rows}</table>
<h2>Metrics on the evaluation split</h2>
<pre>{html.escape(table)}</pre>
<h2>Plots</h2>
{figures}
</body></html>
"""
    path.write_text(page, encoding="utf-8")
