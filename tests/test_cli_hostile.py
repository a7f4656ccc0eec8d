"""Regression tests for the command line under hostile input (issue 15), each named
after what broke: one line and exit 2, strict JSON, memory bounded in the classes."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from softmaxkit.cli import _metrics, main


def _train(capsys, path: Path, out: Path, *extra: str) -> tuple[int, str]:
    code = main(["train", str(path), "--target", "label", "--out", str(out), *extra])
    return code, capsys.readouterr().err


def _evaluate(capsys, run: Path, path: Path, out: Path) -> tuple[int, str]:
    argv = [str(run / "model.npz"), str(path), "--target", "label", "--quiet", "--out", str(out)]
    code = main(["evaluate", *argv])
    return code, capsys.readouterr().err


def _table(rng: np.random.Generator, n: int = 300) -> pd.DataFrame:
    x = rng.normal(size=(n, 3))
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    frame["label"] = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)
    return frame


def test_metrics_json_is_strict_json_without_nan_tokens(tmp_path, capsys):
    # Empty reliability bins were written as bare NaN tokens, which JSON.parse and jq refuse.
    frame = _table(np.random.default_rng(0))
    frame.to_csv(tmp_path / "t.csv", index=False)
    code, err = _train(capsys, tmp_path / "t.csv", tmp_path / "run", "--quiet")
    assert code == 0, err
    text = (tmp_path / "run" / "metrics.json").read_text()

    def refuse(token: str) -> None:
        raise ValueError(f"non-standard JSON token {token}")

    metrics = json.loads(text, parse_constant=refuse)  # raises on NaN / Infinity
    rel = metrics["reliability"]
    empty = [i for i, c in enumerate(rel["count"]) if c == 0]
    assert empty  # 15 bins over 60 rows: some are empty, and those are null
    assert all(rel["accuracy"][i] is None and rel["confidence"][i] is None for i in empty)


def test_write_json_turns_every_non_finite_number_into_null(tmp_path):
    from softmaxkit.cli._run import write_json

    write_json(
        tmp_path / "m.json",
        {"a": math.nan, "b": [np.float32(np.inf), -math.inf, 1.5], "c": np.array([np.nan, 2.0])},
    )
    assert json.loads((tmp_path / "m.json").read_text()) == {
        "a": None,
        "b": [None, None, 1.5],
        "c": [None, 2.0],
    }


@pytest.mark.parametrize(("trained", "given"), [("int", "bool"), ("bool", "int")])
def test_evaluate_refuses_bool_labels_against_integer_classes(tmp_path, capsys, trained, given):
    # True == 1 in NumPy: bool labels were silently matched to classes 0 and 1.
    frame = _table(np.random.default_rng(1))
    frame["label"] = frame["label"] > 0
    as_int = frame.assign(label=frame["label"].astype(int))
    (as_int if trained == "int" else frame).to_csv(tmp_path / "train.csv", index=False)
    (frame if given == "bool" else as_int).to_csv(tmp_path / "eval.csv", index=False)
    code, err = _train(capsys, tmp_path / "train.csv", tmp_path / "run", "--quiet")
    assert code == 0, err
    code, err = _evaluate(capsys, tmp_path / "run", tmp_path / "eval.csv", tmp_path / "ev")
    assert code == 2
    assert f"holds {given}" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "ev").exists()


def test_cross_entropy_is_finite_where_the_log_loss_is():
    # H(P, Q) and KL were computed from Q = exp(log Q): a probability that underflows to
    # 0 made them inf while the log loss (from log Q) was finite. Reference: the true
    # class's log-probability is -800 - log1p(e^-800) = -800 in float64 (log_softmax of
    # [0, -800]), so H(P, Q) = KL = 800 for one-hot targets.
    Z = np.array([[0.0, -800.0], [0.0, -800.0]])
    y = np.array([1, 0])
    a = _metrics.assess(
        Z,
        y,
        ["a", "b"],
        temperature=None,
        label_smoothing=0.0,
        rows=np.arange(2),
        ids=None,
        keep_up_to=200,
    )
    m = a.metrics
    assert m["log_loss"] == pytest.approx(400.0)
    assert m["cross_entropy_P_Q"] == pytest.approx(400.0)
    assert m["kl_P_Q"] == pytest.approx(400.0)
    assert m["entropy_P"] == 0.0
    assert m["decomposition_by_class"]["kl_P_Q"] == [pytest.approx(0.0), pytest.approx(800.0)]


def test_decomposition_with_label_smoothing_against_direct_sums():
    # The row-wise H(P, Q) from log-probabilities against -sum_j p_j log q_j written out
    # with the smoothed one-hot P (an independent, O(nK) computation).
    from softmaxkit import entropy, log_softmax

    rng = np.random.default_rng(2)
    Z, y, eps, k = rng.normal(size=(50, 7)) * 3, rng.integers(0, 7, 50), 0.2, 7
    a = _metrics.assess(
        Z,
        y,
        list("abcdefg"),
        temperature=1.7,
        label_smoothing=eps,
        rows=np.arange(50),
        ids=None,
        keep_up_to=200,
    )
    P = np.eye(k)[y] * (1 - eps) + eps / k
    ce = -(P * np.asarray(log_softmax(Z))).sum(axis=1)
    h = np.asarray(entropy(P))
    m = a.metrics
    assert m["cross_entropy_P_Q"] == pytest.approx(ce.mean(), rel=1e-12)
    assert m["entropy_P"] == pytest.approx(h.mean(), rel=1e-12)
    assert m["kl_P_Q"] == pytest.approx((ce - h).mean(), rel=1e-10)
    by = m["decomposition_by_class"]["cross_entropy_P_Q"]
    for c in range(k):
        expected = ce[y == c].mean() if np.any(y == c) else None
        assert by[c] == (None if expected is None else pytest.approx(expected, rel=1e-12))
    lp_cal = np.asarray(log_softmax(Z, temperature=1.7))
    assert m["log_loss_calibrated"] == pytest.approx(-lp_cal[np.arange(50), y].mean(), rel=1e-12)


def test_many_classes_train_in_bounded_memory(tmp_path):
    """4,000 classes x 6 rows: the training rows' logits alone are 19,200 x 4,000 float64
    (614 MB) and the test rows' 154 MB; they were held whole (and their log-softmax
    beside them), 2.2 GB at peak. Evaluated in row blocks, the whole run stays near the
    interpreter's own size. Peak RSS of a fresh process, Linux's VmHWM (the same code
    at 10,000 classes x 8 rows: 387 MB, was 16.7 GB)."""
    if not Path("/proc/self/status").exists():
        pytest.skip("needs Linux's /proc/self/status for the process's peak memory")
    rng = np.random.default_rng(0)
    k = 4000
    label = np.repeat(np.arange(k), 6)
    pd.DataFrame(
        {"a": rng.normal(size=len(label)) + 0.01 * label, "b": rng.normal(size=len(label))}
    ).assign(label=label).to_csv(tmp_path / "many.csv", index=False)
    # VmHWM, this process's own high-water mark: getrusage's ru_maxrss carries over the
    # forked parent's (pytest's, several GB late in the suite) across exec.
    code = (
        "import re, sys\n"
        "from softmaxkit.cli import main\n"
        "rc = main(sys.argv[1:])\n"
        "status = open('/proc/self/status').read()\n"
        "print('PEAK_MB', int(re.search(r'VmHWM:\\s+(\\d+)', status).group(1)) / 1024)\n"
        "sys.exit(rc)\n"
    )
    argv = ["train", str(tmp_path / "many.csv"), "--target", "label", "--max-iter", "2"]
    done = subprocess.run(
        [sys.executable, "-c", code, *argv, "--out", str(tmp_path / "run"), "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    peak = float(done.stdout.split("PEAK_MB")[-1])
    assert peak < 800, f"peak RSS {peak:.0f} MB"
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert len(metrics["per_class"]) >= k
    assert metrics["splits"]["test"] > 4000
    # evaluate on the same table: the same blocks
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "evaluate",
            str(tmp_path / "run" / "model.npz"),
            str(tmp_path / "many.csv"),
            "--target",
            "label",
            "--quiet",
            "--out",
            str(tmp_path / "ev"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.split("PEAK_MB")[-1]) < 800


def test_dask_engine_refuses_huge_values_in_one_line(tmp_path, capsys):
    # The partition profiles' pairwise merge squared the difference of means and raised
    # OverflowError from a worker before the value could be refused by name.
    pytest.importorskip("distributed")
    frame = _table(np.random.default_rng(3))
    frame["a"] = frame["a"] * 1e200
    frame.to_csv(tmp_path / "huge.csv", index=False)
    code, err = _train(
        capsys,
        tmp_path / "huge.csv",
        tmp_path / "run",
        "--engine",
        "dask",
        "--workers",
        "1",
        "--quiet",
    )
    assert code == 2
    assert "column 'a' has a value" in err
    assert "beyond +-1e+150" in err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_evaluate_with_a_class_absent_warns_nothing(tmp_path, capsys):
    # scikit-learn's UndefinedMetricWarning (recall of a class with no rows) reached the
    # user; this suite turns any warning into an error, so the run itself is the check.
    frame = _table(np.random.default_rng(5))
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame[frame["label"] == 0].to_csv(tmp_path / "only0.csv", index=False)
    code, err = _train(capsys, tmp_path / "t.csv", tmp_path / "run", "--quiet")
    assert code == 0, err
    code, err = _evaluate(capsys, tmp_path / "run", tmp_path / "only0.csv", tmp_path / "ev")
    assert code == 0, err
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["per_class"]["1"]["support"] == 0
    assert metrics["decomposition_by_class"]["kl_P_Q"][1] is None
