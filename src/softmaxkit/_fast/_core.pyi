"""Types of the compiled core (_core.c)."""

from typing import Any

def rows(kind: int, x: Any, out: Any, flags: Any, temperature: float, /) -> int: ...
