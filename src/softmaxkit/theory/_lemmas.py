"""The lemmas the general-K proofs lean on, each stated and proven on its own.

A derivation step about a general number of classes K uses facts about sums
and derivatives that ordinary algebra does not know: the derivative of a sum,
the partial derivative of ``e^{x_k}``, the sifting property of the Kronecker
delta. Each is a :class:`Lemma` here, with its statement and a SymPy proof
that does not use the lemma itself:

* the sum facts by induction on the number of terms (the base case evaluated,
  the inductive step reduced to algebra with the n-term sum as an opaque
  symbol that satisfies the hypothesis);
* the calculus rules on undefined functions ``u(v)``, ``w(v)`` (SymPy's
  differentiation of a single variable);
* the coordinate rule ``∂x_k/∂x_j = δ_kj`` as SymPy's own rule for indexed
  symbols, checked in both cases (k = j and k = j + d, d ≠ 0).

The proof engine (:mod:`._rewrite`) applies each lemma as a rewrite rule and
records which it used; a step that cites a lemma whose proof fails is not proven.

Examples
--------
>>> LEMMAS["sifting"].check()
True
>>> LEMMAS["sifting"].latex
'\\\\sum_{k=1}^{K} \\\\delta_{kj} f_k = f_j \\\\quad (1 \\\\le j \\\\le K)'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import sympy as sp

# symbols private to the proofs (the derivations' own symbols live in _engine)
_n = sp.Symbol("n", integer=True, positive=True)  # the induction variable
_e0 = sp.Symbol("e", integer=True, nonnegative=True)
_e1 = sp.Symbol("e", integer=True, positive=True)
_r = sp.Symbol("r", integer=True, positive=True)  # a summation index
_jj = sp.Symbol("j", integer=True, positive=True)
_kk = sp.Symbol("k", integer=True, positive=True)
_dd = sp.Symbol("d", integer=True, nonzero=True)
_v = sp.Symbol("v", real=True)
_c = sp.Symbol("c", real=True)
_f = sp.Function("f")
_g = sp.Function("g")
_u = sp.Function("u")
_w = sp.Function("w")
_A, _B, _H = sp.symbols("A B H")  # n-term sums, opaque in an inductive step
_xb = sp.IndexedBase("x", real=True)
_pb = sp.IndexedBase("p", positive=True)
_qb = sp.IndexedBase("q", positive=True)


@dataclass(frozen=True)
class Lemma:
    """A named rule with its statement (LaTeX), how it is proven, and the proof.

    ``proof`` returns True when SymPy establishes the statement; it is run once
    per process (:meth:`check` caches it)."""

    name: str
    title: str
    latex: str
    how: str
    proof: Callable[[], bool]

    def check(self) -> bool:
        """Whether the proof holds (any SymPy failure counts as not proven)."""
        return _run(self.proof)


@cache
def _run(proof: Callable[[], bool]) -> bool:
    try:
        return bool(proof())
    except Exception:  # any SymPy failure means "not proven"
        return False


def _zero(expr: Any) -> bool:
    return bool(sp.simplify(expr) == 0)


def _peel(total: sp.Sum) -> Any:
    """``sum_{r=1}^{n+1} f_r`` as ``sum_{r=1}^{n} f_r + f_{n+1}``: the definition of a sum."""
    (index, low, high), body = total.limits[0], total.function
    return sp.Sum(body, (index, low, high - 1)) + body.subs(index, high)


# --------------------------------------------------------------------------------------
# sums (induction on the number of terms)


def _derivative_of_sum() -> bool:
    term = _f(_r, _v)
    base = (
        sp.diff(sp.Sum(term, (_r, 1, 1)).doit(), _v) - sp.Sum(sp.diff(term, _v), (_r, 1, 1)).doit()
    )
    # step: F(v) is the n-term sum, G the n-term sum of derivatives, F' = G (hypothesis)
    F = sp.Function("F")
    peeled = _peel(sp.Sum(term, (_r, 1, _n + 1))).subs(sp.Sum(term, (_r, 1, _n)), F(_v))
    lhs = sp.diff(peeled, _v).subs(sp.Derivative(F(_v), _v), _A)
    rhs = _peel(sp.Sum(sp.diff(term, _v), (_r, 1, _n + 1))).subs(
        sp.Sum(sp.diff(term, _v), (_r, 1, _n)), _A
    )
    return _zero(base) and _zero(lhs - rhs)


def _linearity_of_sum() -> bool:
    a, b = _f(_r), _g(_r)
    ok = True
    # sum (a + b) = sum a + sum b; sum c a = c sum a; sum c = K c
    claims: list[tuple[Any, Callable[[Any], Any]]] = [
        (a + b, lambda n: sp.Sum(a, (_r, 1, n)) + sp.Sum(b, (_r, 1, n))),
        (_c * a, lambda n: _c * sp.Sum(a, (_r, 1, n))),
        (_c, lambda n: n * _c),
    ]
    for summand, right in claims:
        base = sp.Sum(summand, (_r, 1, 1)).doit() - right(1).doit()
        # hypothesis: the n-term left side H equals right(n); show it for n + 1
        left_step = _peel(sp.Sum(summand, (_r, 1, _n + 1))).subs(sp.Sum(summand, (_r, 1, _n)), _H)
        right_step = right(_n + 1)
        right_step = right_step.replace(lambda e: isinstance(e, sp.Sum), _peel)
        right_step = right_step.subs({sp.Sum(a, (_r, 1, _n)): _A, sp.Sum(b, (_r, 1, _n)): _B})
        hypothesis = right(_n).subs({sp.Sum(a, (_r, 1, _n)): _A, sp.Sum(b, (_r, 1, _n)): _B})
        ok = ok and _zero(base) and _zero(left_step.subs(_H, hypothesis) - right_step)
    return ok


def _delta_summand(j: Any) -> Any:
    """The summand ``delta_{rj} f_r`` of the sifting lemmas."""
    return sp.KroneckerDelta(_r, j) * _f(_r)


def _sifting_above() -> bool:
    """sum_{r=1}^{n} delta_{rj} f_r = 0 for j > n, by induction on n."""
    base = sp.Sum(_delta_summand(1 + _e1), (_r, 1, 1)).doit()  # j = 1 + e > 1
    # step: j > n + 1, j = n + 1 + e; the n-term sum is 0 by the hypothesis (j > n)
    j = _n + 1 + _e1
    step = _peel(sp.Sum(_delta_summand(j), (_r, 1, _n + 1))).subs(
        sp.Sum(_delta_summand(j), (_r, 1, _n)), 0
    )
    return _zero(base) and _zero(step)


def make_sifting_proof(value: Callable[[Any, Any], Any]) -> Callable[[], bool]:
    """The proof that ``sum_{r=1}^{n} delta_{rj} f_r = value(f, j)`` for 1 <= j <= n,
    by induction on n (a mutated ``value`` makes a failing proof)."""

    def proof() -> bool:
        base = sp.Sum(_delta_summand(1), (_r, 1, 1)).doit() - value(_f, 1)
        # step, j <= n (j = n - e): the hypothesis gives f_j for the first n terms
        j = _n - _e0
        below = _peel(sp.Sum(_delta_summand(j), (_r, 1, _n + 1))).subs(
            sp.Sum(_delta_summand(j), (_r, 1, _n)), value(_f, j)
        ) - value(_f, j)
        # step, j = n + 1: the first n terms give 0 (the lemma above, j > n)
        top = _peel(sp.Sum(_delta_summand(_n + 1), (_r, 1, _n + 1))).subs(
            sp.Sum(_delta_summand(_n + 1), (_r, 1, _n)), 0
        ) - value(_f, _n + 1)
        return _sifting_above() and _zero(base) and _zero(below) and _zero(top)

    return proof


# --------------------------------------------------------------------------------------
# calculus in one variable (undefined functions u(v), w(v))


def _linearity_of_derivative() -> bool:
    return _zero(
        sp.diff(_u(_v) + _w(_v), _v) - sp.diff(_u(_v), _v) - sp.diff(_w(_v), _v)
    ) and _zero(sp.diff(_c * _u(_v), _v) - _c * sp.diff(_u(_v), _v))


def _product_rule() -> bool:
    u, w = _u(_v), _w(_v)
    return _zero(sp.diff(u * w, _v) - (sp.diff(u, _v) * w + u * sp.diff(w, _v)))


def make_quotient_proof(rule: Callable[[Any, Any, Any, Any], Any]) -> Callable[[], bool]:
    """The proof that ``d(u/w) = rule(u, u', w, w')`` (a mutated rule fails)."""

    def proof() -> bool:
        u, w = _u(_v), _w(_v)
        return _zero(sp.diff(u / w, _v) - rule(u, sp.diff(u, _v), w, sp.diff(w, _v)))

    return proof


def quotient(u: Any, du: Any, w: Any, dw: Any) -> Any:
    """``(u' w - u w') / w^2``."""
    return (du * w - u * dw) / w**2


def _power_rule() -> bool:
    a = sp.Symbol("a", real=True)
    u = _u(_v)
    return _zero(sp.diff(u**a, _v) - a * u ** (a - 1) * sp.diff(u, _v))


def _chain_rule_exp() -> bool:
    u = _u(_v)
    return _zero(sp.diff(sp.exp(u), _v) - sp.exp(u) * sp.diff(u, _v))


def _chain_rule_log() -> bool:
    u = _u(_v)
    return _zero(sp.diff(sp.log(u), _v) - sp.diff(u, _v) / u)


def _coordinates() -> bool:
    same = sp.diff(_xb[_kk], _xb[_jj])
    return bool(
        same == sp.KroneckerDelta(_kk, _jj)
        and same.subs(_kk, _jj) == 1
        and same.subs(_kk, _jj + _dd) == 0
        and sp.diff(_pb[_kk], _qb[_jj]) == 0
        and sp.diff(_c, _xb[_jj]) == 0
    )


def _exp_partial() -> bool:
    # chain rule for exp (its own lemma) with the coordinate rule: both cases
    derivative = sp.exp(_xb[_kk]) * sp.diff(_xb[_kk], _xb[_jj])
    claim = sp.KroneckerDelta(_kk, _jj) * sp.exp(_xb[_kk])
    return (
        _zero(derivative - claim)
        and _zero(claim.subs(_kk, _jj) - sp.exp(_xb[_jj]))
        and claim.subs(_kk, _jj + _dd) == 0
    )


LEMMAS: dict[str, Lemma] = {
    lemma.name: lemma
    for lemma in (
        Lemma(
            "derivative_of_sum",
            "the derivative of a sum is the sum of the derivatives",
            r"\frac{\partial}{\partial v} \sum_{k=1}^{K} f_k = \sum_{k=1}^{K} "
            r"\frac{\partial f_k}{\partial v}",
            "induction on K: K = 1 evaluated; K -> K + 1 by linearity of the derivative",
            _derivative_of_sum,
        ),
        Lemma(
            "exp_partial",
            "the partial derivative of an exponential of one logit",
            r"\frac{\partial e^{x_k}}{\partial x_j} = \delta_{kj} e^{x_k}",
            "the chain rule for exp with the coordinate rule; both cases k = j and k != j",
            _exp_partial,
        ),
        Lemma(
            "sifting",
            "the Kronecker delta picks one term of a sum",
            r"\sum_{k=1}^{K} \delta_{kj} f_k = f_j \quad (1 \le j \le K)",
            "induction on K, cases j <= K and j = K + 1, with the sum being 0 for j > K "
            "(itself by induction)",
            make_sifting_proof(lambda f, j: f(j)),
        ),
        Lemma(
            "linearity_of_sum",
            "sums are linear",
            r"\sum_{k=1}^{K} (a_k + b_k) = \sum_{k=1}^{K} a_k + \sum_{k=1}^{K} b_k, \;"
            r"\sum_{k=1}^{K} c\, a_k = c \sum_{k=1}^{K} a_k, \; \sum_{k=1}^{K} c = K c",
            "induction on K for each of the three",
            _linearity_of_sum,
        ),
        Lemma(
            "coordinates",
            "the logits are independent variables",
            r"\frac{\partial x_k}{\partial x_j} = \delta_{kj}, \quad "
            r"\frac{\partial p_k}{\partial q_j} = 0, \quad \frac{\partial c}{\partial x_j} = 0",
            "SymPy's rule for indexed symbols, in both cases k = j and k != j",
            _coordinates,
        ),
        Lemma(
            "linearity_of_derivative",
            "the derivative is linear",
            r"(u + w)' = u' + w', \quad (c u)' = c u'",
            "SymPy's differentiation of undefined functions",
            _linearity_of_derivative,
        ),
        Lemma(
            "product_rule",
            "the product rule",
            r"(u w)' = u' w + u w'",
            "SymPy's differentiation of undefined functions",
            _product_rule,
        ),
        Lemma(
            "quotient_rule",
            "the quotient rule",
            r"\left(\frac{u}{w}\right)' = \frac{u' w - u w'}{w^2}",
            "SymPy's differentiation of undefined functions",
            make_quotient_proof(quotient),
        ),
        Lemma(
            "power_rule",
            "the power rule",
            r"(u^a)' = a u^{a - 1} u'",
            "SymPy's differentiation of undefined functions",
            _power_rule,
        ),
        Lemma(
            "chain_rule_exp",
            "the chain rule for exp",
            r"\left(e^{u}\right)' = e^{u} u'",
            "SymPy's differentiation of undefined functions",
            _chain_rule_exp,
        ),
        Lemma(
            "chain_rule_log",
            "the chain rule for log",
            r"(\log u)' = \frac{u'}{u}",
            "SymPy's differentiation of undefined functions",
            _chain_rule_log,
        ),
    )
}

# Assumptions a step may name: (the assumption in LaTeX, what it means). Unlike
# lemmas they are not proven: they are the hypotheses of a result (a target
# distribution, an index in range) or the cases of a case split.
ASSUMPTIONS: dict[str, tuple[str, str]] = {
    "1 <= i <= K": (r"1 \le i \le K", "i is a class index"),
    "1 <= j <= K": (r"1 \le j \le K", "j is a class index"),
    "i = j": (r"i = j", "the diagonal case"),
    "i != j": (r"i \ne j", "the off-diagonal case, written j = i + d with an integer d != 0"),
    "sum y = 1": (r"\sum_k y_k = 1", "y is a distribution (one-hot, smoothed or soft)"),
    "sum p = 1": (r"\sum_k p_k = 1", "P is a distribution"),
    "sum q = 1": (r"\sum_k q_k = 1", "Q is a distribution"),
}
