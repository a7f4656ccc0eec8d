"""``python -m softmaxkit``: a short demonstration of the six softmax results.

It prints the seed example (softmax of [5, 7, 8], its Jacobian built both ways)
and one line per result, each checked numerically with the library itself.
"""

from __future__ import annotations

import sys

import numpy as np

from . import (
    __version__,
    cross_entropy,
    entropy,
    kl_divergence,
    log_softmax,
    sigmoid,
    softmax,
    softmax_cross_entropy_grad,
    softmax_jacobian,
    softmax_jacobian_iterative,
)


def _row(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{v: .8f}" for v in values) + "]"


def main() -> int:
    out = sys.stdout.write
    x = np.array([5.0, 7.0, 8.0])
    s = softmax(x)
    J = softmax_jacobian(s)
    J_loop = softmax_jacobian_iterative(s)
    out(f"softmaxkit {__version__}\n\n")
    out(f"x                = {_row(x)}\n")
    out(f"softmax(x)       = {_row(s)}\n\n")
    out("Jacobian diag(s) - s s^T (vectorized)    | two-loop construction\n")
    for row, row_loop in zip(J, J_loop, strict=True):
        out(f"  {_row(row)} | {_row(row_loop)}\n")
    out("\nThe six results, checked numerically:\n")
    checks = []
    shift = float(np.max(np.abs(softmax(x + 1000.0) - s)))
    checks.append(("1 shift invariance: max|softmax(x+1000) - softmax(x)|", shift))
    z0, z1 = 0.3, 2.0
    two = float(abs(softmax(np.array([z0, z1]))[1] - sigmoid(np.array(z1 - z0))))
    checks.append(("2 two-class softmax = sigmoid(z1 - z0): |difference|", two))
    manual = np.diag(s) - np.outer(s, s)
    checks.append(("3 J = diag(s) - s s^T: max|difference|", float(np.max(np.abs(J - manual)))))
    checks.append(("4 iterative == vectorized: max|difference|", float(np.max(np.abs(J - J_loop)))))
    y = np.array([0.1, 0.2, 0.7])
    grad = softmax_cross_entropy_grad(x[None, :], y[None, :])[0]
    checks.append(
        ("5 d CE / d z = y_hat - y: max|difference|", float(np.max(np.abs(grad - (s - y)))))
    )
    q = softmax(x)
    gap = float(abs(cross_entropy(y, q) - (entropy(y) + kl_divergence(y, q))))
    checks.append(("6 H(P, Q) = H(P) + KL(P || Q): |difference|", gap))
    for label, err in checks:
        out(f"  {label:<58} {err:.1e}\n")
    out(f"\nlog_softmax([1000, 1]) = {log_softmax(np.array([1000.0, 1.0]))}  (no -inf)\n")
    return 0 if all(err < 1e-12 for _, err in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
