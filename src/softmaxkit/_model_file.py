"""The safe, versioned model file: an ``.npz`` archive with a JSON header, never pickled.

Layout (format ``softmaxkit-model``, version 1):

* ``header``: a uint8 array holding UTF-8 JSON: ``{"format": "softmaxkit-model",
  "version": 1, "kind": ..., ...}`` with everything that is not a float array
  (parameters, class labels, feature names, scalars);
* one float array per entry of ``header["arrays"]``.

Loading uses ``numpy.load(allow_pickle=False)``, so no code can run; every
field is checked (type, shape, finiteness) and anything unexpected raises
``ValueError`` saying what is wrong with the file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np


class ModelFileError(ValueError):
    """A model file that is missing, corrupted, truncated, foreign or inconsistent."""


FORMAT = "softmaxkit-model"
VERSION = 1


def write(path: str | os.PathLike[str], header: dict[str, Any], arrays: dict[str, Any]) -> None:
    """Write atomically: a temporary file in the same folder, renamed into place."""
    path = Path(path)
    full = {"format": FORMAT, "version": VERSION, **header, "arrays": sorted(arrays)}
    payload: dict[str, Any] = {name: np.ascontiguousarray(a) for name, a in arrays.items()}
    blob = np.frombuffer(json.dumps(full, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    with replaced_atomically(path, "wb") as fh:
        np.savez(fh, header=blob, **payload)


def default_mode(*, directory: bool) -> int:
    """The mode a plain ``open`` / ``mkdir`` would give under the process's umask
    (``mkstemp`` and ``mkdtemp`` make 0600 and 0700 whatever it is)."""
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


@contextlib.contextmanager
def replaced_atomically(path: str | os.PathLike[str], mode: str) -> Iterator[IO[Any]]:
    """A file handle on a temporary file beside ``path``, renamed to ``path`` when the
    block ends without error and deleted otherwise: never a half-written file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".softmaxkit-", suffix=path.suffix, dir=path.parent or ".")
    try:
        with os.fdopen(fd, mode, newline="" if "b" not in mode else None) as fh:
            yield fh
        os.chmod(tmp, default_mode(directory=False))  # mkstemp's 0600, not the umask's
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read(path: str | os.PathLike[str], kind: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and check a model file; returns ``(header, arrays)``."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"expected a softmaxkit model file, got no file at {str(path)!r}")
    try:
        with open(path, "rb") as fh:
            if fh.read(4) != b"PK\x03\x04":
                raise ModelFileError(
                    f"expected a softmaxkit model file, got {str(path)!r} (not an .npz archive)"
                )
            fh.seek(0)
            with np.load(fh, allow_pickle=False) as npz:
                names = set(npz.files)
                if "header" not in names:
                    raise ModelFileError(
                        f"expected a softmaxkit model file, got {str(path)!r} (no header)"
                    )
                header = json.loads(bytes(npz["header"]).decode("utf-8"))
                if not isinstance(header, dict) or header.get("format") != FORMAT:
                    raise ModelFileError(
                        f"expected a softmaxkit model file, got {str(path)!r} (unknown format)"
                    )
                if header.get("version") != VERSION:
                    raise ModelFileError(
                        f"expected model file version {VERSION}, got version "
                        f"{header.get('version')!r} in {str(path)!r}"
                    )
                if header.get("kind") != kind:
                    raise ModelFileError(
                        f"expected a {kind} model, got {header.get('kind')!r} in {str(path)!r}"
                    )
                wanted = header.get("arrays")
                if not isinstance(wanted, list) or not set(wanted) <= names:
                    raise ModelFileError(f"expected the arrays the header lists in {str(path)!r}")
                arrays = {}
                for name in wanted:
                    a = npz[name]
                    if a.dtype.kind not in "fiub":
                        raise ModelFileError(
                            f"expected numeric array {name!r} in {str(path)!r}, got dtype {a.dtype}"
                        )
                    arrays[name] = a
    except ModelFileError:
        raise
    except ValueError as exc:  # numpy's or json's own complaint about the bytes
        raise ModelFileError(
            f"expected a softmaxkit model file, got {str(path)!r} ({exc})"
        ) from None
    except (OSError, zipfile.BadZipFile, EOFError, KeyError, UnicodeDecodeError) as exc:
        raise ModelFileError(
            f"expected a softmaxkit model file, got {str(path)!r} (corrupted or truncated: {exc})"
        ) from None
    return header, arrays
