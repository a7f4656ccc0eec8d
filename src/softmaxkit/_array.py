"""Array-namespace plumbing shared by every public function.

Everything here is written against the Array API standard through
``array-api-compat``, so the same code serves NumPy, PyTorch, JAX, CuPy, Dask
and any other conforming library.
"""

from __future__ import annotations

import math
import numbers
import operator
import sys
from collections.abc import Sequence
from typing import Any, TypeAlias

import array_api_compat

Array: TypeAlias = Any
"""An array of any Array API library (the standard has no static type)."""

Namespace: TypeAlias = Any
"""An Array API namespace as returned by ``array_namespace``."""

Axis: TypeAlias = int | tuple[int, ...] | None


def namespace(*named: tuple[str, object]) -> Namespace:
    """Return the one namespace of the arrays in ``named``; ``None`` entries are skipped.

    The first entry is the required input and may not be ``None``. Raises
    ``TypeError`` naming the argument when one of them is not an array, so that
    ``softmax([1, 2])`` says what to pass instead of failing deep inside. NumPy
    scalars (``np.float64(3.0)``) count as 0-d arrays; Python numbers do not.
    """
    torch_ns = _torch_namespace(named)
    if torch_ns is not None:
        return torch_ns
    arrays = []
    for i, (name, value) in enumerate(named):
        if value is None and i > 0:
            continue
        if type(value) in (bool, int, float, complex) or not array_api_compat.is_array_api_obj(
            value
        ):
            raise TypeError(
                f"expected an array (NumPy, PyTorch, JAX, CuPy, Dask or any Array API array) "
                f"for {name}, got {type(value).__name__}"
            )
        arrays.append(value)
    try:
        return array_api_compat.array_namespace(*arrays)
    except TypeError as exc:  # arrays of two different libraries
        raise TypeError(f"expected arrays of one array library, got a mix: {exc}") from None


def _torch_namespace(named: tuple[tuple[str, object], ...]) -> Namespace | None:
    """array-api-compat's PyTorch namespace when every given array is a tensor.

    A direct ``isinstance`` check: array-api-compat's own lookup goes through
    ``functools.lru_cache``-wrapped helpers, which ``torch.compile`` traces with a
    warning on every compilation.
    """
    torch = sys.modules.get("torch")
    ns = sys.modules.get("array_api_compat.torch")
    if torch is None or ns is None or named[0][1] is None:
        return None
    if all(value is None or isinstance(value, torch.Tensor) for _, value in named):
        return ns
    return None


def device(x: Array) -> Any:
    """Device of ``x`` (a placeholder object for libraries without devices); ``None``
    (the default placement) for a traced JAX array, whose device is not known."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        return x.device
    if array_api_compat.is_jax_array(x) and isinstance(x, sys.modules["jax"].core.Tracer):
        return None
    return array_api_compat.device(x)


def is_lazy(x: Array) -> bool:
    """Whether the values of ``x`` cannot be read cheaply: see :func:`host`."""
    return host(x) is None


def host(x: Array) -> Any:
    """The values of ``x`` as a NumPy array, or ``None`` where reading them would cost.

    This is the one rule for value checks (label range, probability rows, weight
    signs): they run on what this returns and are skipped where it is ``None``:

    * NumPy arrays, and array-api-strict arrays (host memory): always read;
    * PyTorch tensors: only eager CPU tensors (a zero-copy view). Not on another
      device (reading would wait for it), not while ``torch.compile`` traces (it
      would break the graph), not inside ``torch.func`` transforms;
    * JAX arrays: only concrete arrays on the CPU; never tracers (``jit``,
      ``grad``, ``vmap``), nor arrays on an accelerator;
    * Dask, CuPy and any other library: never (lazy, or on a device).

    Where a check is skipped, the functions give NaN for an invalid row instead
    of raising, so an invalid input never yields a plausible number.
    """
    import numpy as np

    if isinstance(x, (np.ndarray, np.generic)):
        return np.asarray(x)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        return _torch_host(x)
    if array_api_compat.is_jax_array(x):
        jax = sys.modules["jax"]
        if isinstance(x, jax.core.Tracer):
            return None
        try:
            platforms = {d.platform for d in x.devices()}
        except Exception:  # pragma: no cover - an array without devices
            return None
        return np.asarray(x) if platforms == {"cpu"} else None
    if type(x).__module__.startswith("array_api_strict"):
        return np.asarray(x._array)
    return None


def _torch_host(x: Array) -> Any:
    torch = sys.modules["torch"]
    if x.device.type != "cpu" or torch.compiler.is_compiling():
        return None
    if torch._C._functorch.is_functorch_wrapped_tensor(x):
        return None
    if x.is_sparse or x.layout != torch.strided:
        return None
    x = x.detach().resolve_conj().resolve_neg()
    if x.dtype == torch.bfloat16:
        x = x.float()
    return x.numpy()


def float_dtype(xp: Namespace, x: Array, name: str = "x") -> Any:
    """The floating dtype the result for ``x`` has: its own, or the default float.

    Integers and booleans are promoted to the library's default real floating
    dtype; complex inputs raise ``TypeError`` (softmax is not defined on them).
    """
    dt = x.dtype
    if xp.isdtype(dt, "real floating"):
        return dt
    if xp.isdtype(dt, "complex floating"):
        raise TypeError(f"expected a real array for {name}, got complex dtype {dt}")
    if xp.isdtype(dt, ("integral", "bool")):
        info = xp.__array_namespace_info__()
        return info.default_dtypes(device=device(x))["real floating"]
    raise TypeError(f"expected a real numeric array for {name}, got dtype {dt}")


def as_float(xp: Namespace, x: Array, name: str = "x") -> Array:
    """``x`` itself when it is real floating, else promoted to the default float."""
    dt = float_dtype(xp, x, name)
    return x if x.dtype == dt else xp.astype(x, dt)


def work_dtype(xp: Namespace, dt: Any) -> Any:
    """Dtype to compute in: 16-bit floats are computed in float32 and rounded once."""
    return xp.float32 if xp.finfo(dt).bits < 32 else dt


def narrow(xp: Namespace, a: Array, dt: Any) -> Array:
    """``a`` (computed in :func:`work_dtype`) cast back to ``dt``; entries beyond
    ``dt``'s range become ``+-inf`` (their correct rounding) without the overflow
    warning NumPy gives for such a cast. The edge is ``fmax + ulp(fmax) / 2``, where
    round-to-nearest-even goes to infinity (65520 for float16)."""
    if a.dtype == dt:
        return a
    info = xp.finfo(dt)
    if xp.finfo(a.dtype).bits > info.bits:
        fmax, eps = float(info.max), float(info.eps)
        edge = fmax + fmax * eps / (2 * (2 - eps))  # fmax / (2 - eps) is 2**emax: exact
        inf = const(xp, math.inf, a)
        a = xp.where(a >= edge, inf, xp.where(a <= -edge, -inf, a))
    return xp.astype(a, dt)


def const(xp: Namespace, value: float, like: Array) -> Array:
    """A 0-d array holding ``value`` with the dtype and device of ``like``."""
    if array_api_compat.is_jax_namespace(xp) and not array_api_compat.is_jax_array(like):
        return xp.asarray(value, dtype=like.dtype)  # a NumPy primal or tangent inside JAX
    return xp.asarray(value, dtype=like.dtype, device=device(like))


def _axis_int(a: object, axis: object, expected: str) -> int:
    """An axis as a Python int: any integer (``np.int64`` too, as NumPy accepts),
    never a bool."""
    if not isinstance(a, bool) and type(a).__name__ != "bool_":
        try:
            return operator.index(a)  # type: ignore[arg-type]
        except TypeError:
            pass
    raise TypeError(f"expected {expected}, got {axis!r}")


def normalize_axis(axis: object, ndim: int, name: str = "axis") -> tuple[int, ...]:
    """Turn ``axis`` (int, tuple of ints, or None for all) into sorted non-negative ints.

    A 0-d array has one implicit element: ``None``, ``0``, ``-1`` and ``()`` all
    mean "that element"; callers reshape it to ``(1,)`` and use axis ``(0,)``.
    """
    if axis is None:
        return tuple(range(ndim))
    items: Sequence[object] = axis if isinstance(axis, tuple) else (axis,)
    out = []
    for item in items:
        a = _axis_int(item, axis, f"an int, a tuple of ints or None for {name}")
        if not -ndim <= a < ndim:
            raise ValueError(
                f"expected {name} in [{-ndim}, {ndim}) for an array with {ndim} dimensions, got {a}"
            )
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"expected distinct axes for {name}, got {axis!r}")
    return tuple(sorted(out))


def single_axis(axis: object, ndim: int, name: str = "axis") -> int:
    """Normalise an axis that must be one int (the class axis of a loss or Jacobian)."""
    _axis_int(axis, axis, f"an int for {name}")
    if ndim == 0:
        raise ValueError("expected an array with at least 1 dimension, got a 0-d array")
    return normalize_axis(axis, ndim, name)[0]


def broadcast_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    """Broadcast shape of ``a`` and ``b`` by the Array API rules, or None if incompatible."""
    n = max(len(a), len(b))
    pa = (1,) * (n - len(a)) + tuple(a)
    pb = (1,) * (n - len(b)) + tuple(b)
    out = []
    for i, j in zip(pa, pb, strict=True):
        if i == j or j == 1:
            out.append(i)
        elif i == 1:
            out.append(j)
        else:
            return None
    return tuple(out)


def finfo_max(xp: Namespace, dt: Any) -> float:
    """Largest finite value of the floating dtype ``dt`` as a Python float."""
    return float(xp.finfo(dt).max)


def is_finite_positive(value: object) -> bool:
    """Whether ``value`` is a real Python/NumPy number that is finite and > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int past the floats
        return False
    return math.isfinite(v) and v > 0
