"""softmaxkit.theory: the six results proven, mutated steps failing, the report and the docs."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

from softmaxkit import theory
from softmaxkit.theory import _engine
from softmaxkit.theory._engine import Chain, check_chain
from softmaxkit.theory._lemmas import (
    ASSUMPTIONS,
    LEMMAS,
    make_quotient_proof,
    make_sifting_proof,
)
from softmaxkit.theory._report import docs_markdown, render_markdown, render_text
from softmaxkit.theory._rewrite import SumAtoms, Trace, evaluate_derivatives, normalise_sums

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checks() -> list[theory.ResultCheck]:
    return theory.verify_all()


def test_all_six_results_are_proven(checks):
    assert [c.number for c in checks] == [1, 2, 3, 4, 5, 6]
    for check in checks:
        failed = [(s.derivation, s.latex, s.detail) for s in check.steps if s.status != "proven"]
        assert failed == [], check.title
        assert check.numeric_ok, [n for n in check.numeric if not n.passed]
        assert check.status == "proven"


def test_every_step_says_how_it_was_proven(checks):
    for check in checks:
        assert check.steps, check.title
        for step in check.steps:
            assert step.mode in ("general K", "K = 2", "K = 4", "exact")
            # the 30-digit evaluation at random points agrees with the proof
            assert step.numeric_spot_check < 1e-20
            assert set(step.lemmas) <= set(LEMMAS)
            assert set(step.assumptions) <= set(ASSUMPTIONS)


def test_every_step_of_results_3_and_5_is_proven_for_general_k(checks):
    # No step may be checked only for particular K: the only fixed-K chains are the
    # two-class result (K = 2 by its nature) and the worked K = 4 example.
    by_name = {c.name: c for c in checks}
    for name in ("softmax_jacobian", "cross_entropy_gradient"):
        for step in by_name[name].steps:
            if step.derivation.startswith("worked example, K = 4"):
                assert step.mode == "K = 4"
            else:
                assert step.mode == "general K", (name, step.derivation, step.latex)
    for name in ("shift_invariance", "iterative_equals_vectorized", "cross_entropy_entropy_kl"):
        assert set(by_name[name].modes) <= {"general K", "exact"}, name
    assert by_name["two_class_sigmoid"].modes == ["K = 2"]
    assert [c.scope for r in theory.RESULTS for c in r.chains if c.scope == "fixed"] == [
        "fixed"
    ] * 4  # result 2's two chains and the worked example's two entries


def test_no_fallback_to_particular_k(monkeypatch):
    # If the general-K proof fails, the step is not proven: no K = 2..8 check stands in.
    monkeypatch.setattr(_engine, "_prove_general", lambda a, b, chain: (False, Trace(), "off"))
    check = theory.get("softmax_jacobian").check(numeric=False)
    general = [s for s in check.steps if not s.derivation.startswith("worked")]
    assert general
    assert {s.mode for s in general} == {"not proven"}
    assert check.status == "failed"


def test_steps_cite_the_lemmas_and_assumptions_they_use(checks):
    by_name = {c.name: c for c in checks}
    jac = by_name["softmax_jacobian"]
    quotient_steps = [s for s in jac.steps if "quotient rule" in s.why and "case" in s.derivation]
    assert len(quotient_steps) == 2
    for step in quotient_steps:
        assert {"quotient_rule", "derivative_of_sum", "exp_partial", "sifting"} <= set(step.lemmas)
        assert "1 <= j <= K" in step.assumptions
    assert "i = j" in quotient_steps[0].assumptions
    assert "i != j" in quotient_steps[1].assumptions
    grad = by_name["cross_entropy_gradient"]
    assert grad.steps[-1].assumptions == ["sum y = 1"]
    assert "sifting" in grad.steps[-2].lemmas
    assert "chain_rule_log" in grad.steps[1].lemmas
    # the report shows them
    text = render_text(checks, details=True)
    assert "uses quotient_rule" in text
    assert "assumes 1 ≤ j ≤ K" in text
    md = render_markdown(checks)
    assert "## Lemmas" in md
    assert "assumes $1 \\le j \\le K$" in md


def test_every_lemma_is_proven():
    assert {name: lemma.check() for name, lemma in LEMMAS.items()} == dict.fromkeys(LEMMAS, True)
    for name in ("derivative_of_sum", "exp_partial", "sifting", "linearity_of_sum"):
        assert name in LEMMAS


def test_mutated_lemmas_fail():
    # a wrong sifting result (the next term, or 0) and a wrong quotient rule
    assert make_sifting_proof(lambda f, j: f(j + 1))() is False
    assert make_sifting_proof(lambda f, j: 0)() is False
    assert make_quotient_proof(lambda u, du, w, dw: (du * w + u * dw) / w**2)() is False


def test_a_step_citing_an_unproven_lemma_fails(monkeypatch):
    broken = dataclasses.replace(LEMMAS["sifting"], proof=make_sifting_proof(lambda f, j: 0))
    monkeypatch.setitem(LEMMAS, "sifting", broken)
    results = check_chain(_chain("softmax_jacobian", "matrix"))
    assert results[0].status == "failed"
    assert "sifting" in results[0].detail
    assert results[-1].status == "proven"  # a step that does not cite it


def test_dropping_the_index_condition_fails():
    # Without 1 <= j <= K the delta of sum_k delta_kj e^{x_k} is not sifted, so the
    # derivative steps do not reduce (SymPy's silent Piecewise branch is not taken).
    for result, title, indices in (
        ("softmax_jacobian", "matrix", [0]),
        ("softmax_jacobian", "case i = j", [0]),
        ("cross_entropy_gradient", "z_j", [2, 4]),
    ):
        chain = _chain(result, title)
        dropped = dataclasses.replace(
            chain, assume=tuple(a for a in chain.assume if a != "1 <= j <= K")
        )
        results = check_chain(dropped)
        for n in indices:
            assert results[n].status == "failed", (result, title, n)
            assert results[n].numeric_max_error < 1e-20  # true, but not proven without it


def test_a_wrong_delta_in_a_general_k_step_fails():
    chain = _chain("softmax_jacobian", "matrix")
    s, i, j, k = _engine.s, _engine.i, _engine.j, _engine.k
    for wrong in (
        s[i] * (sp.KroneckerDelta(i, k) - s[j]),  # delta on the wrong index
        s[i] * (1 - sp.KroneckerDelta(i, j) - s[j]),  # the cases swapped
        s[j] * (sp.KroneckerDelta(i, j) - s[j]),  # s_j for s_i
    ):
        assert check_chain(_mutate(chain, 0, wrong))[0].status == "failed"
    grad = _chain("cross_entropy_gradient", "z_j")
    y = _engine.y
    # sifting a delta to the wrong index: -y_i instead of -y_j
    bad = _mutate(grad, 4, -y[i] + s[j] * sp.Sum(y[i], (i, 1, _engine.K)))
    assert check_chain(bad)[4].status == "failed"


def test_the_sifting_rewrite_agrees_with_its_lemma():
    x, j, k, K = _engine.x, _engine.j, _engine.k, _engine.K
    total = sp.Derivative(sp.Sum(sp.exp(x[k]), (k, 1, K)), x[j])
    trace = Trace()
    derivative = evaluate_derivatives(total, trace)
    assert derivative == sp.Sum(sp.KroneckerDelta(j, k) * sp.exp(x[k]), (k, 1, K))
    atoms = SumAtoms(K)
    assert normalise_sums(derivative, K, ("1 <= j <= K",), atoms, trace) == sp.exp(x[j])
    assert trace.lemmas == ["derivative_of_sum", "exp_partial", "sifting"]
    assert trace.assumptions == ["1 <= j <= K"]
    # without the index condition the sum stays a sum (an opaque function of j)
    kept = normalise_sums(derivative, K, (), SumAtoms(K), Trace())
    assert not kept.has(sp.exp(x[j]))
    assert j in kept.free_symbols


def test_numeric_checks_cover_random_and_hard_inputs(checks):
    for check in checks:
        assert len(check.numeric) >= 2, check.title
    names = " ".join(n.name for c in checks for n in c.numeric)
    assert "hard logits" in names
    assert "finite differences" in names
    assert "label smoothing 0.1" in names


def test_steps_are_latex_equalities():
    for result in theory.RESULTS:
        assert result.steps
        assert len(result.steps) == sum(len(c.links) for c in result.chains) + len(result.facts)
    jac = theory.get("softmax_jacobian")
    assert any(r"-s_i s_j" in step for step in jac.steps)


def test_get_by_name_and_number():
    assert theory.get("3") is theory.get("softmax_jacobian")
    with pytest.raises(ValueError, match="expected one of"):
        theory.get("nope")


# --------------------------------------------------------------------------------------
# a wrong step must fail


def _chain(result_name: str, title_part: str) -> Chain:
    result = theory.get(result_name)
    return next(c for c in result.chains if title_part in c.title)


def _mutate(chain: Chain, index: int, expr, latex: str = "mutated") -> Chain:
    links = list(chain.links)
    links[index] = dataclasses.replace(links[index], expr=expr, latex=latex)
    return dataclasses.replace(chain, links=tuple(links))


def test_dropping_the_minus_sign_of_the_off_diagonal_case_fails():
    chain = _chain("softmax_jacobian", "i != j")
    s = _engine.s
    bad = _mutate(chain, len(chain.links) - 1, s[_engine.i] * s[_engine.j], r"s_i s_j")
    results = check_chain(bad)
    assert [r.status for r in results[:-1]] == ["proven"] * (len(results) - 1)
    assert results[-1].status == "failed"
    assert results[-1].mode == "not proven"


def test_a_wrong_middle_step_fails_even_if_the_last_line_is_right():
    chain = _chain("shift_invariance", "softmax(x + C)")
    x, k, C, K = _engine.x, _engine.k, _engine.C, _engine.K
    # e^{2C} in the numerator: the chain still ends at softmax(x)_i, but step 2 is wrong.
    wrong = sp.exp(2 * C) * sp.exp(x[_engine.i]) / sp.Sum(sp.exp(C) * sp.exp(x[k]), (k, 1, K))
    results = check_chain(_mutate(chain, 1, wrong))
    assert results[1].status == "failed"
    assert results[2].status == "failed"  # the step after it starts from the wrong line
    assert results[0].status == "proven"
    assert results[-1].status == "proven"


def test_gradient_step_without_the_distribution_assumption_fails():
    chain = _chain("cross_entropy_gradient", "z_j")
    last = chain.links[-1]
    no_assumption = dataclasses.replace(last, assume=())
    links = (*chain.links[:-1], no_assumption)
    results = check_chain(dataclasses.replace(chain, links=links))
    assert results[-1].status == "failed"
    assert all(r.status == "proven" for r in results[:-1])


def test_wrong_inequality_witness_fails():
    chain = _chain("cross_entropy_entropy_kl", "Gibbs")
    idx = next(n for n, link in enumerate(chain.links) if link.relation == "<=")
    links = list(chain.links)
    links[idx] = dataclasses.replace(links[idx], witness=sp.Integer(0))
    assert check_chain(dataclasses.replace(chain, links=tuple(links)))[idx].status == "failed"


def test_a_false_sympy_proof_is_caught_by_the_numeric_guard(monkeypatch):
    # If SymPy wrongly reduced a difference to 0, the 30-digit evaluation still fails it.
    monkeypatch.setattr(_engine, "_reduces_to_zero", lambda diff: True)
    chain = _chain("softmax_jacobian", "i != j")
    s = _engine.s
    results = check_chain(_mutate(chain, len(chain.links) - 1, s[_engine.i] * s[_engine.j]))
    assert results[-1].status == "failed"
    assert "random point" in results[-1].detail


def test_failed_fact_is_reported():
    fact = _engine.Fact("1 = 2", lambda: sp.Integer(1) == 2, "false on purpose")
    assert _engine.check_fact(fact).status == "failed"


def test_mutated_result_reports_failed_status():
    result = theory.get("iterative_equals_vectorized")
    chain = result.chains[1]
    s = _engine.s
    bad = dataclasses.replace(result, chains=(result.chains[0], _mutate(chain, 0, s[_engine.i])))
    check = bad.check(numeric=False)
    assert check.status == "failed"
    assert "FAILED" in render_text([check])


# --------------------------------------------------------------------------------------
# report, command line, docs


def test_text_report(checks):
    text = render_text(checks)
    assert text.splitlines()[0] == (
        f"softmaxkit theory: 6 results, 6 proven; {len(LEMMAS)} lemmas, {len(LEMMAS)} proven"
    )
    assert sum(line.startswith("PROVEN") for line in text.splitlines()) == 6
    detailed = render_text(checks, details=True)
    assert "-sᵢ sⱼ" in detailed  # Unicode mathematics on a terminal
    assert "∂L/∂zⱼ = ŷⱼ - yⱼ" in detailed  # result 5's statement
    for report in (text, detailed):  # no LaTeX command or brace group left
        assert re.search(r"\\[A-Za-z]+|[_^]\{", report) is None, re.findall(r"\\[A-Za-z]+", report)


def test_verify_shows_progress_on_a_terminal_only(monkeypatch, capsys, checks):
    import io

    from softmaxkit.theory import __main__ as cli

    def fake(*, progress=None, **_):
        for i, c in enumerate(checks, 1):
            if progress is not None:
                progress(i, len(checks), c.title)
        return checks

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(theory, "verify_all", fake)
    assert cli.main([]) == 0
    assert capsys.readouterr().err == ""  # not a terminal: nothing on stderr
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert cli.main(["--details"]) == 0
    err = terminal.getvalue()
    assert "checking 1/6: Shift invariance" in err
    assert "checking 6/6:" in err
    assert err.endswith("\r\x1b[K")  # the line erased at the end: nothing stray is left
    assert "\\" not in capsys.readouterr().out


def test_markdown_has_math(checks):
    md = render_markdown(checks)
    assert "$$" in md
    assert "max abs error" in md


def test_command_line_json_lists_every_step_with_status():
    done = subprocess.run(
        [sys.executable, "-m", "softmaxkit.theory", "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert isinstance(data, list)
    assert len(data) == 6
    for item in data:
        assert item["status"] == "proven"
        assert item["name"]
        assert item["steps"]
        for step in item["steps"]:
            assert step["status"] == "proven"
            assert step["latex"]
            assert step["mode"]


def test_command_line_exits_nonzero_when_a_check_fails(monkeypatch, capsys, checks):
    from softmaxkit.theory import __main__ as cli

    broken = [dataclasses.replace(c) for c in checks]
    broken[2] = dataclasses.replace(
        broken[2], steps=[dataclasses.replace(broken[2].steps[0], status="failed")]
    )
    monkeypatch.setattr(theory, "verify_all", lambda **_: broken)
    assert cli.main([]) == 1
    assert "FAILED  3." in capsys.readouterr().out
    monkeypatch.setattr(theory, "verify_all", lambda **_: checks)
    assert cli.main(["--format", "markdown"]) == 0
    with pytest.raises(SystemExit) as exc:
        cli.main(["--format", "yaml"])
    assert exc.value.code == 2


def test_without_sympy_the_command_says_what_to_install():
    code = (
        "import sys; sys.modules['sympy'] = None\n"
        "from softmaxkit.theory.__main__ import main\n"
        "raise SystemExit(main([]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        'error: softmaxkit.theory needs SymPy: pip install "softmaxkit[theory]"'
    )
    assert done.stdout == ""


def test_docs_theory_md_is_up_to_date(checks):
    committed = (ROOT / "docs" / "theory.md").read_text()
    assert committed == docs_markdown(checks), (
        "docs/theory.md is out of date: python -m softmaxkit.theory --docs > docs/theory.md"
    )


def test_ce_and_kl_training_trajectories_match():
    for eps in (0.0, 0.1, 0.3):
        run = theory.ce_vs_kl_training(label_smoothing=eps, steps=60)
        assert run.max_weight_difference < 1e-12
        assert run.max_gap_error < 1e-13
        assert len(run.cross_entropy) == 60
        # the objectives fall, and differ by exactly H(P) (0 for one-hot targets)
        assert run.cross_entropy[-1] < run.cross_entropy[0]
        if eps == 0.0:
            assert run.entropy_of_targets == 0.0
        else:
            assert run.entropy_of_targets > 0.1
        gaps = [c - k for c, k in zip(run.cross_entropy, run.kl, strict=True)]
        assert max(abs(g - run.entropy_of_targets) for g in gaps) < 1e-12


# --------------------------------------------------------------------------------------
# Jupyter and the training picture

# The LaTeX commands the results are written with; all are MathJax's (the docs and
# Jupyter typeset with MathJax). A misspelt command is not among them.
MATHJAX_COMMANDS = {
    "frac", "tfrac", "partial", "sum", "operatorname", "left", "right", "cdot", "hat",
    "delta", "sigma", "mathrm", "text", "quad", "qquad", "implies", "iff", "le", "ge",
    "ne", "approx", "forall", "in", "mathbb", "begin", "end", "log", "ln", "max", "exp",
    "top", "dots", "ldots", "Vert", "vert", "Rightarrow", "infty", "lim", "mathbf",
}  # fmt: skip


def _assert_valid_latex(math: str) -> None:
    """Balanced braces, matched environments and \\left/\\right, known commands only."""
    depth = 0
    stripped = re.sub(r"\\[{}|,;! ]", "", math)  # escaped braces and spacing commands
    stripped = stripped.replace("\\\\", "")  # row breaks
    for ch in stripped:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0, math
    assert depth == 0, math
    envs = re.findall(r"\\(begin|end)\{(\w+)\}", stripped)
    stack = []
    for kind, name in envs:
        if kind == "begin":
            stack.append(name)
        else:
            assert stack, math
            assert stack.pop() == name, math
    assert not stack, math
    assert len(re.findall(r"\\left\b", stripped)) == len(re.findall(r"\\right\b", stripped))
    unknown = set(re.findall(r"\\([A-Za-z]+)", stripped)) - MATHJAX_COMMANDS
    assert not unknown, (unknown, math)


def _math_blocks(markdown: str) -> list[str]:
    """The $$...$$ displays and $...$ inline spans of a Markdown text (none left open)."""
    displays = re.findall(r"\$\$(.+?)\$\$", markdown, flags=re.S)
    rest = re.sub(r"\$\$(.+?)\$\$", "", markdown, flags=re.S)
    inline = re.findall(r"\$([^$]+)\$", rest)
    assert re.sub(r"\$([^$]+)\$", "", rest).count("$") == 0, "an unclosed $"
    return displays + inline


def test_validator_rejects_broken_latex():
    for bad in (r"\frac{a}{b", r"\begin{aligned} a \end{cases}", r"\frca{a}{b}", r"\left( a"):
        with pytest.raises(AssertionError):
            _assert_valid_latex(bad)
    _assert_valid_latex(r"\frac{a}{b} \left(\sum_{k} x_k\right)")


def test_jupyter_representations_are_valid_markdown_and_latex(checks):
    for result in theory.RESULTS:
        md = result._repr_markdown_()
        assert md.startswith(f"### {result.number}. {result.title}")
        blocks = _math_blocks(md)
        # the statement and one aligned display per derivation
        assert len([b for b in blocks if "aligned" in b]) == len(result.chains)
        for block in blocks:
            _assert_valid_latex(block)
        latex = result._repr_latex_()
        assert latex.startswith("$$")
        assert latex.endswith("$$")
        _assert_valid_latex(latex.strip("$"))
        # every written step appears, as an aligned row
        for chain in result.chains:
            for link in chain.links:
                assert link.latex in md
    for check in checks:
        md = check._repr_markdown_()
        assert f"**{check.status}**" in md
        rows = [line for line in md.splitlines() if line.startswith("| $")]
        assert len(rows) == len(check.steps)
        for row in rows:  # one cell each: no unescaped | inside the math
            assert row.count(" | ") == 4, row
        for block in _math_blocks(md):
            _assert_valid_latex(block)
        for step in check.steps:
            _assert_valid_latex(step._repr_latex_().strip("$"))
    report = theory.Report(checks)
    md = report._repr_markdown_()
    assert md.count("| **proven** |") == 6
    header = md.splitlines()[0]
    for row in md.splitlines()[2:8]:  # one cell per column in every summary row
        assert row.count("|") == header.count("|"), row
    assert "| 13/13 | K = 4, general K | 3/3 |" in md
    for block in _math_blocks(md):
        _assert_valid_latex(block)
    assert theory.verify_all(numeric=False).status == "proven"


def test_training_comparison_draws_its_trajectories():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    run = theory.ce_vs_kl_training(label_smoothing=0.1, steps=30)
    ax = run.plot()
    try:
        by_label = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
        assert list(by_label["cross-entropy H(P, Q)"]) == list(run.cross_entropy)
        assert list(by_label["KL divergence D(P || Q)"]) == list(run.kl)
        # the dotted KL + H(P) curve lies on the CE curve: the decomposition, drawn
        shifted = by_label["KL + H(P)"]
        assert max(abs(a - b) for a, b in zip(shifted, run.cross_entropy, strict=True)) < 1e-12
        assert "H(P) = 0.2911" in ax.get_title()
        _, given = plt.subplots()
        assert run.plot(ax=given) is given
    finally:
        plt.close("all")


def test_a_derivative_without_a_rule_is_not_proven_rather_than_crashing():
    a = sp.Symbol("a", real=True)
    chain = Chain(
        title="no rule",
        start_latex="f",
        start=sp.Derivative(a**2, a),
        links=(_engine.Link("2 a", 2 * a, "power rule in a plain symbol"),),
    )
    (result,) = check_chain(chain)
    assert result.status == "failed"
    assert "indexed variables" in result.detail
