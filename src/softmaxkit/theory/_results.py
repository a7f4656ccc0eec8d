"""The six results: statements, derivations (LaTeX beside the SymPy expression that is
checked), exact facts, and the numerical checks against the library's functions.

Each derivation line pairs the LaTeX a person would write with the SymPy
expression the engine checks; the expressions are built unevaluated where the
written form matters, so that what is checked is the line as written.
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from . import _numeric
from ._engine import (
    C,
    Chain,
    Fact,
    K,
    Link,
    expand_softmax,
    i,
    j,
    k,
    p,
    q,
    s,
    softmax_x,
    sum_k,
    x,
    y,
    z,
)
from ._types import Result


def _frac(num: Any, den: Any) -> Any:
    """num / den as written (not cancelled at construction)."""
    return sp.Mul(num, sp.Pow(den, -1, evaluate=False), evaluate=False)


def _prod(*factors: Any) -> Any:
    return sp.Mul(*factors, evaluate=False)


S_x = sum_k(sp.exp(x[k]))
SUM_LATEX = r"\sum_{k=1}^{K} e^{x_k}"


# --------------------------------------------------------------------------------------
# 1. shift invariance


def _shift_invariance() -> Result:
    e_shift = _frac(sp.exp(x[i] + C), sum_k(sp.exp(x[k] + C)))
    chain = Chain(
        title="softmax(x + C) = softmax(x)",
        start_latex=r"\operatorname{softmax}(x + C)_i",
        start=e_shift,
        links=(
            Link(
                r"\frac{e^{x_i + C}}{\sum_{k=1}^{K} e^{x_k + C}}", e_shift, "definition of softmax"
            ),
            Link(
                r"\frac{e^{C} e^{x_i}}{\sum_{k=1}^{K} e^{C} e^{x_k}}",
                _frac(_prod(sp.exp(C), sp.exp(x[i])), sum_k(_prod(sp.exp(C), sp.exp(x[k])))),
                "e^{a+b} = e^a e^b",
            ),
            Link(
                r"\frac{e^{C} e^{x_i}}{e^{C} \sum_{k=1}^{K} e^{x_k}}",
                _frac(_prod(sp.exp(C), sp.exp(x[i])), _prod(sp.exp(C), S_x)),
                "e^C does not depend on k: factor it out of the sum",
            ),
            Link(
                r"\frac{e^{x_i}}{" + SUM_LATEX + "}",
                _frac(sp.exp(x[i]), S_x),
                "cancel e^C (never 0)",
            ),
            Link(r"\operatorname{softmax}(x)_i", s[i], "definition of softmax"),
        ),
        expand=expand_softmax,
    )
    u = sp.Symbol("u", real=True)
    facts = (
        Fact(
            r"C = -\max_k x_k \implies x_k + C \le 0 \implies 0 < e^{x_k + C} \le e^0 = 1",
            lambda: sp.exp(0) == 1 and sp.diff(sp.exp(u), u).is_positive is True,
            "exp is increasing (its derivative e^u is > 0) and e^0 = 1: no exponent overflows, "
            "and the largest term is exactly 1, so the sum is >= 1 and never underflows to 0",
        ),
    )
    return Result(
        number=1,
        name="shift_invariance",
        title="Shift invariance",
        statement=(
            r"\operatorname{softmax}(x + C) = \operatorname{softmax}(x)"
            r" \quad \forall C \in \mathbb{R}"
        ),
        chains=(chain,),
        facts=facts,
        numeric=_numeric.shift_invariance,
    )


# --------------------------------------------------------------------------------------
# 2. two-class softmax is the sigmoid


class sigma(sp.Function):  # type: ignore[misc]  # noqa: N801 - the mathematical name
    """The logistic sigmoid as an undefined function, expanded for checking."""

    def _latex(self, printer: Any) -> str:
        return r"\sigma\left(" + str(printer._print(self.args[0])) + r"\right)"


def _expand_sigma(expr: Any) -> Any:
    return expr.replace(sigma, lambda u: 1 / (1 + sp.exp(-u)))


def _two_class() -> Result:
    z0, z1 = sp.symbols("z_0 z_1", real=True)
    one = Chain(
        title="softmax(z)_1 = sigmoid(z_1 - z_0)",
        start_latex=r"\operatorname{softmax}(z)_1",
        start=_frac(sp.exp(z1), sp.exp(z0) + sp.exp(z1)),
        links=(
            Link(
                r"\frac{e^{z_1}}{e^{z_0} + e^{z_1}}",
                _frac(sp.exp(z1), sp.exp(z0) + sp.exp(z1)),
                "definition of softmax with K = 2",
            ),
            Link(
                r"\frac{1}{e^{z_0} / e^{z_1} + 1}",
                _frac(1, _frac(sp.exp(z0), sp.exp(z1)) + 1),
                "divide numerator and denominator by e^{z_1}",
            ),
            Link(
                r"\frac{1}{1 + e^{-(z_1 - z_0)}}",
                _frac(1, 1 + sp.exp(-(z1 - z0))),
                "e^a / e^b = e^{a - b}",
            ),
            Link(r"\sigma(z_1 - z_0)", sigma(z1 - z0), r"definition \sigma(u) = 1 / (1 + e^{-u})"),
        ),
        scope="fixed",
        expand=_expand_sigma,
    )
    zero = Chain(
        title="softmax(z)_0 = sigmoid(z_0 - z_1) = 1 - sigmoid(z_1 - z_0)",
        start_latex=r"\operatorname{softmax}(z)_0",
        start=_frac(sp.exp(z0), sp.exp(z0) + sp.exp(z1)),
        links=(
            Link(
                r"\frac{1}{1 + e^{-(z_0 - z_1)}}",
                _frac(1, 1 + sp.exp(-(z0 - z1))),
                "divide numerator and denominator by e^{z_0}",
            ),
            Link(r"\sigma(z_0 - z_1)", sigma(z0 - z1), "definition of the sigmoid"),
            Link(r"1 - \sigma(z_1 - z_0)", 1 - sigma(z1 - z0), r"\sigma(-u) = 1 - \sigma(u)"),
        ),
        scope="fixed",
        expand=_expand_sigma,
    )
    return Result(
        number=2,
        name="two_class_sigmoid",
        title="Two-class softmax is the sigmoid",
        statement=(
            r"\operatorname{softmax}(z_0, z_1)_1 = \sigma(z_1 - z_0), \quad "
            r"\operatorname{softmax}(z_0, z_1)_0 = \sigma(z_0 - z_1) = 1 - \sigma(z_1 - z_0)"
        ),
        chains=(one, zero),
        facts=(),
        numeric=_numeric.two_class_sigmoid,
    )


# --------------------------------------------------------------------------------------
# 3. the Jacobian


def _jacobian() -> Result:
    S = S_x
    diag_case = Chain(
        title="case i = j",
        start_latex=r"\frac{\partial s_i}{\partial x_i}",
        start=sp.Derivative(softmax_x(i), x[j]),
        links=(
            Link(
                r"\frac{e^{x_i} \sum_{k} e^{x_k} - e^{x_i} e^{x_i}}"
                r"{\left(\sum_{k} e^{x_k}\right)^2}",
                _frac(sp.exp(x[i]) * S - sp.exp(x[i]) * sp.exp(x[i]), S**2),
                r"quotient rule, with \partial_{x_i} \sum_k e^{x_k} = e^{x_i}",
            ),
            Link(
                r"\frac{e^{x_i}}{\sum_{k} e^{x_k}} \cdot "
                r"\frac{\sum_{k} e^{x_k} - e^{x_i}}{\sum_{k} e^{x_k}}",
                _prod(_frac(sp.exp(x[i]), S), _frac(S - sp.exp(x[i]), S)),
                "split the fraction",
            ),
            Link(r"s_i (1 - s_i)", s[i] * (1 - s[i]), "definition of s_i"),
        ),
        assume=("i = j", "1 <= j <= K"),
        expand=expand_softmax,
    )
    off_case = Chain(
        title="case i != j",
        start_latex=r"\frac{\partial s_i}{\partial x_j}",
        start=sp.Derivative(softmax_x(i), x[j]),
        links=(
            Link(
                r"\frac{0 \cdot \sum_{k} e^{x_k} - e^{x_i} e^{x_j}}"
                r"{\left(\sum_{k} e^{x_k}\right)^2}",
                _frac(_prod(0, S) - sp.exp(x[i]) * sp.exp(x[j]), S**2),
                r"quotient rule: e^{x_i} does not depend on x_j, "
                r"\partial_{x_j} \sum_k e^{x_k} = e^{x_j}",
            ),
            Link(
                r"-\frac{e^{x_i}}{\sum_{k} e^{x_k}} \cdot \frac{e^{x_j}}{\sum_{k} e^{x_k}}",
                -_prod(_frac(sp.exp(x[i]), S), _frac(sp.exp(x[j]), S)),
                "split the fraction",
            ),
            Link(r"-s_i s_j", -s[i] * s[j], "definition of s_i, s_j"),
        ),
        assume=("i != j", "1 <= j <= K"),
        expand=expand_softmax,
    )
    both = Chain(
        title="both cases at once: the matrix",
        start_latex=r"\frac{\partial s_i}{\partial x_j}",
        start=sp.Derivative(softmax_x(i), x[j]),
        links=(
            Link(
                r"s_i (\delta_{ij} - s_j)",
                s[i] * (sp.KroneckerDelta(i, j) - s[j]),
                r"the two cases, with \delta_{ij} = 1 if i = j else 0",
            ),
            Link(
                r"s_i \delta_{ij} - s_i s_j",
                s[i] * sp.KroneckerDelta(i, j) - s[i] * s[j],
                "multiply out",
            ),
            Link(
                r"\left(\operatorname{diag}(s) - s s^\top\right)_{ij}",
                s[i] * sp.KroneckerDelta(i, j) - s[i] * s[j],
                r"\operatorname{diag}(s)_{ij} = s_i \delta_{ij} and (s s^\top)_{ij} = s_i s_j: "
                r"entry (i, j) of the matrix, for every i, j in 1..K",
            ),
        ),
        assume=("1 <= j <= K",),
        expand=expand_softmax,
    )
    x1, x2, x3, x4 = sp.symbols("x_1:5", real=True)
    S4 = sp.exp(x1) + sp.exp(x2) + sp.exp(x3) + sp.exp(x4)
    s_4 = [sp.exp(v) / S4 for v in (x1, x2, x3, x4)]
    sum4_latex = r"e^{x_1} + e^{x_2} + e^{x_3} + e^{x_4}"
    worked = Chain(
        title="worked example, K = 4, entry (1, 2)",
        start_latex=r"\frac{\partial s_1}{\partial x_2}",
        start=sp.Derivative(sp.exp(x1) / S4, x2),
        links=(
            Link(
                r"\frac{0 \cdot (" + sum4_latex + r") - e^{x_1} e^{x_2}}{(" + sum4_latex + ")^2}",
                _frac(_prod(0, S4) - sp.exp(x1) * sp.exp(x2), S4**2),
                "quotient rule",
            ),
            Link(r"-s_1 s_2", -s_4[0] * s_4[1], "definition of s_1, s_2"),
        ),
        scope="fixed",
        fixed_k=4,
    )
    worked_diag = Chain(
        title="worked example, K = 4, entry (1, 1)",
        start_latex=r"\frac{\partial s_1}{\partial x_1}",
        start=sp.Derivative(sp.exp(x1) / S4, x1),
        links=(
            Link(
                r"\frac{e^{x_1} (" + sum4_latex + r") - e^{x_1} e^{x_1}}{(" + sum4_latex + ")^2}",
                _frac(sp.exp(x1) * S4 - sp.exp(x1) * sp.exp(x1), S4**2),
                "quotient rule",
            ),
            Link(r"s_1 (1 - s_1)", s_4[0] * (1 - s_4[0]), "definition of s_1"),
        ),
        scope="fixed",
        fixed_k=4,
    )
    return Result(
        number=3,
        name="softmax_jacobian",
        title="The softmax Jacobian",
        statement=(
            r"\frac{\partial s_i}{\partial x_j} = \begin{cases} s_i (1 - s_i) & i = j \\ "
            r"-s_i s_j & i \ne j \end{cases}, \qquad J = \operatorname{diag}(s) - s s^\top"
        ),
        chains=(worked_diag, worked, diag_case, off_case, both),
        facts=(),
        numeric=_numeric.softmax_jacobian,
    )


# --------------------------------------------------------------------------------------
# 4. iterative and vectorised Jacobian agree


def _iterative_vectorized() -> Result:
    entry = s[i] * sp.KroneckerDelta(i, j) - s[i] * s[j]
    entry_latex = r"\left(\operatorname{diag}(s) - s s^\top\right)_{ij}"
    diag_case = Chain(
        title="diagonal entries (i = j)",
        start_latex=entry_latex,
        start=entry,
        links=(
            Link(
                r"s_i \delta_{ii} - s_i s_i", s[i] * sp.KroneckerDelta(i, i) - s[i] * s[i], "i = j"
            ),
            Link(r"s_i - s_i^2", s[i] - s[i] ** 2, r"\delta_{ii} = 1"),
            Link(r"s_i (1 - s_i)", s[i] * (1 - s[i]), "the loop's diagonal entry"),
        ),
        assume=("i = j",),
    )
    off_case = Chain(
        title="off-diagonal entries (i != j)",
        start_latex=entry_latex,
        start=entry,
        links=(Link(r"-s_i s_j", -s[i] * s[j], r"\delta_{ij} = 0: the loop's off-diagonal entry"),),
        assume=("i != j",),
    )
    loop_entry = sp.Piecewise((s[i] * (1 - s[i]), sp.Eq(i, j)), (-s[i] * s[j], True))
    loops = Chain(
        title="the two loops build diag(s) - s s^T",
        start_latex=r"J^{\text{loops}}_{ij}",
        start=loop_entry,
        links=(
            Link(
                r"\begin{cases} s_i (1 - s_i) & i = j \\ -s_i s_j & i \ne j \end{cases}",
                loop_entry,
                "what the loop writes at (i, j) (softmax_jacobian_iterative)",
            ),
            Link(
                entry_latex,
                entry,
                "the two cases above; every pair (i, j) has i = j or i != j",
            ),
        ),
        cases=("i = j", "i != j"),
    )
    return Result(
        number=4,
        name="iterative_equals_vectorized",
        title="Iterative and vectorized Jacobian agree",
        statement=(
            r"\text{for all } i, j: \; J^{\text{loops}}_{ij} = \left(\operatorname{diag}(s) - "
            r"s s^\top\right)_{ij}; \; s = \operatorname{softmax}(5, 7, 8) \Rightarrow J = "
            r"\begin{pmatrix} 0.03388568 & -0.00911326 & -0.02477242 \\ -0.00911326 & 0.19215805 "
            r"& -0.18304478 \\ -0.02477242 & -0.18304478 & 0.2078172 \end{pmatrix}"
        ),
        chains=(diag_case, off_case, loops),
        facts=(),
        numeric=_numeric.iterative_vectorized,
    )


# --------------------------------------------------------------------------------------
# 5. softmax + cross-entropy has gradient y_hat - y


def _yhat(index: Any) -> Any:
    return s[index]  # \hat y_index = softmax(z)_index (expanded with logits z)


def _cross_entropy_gradient() -> Result:
    S_z = sum_k(sp.exp(z[k]))
    loss = -sp.Sum(y[i] * sp.log(sp.exp(z[i]) / S_z), (i, 1, K))
    chain = Chain(
        title="∂L/∂z_j = ŷ_j - y_j",
        start_latex=r"\frac{\partial L}{\partial z_j}",
        start=sp.Derivative(loss, z[j]),
        links=(
            Link(
                r"\frac{\partial}{\partial z_j}\left(-\sum_{i=1}^{K} y_i \log \hat y_i\right)",
                sp.Derivative(-sp.Sum(y[i] * sp.log(_yhat(i)), (i, 1, K)), z[j]),
                r"definition of L, with \hat y = \operatorname{softmax}(z)",
            ),
            Link(
                r"-\sum_{i=1}^{K} \frac{y_i}{\hat y_i} \frac{\partial \hat y_i}{\partial z_j}",
                -sp.Sum(y[i] / _yhat(i) * sp.Derivative(_yhat(i), z[j]), (i, 1, K)),
                r"chain rule: \partial \log u = \partial u / u",
            ),
            Link(
                r"-\sum_{i=1}^{K} \frac{y_i}{\hat y_i} \hat y_i (\delta_{ij} - \hat y_j)",
                -sp.Sum(
                    _prod(_frac(y[i], _yhat(i)), _yhat(i), sp.KroneckerDelta(i, j) - _yhat(j)),
                    (i, 1, K),
                ),
                "the softmax Jacobian (result 3), both cases at once",
            ),
            Link(
                r"-\sum_{i=1}^{K} y_i \delta_{ij} + \hat y_j \sum_{i=1}^{K} y_i",
                -sp.Sum(y[i] * sp.KroneckerDelta(i, j), (i, 1, K))
                + _yhat(j) * sp.Sum(y[i], (i, 1, K)),
                r"cancel \hat y_i and split the sum",
            ),
            Link(
                r"-y_j + \hat y_j \sum_{i=1}^{K} y_i",
                -y[j] + _yhat(j) * sp.Sum(y[i], (i, 1, K)),
                r"\delta_{ij} keeps only i = j",
            ),
            Link(
                r"\hat y_j - y_j",
                _yhat(j) - y[j],
                r"y is a distribution: \sum_i y_i = 1 (one-hot, smoothed or soft)",
                assume=("sum y = 1",),
            ),
        ),
        assume=("1 <= j <= K",),
        expand=lambda e: expand_softmax(e, z),
    )
    return Result(
        number=5,
        name="cross_entropy_gradient",
        title="Softmax with cross-entropy has gradient ŷ - y",
        statement=(
            r"L = -\sum_i y_i \log \hat y_i, \; \hat y = \operatorname{softmax}(z), \; "
            r"\sum_i y_i = 1 \implies \frac{\partial L}{\partial z_j} = \hat y_j - y_j"
        ),
        chains=(chain,),
        facts=(),
        numeric=_numeric.cross_entropy_gradient,
    )


# --------------------------------------------------------------------------------------
# 6. cross-entropy = entropy + KL


def _kl(a: Any, b: Any) -> Any:
    return sum_k(a[k] * sp.log(a[k] / b[k]))


def _information() -> Result:
    H_P = -sum_k(p[k] * sp.log(p[k]))
    H_PQ = -sum_k(p[k] * sp.log(q[k]))
    decomposition = Chain(
        title="H(P, Q) = H(P) + D_KL(P || Q)",
        start_latex=r"H(P, Q)",
        start=H_PQ,
        links=(
            Link(r"-\sum_k p_k \log q_k", H_PQ, "definition of cross-entropy"),
            Link(
                r"-\sum_k p_k \log p_k + \sum_k p_k \log p_k - \sum_k p_k \log q_k",
                sp.Add(H_P, sum_k(p[k] * sp.log(p[k])), H_PQ, evaluate=False),
                r"add and subtract \sum_k p_k \log p_k",
            ),
            Link(
                r"-\sum_k p_k \log p_k + \sum_k p_k (\log p_k - \log q_k)",
                sp.Add(H_P, sum_k(p[k] * (sp.log(p[k]) - sp.log(q[k]))), evaluate=False),
                "combine the last two sums",
            ),
            Link(
                r"-\sum_k p_k \log p_k + \sum_k p_k \log \frac{p_k}{q_k}",
                sp.Add(H_P, _kl(p, q), evaluate=False),
                r"\log a - \log b = \log(a / b) for a, b > 0",
            ),
            Link(r"H(P) + D_{\mathrm{KL}}(P \,\|\, Q)", H_P + _kl(p, q), "definitions"),
        ),
    )
    minimise = Chain(
        title="minimising H(P, Q) over Q is minimising D_KL(P || Q)",
        start_latex=r"\frac{\partial H(P, Q)}{\partial q_j}",
        start=sp.Derivative(H_PQ, q[j]),
        links=(
            Link(
                r"\frac{\partial H(P)}{\partial q_j}"
                r" + \frac{\partial D_{\mathrm{KL}}(P \| Q)}{\partial q_j}",
                sp.Derivative(H_P, q[j]) + sp.Derivative(_kl(p, q), q[j]),
                "the decomposition above",
            ),
            Link(
                r"\frac{\partial D_{\mathrm{KL}}(P \| Q)}{\partial q_j}",
                sp.Derivative(_kl(p, q), q[j]),
                "H(P) does not depend on Q",
            ),
        ),
        assume=("1 <= j <= K",),
    )

    def g(u: Any) -> Any:
        """The lemma's function g(u) = u - 1 - log u, named as in the text."""
        return u - 1 - sp.log(u)

    gibbs = Chain(
        title="Gibbs' inequality: D_KL(P || Q) >= 0",
        start_latex=r"-D_{\mathrm{KL}}(P \,\|\, Q)",
        start=-_kl(p, q),
        links=(
            Link(
                r"\sum_k p_k \log \frac{q_k}{p_k}",
                sum_k(p[k] * sp.log(q[k] / p[k])),
                r"-\log(a/b) = \log(b/a)",
            ),
            Link(
                r"\sum_k p_k \left(\frac{q_k}{p_k} - 1\right)",
                sum_k(p[k] * (q[k] / p[k] - 1)),
                r"\log u \le u - 1",
                relation="<=",
                witness=sum_k(p[k] * g(q[k] / p[k])),
                witness_reason=(
                    r"the gap is \sum_k p_k\, g(q_k / p_k) with p_k > 0 and "
                    r"g(u) = u - 1 - \log u \ge 0 (lemma)"
                ),
            ),
            Link(r"\sum_k q_k - \sum_k p_k", sum_k(q[k]) - sum_k(p[k]), "multiply out"),
            Link(
                r"0",
                sp.Integer(0),
                r"\sum_k q_k = \sum_k p_k = 1",
                assume=("sum p = 1", "sum q = 1"),
            ),
        ),
    )
    bits = Chain(
        title="units: bits = nats / ln 2",
        start_latex=r"D_{\mathrm{KL}}^{\text{bits}}(P \,\|\, Q)",
        start=sum_k(p[k] * sp.log(p[k] / q[k], 2)),
        links=(
            Link(
                r"\sum_k p_k \log_2 \frac{p_k}{q_k}",
                sum_k(p[k] * sp.log(p[k] / q[k], 2)),
                "definition with log base 2",
            ),
            Link(
                r"\frac{1}{\ln 2} \sum_k p_k \ln \frac{p_k}{q_k}",
                _frac(_kl(p, q), sp.log(2)),
                r"\log_2 u = \ln u / \ln 2",
            ),
            Link(
                r"\frac{D_{\mathrm{KL}}^{\text{nats}}(P \,\|\, Q)}{\ln 2}",
                _kl(p, q) / sp.log(2),
                "definition with the natural log",
            ),
        ),
    )
    u = sp.Symbol("u", positive=True)
    half, ninth = sp.Rational(1, 2), (sp.Rational(9, 10), sp.Rational(1, 10))

    def kl2(a: tuple[Any, Any], b: tuple[Any, Any]) -> Any:
        return sum(ai * sp.log(ai / bi) for ai, bi in zip(a, b, strict=True))

    facts = (
        Fact(
            r"g(1) = 1 - 1 - \log 1 = 0", lambda: sp.simplify(g(u).subs(u, 1)) == 0, "lemma, part 1"
        ),
        Fact(
            r"g'(u) = 1 - \frac{1}{u} = 0 \iff u = 1",
            lambda: sp.solve(sp.diff(g(u), u), u) == [1],
            "lemma, part 2: the only critical point",
        ),
        Fact(
            r"g''(u) = \frac{1}{u^2} > 0 \text{ for } u > 0",
            lambda: sp.diff(g(u), u, 2).is_positive is True,
            "lemma, part 3: g is strictly convex, so its critical point is its minimum",
        ),
        Fact(
            r"g(u) \ge g(1) = 0, \text{ with } g(u) = 0 \iff u = 1",
            lambda: sp.solve(g(u), u) == [1],
            "lemma: hence log u <= u - 1, with equality only at u = 1",
        ),
        Fact(
            r"D_{\mathrm{KL}}(P \,\|\, P) = \sum_k p_k \log 1 = 0",
            lambda: sp.simplify(_kl(p, p).doit()) == 0,
            "equality when P = Q",
        ),
        Fact(
            r"D_{\mathrm{KL}}(P \,\|\, Q) = 0 \implies P = Q",
            lambda: sp.solve(g(u), u) == [1],
            "equality in the <= step needs g(q_k / p_k) = 0 for every k, i.e. q_k = p_k",
        ),
        Fact(
            r"P = (\tfrac12, \tfrac12),\ Q = (\tfrac{9}{10}, \tfrac{1}{10}):\ "
            r"D_{\mathrm{KL}}(P \| Q) \approx 0.5108 \ne 0.3681 \approx D_{\mathrm{KL}}(Q \| P)",
            lambda: (
                abs(sp.N(kl2((half, half), ninth) - kl2(ninth, (half, half)), 30)) > 0.1
                and abs(sp.N(kl2((half, half), ninth), 30) - sp.Float("0.5108256237659907")) < 1e-15
                and abs(sp.N(kl2(ninth, (half, half)), 30) - sp.Float("0.3680642071684971")) < 1e-15
            ),
            "KL is not symmetric (exact values, 30 digits)",
        ),
    )
    return Result(
        number=6,
        name="cross_entropy_entropy_kl",
        title="Cross-entropy = entropy + KL",
        statement=(
            r"H(P, Q) = H(P) + D_{\mathrm{KL}}(P \,\|\, Q), \quad D_{\mathrm{KL}}(P \,\|\, Q) \ge 0"
            r" \text{ with equality iff } P = Q"
        ),
        chains=(decomposition, minimise, gibbs, bits),
        facts=facts,
        numeric=_numeric.information,
    )


def all_results() -> tuple[Result, ...]:
    """The six results, in order."""
    return (
        _shift_invariance(),
        _two_class(),
        _jacobian(),
        _iterative_vectorized(),
        _cross_entropy_gradient(),
        _information(),
    )
