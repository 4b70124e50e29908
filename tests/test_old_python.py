"""An analysis on an older Python than capsule's: tests/projects/old-python built with a Python 3.8
(--python) and verified with the local backend, every output identical.

Skipped, with the reason, on a machine without a Python 3.8 (found as the local backend finds
one: python3.8 on PATH, or in pyenv's versions). The Docker path for old Pythons needs an image
with that exact interpreter and is not tested here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from capsule import interpreters
from capsule.cli import main
from capsule.errors import EnvironmentProblem

PROJECT = Path(__file__).resolve().parent / "projects" / "old-python"
OUTPUTS = ["results/means.svg", "results/python.txt", "results/summary.csv"]


@pytest.fixture
def python38() -> interpreters.Interpreter:
    """A Python 3.8 of this machine."""
    try:
        return interpreters.find("3.8")
    except EnvironmentProblem:
        pytest.skip("no Python 3.8 here (looked for python3.8 on PATH and in pyenv's versions)")


def test_an_analysis_on_python_3_8_is_built_and_verified_locally(
    python38: interpreters.Interpreter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CAPSULE_CACHE_DIR", str(tmp_path / "cache"))
    source = tmp_path / "old-python"
    shutil.copytree(PROJECT, source)
    shutil.rmtree(source / "results")  # the outputs on disk are the author's; build makes its own
    out = tmp_path / "old.capsule"
    assert main(["build", str(source), "-o", str(out), "--python", python38.path]) == 0

    built = json.loads((out / "capsule.json").read_text())
    assert built["lock"]["python_version"] == python38.version
    assert built["environment"]["python_version"] == python38.version
    assert built["lock"]["pins"] == []
    assert (out / "expected/results/python.txt").read_text() == python38.version + "\n"
    # The tracer ran inside Python 3.8: each output's writer is known to the line.
    script = (source / "scripts/summarise.py").read_text().splitlines()
    sites = {
        g["entity"]: (g["observed"], g["call_site"]["function"], script[g["call_site"]["line"] - 1])
        for g in built["provenance"]["generated"]
    }
    assert sites["results/means.svg"] == (
        "traced",
        "write_figure",
        '    path.write_text("\\n".join(parts) + "\\n")',
    )
    assert sorted(sites) == OUTPUTS

    capsys.readouterr()
    report = tmp_path / "report"
    code = main(["verify", str(out), "--backend", "local", "--report-dir", str(report)])
    said = capsys.readouterr()
    assert code == 0, said.err
    verification = json.loads((report / "verification.json").read_text())
    assert verification["outcome"] == "reproduced"
    assert verification["image"] == f"{python38.implementation} {python38.version}"
    assert sorted(o["path"] for o in verification["outputs"]) == OUTPUTS
    assert {o["status"] for o in verification["outputs"]} == {"identical"}
