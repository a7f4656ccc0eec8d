"""The documentation site: it builds offline with warnings as errors, its gallery
runs, and its API reference and theory page cover what they should."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import softmaxkit

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("sphinx", reason='the docs extra is not installed: pip install ".[docs]"')
pytest.importorskip("sphinx_gallery", reason="Sphinx-Gallery is not installed")
pytest.importorskip("numpydoc", reason="numpydoc is not installed")
pytest.importorskip("myst_parser", reason="MyST-Parser is not installed")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """Build a copy of docs/ and examples/ (Sphinx-Gallery writes into the source
    folder, so the checkout stays clean): ``-W`` makes every warning an error,
    and the build reads nothing from the network."""
    work = tmp_path_factory.mktemp("docs")
    shutil.copytree(ROOT / "docs", work / "docs", ignore=shutil.ignore_patterns("_build"))
    shutil.copytree(ROOT / "examples", work / "examples")
    out = work / "html"
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q",
         str(work / "docs"), str(out)],
        capture_output=True, text=True, check=False, timeout=900,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return out


def _text(page: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))


def test_every_page_is_built(site):
    for page in ("index", "numerical", "backends", "gradients", "classifier", "cli", "dask",
                 "performance", "theory", "api", "auto_examples/index"):  # fmt: skip
        assert (site / f"{page}.html").is_file(), page


def test_api_reference_documents_every_public_name(site):
    api = (site / "api.html").read_text()
    for name in softmaxkit.__all__:
        if name == "__version__":
            continue
        assert f'id="softmaxkit.{name}"' in api, name
    # numpydoc rendered the sections and the formulas went to MathJax
    assert "Parameters" in api
    assert 'class="math' in api
    assert 'id="softmaxkit.theory.verify_all"' in api
    assert 'id="softmaxkit.SoftmaxRegression.calibrate"' in api


def test_theory_page_is_rendered_from_the_proofs(site):
    page = (site / "theory.html").read_text()
    text = _text(site / "theory.html")
    assert "general K" in text
    assert "sifting" in text
    assert r"\begin{aligned}" in page  # derivations as typeset displays
    assert "$`" not in page  # no GitHub-only math syntax left unrendered


def test_gallery_scripts_ran_and_drew(site):
    scripts = sorted(p.stem for p in (ROOT / "examples").glob("plot_*.py"))
    assert len(scripts) >= 6
    for stem in scripts:
        assert (site / "auto_examples" / f"{stem}.html").is_file(), stem
        assert list((site / "_images").glob(f"sphx_glr_{stem}_001.png")), stem
    # numbers the scripts computed at build time, in the pages
    shift = _text(site / "auto_examples" / "plot_shift_trick.html")
    assert "naive:      [nan nan nan]" in shift
    assert "log_softmax:  [   0. -999.]" in shift
    digits = _text(site / "auto_examples" / "plot_digits_from_scratch.html")
    accuracy = re.search(r"after 300 steps: training loss [\d.]+, test accuracy ([\d.]+)", digits)
    assert accuracy is not None
    assert float(accuracy.group(1)) > 0.9
    ce_kl = _text(site / "auto_examples" / "plot_ce_vs_kl.html")
    assert "label smoothing 0.1: H(P) = 0.291" in ce_kl
    calibration = _text(site / "auto_examples" / "plot_temperature_scaling.html")
    assert "same predictions: True" in calibration
