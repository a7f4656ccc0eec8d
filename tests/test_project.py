"""Project-level checks: the README's two commands, the demo, import cost, lint and types."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _quickstart_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_quickstart_has_two_commands_and_ci_runs_them_verbatim():
    commands = _quickstart_commands()
    assert len(commands) == 2
    assert "softmaxkit train" in commands[0]
    assert ".[test]" in commands[1]
    assert "pytest" in commands[1]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert [line for line in ci if line in commands] == commands


def test_import_is_light():
    # Optional libraries must not be imported by `import softmaxkit`.
    code = (
        "import sys, softmaxkit; "
        "heavy = [m for m in ('torch', 'jax', 'dask', 'scipy', 'sympy', 'matplotlib', "
        "'sklearn', 'pandas') if m in sys.modules]; print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def _tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is part of the test extra but is not installed")
    return found


def test_ruff_clean():
    for args in (
        ["check", "src", "tests", "benchmarks", "examples", "docs"],
        ["format", "--check", "src", "tests", "benchmarks", "examples", "docs"],
    ):
        done = subprocess.run(
            [_tool("ruff"), *args], cwd=ROOT, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_clean():
    done = subprocess.run([_tool("mypy")], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_readme_tour_runs():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})
