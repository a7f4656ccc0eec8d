"""Output paths as careful tools treat them (issue 15, item 2).

``predict --output`` keeps an existing file unless ``--force``, writes through to
a character device, never replaces a symbolic link; ``train --out`` refuses any
existing path, reports every path problem in one line with exit status 2, never
overwrites a run folder that appeared while it worked, and removes the temporary
folders of killed runs. Device nodes are made with ``mknod`` in a temporary
folder (never the machine's own ``/dev`` entries).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sklearn.datasets import load_iris

from softmaxkit.cli import main


@pytest.fixture(scope="module")
def model_and_rows(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("paths")
    frame = load_iris(as_frame=True).frame
    data = folder / "iris.csv"
    frame.to_csv(data, index=False)
    assert main(["train", str(data), "--quiet", "--out", str(folder / "run")]) == 0
    rows = folder / "rows.csv"
    frame.drop(columns="target").head(5).to_csv(rows, index=False)
    return folder / "run" / "model.npz", rows


def _predict(capsys, model_and_rows, *extra: str) -> tuple[int, str]:
    model, rows = model_and_rows
    code = main(["predict", str(model), str(rows), *extra])
    err = capsys.readouterr().err
    return code, err


def _one_line_exit_2(code: int, err: str, message: str) -> None:
    assert code == 2
    assert err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in err


def test_an_existing_file_is_kept_unless_force(tmp_path, capsys, model_and_rows):
    target = tmp_path / "out.csv"
    target.write_text("mine\n")
    code, err = _predict(capsys, model_and_rows, "--output", str(target))
    _one_line_exit_2(code, err, "exists: --force replaces it")
    assert target.read_text() == "mine\n"
    code, err = _predict(capsys, model_and_rows, "--output", str(target), "--force")
    assert code == 0, err
    assert target.read_text().startswith("prediction")
    assert stat.S_ISREG(target.lstat().st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # no temporary file left


def test_a_symbolic_link_is_never_replaced(tmp_path, capsys, model_and_rows):
    real = tmp_path / "real.csv"
    real.write_text("mine\n")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    for extra in ([], ["--force"]):
        code, err = _predict(capsys, model_and_rows, "--output", str(link), *extra)
        _one_line_exit_2(code, err, "is a symbolic link")
        assert link.is_symlink()
        assert real.read_text() == "mine\n"
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "nowhere.csv")
    code, err = _predict(capsys, model_and_rows, "--output", str(dangling))
    _one_line_exit_2(code, err, "a symbolic link to nothing")
    assert not (tmp_path / "nowhere.csv").exists()


def test_a_character_device_is_written_through(tmp_path, capsys, model_and_rows):
    node = tmp_path / "null"
    try:  # the null device's numbers (1, 3), in a private folder
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot make a device node here: {exc}")
    code, err = _predict(capsys, model_and_rows, "--output", str(node))
    assert code == 0, err
    assert stat.S_ISCHR(node.lstat().st_mode)  # still the device, not a regular file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing" / "out.csv", "the folder"),
        (
            lambda d: (d / "file.txt").write_text("x") and d / "file.txt" / "out.csv",
            "is a file, not a folder",
        ),
        (lambda d: (d / "folder").mkdir() or d / "folder", "is a folder: give a file path"),
    ],
)
def test_predict_path_problems_are_one_line(tmp_path, capsys, model_and_rows, make, message):
    target = make(tmp_path)
    code, err = _predict(capsys, model_and_rows, "--output", str(target))
    _one_line_exit_2(code, err, message)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere: no permission error")
def test_a_folder_without_write_permission(tmp_path, capsys, model_and_rows):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    code, err = _predict(capsys, model_and_rows, "--output", str(locked / "out.csv"))
    _one_line_exit_2(code, err, "no permission to write")
    code = main(["train", "--quiet", "--out", str(locked / "run")])
    _one_line_exit_2(code, capsys.readouterr().err, "no permission to write")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda d: (d / "file.txt").write_text("x") and d / "file.txt" / "run",
            "is a file, not a folder",
        ),
        (lambda d: (d / "taken").mkdir() or d / "taken", "already exists (a folder)"),
        (
            lambda d: (d / "l").symlink_to(d / "nowhere") or d / "l",
            "already exists (a symbolic link to nothing)",
        ),
    ],
)
def test_train_out_problems_are_one_line(tmp_path, capsys, make, message):
    target = make(tmp_path)
    code = main(["train", "--quiet", "--out", str(target)])
    _one_line_exit_2(code, capsys.readouterr().err, message)


def test_a_run_folder_that_appears_meanwhile_is_not_overwritten(tmp_path, capsys, monkeypatch):
    from softmaxkit.cli import report

    out = tmp_path / "run"
    write = report.write

    def other_run_finishes_first(folder, metrics, context):
        write(folder, metrics, context)
        out.mkdir()  # another run takes the name while this one is writing
        (out / "theirs.txt").write_text("theirs")

    monkeypatch.setattr(report, "write", other_run_finishes_first)
    code = main(["train", "--quiet", "--out", str(out)])
    _one_line_exit_2(code, capsys.readouterr().err, "appeared while this run worked")
    assert [p.name for p in out.iterdir()] == ["theirs.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no temporary folder left


def test_a_killed_runs_temporary_folder_is_cleaned_up(tmp_path, capsys):
    import subprocess
    import sys

    # a process that has ended: its id names no living process
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = int(done.stdout)
    stale = tmp_path / f".run.{dead}.abc123"
    stale.mkdir()
    (stale / "model.npz").write_bytes(b"half")
    alive = tmp_path / f".run.{os.getpid()}.def456"  # a living run's folder stays
    alive.mkdir()
    assert main(["train", "--quiet", "--out", str(tmp_path / "run")]) == 0
    assert not stale.exists()
    assert alive.exists()
