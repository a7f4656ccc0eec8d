"""The proof engine: derivations as chains of SymPy expressions, checked link by link.

A derivation is a chain ``E0 = E1 = ... = En`` (a link may also be ``<=``).
Each link is checked on its own, so a wrong middle step fails even when the
first and last lines are right. A link of a chain about K classes is proven
for a general K, with ``K``, the class indices and the sums symbolic
(``Indexed``, ``Sum``, ``KroneckerDelta``): both sides are brought to a normal
form by :mod:`._rewrite`, where derivatives and sums are evaluated only by the
named lemmas of :mod:`._lemmas` (each proven on its own), and SymPy's algebra
must reduce the difference to 0 with every remaining sum opaque. There is no
fallback to particular values of K: a link that does not reduce is not proven.
A chain written for a fixed number of classes (the two-class result, the
worked K = 4 example) is checked at that K with the sums written out.

A proof reported by SymPy is never taken alone: every link is also evaluated
at random points in 30-digit arithmetic (with SymPy's own differentiation and
summation at K = 3, independent of the lemmas), and a link whose sides differ
there fails whatever SymPy said.

Assumptions are named, applied only where a link or chain names them, and
recorded where used (:data:`._lemmas.ASSUMPTIONS`): ``"i = j"`` and
``"i != j"`` (cases, the second written as ``j = i + d`` with an integer
``d != 0``), ``"sum y = 1"`` (a target distribution), and the index range
``"1 <= j <= K"``, without which the Kronecker delta of a sum is not sifted.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from ._lemmas import LEMMAS
from ._rewrite import NotDifferentiableError, SumAtoms, Trace, evaluate_derivatives, normalise_sums

# --------------------------------------------------------------------------------------
# the symbols every derivation shares

K = sp.Symbol("K", integer=True, positive=True)
i, j, k, m = sp.symbols("i j k m", integer=True, positive=True)
d = sp.Symbol("d", integer=True, nonzero=True)  # j = i + d encodes the case i != j
C = sp.Symbol("C", real=True)
x = sp.IndexedBase("x", real=True)
z = sp.IndexedBase("z", real=True)
y = sp.IndexedBase("y", positive=True)
p = sp.IndexedBase("p", positive=True)
q = sp.IndexedBase("q", positive=True)
s = sp.IndexedBase("s", positive=True)  # s_m stands for softmax(x)_m (see `definitions`)
t = sp.Symbol("t", positive=True)

INDEX_SYMBOLS = (i, j, k, m)


def sum_k(expr: Any, index: Any = k) -> Any:
    """``Sum(expr, (index, 1, K))``: the sum over all classes."""
    return sp.Sum(expr, (index, 1, K))


def softmax_x(index: Any, logits: Any = x) -> Any:
    """``exp(x_index) / sum_k exp(x_k)`` as a SymPy expression."""
    return sp.exp(logits[index]) / sum_k(sp.exp(logits[k]))


def expand_softmax(expr: Any, logits: Any = x) -> Any:
    """Replace every ``s_m`` by its definition ``softmax(logits)_m``."""
    return expr.replace(
        lambda e: isinstance(e, sp.Indexed) and e.base == s,
        lambda e: softmax_x(e.indices[0], logits),
    )


# --------------------------------------------------------------------------------------
# data


@dataclass(frozen=True)
class Link:
    """One step of a derivation: ``<previous line> relation expr``, with a reason."""

    latex: str
    expr: Any
    why: str
    relation: str = "="  # "=" or "<="
    # For "<=": rhs - lhs must equal this witness, whose sign a lemma settles.
    witness: Any = None
    witness_reason: str = ""
    assume: tuple[str, ...] = ()  # assumptions this step alone uses (e.g. "sum y = 1")


@dataclass(frozen=True)
class Chain:
    """A derivation ``start = link_1 = link_2 = ...`` under one set of assumptions."""

    title: str
    start_latex: str
    start: Any
    links: tuple[Link, ...]
    assume: tuple[str, ...] = ()  # named assumptions: "i = j", "1 <= j <= K", "sum y = 1"
    # "general": proven for a symbolic K; "fixed": the lines are written for one
    # number of classes, fixed_k (no K in them).
    scope: str = "general"
    fixed_k: int = 2
    # Extra substitution applied before checking (definitions such as s_m or sigma).
    expand: Callable[[Any], Any] | None = None
    # A case split: every link is proven under each of these assumptions in turn
    # (("i = j", "i != j") covers every pair of class indices).
    cases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Fact:
    """A claim checked exactly by SymPy that is not an equation chain.

    ``check`` returns True when SymPy establishes the claim (an exact value, a sign
    of an expression in positive symbols, a derivative); ``latex`` is the claim.
    """

    latex: str
    check: Callable[[], bool]
    why: str


@dataclass
class LinkResult:
    """The outcome of checking one link."""

    latex: str
    why: str
    relation: str
    proven: bool
    mode: str  # "general K", "K = 2", "K = 4", or "not proven"
    ks: list[int] = field(default_factory=list)
    numeric_max_error: float = 0.0
    detail: str = ""
    lemmas: list[str] = field(default_factory=list)  # the lemmas the proof used
    assumptions: list[str] = field(default_factory=list)  # the assumptions it used

    @property
    def status(self) -> str:
        return "proven" if self.proven else "failed"


def check_fact(fact: Fact) -> LinkResult:
    """Check one :class:`Fact` (exactly, with SymPy, for all values of its symbols)."""
    try:
        proven = bool(fact.check())
        detail = "" if proven else "SymPy does not establish the claim"
    except (TypeError, ValueError, NotImplementedError, RecursionError) as exc:
        proven, detail = False, f"SymPy raised {type(exc).__name__}: {exc}"
    return LinkResult(
        latex=fact.latex,
        why=fact.why,
        relation="fact",
        proven=proven,
        mode="exact" if proven else "not proven",
        detail=detail,
    )


# --------------------------------------------------------------------------------------
# assumptions


def _in_range_branch(expr: Any) -> Any:
    """Under ``1 <= index <= K``, pick the branch of each Piecewise whose condition
    consists only of such range facts (what ``Sum(KroneckerDelta(j, k) f(k), (k, 1, K))``
    produces)."""

    def is_range_fact(cond: Any) -> bool:
        if cond is sp.true:
            return False
        atoms = cond.atoms(sp.core.relational.Relational)
        if not atoms:
            return False
        for rel in atoms:
            lhs, rhs = rel.lhs, rel.rhs
            sides = {lhs, rhs}
            mentions_index = any(a in INDEX_SYMBOLS or a == d for a in rel.free_symbols)
            if not mentions_index:
                return False
            if not (K in sides or sp.Integer(1) in sides):
                return False
        return True

    def pick(pw: Any) -> Any:
        for value, cond in pw.args:
            if is_range_fact(cond):
                return value
        return pw

    return expr.replace(lambda e: isinstance(e, sp.Piecewise), pick)


def _apply_cases(expr: Any, assume: Sequence[str], explicit: bool) -> Any:
    """``i = j`` substitutes j by i. ``i != j`` substitutes j by i + d (d != 0) for a
    general-K proof; with explicit K the pairs i != j are enumerated instead."""
    if "i = j" in assume:
        expr = expr.subs(j, i)
    if "i != j" in assume and not explicit:
        expr = expr.subs(j, i + d)
    return expr


_DISTRIBUTIONS = {"sum y = 1": y, "sum p = 1": p, "sum q = 1": q}


def _sums_are_one(expr: Any, assume: Sequence[str]) -> Any:
    """Under ``sum y = 1`` (or p, q), a sum of that distribution over all classes is 1."""
    for name in assume:
        base = _DISTRIBUTIONS.get(name)
        if base is None:
            continue
        expr = expr.replace(
            lambda e, base=base: (
                isinstance(e, sp.Sum)
                and isinstance(e.function, sp.Indexed)
                and e.function.base == base
                and e.function.indices[0] == e.variables[0]
            ),
            lambda e: sp.Integer(1),
        )
    return expr


def _last_from_the_rest(expr: Any, assume: Sequence[str], n: int) -> Any:
    """With K = n written out, ``sum y = 1`` is used as ``y_n = 1 - y_1 - ... - y_(n-1)``."""
    for name in assume:
        base = _DISTRIBUTIONS.get(name)
        if base is not None:
            expr = expr.subs(base[n], 1 - sum(base[r] for r in range(1, n)))
    return expr


# --------------------------------------------------------------------------------------
# deciding that a difference is zero


def _reduces_to_zero(diff: Any) -> bool:
    """Whether SymPy reduces ``diff`` to 0 by one of a few standard routes."""
    attempts: list[Callable[[Any], Any]] = [
        lambda e: e,
        lambda e: sp.simplify(e),
        # no force=True: log(a b) = log a + log b only where SymPy knows a, b > 0
        lambda e: sp.simplify(sp.expand_log(e)),
        lambda e: sp.simplify(sp.powsimp(sp.expand(e))),
        lambda e: sp.simplify(sp.factor_terms(sp.expand(e))),
    ]
    for attempt in attempts:
        try:
            if attempt(diff) == 0:
                return True
        except Exception:  # any SymPy failure means "not proven this way"
            continue
    return False


def _prepare(expr: Any, chain: Chain, n: int | None) -> Any:
    """Expand definitions, apply the case and the target assumption, evaluate."""
    if chain.expand is not None:
        expr = chain.expand(expr)
    if n is not None:
        expr = expr.subs(K, n)
    expr = _apply_cases(expr, chain.assume, explicit=n is not None)
    expr = _sums_are_one(expr, chain.assume)
    return _in_range_branch(expr.doit())


def _index_assignments(expr: Any, chain: Chain, n: int) -> list[dict[Any, int]]:
    """Every assignment of values 1..n to the free class indices (i != j where assumed)."""
    free = sorted((sym for sym in expr.free_symbols if sym in (i, j, m)), key=str)
    values: list[dict[Any, int]] = [{}]
    for sym in free:
        values = [{**a, sym: v} for a in values for v in range(1, n + 1)]
    if "i != j" in chain.assume and i in free and j in free:
        values = [a for a in values if a[i] != a[j]]
    return values


def _concrete(diff: Any, assignment: dict[Any, int], chain: Chain, n: int) -> Any:
    return _last_from_the_rest(_in_range_branch(diff.subs(assignment).doit()), chain.assume, n)


def _symbolic(expr: Any, chain: Chain, atoms: SumAtoms, trace: Trace) -> Any:
    """One side of a link in the general-K normal form (see :mod:`._rewrite`)."""
    if chain.expand is not None:
        expr = chain.expand(expr)
    expr = evaluate_derivatives(expr, trace)
    expr = normalise_sums(expr, K, chain.assume, atoms, trace)
    for case in ("i = j", "i != j"):
        if case in chain.assume and j in expr.free_symbols:
            trace.assumption(case)
    return _apply_cases(expr, chain.assume, explicit=False)


def _prove_general(a: Any, b: Any, chain: Chain) -> tuple[bool, Trace, str]:
    """Whether ``a = b`` for every K, the lemmas and assumptions used, and why not."""
    trace = Trace()
    for case in chain.cases or (None,):
        case_chain = (
            chain if case is None else dataclasses.replace(chain, assume=(*chain.assume, case))
        )
        atoms = SumAtoms(K)
        try:
            diff = _symbolic(a, case_chain, atoms, trace) - _symbolic(b, case_chain, atoms, trace)
        except (NotDifferentiableError, ValueError) as exc:
            return False, trace, str(exc)
        if not _reduces_to_zero(diff):
            where = "" if case is None else f" in the case {case}"
            return False, trace, f"the difference does not reduce to 0{where}"
    unproven = [name for name in trace.lemmas if not LEMMAS[name].check()]
    if unproven:
        return False, trace, f"it uses a lemma that is not proven: {', '.join(unproven)}"
    return True, trace, ""


def _prove_explicit(a: Any, b: Any, chain: Chain, n: int) -> bool:
    try:
        diff = _prepare(a, chain, n) - _prepare(b, chain, n)
    except Exception:  # any SymPy failure means "not proven this way"
        return False
    for assignment in _index_assignments(diff, chain, n):
        if not _reduces_to_zero(_concrete(diff, assignment, chain, n)):
            return False
    return True


# --------------------------------------------------------------------------------------
# numeric cross-check of every link


def _random_value(positive: bool, rng: random.Random) -> Any:
    """A random exact rational: in (0, 1) for probabilities and positive symbols,
    in [-3, 3] otherwise."""
    if positive:
        return sp.Rational(rng.randint(1, 997), 1000)
    return sp.Rational(rng.randint(-3000, 3000), 1000)


def _numeric_gap(a: Any, b: Any, chain: Chain, n: int, rng: random.Random) -> float:
    """max |a - b| over a few random points at K = n, evaluated with 30 digits."""
    diff = _prepare(a, chain, n) - _prepare(b, chain, n)
    worst = 0.0
    for assignment in _index_assignments(diff, chain, n)[:6] or [{}]:
        concrete = _concrete(diff, assignment, chain, n)
        for _ in range(3):
            point: dict[Any, Any] = {}
            for atom in concrete.atoms(sp.Indexed):
                point[atom] = _random_value(atom.base in (y, p, q, s) or atom.base.is_positive, rng)
            labels = {atom.base.label for atom in concrete.atoms(sp.Indexed)}
            for sym in concrete.free_symbols - set(point) - labels:
                point[sym] = _random_value(bool(sym.is_positive), rng)
            value = sp.N(concrete.subs(point), 30)
            if not value.is_number:
                return float("inf")
            worst = max(worst, float(abs(value)))
    return worst


# --------------------------------------------------------------------------------------
# checking a chain


def check_chain(chain: Chain, seed: int = 0) -> list[LinkResult]:
    """Check every link of ``chain``; returns one result per link, in order."""
    rng = random.Random(seed)
    results = []
    previous = chain.start
    for link in chain.links:
        results.append(_check_link(previous, link, chain, rng))
        previous = link.expr
    return results


def _check_link(a: Any, link: Link, chain: Chain, rng: random.Random) -> LinkResult:
    if link.assume:
        chain = dataclasses.replace(chain, assume=chain.assume + link.assume)
    if link.relation == "<=":
        # a <= b because b - a equals a witness that is >= 0 by a proven lemma.
        b_minus_a = link.expr - a
        a, b = b_minus_a, link.witness
    else:
        b = link.expr
    ks: list[int] = []
    trace, reason = Trace(), ""
    if chain.scope == "fixed":
        n = chain.fixed_k
        proven = _prove_explicit(a, b, chain, n)
        mode, ks = (f"K = {n}", [n]) if proven else ("not proven", [])
    else:
        proven, trace, reason = _prove_general(a, b, chain)
        mode = "general K" if proven else "not proven"
    n_numeric = chain.fixed_k if chain.scope == "fixed" else 3
    gap = max(
        _numeric_gap(a, b, dataclasses.replace(chain, assume=(*chain.assume, case)), n_numeric, rng)
        for case in chain.cases or ("",)
    )
    detail = ""
    if proven and not gap < 1e-20:
        proven, mode = False, "not proven"
        detail = f"SymPy reduced the difference to 0 but it is {gap:.3g} at a random point"
    elif not proven:
        detail = reason or "SymPy could not reduce the difference to 0"
        if gap > 0:
            detail += f" (it is {gap:.3g} at a random point)"
    return LinkResult(
        latex=link.latex,
        why=link.why + (f"; {link.witness_reason}" if link.relation == "<=" else ""),
        relation=link.relation,
        proven=proven,
        mode=mode,
        ks=ks,
        numeric_max_error=gap,
        detail=detail,
        lemmas=list(trace.lemmas),
        assumptions=list(trace.assumptions),
    )
