"""General-K rewriting: derivatives and sums evaluated only by named lemmas.

A step ``a = b`` about K classes is proven for every K by bringing both sides to
a normal form and letting SymPy's algebra decide that their difference is 0.
Only the rewrites here know anything about sums and derivatives, and each one
records the lemma (:mod:`._lemmas`) or assumption it used:

* every ``Derivative`` is evaluated by :func:`differentiate`, one calculus rule
  (a lemma) per node: linearity, the product, quotient and power rules, the
  chain rule for exp and log, the derivative of a sum, ``∂e^{x_k}/∂x_j =
  δ_kj e^{x_k}`` and the coordinate rule;
* every ``Sum`` is normalised by :func:`normalise_sums`: its terms expanded
  (algebra on one term), split and constant factors taken out (linearity of
  sums), a Kronecker delta on the summation index sifted out (only under the
  named assumption ``1 <= j <= K``), ``sum_k y_k`` replaced by 1 (only under
  ``sum y = 1``); what remains becomes an opaque function of its free indices,
  so that the algebra that follows cannot use any property of sums that is not
  a lemma. SymPy's own evaluation of sums (``doit``), which would pick the
  branch of a ``Piecewise`` silently, is never called.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

_KAPPA = sp.Symbol("kappa", integer=True, positive=True)  # the canonical summation index


@dataclass
class Trace:
    """The lemmas and assumptions one proof used, in order of first use."""

    lemmas: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)

    def lemma(self, name: str) -> None:
        if name not in self.lemmas:
            self.lemmas.append(name)

    def assumption(self, name: str) -> None:
        if name not in self.assumptions:
            self.assumptions.append(name)


class NotDifferentiableError(ValueError):
    """An expression the lemma-based differentiation has no rule for."""


# --------------------------------------------------------------------------------------
# derivatives


def _depends(expr: Any, var: Any) -> bool:
    """Whether ``expr`` can depend on the indexed variable ``var`` (same base)."""
    if not isinstance(var, sp.Indexed):
        raise NotDifferentiableError(f"derivatives are taken in indexed variables, got {var}")
    return any(
        isinstance(atom, sp.Indexed) and atom.base == var.base for atom in expr.atoms(sp.Indexed)
    )


def differentiate(expr: Any, var: Any, trace: Trace) -> Any:
    """``∂ expr / ∂ var`` for an indexed ``var`` such as ``x[j]``, by the lemmas."""
    if not _depends(expr, var):
        trace.lemma("coordinates")  # a constant, or another variable: derivative 0
        return sp.Integer(0)
    if isinstance(expr, sp.Indexed):
        trace.lemma("coordinates")
        return sp.KroneckerDelta(expr.indices[0], var.indices[0])
    if isinstance(expr, sp.Add):
        trace.lemma("linearity_of_derivative")
        return sp.Add(*(differentiate(term, var, trace) for term in expr.args))
    if isinstance(expr, sp.Mul):
        return _differentiate_product(expr, var, trace)
    if isinstance(expr, sp.Pow):
        base, exponent = expr.args
        if _depends(exponent, var):
            raise NotDifferentiableError(f"no rule for a variable exponent: {expr}")
        trace.lemma("power_rule")
        return exponent * base ** (exponent - 1) * differentiate(base, var, trace)
    if isinstance(expr, sp.exp):
        (arg,) = expr.args
        if isinstance(arg, sp.Indexed) and arg.base == var.base:
            trace.lemma("exp_partial")
            return sp.KroneckerDelta(arg.indices[0], var.indices[0]) * expr
        trace.lemma("chain_rule_exp")
        return expr * differentiate(arg, var, trace)
    if isinstance(expr, sp.log):
        (arg,) = expr.args
        trace.lemma("chain_rule_log")
        return differentiate(arg, var, trace) / arg
    if isinstance(expr, sp.Sum):
        (index, low, high) = expr.limits[0]
        if len(expr.limits) != 1 or index in var.free_symbols:
            raise NotDifferentiableError(f"no rule for this sum: {expr}")
        trace.lemma("derivative_of_sum")
        return sp.Sum(differentiate(expr.function, var, trace), (index, low, high))
    if isinstance(expr, sp.Derivative):
        return differentiate(evaluate_derivatives(expr, trace), var, trace)
    raise NotDifferentiableError(f"no rule for {type(expr).__name__}: {expr}")


def _differentiate_product(expr: Any, var: Any, trace: Trace) -> Any:
    factors = expr.args
    varying = [f for f in factors if _depends(f, var)]
    constant = sp.Mul(*(f for f in factors if not _depends(f, var)))
    if constant != 1:
        trace.lemma("linearity_of_derivative")
    if len(varying) == 1:
        return constant * differentiate(varying[0], var, trace)
    denominators = [
        f for f in varying if isinstance(f, sp.Pow) and f.exp.is_negative and f.exp.is_number
    ]
    if denominators:
        # u / w with w the product of the denominators: the quotient rule
        w = sp.Mul(*(f.base ** (-f.exp) for f in denominators))
        u = sp.Mul(*(f for f in varying if f not in denominators))
        trace.lemma("quotient_rule")
        du, dw = differentiate(u, var, trace), differentiate(w, var, trace)
        return constant * (du * w - u * dw) / w**2
    trace.lemma("product_rule")
    total = sp.Integer(0)
    for n, factor in enumerate(varying):
        others = sp.Mul(*(f for m, f in enumerate(varying) if m != n))
        total += differentiate(factor, var, trace) * others
    return constant * total


def evaluate_derivatives(expr: Any, trace: Trace) -> Any:
    """Every ``Derivative(e, v)`` in ``expr`` evaluated by :func:`differentiate`."""

    def one(node: Any) -> Any:
        if len(node.variable_count) != 1 or node.variable_count[0][1] != 1:
            raise NotDifferentiableError(f"only first derivatives: {node}")
        return differentiate(node.expr, node.variables[0], trace)

    return expr.replace(lambda e: isinstance(e, sp.Derivative), one)


# --------------------------------------------------------------------------------------
# sums


@dataclass
class SumAtoms:
    """Opaque stand-ins for normalised sums: one undefined function per sum shape,
    applied to the sum's free indices (so that a sum that depends on an outer
    summation index still does, and substituting an index works)."""

    K: Any
    shapes: dict[Any, Any] = field(default_factory=dict)

    def atom(self, body: Any, index: Any) -> Any:
        body = body.subs(index, _KAPPA)
        free = sorted(
            (s for s in body.free_symbols if s.is_integer and s not in (_KAPPA, self.K)),
            key=str,
        )
        slots = [sp.Symbol(f"slot{n}", integer=True) for n in range(len(free))]
        shape = body.subs(dict(zip(free, slots, strict=True)), simultaneous=True)
        function = self.shapes.get(shape)
        if function is None:
            function = sp.Function(f"Sigma{len(self.shapes)}")
            self.shapes[shape] = function
        return function(*free) if free else function(self.K)


_DISTRIBUTIONS = {"sum y": "y", "sum p": "p", "sum q": "q"}


def _is_distribution_sum(term: Any, index: Any, assume: Sequence[str]) -> str | None:
    if not (isinstance(term, sp.Indexed) and term.indices[0] == index):
        return None
    name = f"sum {term.base.label} = 1"
    return name if name in assume else None


def _range_assumption(index_value: Any, assume: Sequence[str]) -> str | None:
    name = f"1 <= {index_value} <= K"
    return name if name in assume else None


def _sum_term(
    term: Any, index: Any, K: Any, assume: Sequence[str], atoms: SumAtoms, trace: Trace
) -> Any:
    """``sum_{index=1}^{K} term`` for one product term, by the lemmas."""
    factors = sp.Mul.make_args(term)
    outside = sp.Mul(*(f for f in factors if index not in f.free_symbols))
    inside = sp.Mul(*(f for f in factors if index in f.free_symbols))
    if outside != 1:
        trace.lemma("linearity_of_sum")
    if inside == 1:  # sum of a constant
        trace.lemma("linearity_of_sum")
        return outside * K
    for factor in sp.Mul.make_args(inside):
        if isinstance(factor, sp.KroneckerDelta) and index in factor.args:
            other = factor.args[0] if factor.args[1] == index else factor.args[1]
            name = _range_assumption(other, assume)
            if index in other.free_symbols or name is None:
                continue  # no index condition given: the delta stays inside the sum
            trace.lemma("sifting")
            trace.assumption(name)
            rest = inside / factor
            return outside * rest.subs(index, other)
    name = _is_distribution_sum(inside, index, assume)
    if name is not None:
        trace.assumption(name)
        return outside
    return outside * atoms.atom(inside, index)


def normalise_sums(expr: Any, K: Any, assume: Sequence[str], atoms: SumAtoms, trace: Trace) -> Any:
    """Every ``Sum`` over ``1..K`` in ``expr`` normalised, innermost first."""
    if not expr.has(sp.Sum):
        return expr
    if isinstance(expr, sp.Sum):
        if len(expr.limits) != 1:
            raise ValueError(f"one summation index at a time: {expr}")
        index, low, high = expr.limits[0]
        if low != 1 or high != K:
            raise ValueError(f"sums run over the classes 1..K: {expr}")
        body = normalise_sums(expr.function, K, assume, atoms, trace)
        terms = sp.Add.make_args(sp.expand(body, power_exp=True, log=True))
        if len(terms) > 1:
            trace.lemma("linearity_of_sum")
        return sp.Add(*(_sum_term(t, index, K, assume, atoms, trace) for t in terms if t != 0))
    return expr.func(*(normalise_sums(a, K, assume, atoms, trace) for a in expr.args))
