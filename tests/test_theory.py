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
from softmaxkit.theory._report import docs_markdown, render_markdown, render_text

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
            assert step.mode in ("general K", "K = 2..8", "K = 2", "K = 4", "exact")
            if step.mode == "K = 2..8":
                assert step.ks == [2, 3, 4, 5, 6, 7, 8]
            # the 30-digit evaluation at random points agrees with the proof
            assert step.numeric_spot_check < 1e-20


def test_general_k_proofs_where_sympy_can(checks):
    by_name = {c.name: c for c in checks}
    assert "general K" in by_name["shift_invariance"].modes
    assert "general K" in by_name["softmax_jacobian"].modes
    assert "K = 4" in by_name["softmax_jacobian"].modes  # the worked example
    assert by_name["two_class_sigmoid"].modes == ["K = 2"]
    assert "general K" in by_name["cross_entropy_entropy_kl"].modes


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
    chain = _chain("cross_entropy_gradient", "y_hat")
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
    assert text.splitlines()[0] == "softmaxkit theory: 6 results, 6 proven"
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
