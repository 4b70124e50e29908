"""An analysis on an older Python than capsule's: tests/projects/old-python built with a Python 3.8
(--python) and verified with the local backend and in Docker, every output identical.

Skipped, with the reason, on a machine without a Python 3.8 (found as the local backend finds
one: python3.8 on PATH, or in pyenv's versions). In Docker it is verified from an offline base
image whose python3 is that very 3.8 (scripts/make-base-image.sh with CAPSULE_BASE_PYTHON).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from capsule import interpreters
from capsule.cli import main
from capsule.errors import EnvironmentProblem

from fixtures_docker import unavailable

REPO = Path(__file__).resolve().parent.parent
PROJECT = REPO / "tests" / "projects" / "old-python"
OUTPUTS = ["results/means.svg", "results/python.txt", "results/summary.csv"]


@pytest.fixture(scope="module")
def python38() -> interpreters.Interpreter:
    """A Python 3.8 of this machine."""
    try:
        return interpreters.find("3.8")
    except EnvironmentProblem:
        pytest.skip("no Python 3.8 here (looked for python3.8 on PATH and in pyenv's versions)")


def analysis_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A copy of the project without its outputs, and where its capsule goes; a fresh cache."""
    monkeypatch.setenv("CAPSULE_CACHE_DIR", str(tmp_path / "cache"))
    source = tmp_path / "old-python"
    shutil.copytree(PROJECT, source)
    shutil.rmtree(source / "results")  # the outputs on disk are the author's; build makes its own
    return source, tmp_path / "old.capsule"


def test_an_analysis_on_python_3_8_is_built_and_verified_locally(
    python38: interpreters.Interpreter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source, out = analysis_copy(tmp_path, monkeypatch)
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


# ── in Docker: an image whose python3 is the very Python 3.8 ─────────────────────────────


@pytest.fixture(scope="module")
def python38_image(python38: interpreters.Interpreter, docker_engine: Any) -> Iterator[str]:
    """An offline base image whose python3 is this machine's Python 3.8, made by
    scripts/make-base-image.sh (about a minute; kept while the test module runs)."""
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        unavailable("making a base image needs root and debootstrap (apt-get install debootstrap)")
    image = f"capsule-test-python:{python38.version}"
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "make-base-image.sh"), image],
        env={**os.environ, "CAPSULE_BASE_PYTHON": python38.path},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    yield image
    with contextlib.suppress(Exception):
        docker_engine.images.remove(image, force=True)


@pytest.mark.docker
@pytest.mark.slow
def test_an_analysis_on_python_3_8_is_verified_in_docker(
    python38: interpreters.Interpreter,
    python38_image: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source, out = analysis_copy(tmp_path, monkeypatch)
    build_args = ["--python", python38.path, "--base-image", python38_image]
    assert main(["build", str(source), "-o", str(out), *build_args]) == 0
    here = f"{python38.implementation} {python38.version}"
    assert json.loads((out / "capsule.json").read_text())["rerun_python"] == here

    capsys.readouterr()
    report = tmp_path / "report"
    code = main(["verify", str(out), "--report-dir", str(report)])
    said = capsys.readouterr()
    assert code == 0, said.out + said.err
    verification = json.loads((report / "verification.json").read_text())
    assert verification["backend"] == "docker"
    assert verification["rerun"]["network"] == "none"
    assert verification["rerun_python"] == here
    assert sorted(o["path"] for o in verification["outputs"]) == OUTPUTS
    assert {o["status"] for o in verification["outputs"]} == {"identical"}
    # python.txt holds the version that ran: the container's interpreter is the very 3.8.x
    assert (out / "expected/results/python.txt").read_text() == python38.version + "\n"
