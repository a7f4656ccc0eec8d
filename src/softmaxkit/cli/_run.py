"""Run folders written all at once: a hidden temporary folder renamed into place."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .. import _model_file
from ._errors import UsageError


def default_run_dir(suffix: str = "") -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{stamp}{suffix}"
    path, n = base, 2
    while path.exists():
        path = base.with_name(f"{base.name}-{n}")
        n += 1
    return path


def _kind(path: Path) -> str:
    if path.is_symlink():
        return "a symbolic link" + ("" if path.exists() else " to nothing")
    mode = path.stat().st_mode
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a pipe or socket" if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) else "not a file"


def check_parent(path: Path, option: str, *, create: bool) -> None:
    """The folder ``path`` goes into exists (or, with ``create``, can be made: its
    nearest existing ancestor is a folder) and can be written: else one line."""
    folder = path.parent
    while not os.path.lexists(folder) and folder != folder.parent:
        if not create:
            raise UsageError(f"{option} {str(path)!r}: the folder {str(folder)!r} does not exist")
        folder = folder.parent
    if not folder.is_dir():
        raise UsageError(
            f"{option} {str(path)!r}: {str(folder)!r} is {_kind(folder)}, not a folder"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {str(path)!r}: no permission to write in {str(folder)!r}")


def check_out_dir(out: str | None, suffix: str = "") -> Path:
    """The run folder to create: nothing at that path yet (not even a dangling link),
    and a parent that exists or can be made."""
    path = Path(out) if out is not None else default_run_dir(suffix)
    if os.path.lexists(path):
        raise UsageError(
            f"the output folder {str(path)!r} already exists ({_kind(path)}): choose another --out"
        )
    check_parent(path, "--out", create=True)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _clean_stale(final: Path) -> None:
    """Remove temporary folders that killed runs left for this name (their process,
    named in the folder's name, is gone)."""
    prefix = f".{final.name}."
    with contextlib.suppress(OSError):
        for entry in final.parent.iterdir():
            rest = entry.name[len(prefix) :] if entry.name.startswith(prefix) else ""
            pid = rest.split(".", 1)[0]
            if pid.isdigit() and entry.is_dir() and not entry.is_symlink() and not _alive(int(pid)):
                shutil.rmtree(entry, ignore_errors=True)


@contextlib.contextmanager
def run_folder(final: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``final``; rename it to ``final`` on success,
    delete it on any failure, so no half-written run is left behind."""
    parent = final.parent
    created_parent = not parent.exists()
    try:
        parent.mkdir(parents=True, exist_ok=True)
        _clean_stale(final)
        # the process id in the name lets a later run remove it if this one is killed
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.{os.getpid()}.", dir=parent))
    except OSError as exc:
        raise UsageError(
            f"cannot create the output folder {str(final)!r}: {exc.strerror or exc}"
        ) from None
    claimed = False
    try:
        yield tmp
        os.chmod(tmp, _model_file.default_mode(directory=True))  # mkdtemp's 0700: the umask's
        try:
            os.mkdir(final)  # claim the name: a run that took it meanwhile makes this fail
        except FileExistsError:
            raise UsageError(
                f"the output folder {str(final)!r} appeared while this run worked (another "
                "run?): nothing was overwritten; choose another --out"
            ) from None
        claimed = True
        os.replace(tmp, final)  # onto the empty folder just made: atomic
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if claimed:
            with contextlib.suppress(OSError):
                final.rmdir()
        if created_parent:
            with contextlib.suppress(OSError):
                parent.rmdir()
        raise


def write_json(path: Path, data: Any) -> None:
    """Strict JSON (RFC 8259): a NaN or infinite number (an empty reliability bin,
    say) is written as ``null``, never the bare ``NaN`` token that strict parsers
    (JavaScript's ``JSON.parse``, ``jq``) refuse."""
    text = json.dumps(_strict(data), indent=2, sort_keys=True, default=str, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")


def _strict(value: Any) -> Any:
    """``value`` with NumPy arrays and scalars as Python ones and non-finite floats None."""
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    if isinstance(value, np.ndarray):
        return _strict(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
