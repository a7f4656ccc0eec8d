"""The model file reader trusts nothing (issue 15, item 1).

Every fault of a model file, however it was made, is one ``ValueError`` saying
what is wrong, found before memory is spent on what the file claims: zip bombs,
npy headers declaring enormous shapes, members that are not npy, malformed or
deeply nested JSON, class lists that are not unique and sorted, feature names
that are not distinct strings, parameters a fit would refuse, extreme numbers.
The fuzz tests mutate valid files at random and by field.
"""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_iris

from softmaxkit import SoftmaxRegression
from softmaxkit._model_file import ModelFileError


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, dict, dict]:
    """A valid model file's bytes, its JSON header and its arrays."""
    X, y = load_iris(return_X_y=True)
    folder = tmp_path_factory.mktemp("model")
    model = SoftmaxRegression().fit(X, y)
    model.save(folder / "m.npz")
    data = (folder / "m.npz").read_bytes()
    with np.load(folder / "m.npz") as npz:
        header = json.loads(bytes(npz["header"]).decode())
        arrays = {k: npz[k] for k in npz.files if k != "header"}
    return data, header, arrays


def _write(path: Path, header: dict | bytes, arrays: dict, *, deflate: bool = False) -> Path:
    blob = header if isinstance(header, bytes) else json.dumps(header).encode()
    members = {"header": np.frombuffer(blob, dtype=np.uint8), **arrays}
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, value in members.items():
            if isinstance(value, bytes):  # raw member bytes, not an array
                zf.writestr(f"{name}.npy", value)
                continue
            buf = io.BytesIO()
            np.save(buf, value)
            zf.writestr(f"{name}.npy", buf.getvalue())
    return path


def _load(path: Path) -> SoftmaxRegression:
    return SoftmaxRegression.load(path)


def test_the_valid_file_loads(saved, tmp_path):
    _, header, arrays = saved
    model = _load(_write(tmp_path / "ok.npz", header, arrays))
    np.testing.assert_array_equal(model.coef_, arrays["coef"])


def test_a_zip_bomb_is_refused_before_it_is_inflated(saved, tmp_path):
    # loss_curve declared as 64 Mi float64 zeros (512 MiB), deflated to about 0.5 MiB:
    # the reader must refuse it from the zip directory, not after inflating it
    _, header, arrays = saved
    path = tmp_path / "bomb.npz"
    n = 64 * 2**20
    npy_header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        npy_header, {"descr": "<f8", "fortran_order": False, "shape": (n,)}
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, value in {
            "header": header,
            "coef": arrays["coef"],
            "intercept": arrays["intercept"],
        }.items():
            buf = io.BytesIO()
            blob = (
                np.frombuffer(json.dumps(value).encode(), np.uint8) if name == "header" else value
            )
            np.save(buf, blob)
            zf.writestr(f"{name}.npy", buf.getvalue())
        with zf.open("loss_curve.npy", "w", force_zip64=True) as member:
            member.write(npy_header.getvalue())
            zeros = bytes(2**22)
            for _ in range(n * 8 // len(zeros)):
                member.write(zeros)
    assert path.stat().st_size < 4 * 2**20
    tracemalloc.start()
    with pytest.raises(ValueError, match="would inflate from"):
        _load(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 * 2**20


def test_an_npy_header_declaring_an_enormous_shape(saved, tmp_path):
    # a stored member whose npy header says 10^12 entries but holds 8 bytes
    _, header, arrays = saved
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)}
    )
    raw = buf.getvalue() + bytes(8)
    path = _write(tmp_path / "huge.npz", header, {**arrays, "loss_curve": raw})
    with pytest.raises(ValueError, match="member 'loss_curve' has shape"):
        _load(path)
    # and the same with the shape the header implies for coef but the wrong byte count
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f8", "fortran_order": False, "shape": arrays["coef"].shape}
    )
    path = _write(tmp_path / "short.npz", header, {**arrays, "coef": buf.getvalue() + bytes(8)})
    with pytest.raises(ValueError, match="member 'coef' declares"):
        _load(path)


@pytest.mark.parametrize(
    ("member", "raw", "message"),
    [
        ("coef", b"not an npy file at all", "corrupted or truncated"),
        ("header", b"\x93NUMPY\x09\x00junk", r"npy version \(9, 0\)"),
    ],
)
def test_a_member_that_is_not_npy(saved, tmp_path, member, raw, message):
    _, header, arrays = saved
    if member == "header":
        path = tmp_path / "h.npz"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("header.npy", raw)
    else:
        path = _write(tmp_path / "m.npz", header, {**arrays, member: raw})
    with pytest.raises(ModelFileError, match=message):
        _load(path)


def test_deeply_nested_json(saved, tmp_path):
    _, _, arrays = saved
    blob = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(ModelFileError, match=r"nested too deeply|corrupted"):
        _load(_write(tmp_path / "deep.npz", blob, arrays))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"classes": [2, 0, 1]}, "unique and sorted"),
        ({"classes": [0, 0, 1]}, "unique and sorted"),
        ({"classes_dtype": "datetime64[s]"}, "class labels of dtype"),
        ({"classes": "012"}, "list of 2 or more class labels"),
        ({"n_features_in": 10**30}, "member 'coef' has shape|inconsistent"),
        ({"n_features_in": True}, "feature count"),
        ({"n_features_in": "4"}, "feature count"),
        ({"feature_names_in": ["a", "a", "b", "c"]}, "distinct feature names"),
        ({"feature_names_in": "abcd"}, "distinct feature names"),
        ({"n_iter": -1}, "iteration count"),
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": "1"}, "temperature"),
        ({"params": {"C": -1}}, "'C' parameter"),
        ({"params": {"solver": "magic"}}, "solver"),
        ({"params": {"max_iter": 0}}, "max_iter"),
        ({"params": {"no_such_parameter": 1}}, "consistent SoftmaxRegression header"),
        ({"arrays": ["coef", "intercept"]}, "expected"),
        ({"arrays": "coef"}, "malformed"),
    ],
)
def test_header_fields_are_checked(saved, tmp_path, change, message):
    _, header, arrays = saved
    bad = json.loads(json.dumps(header))
    for key, value in change.items():
        if key == "params":
            bad["params"].update(value)
        else:
            bad[key] = value
    with pytest.raises(ModelFileError, match=message):
        _load(_write(tmp_path / "bad.npz", bad, arrays))


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("coef", np.full((3, 4), 1e308), "beyond"),
        ("intercept", np.array([0.0, np.nan, 0.0]), "not finite"),
        ("coef", np.zeros((3, 4), dtype=np.int64), "dtype"),
        ("coef", np.zeros((3, 4), dtype=np.float16), "dtype"),
        ("coef", np.zeros((4, 3)), "shape"),
    ],
)
def test_arrays_are_checked(saved, tmp_path, name, value, message):
    _, header, arrays = saved
    with pytest.raises(ModelFileError, match=message):
        _load(_write(tmp_path / "bad.npz", header, {**arrays, name: value}))


def test_unexpected_or_repeated_members(saved, tmp_path):
    _, header, arrays = saved
    path = _write(tmp_path / "extra.npz", header, {**arrays, "payload": np.zeros(3)})
    with pytest.raises(ModelFileError, match=r"unexpected member 'payload\.npy'"):
        _load(path)


# --------------------------------------------------------------------------------------
# fuzzing: only ValueError, whatever the bytes


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_random_byte_mutations_give_value_error_or_a_model(saved, tmp_path, data):
    raw, _, _ = saved
    blob = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 8))):
        kind = data.draw(st.sampled_from(["flip", "truncate", "insert", "zero"]))
        at = data.draw(st.integers(0, len(blob) - 1))
        if kind == "flip":
            blob[at] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "truncate":
            del blob[at:]
            if not blob:
                blob = bytearray(b"PK")
        elif kind == "insert":
            blob[at:at] = data.draw(st.binary(min_size=1, max_size=16))
        else:
            end = min(len(blob), at + data.draw(st.integers(1, 64)))
            blob[at:end] = bytes(end - at)
    path = tmp_path / "fuzz.npz"
    path.write_bytes(bytes(blob))
    try:
        model = _load(path)
    except ValueError:
        return
    # a mutation the checks let through must still give a usable model
    assert model.predict_proba(np.zeros((1, model.n_features_in_))).shape == (
        1,
        len(model.classes_),
    )


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=10,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_random_header_fields_give_value_error_or_a_model(saved, tmp_path, data):
    _, header, arrays = saved
    bad = json.loads(json.dumps(header))
    keys = sorted(bad) + [f"params.{k}" for k in sorted(bad["params"])]
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(st.sampled_from(keys))
        value = data.draw(JSON)
        if key.startswith("params."):
            if isinstance(bad.get("params"), dict):
                bad["params"][key[7:]] = value
        else:
            bad[key] = value
    try:
        model = _load(_write(tmp_path / "fuzz.npz", bad, arrays))
    except ValueError:
        return
    assert model.predict_proba(np.zeros((1, model.n_features_in_))).shape == (
        1,
        len(model.classes_),
    )


def test_the_command_lines_model_file_refuses_extreme_scales(tmp_path, capsys):
    from softmaxkit.cli import main

    run = tmp_path / "run"
    assert main(["train", "--quiet", "--out", str(run)]) == 0
    with np.load(run / "model.npz") as npz:
        header = json.loads(bytes(npz["header"]).decode())
        arrays = {k: npz[k] for k in npz.files if k != "header"}
    rows = tmp_path / "rows.csv"
    from sklearn.datasets import load_digits

    load_digits(as_frame=True).frame.drop(columns="target").head(3).to_csv(rows, index=False)
    capsys.readouterr()
    for name, value, message in (
        ("scaler_scale", np.full_like(arrays["scaler_scale"], 1e-320), "scales normal and > 0"),
        ("clf_coef", np.full_like(arrays["clf_coef"], 1e200), "beyond"),
    ):
        bad = _write(tmp_path / f"{name}.npz", header, {**arrays, name: value})
        assert main(["predict", str(bad), str(rows)]) == 2
        err = capsys.readouterr().err
        assert message in err
        assert err.count("\n") == 1


@pytest.fixture(scope="module")
def cli_saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, dict, dict, Path]:
    """A command line model file (numeric, text and bool columns: the column plan,
    categories, scaler and classifier in one header), its header, arrays and rows."""
    import pandas as pd

    from softmaxkit.cli import main

    folder = tmp_path_factory.mktemp("cli-model")
    rng = np.random.default_rng(0)
    n = 120
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], n),
            "flag": rng.choice([True, False], n),
            "label": rng.choice(["a", "b", "c"], n),
        }
    )
    frame.to_csv(folder / "t.csv", index=False)
    frame.drop(columns="label").head(3).to_csv(folder / "rows.csv", index=False)
    code = main(
        [
            "train",
            str(folder / "t.csv"),
            "--target",
            "label",
            "--quiet",
            "--out",
            str(folder / "run"),
        ]
    )
    assert code == 0
    path = folder / "run" / "model.npz"
    with np.load(path) as npz:
        header = json.loads(bytes(npz["header"]).decode())
        arrays = {k: npz[k] for k in npz.files if k != "header"}
    return path.read_bytes(), header, arrays, folder / "rows.csv"


def _cli_loads_or_refuses(path: Path, rows: Path) -> None:
    """A mutated command line model file: one ValueError from the reader, or a
    pipeline that predicts probabilities for raw rows."""
    import pandas as pd

    from softmaxkit.cli import load_model

    try:
        pipeline, features, _ = load_model(str(path))
    except ValueError:
        return
    frame = pd.read_csv(rows)
    try:
        proba = pipeline.predict_proba(frame[features])
    except (KeyError, ValueError):  # the columns the file names are not the table's
        return
    assert proba.shape[0] == 3
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_cli_model_file_random_header_fields(cli_saved, tmp_path, data):
    """The command line's pipeline header, field by field and one level down (the
    column plan, its categories, the classifier's header and parameters)."""
    _, header, arrays, rows = cli_saved
    bad = json.loads(json.dumps(header))
    nested = ["columns", "classifier"]
    keys = sorted(bad) + [f"{p}.{k}" for p in nested for k in sorted(bad[p])]
    keys += [f"columns.categories.{k}" for k in sorted(bad["columns"]["categories"])]
    keys += [f"classifier.params.{k}" for k in sorted(bad["classifier"]["params"])]
    for _ in range(data.draw(st.integers(1, 3))):
        *parents, last = data.draw(st.sampled_from(keys)).split(".")
        node = bad
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node[last] = data.draw(JSON)
    _cli_loads_or_refuses(_write(tmp_path / "fuzz.npz", bad, arrays), rows)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_cli_model_file_random_byte_and_array_mutations(cli_saved, tmp_path, data):
    raw, header, arrays, rows = cli_saved
    if data.draw(st.booleans()):  # bytes: flips, truncations, zeroed runs
        blob = bytearray(raw)
        for _ in range(data.draw(st.integers(1, 6))):
            at = data.draw(st.integers(0, len(blob) - 1))
            if data.draw(st.booleans()):
                blob[at] ^= 1 << data.draw(st.integers(0, 7))
            else:
                end = min(len(blob), at + data.draw(st.integers(1, 64)))
                blob[at:end] = bytes(end - at)
        path = tmp_path / "fuzz.npz"
        path.write_bytes(bytes(blob))
    else:  # an array replaced by one of another shape, dtype or extreme values
        name = data.draw(st.sampled_from(sorted(arrays)))
        shape = data.draw(st.sampled_from([(0,), (1,), (2, 2), arrays[name].shape]))
        value = data.draw(st.sampled_from([0.0, -1.0, 1e-320, 1e300, np.nan, np.inf]))
        dtype = data.draw(st.sampled_from([np.float64, np.float32, np.int64, np.complex128]))
        with np.errstate(over="ignore"):  # 1e300 as float32 is inf: an extreme value too
            replaced = (
                np.full(shape, value).astype(dtype) if dtype != np.int64 else np.zeros(shape, dtype)
            )
        path = _write(tmp_path / "fuzz.npz", header, {**arrays, name: replaced})
    _cli_loads_or_refuses(path, rows)
