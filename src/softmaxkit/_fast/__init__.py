"""The delegation layer: where backend-specific fast paths plug in.

Every public function asks :func:`lookup` for an implementation for its
``(namespace, device)`` before it falls back to the reference implementation,
which is written only with Array API calls and is the oracle every fast path is
tested against on the same inputs, edge cases included.

A fast path is registered per function name and backend name::

    @register("softmax", "numpy")
    def _softmax_numpy(x, *, axes, temperature, where): ...

It receives exactly the arguments the reference receives *after* validation
(a floating array, normalised axes, a checked temperature, a broadcast mask or
``None``) and must return the same result, or ``NotImplemented`` to decline a
case it does not cover (the reference then runs). The module of a backend
(``_fast/torch.py``, ``_fast/jax.py``) is imported the first time an array of
that library arrives, so ``import softmaxkit`` imports none of them;
:func:`reference_only` turns the layer off, for tests and benchmarks.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import sys
from collections.abc import Callable, Iterator
from typing import Any

import array_api_compat

from .._array import device

FastPath = Callable[..., Any]

_REGISTRY: dict[tuple[str, str], FastPath] = {}
_enabled = True
_LOADED: set[str] = set()
_BACKEND_MODULES = {"numpy", "torch", "jax", "dask"}  # backends with a module of fast paths here


def _load(backend: str) -> None:
    """Import the fast paths of ``backend`` once (its library is already imported)."""
    if backend in _LOADED:
        return
    _LOADED.add(backend)
    if backend in _BACKEND_MODULES:
        importlib.import_module(f"{__name__}.{backend}")


class _WhenImported(importlib.abc.MetaPathFinder):
    """Loads PyTorch's fast paths right after ``torch`` itself is imported.

    Under ``torch.compile`` nothing may be imported (Dynamo cannot trace an
    import: a graph break), so the first call of a public function on a tensor
    must find the module already loaded, even when ``softmaxkit`` was imported
    before ``torch``. This finder finds nothing itself: it wraps the loader of
    ``torch`` that the other finders return.
    """

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "torch" or "torch" in _LOADED:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module: Any) -> None:
            run(module)
            try:
                _load("torch")
            except Exception:  # never let ours break `import torch`: load it lazily later
                _LOADED.discard("torch")

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


_NAMES: dict[str, str] = {}  # namespace module name -> backend name


def backend_name(xp: Any) -> str:
    """A short, stable name for the library behind namespace ``xp``.

    Remembered per namespace module: array-api-compat's checks are
    ``lru_cache``-wrapped, which ``torch.compile`` traces with a warning.
    """
    key = getattr(xp, "__name__", None)
    if key is not None and key in _NAMES:
        return _NAMES[key]
    name = _backend_name(xp)
    if key is not None:
        _NAMES[key] = name
    return name


def _backend_name(xp: Any) -> str:
    checks = (
        ("numpy", array_api_compat.is_numpy_namespace),
        ("torch", array_api_compat.is_torch_namespace),
        ("jax", array_api_compat.is_jax_namespace),
        ("cupy", array_api_compat.is_cupy_namespace),
        ("dask", array_api_compat.is_dask_namespace),
        ("array_api_strict", array_api_compat.is_array_api_strict_namespace),
    )
    for name, check in checks:
        if check(xp):
            return name
    return "other"


def register(function: str, backend: str) -> Callable[[FastPath], FastPath]:
    """Decorator: make ``impl`` the fast path of ``function`` for ``backend``."""

    def decorate(impl: FastPath) -> FastPath:
        _REGISTRY[(function, backend)] = impl
        return impl

    return decorate


def unregister(function: str, backend: str) -> None:
    """Remove a fast path (tests use this to restore the registry)."""
    _REGISTRY.pop((function, backend), None)


def lookup(function: str, xp: Any, device: Any = None) -> FastPath | None:
    """The fast path for ``function`` on ``xp`` (and ``device``), or ``None``.

    ``device`` is passed for fast paths that exist only on some devices (a CPU
    kernel, say); a path that does not serve the device returns ``NotImplemented``.
    """
    if not _enabled:
        return None
    backend = backend_name(xp)
    _load(backend)
    return _REGISTRY.get((function, backend))


def call(function: str, xp: Any, *arrays: Any, **options: Any) -> Any:
    """The fast path's result for ``function(*arrays, **options)``, or None when there
    is no fast path for the arrays' library and device or it declines."""
    impl = lookup(function, xp, device(arrays[0]))
    if impl is None:
        return None
    out = impl(*arrays, **options)
    return None if out is NotImplemented else out


@contextlib.contextmanager
def reference_only() -> Iterator[None]:
    """Within the block, every public function runs its reference implementation."""
    global _enabled
    saved, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = saved


# After everything above exists: the torch module imports `register` from here.
if "torch" in sys.modules:
    _load("torch")
else:
    sys.meta_path.insert(0, _WhenImported())
