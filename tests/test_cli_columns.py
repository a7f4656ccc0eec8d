"""The command line on ordinary tables: which columns are features and how (issue 14).

Each rule on CSV and on Parquet: categorical (text, bool, pandas category, integer
codes with --categorical), ID columns, free text, missing values, --features /
--drop; predict with unseen categories and --id; --cv; the split by position.
"""

from __future__ import annotations

import itertools
import json
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from softmaxkit.cli import _columns, load_model, main


def _table(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """A table where the class is given exactly by a text column ``color`` (with some
    numeric noise beside it), plus an ID, a bool, integer codes and free text."""
    rng = np.random.default_rng(seed)
    colors = np.array(["red", "green", "blue"])
    label = rng.integers(0, 3, n)
    return pd.DataFrame(
        {
            "id": np.arange(1000, 1000 + n),  # unique increasing integers: a row ID
            "color": colors[label],
            "noise": rng.normal(size=n),
            "flag": rng.integers(0, 2, n).astype(bool),
            "code": rng.integers(0, 4, n),  # integer codes of a category
            "comment": [f"free text number {i}" for i in range(n)],
            "label": np.array(["a", "b", "c"])[label],
        }
    )


def _write(frame: pd.DataFrame, folder: Path, fmt: str, name: str = "t") -> Path:
    path = folder / f"{name}.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    return path


def _train(capsys, path: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    code = main(["train", str(path), "--target", "label", "--out", str(out), *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


FORMATS = ["csv", "parquet"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_text_column_that_predicts_the_class_is_used(tmp_path, capsys, fmt):
    path = _write(_table(), tmp_path, fmt)
    code, _, err = _train(capsys, path, tmp_path / "run", "--drop", "id")
    assert code == 0, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "color" in metrics["columns"]["categorical"]
    assert metrics["columns"]["categories"]["color"] == ["blue", "green", "red"]
    assert metrics["accuracy"] == 1.0  # color gives the class exactly
    # the free-text column is left out with a note, and said so
    assert "comment" not in metrics["features"]
    assert "leaving out free-text columns: comment (" in err
    # bool columns are categorical too; integer codes stay numeric unless named
    assert "flag" in metrics["columns"]["categorical"]
    assert "code" in metrics["columns"]["numeric"]
    # one-hot: noise and code numeric (2), color 3 + flag 2 columns
    assert metrics["encoded_features"] == 2 + 3 + 2


@pytest.mark.parametrize("fmt", FORMATS)
def test_categorical_option_one_hot_encodes_integer_codes(tmp_path, capsys, fmt):
    path = _write(_table(), tmp_path, fmt)
    code, _, err = _train(capsys, path, tmp_path / "run", "--categorical", "code", "--id", "id")
    assert code == 0, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "code" in metrics["columns"]["categorical"]
    assert metrics["columns"]["categories"]["code"] == ["0", "1", "2", "3"]
    assert metrics["encoded_features"] == 1 + 3 + 2 + 4


def test_a_pandas_category_column_is_categorical(tmp_path, capsys):
    frame = _table()
    frame["color"] = frame["color"].astype("category")
    path = _write(frame, tmp_path, "parquet")
    code, _, err = _train(capsys, path, tmp_path / "run", "--id", "id")
    assert code == 0, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "color" in metrics["columns"]["categorical"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_id_like_column_is_warned_about_and_id_keeps_it_out(tmp_path, capsys, fmt):
    path = _write(_table(), tmp_path, fmt)
    code, _, err = _train(capsys, path, tmp_path / "a")
    assert code == 0, err
    assert "warning: column 'id' looks like a row ID (unique, increasing integers)" in err
    assert "id" in json.loads((tmp_path / "a" / "metrics.json").read_text())["features"]

    code, _, err = _train(capsys, path, tmp_path / "b", "--id", "id")
    assert code == 0, err
    assert "looks like a row ID" not in err
    metrics = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert "id" not in metrics["features"]
    assert metrics["columns"]["id"] == "id"
    # the worst rows carry their IDs: row r of the table has ID 999 + r
    assert all(r["id"] == 999 + r["row"] for r in metrics["worst_rows"])


@pytest.mark.parametrize("fmt", FORMATS)
def test_features_and_drop_choose_the_columns(tmp_path, capsys, fmt):
    path = _write(_table(), tmp_path, fmt)
    code, _, err = _train(capsys, path, tmp_path / "a", "--features", "noise,code")
    assert code == 0, err
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["features"] == [
        "noise",
        "code",
    ]
    code, _, err = _train(capsys, path, tmp_path / "b", "--drop", "id", "--drop", "color,flag")
    assert code == 0, err
    metrics = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert metrics["features"] == ["noise", "code"]
    assert metrics["accuracy"] < 0.7  # without color there is little to learn
    code, _, err = _train(capsys, path, tmp_path / "c", "--features", "noise,nope")
    assert code == 2
    assert "--features: no column 'nope'" in err
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("fmt", FORMATS)
def test_missing_values_are_refused_with_the_row_unless_impute(tmp_path, capsys, fmt):
    frame = _table()
    frame["noise"] = frame["noise"].astype(object)
    frame.loc[11, "noise"] = None  # table row 12
    frame.loc[20, "color"] = None
    path = _write(frame.astype({"noise": float}), tmp_path, fmt)
    code, _, err = _train(capsys, path, tmp_path / "a", "--id", "id")
    assert code == 2
    assert err.count("error:") == 1
    assert "Traceback" not in err
    assert "column 'noise' has 1 missing value(s) (row 12 first)" in err
    assert "--impute" in err
    assert not (tmp_path / "a").exists()

    code, _, err = _train(capsys, path, tmp_path / "b", "--id", "id", "--impute")
    assert code == 0, err
    metrics = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert "(missing)" in metrics["columns"]["categories"]["color"]
    # the imputed model takes rows with missing values; its fill value is the
    # training mean of the column, so a missing value predicts as the mean does
    pipeline, features, _ = load_model(tmp_path / "b" / "model.npz")
    numeric = pipeline[0].named_transformers_["numeric"]
    fill = numeric.named_steps["impute"].statistics_[0]
    rows = frame.iloc[:5][features].copy()
    rows["noise"] = np.nan
    filled = rows.copy()
    filled["noise"] = fill
    np.testing.assert_array_equal(pipeline.predict_proba(rows), pipeline.predict_proba(filled))


def test_missing_values_in_predict_rows(tmp_path, capsys):
    frame = _table()
    path = _write(frame, tmp_path, "csv")
    assert _train(capsys, path, tmp_path / "run", "--id", "id")[0] == 0
    rows = frame.drop(columns="label").copy()
    rows.loc[3, "noise"] = np.nan
    rows.to_csv(tmp_path / "rows.csv", index=False)
    code = main(["predict", str(tmp_path / "run" / "model.npz"), str(tmp_path / "rows.csv")])
    err = capsys.readouterr().err
    assert code == 2
    assert "column 'noise' has 1 missing value(s) (row 4 first)" in err
    assert "trained without --impute" in err


def test_predict_with_an_unseen_category_and_the_id(tmp_path, capsys):
    frame = _table()
    path = _write(frame, tmp_path, "csv")
    assert _train(capsys, path, tmp_path / "run", "--id", "id")[0] == 0
    rows = frame.drop(columns="label").iloc[:6].copy()
    rows.loc[2, "color"] = "purple"  # never seen in training
    rows.to_csv(tmp_path / "rows.csv", index=False)
    model = tmp_path / "run" / "model.npz"
    code = main(["predict", str(model), str(tmp_path / "rows.csv"), "--proba"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "column 'color': 1 row(s) with a category the model never saw ('purple' first)" in (
        captured.err
    )
    out = pd.read_csv(StringIO(captured.out))
    assert list(out.columns[:2]) == ["id", "prediction"]  # the ID first
    np.testing.assert_array_equal(out["id"], rows["id"])
    pipeline, features, _ = load_model(model)
    np.testing.assert_array_equal(out["prediction"], pipeline.predict(rows[features]))
    # the unseen category encodes as none of the known ones: the same probabilities
    # as a row whose one-hot color columns are all zero
    ct, clf = pipeline[0], pipeline[-1]
    encoded = ct.transform(rows[features].iloc[[2]])
    names = list(ct.get_feature_names_out())
    assert all(encoded[0, names.index(f"categorical__color_{c}")] == 0 for c in ("red", "blue"))
    np.testing.assert_allclose(out.filter(like="proba_").iloc[2], clf.predict_proba(encoded)[0])
    # --id on predict names another column; one that is not there is refused
    code = main(["predict", str(model), str(tmp_path / "rows.csv"), "--id", "code"])
    assert code == 0
    assert pd.read_csv(StringIO(capsys.readouterr().out)).columns[0] == "code"
    assert main(["predict", str(model), str(tmp_path / "rows.csv"), "--id", "nope"]) == 2
    assert "--id: no column 'nope'" in capsys.readouterr().err


def test_a_typo_among_numbers_is_still_an_error(tmp_path, capsys):
    frame = _table()
    frame["noise"] = frame["noise"].astype(object)
    frame.loc[7, "noise"] = "3,4"
    path = _write(frame, tmp_path, "csv")
    code, _, err = _train(capsys, path, tmp_path / "a", "--id", "id")
    assert code == 2
    assert "column 'noise' has a non-numeric value '3,4' (row 8) among numbers" in err
    # named as categorical, it is one
    code, _, err = _train(capsys, path, tmp_path / "b", "--id", "id", "--categorical", "noise")
    assert code == 0, err


def test_dates_are_refused_with_advice(tmp_path, capsys):
    frame = _table()
    frame["when"] = pd.date_range("2026-01-01", periods=len(frame), freq="h")
    path = _write(frame, tmp_path, "parquet")
    code, _, err = _train(capsys, path, tmp_path / "a", "--id", "id")
    assert code == 2
    assert "column 'when' holds dates or times" in err
    code, _, err = _train(capsys, path, tmp_path / "b", "--id", "id", "--drop", "when")
    assert code == 0, err


def test_evaluate_on_a_table_with_categories(tmp_path, capsys):
    frame = _table()
    path = _write(frame, tmp_path, "csv")
    assert _train(capsys, path, tmp_path / "run", "--id", "id")[0] == 0
    other = _write(_table(seed=1), tmp_path, "parquet", "other")
    code = main(
        ["evaluate", str(tmp_path / "run" / "model.npz"), str(other), "--out", str(tmp_path / "e")]
    )
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert metrics["accuracy"] == 1.0
    assert len(metrics["per_class"]) == 3 + 3  # a, b, c and the accuracy and two averages


def test_cross_validation(tmp_path, capsys):
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    path = _write(frame, tmp_path, "csv")
    code = main(["train", str(path), "--cv", "4", "--quiet", "--out", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert code == 0
    assert "4-fold cross-validation on the training rows (mean +- std)" in out
    cv = json.loads((tmp_path / "run" / "metrics.json").read_text())["cv"]
    assert cv["folds"] == 4
    for key in ("accuracy", "macro_f1", "log_loss"):
        folds = np.asarray(cv[key]["folds"])
        assert folds.shape == (4,)
        assert cv[key]["mean"] == pytest.approx(folds.mean())
        assert cv[key]["std"] == pytest.approx(folds.std())
    assert 0.85 < cv["accuracy"]["mean"] <= 1
    assert 0 < cv["log_loss"]["mean"] < 0.5
    # each fold's accuracy is an accuracy on about a quarter of the training rows:
    # a multiple of 1 / fold size
    report = (tmp_path / "run" / "report.html").read_text()
    assert "4-fold cross-validation" in report
    assert main(["train", str(path), "--cv", "1", "--out", str(tmp_path / "x")]) == 2
    assert "--cv must be >= 2" in capsys.readouterr().err


# --------------------------------------------------------------------------------------
# the pieces: the split by position, profiles of parts


def test_split_codes_depend_on_the_position_and_seed_only():
    whole = _columns.split_codes(0, 10_000, 7, 0.2, True)
    parts = np.concatenate(
        [
            _columns.split_codes(a, b - a, 7, 0.2, True)
            for a, b in ((0, 13), (13, 5000), (5000, 10_000))
        ]
    )
    np.testing.assert_array_equal(whole, parts)
    shares = np.bincount(whole, minlength=3) / len(whole)
    # test: 0.2; validation: 0.2 of the other 0.8; train: the rest
    np.testing.assert_allclose(shares, [0.64, 0.16, 0.2], atol=0.015)
    assert not np.array_equal(whole, _columns.split_codes(0, 10_000, 8, 0.2, True))
    no_val = _columns.split_codes(0, 10_000, 7, 0.2, False)
    assert not np.any(no_val == _columns.VALIDATION)
    np.testing.assert_array_equal(no_val == _columns.TEST, whole == _columns.TEST)


def test_profiles_of_parts_combine_to_the_profile_of_the_whole():
    frame = _table(n=500)
    frame.loc[[3, 300], "noise"] = np.nan
    columns = _columns.plan(dict(frame.dtypes), "label", impute=True)
    whole = _columns.profile_part(frame, columns, 0, 3, 0.25, True)
    cuts = [0, 7, 200, 201, 500]
    parts = [
        _columns.profile_part(frame.iloc[a:b], columns, a, 3, 0.25, True)
        for a, b in itertools.pairwise(cuts)
    ]
    merged = _columns.combine(parts)
    assert merged.split_rows == whole.split_rows
    for name in columns.numeric:
        assert merged.count[name] == whole.count[name]
        assert merged.mean[name] == pytest.approx(whole.mean[name], rel=1e-13)
        assert merged.m2[name] == pytest.approx(whole.m2[name], rel=1e-12)
    assert merged.categories == whole.categories
    assert merged.missing == whole.missing == {"noise": (2, 3)}
    assert merged.classes == whole.classes
    assert merged.ends == whole.ends
    assert merged.ends["id"][2]  # strictly increasing across the cuts too
    # the numbers against NumPy on the training rows
    train = _columns.split_codes(0, len(frame), 3, 0.25, True) == _columns.TRAIN
    seen = frame["noise"].to_numpy()[train]
    seen = seen[~np.isnan(seen)]
    assert merged.mean["noise"] == pytest.approx(seen.mean(), rel=1e-13)
    assert merged.m2["noise"] == pytest.approx(((seen - seen.mean()) ** 2).sum(), rel=1e-12)


def test_restored_preprocessing_matches_the_fitted_one():
    frame = _table(n=300)
    columns = _columns.plan(dict(frame.dtypes), "label", drop=["comment", "id"])
    prof = _columns.profile_part(frame, columns, 0, 0, 0.2, False)
    columns = _columns.settle(columns, prof, quiet=True)
    train = _columns.split_codes(0, len(frame), 0, 0.2, False) == _columns.TRAIN
    fitted = _columns.transformer(columns).fit(frame[columns.features][train])
    restored = _columns.from_profile(columns, prof)
    np.testing.assert_allclose(
        restored.transform(frame[columns.features]),
        fitted.transform(frame[columns.features]),
        rtol=1e-12,
        atol=1e-12,
    )
    assert list(restored.get_feature_names_out()) == list(fitted.get_feature_names_out())


# --------------------------------------------------------------------------------------
# what the report says


def test_report_says_when_calibration_was_not_applied(tmp_path, capsys):
    # color gives the class exactly: every validation row is right, and the
    # "best" temperature would be 0, so calibrate keeps T = 1 and says so
    path = _write(_table(n=600), tmp_path, "csv")
    code, _, err = _train(capsys, path, tmp_path / "run", "--id", "id", "--calibrate")
    assert code == 0, err
    assert "calibrate kept temperature_ = 1" in err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["calibration"]["kept_reason"]
    html = (tmp_path / "run" / "report.html").read_text()
    assert "Temperature scaling was not applied (temperature kept at 1)" in html


def test_report_carries_the_command_versions_and_the_decomposition(tmp_path, capsys):
    from sklearn.datasets import load_iris

    path = _write(load_iris(as_frame=True).frame, tmp_path, "csv")
    argv = ["train", str(path), "--label-smoothing", "0.2", "--quiet", "--out", str(tmp_path / "r")]
    assert main(argv) == 0
    capsys.readouterr()
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["command"].startswith("softmaxkit train ")
    assert "--label-smoothing 0.2" in metrics["command"]
    assert {"python", "numpy", "scikit-learn", "softmaxkit"} <= set(metrics["versions"])
    html = (tmp_path / "r" / "report.html").read_text()
    assert metrics["command"].split()[-1] in html
    # with label smoothing H(P) > 0: the page says the loss cannot go below it
    h = metrics["entropy_P"]
    assert h > 0
    assert f"H(P) = {h:.4f} &gt; 0 is part of every loss" in html
    # the per-class decomposition adds up, class by class, against scikit-learn's
    # log loss on each class's rows (the smoothed targets' cross-entropy)
    by = metrics["decomposition_by_class"]
    for c in range(3):
        assert by["cross_entropy_P_Q"][c] == pytest.approx(by["entropy_P"][c] + by["kl_P_Q"][c])
    support = [metrics["per_class"][name]["support"] for name in metrics["classes"]]
    overall = np.dot(support, by["cross_entropy_P_Q"]) / sum(support)
    assert overall == pytest.approx(metrics["cross_entropy_P_Q"], rel=1e-12)
    # the baseline predicts the majority training class with the training shares
    assert metrics["baseline"]["accuracy"] < 0.5 < metrics["accuracy"]


# --------------------------------------------------------------------------------------
# hostile tables (issue 15, item 3, in part)


def test_huge_finite_values_are_refused_with_the_column(tmp_path, capsys):
    frame = _table()
    frame.loc[9, "noise"] = 1e308  # finite, but its square overflows the variance
    path = _write(frame, tmp_path, "parquet")
    code, _, err = _train(capsys, path, tmp_path / "a", "--id", "id")
    assert code == 2
    assert "column 'noise' has a value 1e+308 (row 10) beyond +-1e+150" in err
    good = _write(_table(), tmp_path, "csv", "good")
    assert _train(capsys, good, tmp_path / "b", "--id", "id")[0] == 0
    rows = frame.drop(columns="label").head(12)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    code = main(["predict", str(tmp_path / "b" / "model.npz"), str(tmp_path / "rows.csv")])
    assert code == 2
    assert "column 'noise' has a value 1e+308 (row 10)" in capsys.readouterr().err


def test_label_types(tmp_path, capsys):
    frame = _table()
    frame["label"] = np.where(frame["color"] == "red", 0.5, 1.5)  # not class labels
    path = _write(frame, tmp_path, "csv")
    code, _, err = _train(capsys, path, tmp_path / "a", "--id", "id")
    assert code == 2
    assert "holds a non-integer number 0.5" in err or "holds a non-integer number 1.5" in err
    frame["label"] = np.where(frame["color"] == "red", 1.0, 2.0)  # whole numbers: classes
    path = _write(frame, tmp_path, "csv", "whole")
    assert _train(capsys, path, tmp_path / "b", "--id", "id")[0] == 0
    # a model with number classes evaluated on text labels: one line, exit 2
    frame["label"] = np.where(frame["color"] == "red", "one", "two")
    other = _write(frame, tmp_path, "csv", "text")
    code = main(
        [
            "evaluate",
            str(tmp_path / "b" / "model.npz"),
            str(other),
            "--quiet",
            "--out",
            str(tmp_path / "e"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "column 'label' holds str labels, the model's classes are float64 (1.0, 2.0)" in err
    assert not (tmp_path / "e").exists()


def test_no_warning_reaches_the_user(tmp_path):
    """The command line under PYTHONWARNINGS=error, on the embedded data and on a table
    with every column type, calibrated: no warning becomes an exception (a traceback)."""
    import os
    import subprocess
    import sys

    frame = _table()
    frame["kind"] = frame["color"].astype("category")
    frame.loc[3, "noise"] = np.nan
    path = _write(frame, tmp_path, "parquet")
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    for extra in ([], [str(path), "--target", "label", "--impute", "--id", "id", "--calibrate"]):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "softmaxkit",
                "train",
                *extra,
                "--quiet",
                "--out",
                str(tmp_path / f"run{len(extra)}"),
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr


def test_parquet_decimal_features_are_numeric_and_a_struct_target_is_refused(tmp_path, capsys):
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 90)
    prices = [decimal.Decimal(f"{v:.2f}") for v in rng.normal(size=90) + 3 * y]
    table = pa.table({"price": pa.array(prices, type=pa.decimal128(10, 2)), "label": pa.array(y)})
    pq.write_table(table, tmp_path / "dec.parquet")
    code, _, err = _train(capsys, tmp_path / "dec.parquet", tmp_path / "a")
    assert code == 0, err
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["columns"]["numeric"] == ["price"]  # not free text
    assert metrics["accuracy"] > 0.8
    # predict reads the same decimals
    pq.write_table(table.drop(["label"]), tmp_path / "rows.parquet")
    assert main(["predict", str(tmp_path / "a" / "model.npz"), str(tmp_path / "rows.parquet")]) == 0
    capsys.readouterr()
    structs = pa.array([{"code": int(v), "name": "x"} for v in y])
    pq.write_table(
        pa.table({"x": pa.array(rng.normal(size=90)), "label": structs}), tmp_path / "s.parquet"
    )
    code, _, err = _train(capsys, tmp_path / "s.parquet", tmp_path / "b")
    assert code == 2
    assert "holds structured values (dict)" in err
    assert "Traceback" not in err


def test_many_classes_keep_the_report_and_metrics_small(tmp_path, capsys):
    """150 classes x 8 rows: the per-class figures show the 40 worst classes, no K x K
    matrix is drawn or stored (the confused pairs are), and the metrics' tallies
    agree with scikit-learn's."""
    from sklearn.metrics import accuracy_score, f1_score

    from softmaxkit.cli import _metrics

    rng = np.random.default_rng(0)
    k = 150
    label = np.repeat(np.arange(k), 8)
    frame = pd.DataFrame(
        {"a": rng.normal(size=len(label)) + 0.05 * label, "b": rng.normal(size=len(label))}
    )
    frame["label"] = label
    path = _write(frame, tmp_path, "csv")
    code, _, err = _train(capsys, path, tmp_path / "run")
    assert code == 0, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "confusion_matrix" not in metrics  # 150 x 150 numbers: left out
    pairs = metrics["confused_pairs"]
    assert 0 < len(pairs) <= 20
    assert all(t != p and 0 < n <= s for t, p, n, s in pairs)
    assert not (tmp_path / "run" / "confusion_matrix.png").exists()
    assert (tmp_path / "run" / "report.html").stat().st_size < 3 * 2**20
    html = (tmp_path / "run" / "report.html").read_text()
    assert "Most confused pairs" in html
    assert "the 40 classes" not in html  # in the figures' titles, not the page
    # the O(K) tallies against scikit-learn on random predictions
    y, pred = rng.integers(0, 30, 500), rng.integers(0, 30, 500)
    Z = np.eye(30)[pred] * 5.0
    got = _metrics.from_counts(_metrics.counts(Z, y, 30))
    assert got["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert got["macro_f1"] == pytest.approx(
        f1_score(y, pred, average="macro", labels=np.arange(30), zero_division=0.0)
    )
