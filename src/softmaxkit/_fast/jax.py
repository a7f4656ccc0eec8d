"""JAX: the reference implementation compiled once per shape with ``jax.jit``.

Called eagerly, the reference runs one XLA operation at a time; compiled, XLA
fuses its passes. The compiled function is exactly the reference, so the edge
cases are the same. Inside a user's ``jit`` (traced input) the call declines:
the reference is then traced into the user's program and fused there anyway.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax

from . import register


def _compiled(name: str) -> Callable[..., Any]:
    from ..activations import REFERENCES

    reference = REFERENCES[name]

    @functools.lru_cache(maxsize=64)
    def build(option: Any, has_mask: bool) -> Callable[..., Any]:
        from .._array import namespace

        def run(x: Any, mask: Any, axes: tuple[int, ...]) -> Any:
            xp = namespace(("x", x))
            return reference(xp, x, axes, option, mask if has_mask else None)

        return jax.jit(run, static_argnums=(2,))

    def call(x: Any, *, axes: tuple[int, ...], option: Any, where: Any) -> Any:
        if isinstance(x, jax.core.Tracer) or (
            where is not None and isinstance(where, jax.core.Tracer)
        ):
            return NotImplemented
        fn = build(option, where is not None)
        return fn(x, where, axes)

    return call


_softmax = _compiled("softmax")
_log_softmax = _compiled("log_softmax")
_logsumexp = _compiled("logsumexp")


@register("softmax", "jax")
def softmax(x: Any, *, axes: tuple[int, ...], temperature: float, where: Any) -> Any:
    return _softmax(x, axes=axes, option=temperature, where=where)


@register("log_softmax", "jax")
def log_softmax(x: Any, *, axes: tuple[int, ...], temperature: float, where: Any) -> Any:
    return _log_softmax(x, axes=axes, option=temperature, where=where)


@register("logsumexp", "jax")
def logsumexp(x: Any, *, axes: tuple[int, ...], keepdims: bool, where: Any) -> Any:
    return _logsumexp(x, axes=axes, option=keepdims, where=where)
