"""Types of the compiled core (_core.c)."""

from typing import Any

def rows(kind: int, x: Any, out: Any, flags: Any, temperature: float, /) -> int: ...
def ce(
    x: Any,
    target: Any,
    factor: Any,
    weights: Any,
    eps: float,
    temperature: float,
    loss: Any,
    grad: Any,
    flags: Any,
    transposed: bool = ...,
    /,
) -> int: ...
def isa(name: str | None = ..., /) -> str: ...
def tame(on: bool | None = ..., /) -> bool: ...
