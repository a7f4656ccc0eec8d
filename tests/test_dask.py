"""Dask: the softmax family over chunked class axes, and SoftmaxRegression on Dask data."""

from __future__ import annotations

import math
import threading

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

import softmaxkit as sk
from softmaxkit import _fast

da = pytest.importorskip("dask.array")

_EDGE = st.one_of(
    st.floats(-50, 50),
    st.sampled_from([-math.inf, math.inf, math.nan, 1e300, -1e300, 0.0]),
)


def _agree(got, want, ulps=8):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    finite = np.isfinite(want)
    eps = np.finfo(np.float64).eps
    np.testing.assert_allclose(got[finite], want[finite], rtol=ulps * eps, atol=ulps * eps)


@pytest.mark.parametrize("fn", [sk.softmax, sk.log_softmax, sk.logsumexp])
@given(
    x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=12), elements=_EDGE),
    row_chunk=st.integers(1, 12),
    class_chunk=st.integers(1, 12),
)
def test_chunked_class_axis_matches_numpy(fn, x, row_chunk, class_chunk):
    d = da.from_array(x, chunks=(row_chunk, class_chunk))
    out = fn(d, axis=1)
    assert isinstance(out, da.Array)
    _agree(out.compute(scheduler="sync"), fn(x, axis=1))


def test_temperature_mask_and_several_axes():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 6, 10)) * 30
    mask = rng.random(10) < 0.7
    d = da.from_array(x, chunks=(2, 3, 4))
    _agree(
        sk.softmax(d, axis=2, temperature=0.25, where=da.from_array(mask)).compute(),
        sk.softmax(x, axis=2, temperature=0.25, where=mask),
    )
    _agree(
        sk.log_softmax(d, axis=(1, 2), temperature=3.0).compute(),
        sk.log_softmax(x, axis=(1, 2), temperature=3.0),
    )
    _agree(
        sk.logsumexp(d, axis=(0, 2), keepdims=True).compute(),
        sk.logsumexp(x, axis=(0, 2), keepdims=True),
    )


class _Counting:
    """An array-like that counts reads of each chunk (Dask reads chunks by slicing)."""

    def __init__(self, a):
        self.a, self.shape, self.dtype, self.ndim = a, a.shape, a.dtype, a.ndim
        self.reads: dict[tuple, int] = {}
        self._lock = threading.Lock()

    def __getitem__(self, key):
        if all(isinstance(k, slice) for k in key) and np.prod([k.stop - k.start for k in key]) > 0:
            with self._lock:
                where = tuple((k.start, k.stop) for k in key)
                self.reads[where] = self.reads.get(where, 0) + 1
        return self.a[key]


@pytest.mark.parametrize("fn", [sk.softmax, sk.log_softmax, sk.logsumexp])
def test_each_chunk_is_read_once_and_the_class_axis_is_not_rechunked(fn):
    """1000 classes in 10 chunks: one pass over the data, as a tree reduction."""
    x = np.random.default_rng(1).normal(size=(60, 1000)) * 10
    source = _Counting(x)
    d = da.from_array(source, chunks=(20, 100), asarray=True)
    out = fn(d, axis=1)
    assert not any("rechunk" in str(k) for k in dict(out.__dask_graph__()))
    got = out.compute(scheduler="threads")
    assert len(source.reads) == 30  # 3 row chunks x 10 class chunks
    assert set(source.reads.values()) == {1}
    _agree(got, fn(x, axis=1))


@given(
    data=st.data(),
    row_chunk=st.integers(1, 9),
    class_chunk=st.integers(1, 7),
)
def test_cross_entropy_with_chunked_classes_matches_numpy(data, row_chunk, class_chunk):
    n, k = data.draw(st.integers(1, 9)), data.draw(st.integers(1, 7))
    z = data.draw(hnp.arrays(np.float64, (n, k), elements=_EDGE))
    y = data.draw(hnp.arrays(np.int64, n, elements=st.integers(-1, k - 1)))
    sw = data.draw(hnp.arrays(np.float64, n, elements=st.floats(0, 3)))
    opts = {
        "ignore_index": -1,
        "label_smoothing": data.draw(st.sampled_from([0.0, 0.1])),
        "temperature": data.draw(st.sampled_from([1.0, 0.5, 2.0])),
        "reduction": data.draw(st.sampled_from(["mean", "sum", "none"])),
    }
    want = sk.softmax_cross_entropy_with_grad(z, y, sample_weight=sw, **opts)
    got = sk.softmax_cross_entropy_with_grad(
        da.from_array(z, chunks=(row_chunk, class_chunk)),
        da.from_array(y, chunks=row_chunk),
        sample_weight=da.from_array(sw, chunks=row_chunk),
        **opts,
    )
    for a, b in zip(got, want, strict=True):
        _agree(np.asarray(a.compute(scheduler="sync")), b, ulps=8)


def test_cross_entropy_reads_each_chunk_once():
    rng = np.random.default_rng(4)
    z = rng.normal(size=(40, 600))
    source = _Counting(z)
    d = da.from_array(source, chunks=(20, 100), asarray=True)
    labels = da.from_array(rng.integers(0, 600, 40), chunks=20)
    loss, grad = sk.softmax_cross_entropy_with_grad(d, labels)
    got_loss, got_grad = __import__("dask").compute(loss, grad, scheduler="threads")
    assert set(source.reads.values()) == {1}
    assert len(source.reads) == 12
    want = sk.softmax_cross_entropy_with_grad(z, labels.compute())
    _agree(got_loss, want[0])
    _agree(got_grad, want[1])


def test_reference_reads_are_what_the_fast_path_saves():
    """Context for the test above: the reference (two Dask reductions) on the same
    array gives the same numbers."""
    x = np.random.default_rng(2).normal(size=(30, 200))
    d = da.from_array(x, chunks=(10, 50))
    with _fast.reference_only():
        ref = sk.logsumexp(d, axis=1).compute()
    _agree(sk.logsumexp(d, axis=1).compute(), ref)


# --------------------------------------------------------------------------------------
# SoftmaxRegression on Dask collections


def _problem(n=3000, d=12, k=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    W = rng.normal(size=(k, d))
    y = np.argmax(X @ W.T + rng.gumbel(size=(n, k)), axis=1)
    return X, np.asarray(["a", "b", "c", "d"])[y]


def _in_memory(**params):
    from softmaxkit import SoftmaxRegression

    return SoftmaxRegression(tol=1e-10, max_iter=1000, **params)


@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg"])
def test_dask_fit_reaches_the_in_memory_objective(solver):
    X, y = _problem()
    sw = np.random.default_rng(1).uniform(0, 2, len(y))
    params = {"solver": solver, "C": 0.5, "class_weight": "balanced", "label_smoothing": 0.05}
    ref = _in_memory(**params).fit(X, y, sample_weight=sw)
    Xd = da.from_array(X, chunks=(700, 5))  # features split too: put back in one chunk
    yd, swd = da.from_array(y, chunks=700), da.from_array(sw, chunks=700)
    with __import__("dask").config.set(scheduler="threads"):
        model = _in_memory(**params).fit(Xd, yd, sample_weight=swd)
    f_ref, f = ref.objective(X, y, sw), model.objective(X, y, sw)
    assert abs(f / f_ref - 1) < 1e-6
    assert list(model.classes_) == ["a", "b", "c", "d"]
    assert isinstance(model.coef_, np.ndarray)
    proba = model.predict_proba(Xd)
    assert isinstance(proba, da.Array)
    np.testing.assert_allclose(proba.compute(), model.predict_proba(X), rtol=1e-12)
    np.testing.assert_array_equal(model.predict(Xd).compute(), model.predict(X))


def test_dask_dataframe_input():
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X, y = _problem(n=1200)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    ddf = dd.from_pandas(frame, npartitions=3)
    dy = dd.from_pandas(pd.Series(y), npartitions=3)
    model = _in_memory().fit(ddf, dy)
    ref = _in_memory().fit(frame, y)
    assert abs(model.objective(frame, y) / ref.objective(frame, y) - 1) < 1e-6
    assert list(model.feature_names_in_) == list(frame.columns)


def test_dask_minibatch_solvers_iterate_over_chunks():
    X, y = _problem(n=2000)
    Xd, yd = da.from_array(X, chunks=250), da.from_array(y, chunks=250)
    optimum = _in_memory().fit(X, y).objective(X, y)
    for solver in ("sgd", "adam"):
        model = _in_memory(solver=solver, random_state=0).set_params(max_iter=15, tol=0)
        with pytest.warns(ConvergenceWarning, match=f"{solver} did not converge in 15 epochs"):
            model.fit(Xd, yd)
        assert model.n_iter_ == 15
        assert len(model.loss_curve_) == 15
        assert model.loss_curve_[-1] < model.loss_curve_[0]
        assert model.loss_curve_[-1] < 1.25 * optimum  # 15 epochs: on its way
        # the curve is the full objective after each epoch
        assert model.objective(X, y) == pytest.approx(model.loss_curve_[-1], rel=1e-10)


def test_dask_partial_fit_goes_chunk_by_chunk():
    X, y = _problem(n=1200)
    Xd, yd = da.from_array(X, chunks=300), da.from_array(y, chunks=300)
    model = _in_memory(solver="sgd", random_state=0)
    model.partial_fit(Xd, yd, classes=np.unique(y))
    ref = _in_memory(solver="sgd", random_state=0)
    for i in range(0, 1200, 300):
        ref.partial_fit(X[i : i + 300], y[i : i + 300], classes=np.unique(y))
    np.testing.assert_array_equal(model.coef_, ref.coef_)
    assert model.n_samples_seen_ == 1200


def test_dask_bad_input():
    X, y = _problem(n=600)
    Xd, yd = da.from_array(X, chunks=200), da.from_array(y, chunks=200)
    unknown = Xd[Xd[:, 0] > -10]  # boolean indexing: chunk sizes unknown
    with pytest.raises(ValueError, match="unknown"):
        _in_memory().fit(unknown, yd)
    with pytest.raises(ValueError, match="mismatched row chunking"):
        _in_memory().fit(Xd, da.from_array(y, chunks=300))
    with pytest.raises(ValueError, match="classes="):
        _in_memory(solver="sgd").partial_fit(Xd, yd)
    model = _in_memory(solver="sgd")
    first = np.isin(y, ["a", "b"])
    model.partial_fit(X[first][:10], y[first][:10], classes=["a", "b"])
    with pytest.raises(ValueError, match="expected labels among classes"):
        model.partial_fit(Xd, yd)
    with pytest.raises(ValueError, match="soft targets"):
        _in_memory().fit(Xd, da.from_array(np.full((600, 4), 0.25), chunks=200))
    with pytest.raises(ValueError, match="shape"):
        _in_memory().fit(Xd, y[:10])


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=50,
        ) as local,
        distributed.Client(local) as client,
    ):
        yield client


def test_fit_on_a_local_cluster_of_two_processes(cluster):
    X, y = _problem(n=4000)
    Xd, yd = da.from_array(X, chunks=500), da.from_array(y, chunks=500)
    Xd = Xd.persist()
    model = _in_memory().fit(Xd, yd)
    ref = _in_memory().fit(X, y)
    assert abs(model.objective(X, y) / ref.objective(X, y) - 1) < 1e-6
    assert len(cluster.scheduler_info()["workers"]) == 2


def test_fit_survives_a_killed_worker(cluster, monkeypatch):
    """A worker process is killed in the middle of the fit; Dask recomputes its
    chunks elsewhere and the fit ends at the in-memory objective."""
    import os
    import signal
    import time

    from softmaxkit.classifier import _dask

    X, y = _problem(n=20000, d=20)
    Xd, yd = da.from_array(X, chunks=1000), da.from_array(y, chunks=1000)
    Xd = Xd.persist()  # chunks live on the workers: the killed one loses its share
    ref = _in_memory().fit(X, y)
    pids = list(cluster.run(os.getpid).values())
    evaluations = []
    model = _in_memory()
    real = _dask.ChunkedLoss.loss_gradient

    def counting(self, params):
        evaluations.append(time.perf_counter())
        if len(evaluations) == 5:
            os.kill(pids[0], signal.SIGKILL)
        return real(self, params)

    monkeypatch.setattr(_dask.ChunkedLoss, "loss_gradient", counting)
    model.fit(Xd, yd)
    assert len(evaluations) > 5  # the kill came before the end
    assert abs(model.objective(X, y) / ref.objective(X, y) - 1) < 1e-6
    cluster.wait_for_workers(2, timeout=30)  # the nanny restarted it
    assert pids[0] not in cluster.run(os.getpid).values()  # a new process, so it did die


# --------------------------------------------------------------------------------------
# the command line: softmaxkit train --engine dask


@pytest.fixture(scope="module")
def parquet_folder(tmp_path_factory):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    X, y = _problem(n=3000, d=6)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame["note"] = "text"  # a text column: one category, one-hot encoded
    frame["label"] = y
    folder = tmp_path_factory.mktemp("table") / "parts"
    folder.mkdir()
    for i in range(3):  # a folder of Parquet files, as a data set larger than memory is kept
        frame.iloc[i * 1000 : (i + 1) * 1000].to_parquet(folder / f"part{i}.parquet")
    return folder, frame


def test_cli_trains_on_a_parquet_folder_with_a_running_scheduler(
    cluster, parquet_folder, tmp_path, capsys
):
    import json

    from softmaxkit.cli import load_model, main

    folder, frame = parquet_folder
    out = tmp_path / "run"
    code = main(
        [
            "train",
            str(folder),
            "--engine",
            "dask",
            "--scheduler",
            cluster.scheduler.address,
            "--quiet",
            "--calibrate",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "trained on" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["params"]["engine"] == "dask"
    assert sum(metrics["splits"].values()) == 3000
    pipeline, features, target = load_model(out / "model.npz")
    assert features == [*(f"x{i}" for i in range(6)), "note"]
    assert target == "label"
    # against the same model fitted in memory on all rows (the labels are noisy:
    # about 3 in 4 can be predicted)
    X, y = frame[features[:-1]].to_numpy(), frame["label"].to_numpy()  # "note" is constant
    best = (_in_memory().fit(X, y).predict(X) == y).mean()
    assert abs((pipeline.predict(frame[features]) == y).mean() - best) < 0.02
    assert metrics["accuracy"] > best - 0.06
    assert (out / "report.html").exists()


def test_cli_dask_engine_reads_csv_files_lazily(cluster, parquet_folder, tmp_path, capsys):
    import json

    from softmaxkit.cli import main

    _, frame = parquet_folder
    for i in range(2):
        frame.iloc[i * 500 : (i + 1) * 500].to_csv(tmp_path / f"part{i}.csv", index=False)
    out = tmp_path / "csv-run"
    code = main(
        [
            "train",
            str(tmp_path / "part*.csv"),
            "--engine",
            "dask",
            "--target",
            "label",
            "--scheduler",
            cluster.scheduler.address,
            "--quiet",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert sum(metrics["splits"].values()) == 1000
    assert metrics["features"] == [*(f"x{i}" for i in range(6)), "note"]


def test_cli_dask_engine_starts_a_local_cluster(parquet_folder, tmp_path, capsys):
    from softmaxkit.cli import main

    folder, _ = parquet_folder
    out = tmp_path / "local"
    code = main(
        [
            "train",
            str(folder / "part0.parquet"),
            "--engine",
            "dask",
            "--workers",
            "1",
            "--memory-limit",
            "1GB",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "local Dask cluster: 1 worker(s), dashboard http" in err
    assert (out / "model.npz").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--workers", "2"], "need --engine dask"),
        (["--engine", "dask", "--workers", "0"], "--workers must be >= 1"),
        (
            ["--engine", "dask", "--scheduler", "tcp://x:1", "--workers", "2"],
            "not with --scheduler",
        ),
        (["--engine", "dask", "--target", "nope"], "no column 'nope'"),
        # Regressions (issue 15): a malformed address crashed with distributed's traceback.
        (["--engine", "dask", "--scheduler", "tcp://"], "not a Dask scheduler address"),
        (["--engine", "dask", "--scheduler", "nonsense:::"], "not a Dask scheduler address"),
    ],
)
def test_cli_dask_bad_input_is_one_line_exit_2(parquet_folder, tmp_path, capsys, argv, message):
    from softmaxkit.cli import main

    folder, _ = parquet_folder
    out = tmp_path / "bad"
    scheduler = [] if "--workers" in argv or "--scheduler" in argv else ["--workers", "1"]
    code = main(["train", str(folder), "--out", str(out), *argv, *scheduler])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_minibatch_steps_run_where_the_chunks_are(cluster):
    """Adam on the 2-process cluster: each chunk's steps run in a task that gets the
    coefficients from the previous one, so the result is the threaded scheduler's."""
    import dask

    X, y = _problem(n=2000)
    Xd, yd = da.from_array(X, chunks=250), da.from_array(y, chunks=250)
    on_cluster = _in_memory(solver="adam", random_state=0).set_params(max_iter=4, tol=0)
    with pytest.warns(ConvergenceWarning):
        on_cluster.fit(Xd, yd)
    threaded = _in_memory(solver="adam", random_state=0).set_params(max_iter=4, tol=0)
    with dask.config.set(scheduler="threads"), pytest.warns(ConvergenceWarning):
        threaded.fit(Xd, yd)
    np.testing.assert_allclose(on_cluster.coef_, threaded.coef_, rtol=1e-10, atol=1e-12)
    assert on_cluster.loss_curve_[-1] < on_cluster.loss_curve_[0]


def test_arrays_that_fit_are_persisted_on_a_cluster(cluster, monkeypatch):
    from softmaxkit.classifier import _dask

    X, y = _problem(n=1000)
    Xd, yd = da.from_array(X, chunks=250), da.from_array(y, chunks=250)
    assert _dask.Data(Xd, yd, None).persisted
    monkeypatch.setattr(_dask, "PERSIST_FRACTION", 1e-9)  # as if far larger than memory
    assert not _dask.Data(Xd, yd, None).persisted
    with __import__("dask").config.set(scheduler="threads"):
        monkeypatch.setattr(_dask, "PERSIST_FRACTION", 0.5)
        assert not _dask.Data(Xd, yd, None).persisted  # no cluster: nothing to keep


def test_cli_both_engines_split_encode_and_score_alike(cluster, tmp_path, capsys):
    """The same file and seed give the same train / validation / test rows, the same
    column plan and, up to the solvers' tolerance, the same metrics on both engines;
    here the table is in three Parquet files, so the Dask engine sees three partitions."""
    import json

    import pandas as pd

    from softmaxkit.cli import main

    rng = np.random.default_rng(5)
    n = 1500
    label = rng.integers(0, 3, n)
    frame = pd.DataFrame(
        {
            "key": np.arange(n),
            "x": rng.normal(size=n) + label,
            "y": rng.normal(size=n),
            "shade": np.array(["dark", "light", "mid", "pale"])[
                (label + rng.integers(0, 2, n)) % 4
            ],
            "label": np.array(["p", "q", "r"])[label],
        }
    )
    frame.loc[17, "x"] = np.nan
    folder = tmp_path / "parts"
    folder.mkdir()
    for i, (a, b) in enumerate(((0, 400), (400, 1100), (1100, n))):
        frame.iloc[a:b].to_parquet(folder / f"part{i}.parquet", index=False)
    metrics = {}
    for engine in ("memory", "dask"):
        path = folder if engine == "dask" else tmp_path / "whole.parquet"
        if engine == "memory":
            frame.to_parquet(path, index=False)
        extra = ["--scheduler", cluster.scheduler.address] if engine == "dask" else []
        out = tmp_path / engine
        code = main(
            [
                "train",
                str(path),
                "--engine",
                engine,
                "--id",
                "key",
                "--impute",
                "--calibrate",
                "--seed",
                "3",
                "--tol",
                "1e-8",
                "--quiet",
                "--out",
                str(out),
                *extra,
            ]
        )
        assert code == 0, capsys.readouterr().err
        metrics[engine] = json.loads((out / "metrics.json").read_text())
    mem, dsk = metrics["memory"], metrics["dask"]
    assert mem["splits"] == dsk["splits"]
    assert mem["columns"] == dsk["columns"]
    assert mem["columns"]["categories"]["shade"] == ["dark", "light", "mid", "pale"]
    # the same test rows, found by their IDs, in the same order of difficulty
    assert [r["id"] for r in mem["worst_rows"]] == [r["id"] for r in dsk["worst_rows"]]
    assert [r["row"] for r in mem["worst_rows"]] == [r["row"] for r in dsk["worst_rows"]]
    assert mem["accuracy"] == dsk["accuracy"]
    assert mem["log_loss"] == pytest.approx(dsk["log_loss"], rel=1e-5)
    assert mem["train"]["log_loss"] == pytest.approx(dsk["train"]["log_loss"], rel=1e-5)
    assert mem["temperature"] == pytest.approx(dsk["temperature"], rel=1e-4)


def test_cli_dask_engine_scores_many_classes_from_features(cluster, tmp_path, capsys, monkeypatch):
    """More classes than features: the Dask engine brings the test rows back as
    features (n x d) and turns them into logits a block at a time, not as n x K
    logits; the numbers are the memory engine's."""
    import json

    import pandas as pd

    from softmaxkit.cli import _metrics, main

    shapes = []  # the client's blocks of logits computed from fetched features
    original = _metrics.linear_blocks

    def spy(X, coef, intercept):
        shapes.append(X.shape)
        return original(X, coef, intercept)

    monkeypatch.setattr(_metrics, "linear_blocks", spy)
    rng = np.random.default_rng(6)
    k, n = 40, 1200
    label = rng.integers(0, k, n)
    frame = pd.DataFrame(
        {"a": rng.normal(size=n) + 0.3 * label, "b": rng.normal(size=n), "label": label}
    )
    folder = tmp_path / "parts"
    folder.mkdir()
    for i, (lo, hi) in enumerate(((0, 500), (500, n))):
        frame.iloc[lo:hi].to_parquet(folder / f"part{i}.parquet", index=False)
    frame.to_parquet(tmp_path / "whole.parquet", index=False)
    metrics = {}
    for engine, path in (("memory", tmp_path / "whole.parquet"), ("dask", folder)):
        extra = ["--scheduler", cluster.scheduler.address] if engine == "dask" else []
        out = tmp_path / engine
        argv = ["train", str(path), "--engine", engine, "--tol", "1e-9", "--calibrate", "--quiet"]
        code = main([*argv, "--out", str(out), *extra])
        assert code == 0, capsys.readouterr().err
        metrics[engine] = json.loads((out / "metrics.json").read_text())
    mem, dsk = metrics["memory"], metrics["dask"]
    assert shapes == [(dsk["splits"]["test"], 2)]  # features came back, not 40 logits a row
    assert mem["splits"] == dsk["splits"]
    assert mem["accuracy"] == dsk["accuracy"]
    assert mem["log_loss"] == pytest.approx(dsk["log_loss"], rel=1e-5)
    assert mem["cross_entropy_P_Q"] == pytest.approx(dsk["cross_entropy_P_Q"], rel=1e-5)
    assert mem["train"]["log_loss"] == pytest.approx(dsk["train"]["log_loss"], rel=1e-5)
    assert [r["row"] for r in mem["worst_rows"]] == [r["row"] for r in dsk["worst_rows"]]
    # calibrated from the validation rows' features, block by block, on both engines
    assert mem["temperature"] == pytest.approx(dsk["temperature"], rel=1e-4)
    assert mem["temperature"] != 1.0
