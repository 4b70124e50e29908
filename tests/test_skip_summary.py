"""The test run's own reporting: skips summed up by reason last, nothing deselected by default."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from conftest import REPO
from skip_summary import HEADER, NONE_SKIPPED

SOME_SKIPS = """
import pytest

def test_runs():
    pass

@pytest.mark.parametrize("n", [1, 2])
def test_needs_a_tool(n):
    pytest.skip("the tool is not installed")

def test_needs_another():
    pytest.skip("the other tool is not installed")
"""


def run_pytest(folder: Path, source: str) -> list[str]:
    """Run pytest with the plugin on one test file in folder; return its output lines."""
    (folder / "test_example.py").write_text(source, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "skip_summary", "-ra", "-p", "no:cacheprovider"],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines()


def test_skips_are_counted_by_reason_just_before_pytests_last_line(tmp_path: Path) -> None:
    lines = run_pytest(tmp_path, SOME_SKIPS)
    assert "1 passed, 3 skipped" in lines[-1]
    assert lines[-4:-1] == [
        lines[-4],
        "    2  the tool is not installed",
        "    1  the other tool is not installed",
    ]
    assert f"3 {HEADER}" in lines[-4]
    assert lines.index(lines[-4]) > next(
        i for i, line in enumerate(lines) if "short test summary info" in line
    )


def test_a_run_without_skips_says_so(tmp_path: Path) -> None:
    lines = run_pytest(tmp_path, "def test_runs():\n    pass\n")
    assert lines[-2] == NONE_SKIPPED
    assert "1 passed" in lines[-1]


def test_no_marker_is_deselected_by_default() -> None:
    # The Docker, browser and LaTeX tests run whenever their tools are present; they skip
    # (with the reason) only when a tool is missing, never by being deselected.
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    addopts = pyproject["tool"]["pytest"]["ini_options"]["addopts"].split()
    assert "-m" not in addopts
    assert not [option for option in addopts if option.startswith(("-m", "-k"))]
    script = (REPO / "scripts" / "test.sh").read_text(encoding="utf-8").splitlines()
    runs = [line for line in script if "pytest" in line and not line.startswith("#")]
    assert runs == ['exec .venv/bin/python -m pytest "$@"']
