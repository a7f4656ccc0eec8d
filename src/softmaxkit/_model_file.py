"""The safe, versioned model file: an ``.npz`` archive with a JSON header, never pickled.

Layout (format ``softmaxkit-model``, version 1):

* ``header``: a uint8 array holding UTF-8 JSON: ``{"format": "softmaxkit-model",
  "version": 1, "kind": ..., ...}`` with everything that is not a float array
  (parameters, class labels, feature names, scalars);
* one float array per entry of ``header["arrays"]``.

Loading trusts nothing (:func:`read`): the zip directory first, then each
member's npy header against the shapes the JSON header implies and the size the
zip declares, and only then the data, so memory stays bounded whatever the file
says; no pickle is ever read, so no code can run; every field is checked (type,
range, shape, finiteness) and anything unexpected raises one ``ValueError``
saying what is wrong with the file.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
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
def replaced_atomically(
    path: str | os.PathLike[str], mode: str, *, replace: bool = True
) -> Iterator[IO[Any]]:
    """A file handle on a temporary file beside ``path``, renamed to ``path`` when the
    block ends without error and deleted otherwise: never a half-written file.
    With ``replace=False`` the temporary file is linked to ``path``, which fails
    with ``FileExistsError`` if something took the name meanwhile: nothing there
    is ever overwritten."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".softmaxkit-", suffix=path.suffix, dir=path.parent or ".")
    try:
        with os.fdopen(fd, mode, newline="" if "b" not in mode else None) as fh:
            yield fh
        os.chmod(tmp, default_mode(directory=False))  # mkstemp's 0600, not the umask's
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # atomic, and never over an existing name
            os.unlink(tmp)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


MAX_HEADER_BYTES = 64 * 2**20  # the JSON header: far beyond any real model's
MAX_RATIO = 100  # a compressed member may inflate at most this much (ours are stored)
ANY = -1  # in an expected shape: any length up to MAX_LENGTH
MAX_LENGTH = 10**7
MAX_ABS = 1e100  # no fitted model's numbers come near; beyond, products overflow


def _bad(path: Path, why: str) -> ModelFileError:
    return ModelFileError(f"expected a softmaxkit model file, got {str(path)!r} ({why})")


def _member(zf: zipfile.ZipFile, name: str, path: Path) -> zipfile.ZipInfo:
    """The zip entry ``name + '.npy'``, refused before anything is inflated when its
    declared size is out of proportion to its compressed size (a zip bomb)."""
    try:
        info = zf.getinfo(f"{name}.npy")
    except KeyError:
        raise _bad(path, f"no member {name!r}") from None
    if info.flag_bits & 0x1:
        raise _bad(path, f"member {name!r} is encrypted")
    if info.compress_type != zipfile.ZIP_STORED and info.file_size > MAX_RATIO * max(
        info.compress_size, 1024
    ):
        raise _bad(
            path,
            f"member {name!r} would inflate from {info.compress_size} to {info.file_size} bytes",
        )
    return info


def _npy(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    name: str,
    path: Path,
    kinds: str,
    shape: tuple[int, ...] | None,
    max_bytes: int,
) -> np.ndarray:
    """One ``.npy`` member read with bounded memory: its header first (dtype kind in
    ``kinds``, ``shape`` as expected, where ``ANY`` is any length up to
    ``MAX_LENGTH``), checked against the zip's declared size, then exactly its data."""
    fmt = np.lib.format
    with zf.open(info) as fp:
        version = fmt.read_magic(fp)
        if version == (1, 0):
            got_shape, fortran, dtype = fmt.read_array_header_1_0(fp)
        elif version in ((2, 0), (3, 0)):
            got_shape, fortran, dtype = fmt.read_array_header_2_0(fp)
        else:
            raise _bad(path, f"member {name!r} has npy version {version}")
        if dtype.kind not in kinds or dtype.hasobject or dtype.itemsize not in (1, 4, 8):
            raise _bad(path, f"member {name!r} has dtype {dtype}")
        if shape is not None:
            fits = len(got_shape) == len(shape) and all(
                (w == ANY and 0 <= g <= MAX_LENGTH) or g == w
                for g, w in zip(got_shape, shape, strict=True)
            )
            if not fits:
                shown = tuple("n" if w == ANY else w for w in shape)
                raise _bad(path, f"member {name!r} has shape {got_shape}, expected {shown}")
        count = math.prod(got_shape)
        nbytes = count * dtype.itemsize
        offset = fp.tell()
        if nbytes > max_bytes or offset + nbytes != info.file_size:
            raise _bad(
                path,
                f"member {name!r} declares {info.file_size} bytes, its header {offset + nbytes}",
            )
        buf = bytearray(nbytes)
        if fp.readinto(buf) != nbytes:  # type: ignore[attr-defined]
            raise _bad(path, f"member {name!r} is truncated")
    out = np.frombuffer(buf, dtype=dtype)
    out = out.reshape(got_shape[::-1]).T if fortran else out.reshape(got_shape)
    return np.ascontiguousarray(out, dtype=dtype.newbyteorder("="))


def read(
    path: str | os.PathLike[str],
    kind: str,
    shapes: Callable[[dict[str, Any]], dict[str, tuple[int, ...]]] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and check a model file; returns ``(header, arrays)``.

    Nothing is trusted. The zip directory is read first; the JSON header (at most
    ``MAX_HEADER_BYTES``) must be an object of this format, version and ``kind``;
    ``shapes(header)`` (the kind's own rule; ``KeyError``, ``TypeError`` or
    ``ValueError`` there mean a bad header) gives the shape each array must have
    (``ANY``: any length up to ``MAX_LENGTH``), and the header must list exactly
    those arrays. Each array's npy header is then read and compared with that
    shape and with the zip's declared size before its data is read, and a
    compressed member may not inflate more than ``MAX_RATIO`` times: memory stays
    within what the header's shapes imply. Arrays are float, finite and at most
    ``MAX_ABS`` in size. Any fault is one :class:`ModelFileError` (a ``ValueError``)
    saying what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"expected a softmaxkit model file, got no file at {str(path)!r}")
    try:
        with open(path, "rb") as fh:
            if fh.read(4) != b"PK\x03\x04":
                raise _bad(path, "not an .npz archive")
            fh.seek(0)
            with zipfile.ZipFile(fh) as zf:
                names = [i.filename for i in zf.infolist()]
                if len(set(names)) != len(names):
                    raise _bad(path, "a member name repeats")
                if "header.npy" not in names:
                    raise _bad(path, "no header")
                info = _member(zf, "header", path)
                blob = _npy(zf, info, "header", path, "u", (ANY,), MAX_HEADER_BYTES)
                header = json.loads(blob.tobytes().decode("utf-8"))
                if not isinstance(header, dict) or header.get("format") != FORMAT:
                    raise _bad(path, "unknown format")
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
                if not (
                    isinstance(wanted, list)
                    and all(isinstance(w, str) for w in wanted)
                    and len(set(wanted)) == len(wanted)
                ):
                    raise _bad(path, "the header's list of arrays is malformed")
                try:
                    expected = shapes(header) if shapes is not None else None
                except (KeyError, TypeError, ValueError, OverflowError, IndexError) as exc:
                    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                    raise _bad(path, f"an inconsistent header: {detail}") from None
                if expected is not None and set(expected) != set(wanted):
                    raise _bad(
                        path, f"arrays {sorted(wanted)}, expected {sorted(expected)} for its kind"
                    )
                extra = set(names) - {"header.npy"} - {f"{w}.npy" for w in wanted}
                if extra:
                    raise _bad(path, f"an unexpected member {sorted(extra)[0]!r}")
                arrays = {}
                for name in wanted:
                    info = _member(zf, name, path)
                    shape = None if expected is None else tuple(expected[name])
                    a = _npy(zf, info, name, path, "f", shape, info.file_size)
                    if not np.all(np.isfinite(a)):
                        raise _bad(path, f"array {name!r} is not finite float32/float64")
                    if a.size and float(np.max(np.abs(a))) > MAX_ABS:
                        raise _bad(path, f"array {name!r} has an entry beyond {MAX_ABS:g}")
                    arrays[name] = a
    except ModelFileError:
        raise
    except RecursionError:
        raise _bad(path, "a header nested too deeply") from None
    except (
        ValueError,  # numpy's or json's own complaint about the bytes
        TypeError,
        OverflowError,
        OSError,
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        EOFError,
        KeyError,
        NotImplementedError,  # a compression method zipfile does not have
        RuntimeError,  # zipfile: an encrypted member
        UnicodeDecodeError,
        MemoryError,
    ) as exc:
        raise _bad(path, f"corrupted or truncated: {type(exc).__name__}: {exc}") from None
    return header, arrays
