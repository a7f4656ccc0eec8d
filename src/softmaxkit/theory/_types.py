"""The objects a user of :mod:`softmaxkit.theory` holds: results and their checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ._engine import Chain, Fact, LinkResult, check_chain, check_fact


@dataclass(frozen=True)
class NumericCheck:
    """One numerical comparison of the result against the library's own functions."""

    name: str
    max_abs_error: float
    tolerance: float
    inputs: str = ""

    @property
    def passed(self) -> bool:
        # NaN never passes: a NaN error is a failed check, not a small one.
        return bool(self.max_abs_error <= self.tolerance)


@dataclass
class StepCheck:
    """The check of one written step: a link of a derivation chain, or an exact fact."""

    derivation: str
    latex: str
    why: str
    status: str  # "proven" or "failed"
    mode: str  # "general K", "K = n" (a chain written for n classes), "exact", "not proven"
    ks: list[int] = field(default_factory=list)
    numeric_spot_check: float = 0.0
    detail: str = ""
    lemmas: list[str] = field(default_factory=list)  # names in softmaxkit.theory.LEMMAS
    assumptions: list[str] = field(default_factory=list)  # e.g. "1 <= j <= K", "sum y = 1"
    # the two sides as written ("" on the left for a fact) and "=", "<=" or "fact"
    lhs: str = ""
    rhs: str = ""
    relation: str = "="

    def _repr_latex_(self) -> str:
        return f"${self.latex}$"


@dataclass
class ResultCheck:
    """Everything :meth:`Result.check` found: symbolic steps and numerical checks."""

    number: int
    name: str
    title: str
    statement: str
    steps: list[StepCheck]
    numeric: list[NumericCheck]

    @property
    def symbolic_ok(self) -> bool:
        return all(step.status == "proven" for step in self.steps)

    @property
    def numeric_ok(self) -> bool:
        return all(check.passed for check in self.numeric)

    @property
    def status(self) -> str:
        """``"proven"`` when every step is proven and every numerical check passes."""
        return "proven" if self.symbolic_ok and self.numeric_ok else "failed"

    @property
    def modes(self) -> list[str]:
        """The distinct proof modes used, in order of first use."""
        seen: list[str] = []
        for step in self.steps:
            if step.mode not in seen:
                seen.append(step.mode)
        return seen

    @property
    def lemmas(self) -> list[str]:
        """The lemmas the steps cite, in order of first use."""
        seen: list[str] = []
        for step in self.steps:
            seen.extend(name for name in step.lemmas if name not in seen)
        return seen

    def _repr_markdown_(self) -> str:
        from ._report import check_markdown

        return check_markdown(self)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["status"] = self.status
        out["numeric"] = [{**asdict(c), "passed": c.passed} for c in self.numeric]
        return out


@dataclass(frozen=True)
class Result:
    """One of the six results: a statement, its derivation, and how to check it.

    Attributes
    ----------
    number, name, title : int, str, str
        Position (1 to 6), a stable identifier, and a human title.
    statement : str
        The result in LaTeX.
    chains : tuple of Chain
        Derivations: each a start line and links, each link a LaTeX line beside the
        SymPy expression that is checked.
    facts : tuple of Fact
        Exact claims checked by SymPy that are not equation chains (a sign, a
        critical point, a counterexample).
    numeric : callable
        Returns the numerical checks against the library's functions.
    """

    number: int
    name: str
    title: str
    statement: str
    chains: tuple[Chain, ...]
    facts: tuple[Fact, ...]
    numeric: Callable[[], list[NumericCheck]]

    @property
    def steps(self) -> list[str]:
        """The derivation as LaTeX, one written step a line (``previous = next``)."""
        lines = []
        for chain in self.chains:
            previous = chain.start_latex
            for link in chain.links:
                rel = r"\le" if link.relation == "<=" else "="
                lines.append(f"{previous} {rel} {link.latex}")
                previous = link.latex
        lines.extend(fact.latex for fact in self.facts)
        return lines

    def _repr_markdown_(self) -> str:
        from ._report import result_markdown

        return result_markdown(self)

    def _repr_latex_(self) -> str:
        return f"$${self.statement}$$"

    def check(self, *, numeric: bool = True) -> ResultCheck:
        """Prove every step with SymPy and run the numerical checks.

        Parameters
        ----------
        numeric : bool, default True
            Also run the numerical checks against the library's functions.
        """
        steps = []
        for chain in self.chains:
            previous = chain.start_latex
            for link, res in zip(chain.links, check_chain(chain), strict=True):
                steps.append(_step(chain.title, previous, res))
                previous = link.latex
        for fact in self.facts:
            steps.append(_step("facts", "", check_fact(fact)))
        return ResultCheck(
            number=self.number,
            name=self.name,
            title=self.title,
            statement=self.statement,
            steps=steps,
            numeric=self.numeric() if numeric else [],
        )


class Report(list[ResultCheck]):
    """The checks of all six results (a list of :class:`ResultCheck`), which renders
    as a table and the derivations in Jupyter."""

    @property
    def status(self) -> str:
        """``"proven"`` when every result is."""
        return "proven" if all(c.status == "proven" for c in self) else "failed"

    def _repr_markdown_(self) -> str:
        from ._report import report_markdown

        return report_markdown(self)


def _step(derivation: str, previous: str, res: LinkResult) -> StepCheck:
    if res.relation == "fact":
        latex = res.latex
    else:
        rel = r"\le" if res.relation == "<=" else "="
        latex = f"{previous} {rel} {res.latex}"
    return StepCheck(
        derivation=derivation,
        latex=latex,
        why=res.why,
        status=res.status,
        mode=res.mode,
        ks=list(res.ks),
        numeric_spot_check=res.numeric_max_error,
        detail=res.detail,
        lemmas=list(res.lemmas),
        assumptions=list(res.assumptions),
        lhs=previous,
        rhs=res.latex,
        relation=res.relation,
    )
