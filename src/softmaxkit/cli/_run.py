"""Run folders written all at once: a hidden temporary folder renamed into place."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def check_out_dir(out: str | None, suffix: str = "") -> Path:
    path = Path(out) if out is not None else default_run_dir(suffix)
    if path.exists():
        raise UsageError(f"the output folder {str(path)!r} already exists: choose another --out")
    return path


@contextlib.contextmanager
def run_folder(final: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``final``; rename it to ``final`` on success,
    delete it on any failure, so no half-written run is left behind."""
    parent = final.parent
    created_parent = not parent.exists()
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=parent))
    try:
        yield tmp
        os.chmod(tmp, _model_file.default_mode(directory=True))  # mkdtemp's 0700: the umask's
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if created_parent:
            with contextlib.suppress(OSError):
                parent.rmdir()
        raise


def write_json(path: Path, data: Any) -> None:
    path.write_text(
        json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8"
    )
