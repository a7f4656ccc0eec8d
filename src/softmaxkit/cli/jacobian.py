"""``softmaxkit jacobian``: softmax of some logits and its Jacobian, computed both ways."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

import numpy as np

from ._errors import UsageError

HELP = "print softmax(LOGITS) and its Jacobian, iterative and vectorized side by side"
EPILOG = """examples:
  softmaxkit jacobian 5 7 8
  softmaxkit jacobian --precision 4 -- 1000 1001 -3
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "jacobian",
        allow_abbrev=False,  # --c must not silently mean --calibrate
        help=HELP,
        description=HELP,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("logits", nargs="+", help="the logits (numbers)")
    p.add_argument("--precision", type=int, default=8, help="decimals (default 8)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .. import softmax, softmax_jacobian, softmax_jacobian_iterative

    values = []
    for text in args.logits:
        try:
            v = float(text)
        except ValueError:
            raise UsageError(f"expected numbers as logits, got {text!r}") from None
        if math.isnan(v):
            raise UsageError("expected numbers as logits, got nan")
        values.append(v)
    if not 0 <= args.precision <= 17:
        raise UsageError(f"--precision must be between 0 and 17, got {args.precision}")
    x = np.array(values)
    s = softmax(x)
    J = softmax_jacobian(s)
    J_loop = softmax_jacobian_iterative(s)
    d = args.precision
    width = d + 4

    def row(v: np.ndarray) -> str:
        return " ".join(f"{e:>{width}.{d}f}" for e in v)

    out = sys.stdout.write
    out(f"logits      {row(x)}\n")
    out(f"softmax     {row(s)}\n\n")
    left = "vectorized: diag(s) - s s^T"
    out(f"{left:<{len(row(s))}}   iterative: two loops\n")
    for a, b in zip(J, J_loop, strict=True):
        out(f"{row(a)}   {row(b)}\n")
    out(f"\nmax |vectorized - iterative| = {float(np.max(np.abs(J - J_loop))):.1e}\n")
    return 0
