"""The six results behind softmaxkit, as machine-checked derivations.

1. Shift invariance: ``softmax(x + C) = softmax(x)``.
2. Two-class softmax is the sigmoid of the logit difference.
3. The softmax Jacobian is ``diag(s) - s s^T``.
4. The iterative and vectorized Jacobians agree.
5. Softmax followed by cross-entropy has gradient ``y_hat - y``.
6. Cross-entropy = entropy + KL (and KL >= 0, not symmetric, nats vs bits).

Each :class:`Result` has a LaTeX ``statement``, its derivation as ``steps`` (one
LaTeX equality a step, as a student would write it), and :meth:`Result.check`,
which proves every step with SymPy for a general number of classes K (from
named lemmas, :data:`LEMMAS`, each proven on its own, and named assumptions;
only the two-class result and a worked K = 4 example are written for a fixed K)
and compares the result numerically with the library's own functions. In
Jupyter a result, a check and the :class:`Report` of :func:`verify_all` render
as Markdown with the mathematics typeset.

Needs SymPy: ``pip install "softmaxkit[theory]"``. ``python -m softmaxkit.theory``
prints the report and exits non-zero if any check fails.

Examples
--------
>>> from softmaxkit.theory import get
>>> shift = get("shift_invariance")
>>> print(shift.steps[3])
\\frac{e^{C} e^{x_i}}{e^{C} \\sum_{k=1}^{K} e^{x_k}} = \\frac{e^{x_i}}{\\sum_{k=1}^{K} e^{x_k}}
>>> check = shift.check()
>>> check.status, check.modes
('proven', ['general K', 'exact'])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

MISSING_SYMPY = 'softmaxkit.theory needs SymPy: pip install "softmaxkit[theory]"'

try:
    import sympy  # noqa: F401 - checked here so the message says what to install
except ImportError:  # without the extra: every attribute says what to install
    _HAVE_SYMPY = False
else:
    _HAVE_SYMPY = True

if _HAVE_SYMPY or TYPE_CHECKING:
    from ._lemmas import ASSUMPTIONS, LEMMAS, Lemma
    from ._numeric import TrainingComparison, ce_vs_kl_training
    from ._results import all_results
    from ._types import NumericCheck, Report, Result, ResultCheck, StepCheck

    RESULTS: tuple[Result, ...] = all_results()

    def get(name: str) -> Result:
        """The result called ``name`` (e.g. ``"softmax_jacobian"``) or numbered ``name``."""
        for result in RESULTS:
            if name in (result.name, str(result.number)):
                return result
        names = ", ".join(r.name for r in RESULTS)
        raise ValueError(f"expected one of {names}, got {name!r}")

    def verify_all(
        *, numeric: bool = True, progress: Callable[[int, int, str], None] | None = None
    ) -> Report:
        """Check all six results; returns one :class:`ResultCheck` per result, in order,
        as a :class:`Report` (a list that renders in Jupyter).
        ``progress(i, n, title)`` is called before the ``i``-th of ``n`` results."""
        checks = Report()
        for i, result in enumerate(RESULTS, 1):
            if progress is not None:
                progress(i, len(RESULTS), result.title)
            checks.append(result.check(numeric=numeric))
        return checks

else:

    def __getattr__(name: str) -> Any:
        raise ImportError(MISSING_SYMPY)


__all__ = [
    "ASSUMPTIONS",
    "LEMMAS",
    "MISSING_SYMPY",
    "RESULTS",
    "Lemma",
    "NumericCheck",
    "Report",
    "Result",
    "ResultCheck",
    "StepCheck",
    "TrainingComparison",
    "ce_vs_kl_training",
    "get",
    "verify_all",
]
