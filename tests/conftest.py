"""Shared fixtures: one ``xp`` fixture over every backend, and hypothesis profiles.

Each backend is described by a :class:`Backend`: how to make an array of it from
NumPy data (on a non-default device where the library has one, so that device
preservation is really tested), how to bring a result back to NumPy, and which
floating dtypes it has. Tests compare every backend against NumPy values.
"""

from __future__ import annotations

import os

# scikit-learn's estimator checks include an array-API check that runs only with
# SciPy's array API mode on; it must be set before SciPy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# "ci" keeps the whole suite to a few minutes on 2 cores and draws the same examples
# on every run (derandomize), so a submission's result does not depend on luck; "dev"
# draws new random examples each run and digs deeper: run it before submitting
# (HYPOTHESIS_PROFILE=dev), and turn what it finds into named regression tests.
settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@dataclass
class Backend:
    name: str
    module: Any  # what a user imports: numpy, torch, jax.numpy, dask.array, array_api_strict
    asarray: Callable[..., Any]  # (numpy array, dtype name or None) -> backend array
    to_numpy: Callable[[Any], np.ndarray]
    float_dtypes: tuple[str, ...]
    default_float: str
    lazy: bool = False
    device: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def dtype(self, name: str) -> Any:
        return getattr(self.module, name)

    def __repr__(self) -> str:
        return self.name


def _numpy() -> Backend:
    def asarray(a: Any, dtype: str | None = None) -> Any:
        return np.asarray(a, dtype=dtype)

    return Backend("numpy", np, asarray, np.asarray, ("float16", "float32", "float64"), "float64")


def _strict() -> Backend:
    import array_api_strict as xps

    dev = xps.Device("device1")  # a non-default device: results must stay on it

    def asarray(a: Any, dtype: str | None = None) -> Any:
        a = np.asarray(a, dtype=dtype)
        return xps.asarray(a, device=dev)

    def to_numpy(a: Any) -> np.ndarray:
        return np.asarray(xps.asarray(a, device=xps.Device("CPU_DEVICE"))._array)

    return Backend(
        "array_api_strict", xps, asarray, to_numpy, ("float32", "float64"), "float64", device=dev
    )


def _torch() -> Backend:
    import torch

    def asarray(a: Any, dtype: str | None = None) -> Any:
        a = np.asarray(a, dtype=dtype if dtype != "bfloat16" else "float32")
        t = torch.asarray(a.copy())
        return t.to(torch.bfloat16) if dtype == "bfloat16" else t

    def to_numpy(a: Any) -> np.ndarray:
        a = a.detach()
        return (a.float() if a.dtype == torch.bfloat16 else a).numpy()

    return Backend(
        "torch",
        torch,
        asarray,
        to_numpy,
        ("bfloat16", "float16", "float32", "float64"),
        "float32",
        device=torch.device("cpu"),
    )


def _jax() -> Backend:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def asarray(a: Any, dtype: str | None = None) -> Any:
        a = np.asarray(a, dtype=dtype if dtype != "bfloat16" else "float32")
        return jnp.asarray(a, dtype=jnp.bfloat16 if dtype == "bfloat16" else None)

    def to_numpy(a: Any) -> np.ndarray:
        return np.asarray(a.astype(jnp.float32) if a.dtype == jnp.bfloat16 else a)

    return Backend(
        "jax", jnp, asarray, to_numpy, ("bfloat16", "float16", "float32", "float64"), "float64"
    )


def _dask() -> Backend:
    import dask
    import dask.array as da

    dask.config.set(scheduler="synchronous")

    def asarray(a: Any, dtype: str | None = None) -> Any:
        a = np.asarray(a, dtype=dtype)
        # Two chunks along the first axis where possible: reductions must span chunks.
        chunks = tuple(max(1, (n + 1) // 2) if i == 0 else n for i, n in enumerate(a.shape))
        return da.from_array(a, chunks=chunks or ())

    def to_numpy(a: Any) -> np.ndarray:
        return np.asarray(a.compute())

    return Backend("dask", da, asarray, to_numpy, ("float32", "float64"), "float64", lazy=True)


BACKENDS = {
    "numpy": _numpy,
    "array_api_strict": _strict,
    "torch": _torch,
    "jax": _jax,
    "dask": _dask,
}


@pytest.fixture(params=list(BACKENDS), scope="session")
def xp(request: pytest.FixtureRequest) -> Backend:
    """Every public function runs on every backend through this fixture."""
    return BACKENDS[request.param]()


@pytest.fixture(scope="session")
def torch_backend() -> Backend:
    return _torch()


@pytest.fixture(scope="session")
def jax_backend() -> Backend:
    return _jax()
