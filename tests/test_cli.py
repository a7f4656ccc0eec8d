"""The softmaxkit command line, end to end through the installed console script."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

from softmaxkit.cli import load_model

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOTS = {
    "training_objective.png",
    "confusion_matrix.png",
    "confusion_matrix_normalized.png",
    "reliability.png",
    "class_probabilities.png",
    "roc.png",
    "precision_recall.png",
    "decomposition.png",
}


def _exe() -> str:
    path = Path(sys.executable).parent / "softmaxkit"
    found = str(path) if path.exists() else shutil.which("softmaxkit")
    if found is None:
        pytest.fail("the softmaxkit console script is not installed (pip install -e .)")
    return found


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_exe(), *args], capture_output=True, text=True, check=False, cwd=cwd, timeout=600
    )


@pytest.fixture(scope="module")
def iris_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("data")
    frame = load_iris(as_frame=True).frame
    frame["species"] = frame.pop("target").map({0: "setosa", 1: "versicolor", 2: "virginica"})
    frame["comment"] = "text"  # a non-numeric column: left out of the features
    files = {"csv": folder / "iris.csv", "parquet": folder / "iris.parquet"}
    frame.to_csv(files["csv"], index=False)
    frame.to_parquet(files["parquet"])
    bad = frame.copy()
    bad["sepal width (cm)"] = bad["sepal width (cm)"].astype(object)
    bad.loc[7, "sepal width (cm)"] = "3,4"  # a typo: not a number
    files["bad_values"] = folder / "bad_values.csv"
    bad.to_csv(files["bad_values"], index=False)
    bad.loc[7, "sepal width (cm)"] = "n/a"  # pandas reads it as a missing value
    files["missing_values"] = folder / "missing_values.csv"
    bad.to_csv(files["missing_values"], index=False)
    files["no_numeric"] = folder / "no_numeric.csv"
    # free text (every value distinct): left out, and then nothing is left
    pd.DataFrame({"a": [f"note {i}" for i in range(60)], "label": [0, 1, 2] * 20}).to_csv(
        files["no_numeric"], index=False
    )
    files["other_columns"] = folder / "other.csv"
    frame.rename(columns={"petal width (cm)": "petal_w"}).to_csv(
        files["other_columns"], index=False
    )
    files["unreadable"] = folder / "garbage.parquet"
    files["unreadable"].write_bytes(b"this is not parquet")
    files["folder"] = folder
    return files


@pytest.fixture(scope="module")
def iris_run(iris_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "iris"
    done = run(
        "train", str(iris_files["csv"]), "--target", "species", "--calibrate", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    return out


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs))


# --------------------------------------------------------------------------------------
# train


def test_train_on_the_embedded_default(tmp_path):
    done = run("train", "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for label in ("accuracy", "macro F1", "log loss", "H(P) + KL(P || Q)", "ECE", "fit time"):
        assert label in out
    assert "digits" in out
    assert f"report: {tmp_path / 'run' / 'report.html'}" in out
    assert "objective" in done.stderr  # progress
    files = {p.name for p in (tmp_path / "run").iterdir()}
    # digits' 64 pixels: the coefficients drawn as 8 x 8 images
    assert files == {"model.npz", "metrics.json", "report.html", "coefficients.png"} | PLOTS
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.9
    assert metrics["entropy_P"] == 0.0
    assert metrics["cross_entropy_P_Q"] == pytest.approx(metrics["kl_P_Q"], abs=1e-12)


def test_default_run_folder_is_runs_timestamp(tmp_path):
    done = run("train", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1
    assert runs[0].name[:8].isdigit()
    assert done.stderr == ""  # --quiet silences progress


def test_report_html_contains_every_plot_and_pngs_are_valid(iris_run):
    parser = _Images()
    parser.feed((iris_run / "report.html").read_text())
    alts = {img["alt"] for img in parser.images}
    assert len(parser.images) == len(PLOTS)  # iris' 4 features are no image: no coefficients one
    assert all(str(img["src"]).startswith("data:image/png;base64,") for img in parser.images)
    assert "Reliability diagram with the rows in each bin" in alts
    import matplotlib.image as mpimg

    for name in PLOTS:
        data = (iris_run / name).read_bytes()
        assert data.startswith(PNG_MAGIC)
        assert mpimg.imread(iris_run / name).ndim == 3


def test_calibration_and_label_smoothing_show_in_metrics(iris_files, tmp_path):
    done = run(
        "train",
        str(iris_files["parquet"]),
        "--target",
        "species",
        "--label-smoothing",
        "0.1",
        "--calibrate",
        "--quiet",
        "--out",
        str(tmp_path / "r"),
    )
    assert done.returncode == 0, done.stderr
    assert "ECE after temperature scaling" in done.stdout
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["entropy_P"] > 0  # H(P) > 0 with label smoothing
    assert metrics["cross_entropy_P_Q"] == pytest.approx(
        metrics["entropy_P"] + metrics["kl_P_Q"], abs=1e-12
    )
    assert metrics["temperature"] > 0
    assert "ece_calibrated" in metrics


# --------------------------------------------------------------------------------------
# evaluate, predict, verify, jacobian


def test_evaluate_writes_the_same_metrics_and_report(iris_run, iris_files, tmp_path):
    done = run(
        "evaluate",
        str(iris_run / "model.npz"),
        str(iris_files["parquet"]),
        "--quiet",
        "--out",
        str(tmp_path / "ev"),
    )
    assert done.returncode == 0, done.stderr
    assert "accuracy" in done.stdout
    assert {p.name for p in (tmp_path / "ev").iterdir()} == {"metrics.json", "report.html"} | PLOTS


def test_predict_round_trip_matches_the_python_api(iris_run, iris_files, tmp_path):
    done = run("predict", str(iris_run / "model.npz"), str(iris_files["csv"]))
    assert done.returncode == 0, done.stderr
    from io import StringIO

    cli_labels = pd.read_csv(StringIO(done.stdout))["prediction"].to_numpy()
    pipeline, features, target = load_model(iris_run / "model.npz")
    frame = pd.read_csv(iris_files["csv"])
    assert target == "species"
    np.testing.assert_array_equal(cli_labels, pipeline.predict(frame[features]))
    assert (cli_labels == frame["species"]).mean() > 0.9
    out = tmp_path / "pred.csv"
    done = run(
        "predict",
        str(iris_run / "model.npz"),
        str(iris_files["parquet"]),
        "--proba",
        "--output",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    pred = pd.read_csv(out)
    proba = pred[[c for c in pred.columns if c.startswith("proba_")]].to_numpy()
    assert proba.shape == (150, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba, pipeline.predict_proba(frame[features]), rtol=1e-12)


def test_verify_json():
    done = run("verify", "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert [d["status"] for d in data] == ["proven"] * 6
    jacobian_steps = data[2]["steps"]
    assert {s["mode"] for s in jacobian_steps} == {"general K", "K = 4"}
    assert any("sifting" in s["lemmas"] and "1 <= j <= K" in s["assumptions"]
               for s in jacobian_steps)  # fmt: skip


def test_verify_prints_unicode_mathematics_not_latex():
    done = run("verify", "--details")
    assert done.returncode == 0, done.stderr
    assert "∂sᵢ/∂xⱼ" in done.stdout
    assert "uses quotient_rule" in done.stdout
    assert re.search(r"\\[A-Za-z]+", done.stdout) is None  # no \frac, \sum, ...
    markdown = run("verify", "--format", "markdown")
    assert markdown.returncode == 0
    assert "\\frac" in markdown.stdout  # LaTeX where it is typeset


def test_jacobian_prints_both_constructions():
    done = run("jacobian", "5", "7", "8")
    assert done.returncode == 0, done.stderr
    assert "0.03511903" in done.stdout
    assert done.stdout.count("-0.18304478") == 4  # twice per row, two rows, both ways
    assert "0.20781720" in done.stdout
    done = run("jacobian", "--precision", "3", "--", "-1", "0")
    assert done.returncode == 0, done.stderr
    assert "0.269" in done.stdout


def test_help_and_version():
    done = run("--version")
    assert done.returncode == 0
    assert done.stdout.startswith("softmaxkit ")
    for command in ("train", "evaluate", "predict", "verify", "jacobian"):
        done = run(command, "--help")
        assert done.returncode == 0
        assert "examples:" in done.stdout
    assert run().returncode == 2


def test_python_dash_m_is_the_same_command():
    done = subprocess.run(
        [sys.executable, "-m", "softmaxkit", "jacobian", "1", "2"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert "softmax" in done.stdout


# --------------------------------------------------------------------------------------
# bad input: one line, exit 2, nothing written


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "{folder}/missing.csv"], "no such file"),
        (["train", "{folder}"], "it is a folder"),
        (["train", "{unreadable}"], "cannot read"),
        (["train", "{csv}", "--target", "nope"], "no column 'nope'"),
        (
            ["train", "{no_numeric}", "--target", "label"],
            "no feature columns besides the target 'label' (free text: a)",
        ),
        (["train", "{bad_values}", "--target", "species"], "non-numeric value '3,4' (row 8)"),
        (["train", "{missing_values}", "--target", "species"], "1 missing value(s) (row 8 first)"),
        (["train", "{csv}", "--target", "species", "--test-size", "1.5"], "--test-size"),
        (["evaluate", "{csv}", "{csv}"], "not an .npz archive"),
        (["predict", "{csv}", "{csv}"], "not an .npz archive"),
        (["predict", "{run}/metrics.json", "{csv}"], "not an .npz archive"),
        (["predict", "{run}/model.npz", "{other_columns}"], "lacks 1 column"),
        (["evaluate", "{run}/model.npz", "{no_numeric}"], "no label column 'species'"),
        (["jacobian", "1", "x"], "expected numbers"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    args, message, iris_files, iris_run, tmp_path
):
    names = {k: str(v) for k, v in iris_files.items()} | {"run": str(iris_run)}
    argv = [a.format(**names) for a in args]
    if argv[0] in ("train", "evaluate"):
        argv += ["--out", str(tmp_path / "out")]
    done = run(*argv, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out*"))  # no temporary folder left either


def test_corrupted_model_file(iris_run, iris_files, tmp_path):
    broken = tmp_path / "broken.npz"
    data = (iris_run / "model.npz").read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    done = run("predict", str(broken), str(iris_files["csv"]))
    assert done.returncode == 2
    assert "softmaxkit model file" in done.stderr
    assert "Traceback" not in done.stderr


def test_existing_output_folder_is_not_overwritten(iris_files, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    done = run(
        "train", str(iris_files["csv"]), "--target", "species", "--out", str(tmp_path / "taken")
    )
    assert done.returncode == 2
    assert "already exists" in done.stderr
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"


def test_a_failing_run_removes_its_folder(tmp_path, monkeypatch):
    # Fail in the middle of writing the run folder: nothing may be left behind.
    from softmaxkit.cli import main, report

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(report, "write", boom)
    out = tmp_path / "half"
    with pytest.raises(RuntimeError, match="disk full"):
        main(["train", "--quiet", "--out", str(out)])
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------
# options, abbreviations, help examples, file modes (issue 14, first items)


def test_abbreviations_are_refused():
    """argparse's prefix matching made --c mean --calibrate silently."""
    done = run("train", "--c", "0.5")
    assert done.returncode == 2
    assert "unrecognized arguments: --c" in done.stderr
    assert run("train", "--calib").returncode == 2


def test_argument_errors_are_one_line():
    """argparse's own errors (a bad choice, a non-number, an unknown option) follow the
    project's rule: one line on stderr, exit status 2, no usage block."""
    for args in (
        ["train", "--class-weight", "auto"],
        ["train", "--max-iter", "x"],
        ["train", "--solver", "liblinear"],
        ["train", "--c", "0.5"],
        ["nonsense"],
    ):
        done = run(*args)
        assert done.returncode == 2, args
        assert len(done.stderr.strip().splitlines()) == 1, (args, done.stderr)
        assert "error:" in done.stderr
        assert "--help" in done.stderr


def test_estimator_options_reach_the_model(iris_files, tmp_path):
    out = tmp_path / "opts"
    done = run(
        "train",
        str(iris_files["csv"]),
        "--target",
        "species",
        "--solver",
        "saga",
        "--l1-ratio",
        "0.5",
        "--max-iter",
        "300",
        "--tol",
        "1e-4",
        "--class-weight",
        "balanced",
        "--batch-size",
        "8",
        "--quiet",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    pipeline, _, _ = load_model(out / "model.npz")
    params = pipeline[-1].get_params()
    assert params["solver"] == "saga"
    assert params["l1_ratio"] == 0.5
    assert params["max_iter"] == 300
    assert params["tol"] == 1e-4
    assert params["class_weight"] == "balanced"
    assert params["batch_size"] == 8
    assert (pipeline[-1].coef_ == 0).any()  # the L1 part did its work
    recorded = json.loads((out / "metrics.json").read_text())["params"]
    assert recorded["l1_ratio"] == 0.5
    assert recorded["class_weight"] == "balanced"
    for bad, message in (
        (["--l1-ratio", "2"], "--l1-ratio must be in [0, 1]"),
        (["--l1-ratio", "0.5", "--solver", "newton-cg"], "newton-cg"),
        (["--max-iter", "0"], "--max-iter must be >= 1"),
        (["--tol", "-1"], "--tol must be >= 0"),
        (["--batch-size", "0"], "--batch-size must be >= 1"),
        (["--learning-rate", "0"], "--learning-rate must be"),
    ):
        done = run("train", str(iris_files["csv"]), "--target", "species", *bad)
        assert done.returncode == 2, bad
        assert message in done.stderr, (bad, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1


def test_options_show_their_defaults():
    text = run("train", "--help").stdout
    text = text[text.index("options:") :]
    for option, default in (
        ("--max-iter", "default 1000"),
        ("--tol", "default 1e-6"),
        ("--class-weight", "default none"),
        ("--l1-ratio", "default 0"),
        ("--solver", "default lbfgs"),
    ):
        start = text.index(option)
        assert default in text[start : start + 300], option


def test_jacobian_help_example_runs():
    text = run("jacobian", "--help").stdout
    examples = [line.strip() for line in text.splitlines() if line.strip().startswith("softmaxkit")]
    assert len(examples) >= 2
    for example in examples:
        done = run(*example.split()[1:])
        assert done.returncode == 0, (example, done.stderr)


def test_files_and_folders_follow_the_umask(iris_files, tmp_path):
    """With umask 022 a run folder is 0755 and its files 0644 (mkdtemp and mkstemp
    would leave 0700 and 0600: teammates could not read the run)."""
    import os
    import stat

    out = tmp_path / "shared"
    script = (
        "import os, sys; os.umask(0o022); from softmaxkit.cli import main; "
        "sys.exit(main(sys.argv[1:]))"
    )
    args = ["train", str(iris_files["csv"]), "--target", "species", "--quiet", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o755
    for name in ("model.npz", "metrics.json", "report.html"):
        assert stat.S_IMODE(os.stat(out / name).st_mode) == 0o644, name
    predictions = tmp_path / "pred.csv"
    predict_args = ["predict", str(out / "model.npz"), str(iris_files["csv"])]
    done = subprocess.run(
        [sys.executable, "-c", script, *predict_args, "--output", str(predictions)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(os.stat(predictions).st_mode) == 0o644
