"""The exact interpreter: the rerun runs the Python the build ran, or the build says it cannot.

The offline base image (scripts/make-base-image.sh) carries this machine's own interpreter as its
`python3`. tests/projects/requires-python needs Python >= 3.11.5 (Debian 12 has 3.11.2): built
from the base image it verifies in Docker; from an image with Debian's Python the build stops at
once with exit 3. The images' Pythons are asked in a sandboxed container, and a hostile answer
is not believed.
"""

from __future__ import annotations

import contextlib
import json
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from capsule import interpreters
from capsule.backends import docker as capsule_docker
from capsule.build import OTHER_PYTHON_HINT, BuildOptions, build
from capsule.cli import main
from capsule.errors import EnvironmentProblem
from capsule.verify import VerifyOptions, verify

PROJECT = Path(__file__).resolve().parent / "projects" / "requires-python"
HERE = f"{platform.python_implementation()} {platform.python_version()}"

# An image whose python3 is Debian's own: the base image without the wrapper that starts
# this machine's interpreter.
DEBIAN_PYTHON = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN rm -f /usr/local/bin/python3 /usr/local/bin/python3.11
"""
# An image whose python3 answers with a lie shaped like a version, then a shell command.
LYING_PYTHON = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN printf '#!/bin/sh\\necho "3 11 3.11.7;rm CPython"\\n' > /usr/local/bin/python3 \\
    && chmod 0755 /usr/local/bin/python3
"""


@pytest.fixture(scope="module")
def analysis_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment of capsule's interpreter with capfix-recent installed; its python."""
    base = tmp_path_factory.mktemp("recent")
    source = base / "capfix-recent"
    shutil.copytree(PROJECT / "capfix-recent", source)  # setuptools writes build/ beside it
    subprocess.run([sys.executable, "-m", "venv", str(base / "venv")], check=True)
    python = base / "venv" / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-input", str(source)], check=True
    )
    return python


@pytest.fixture
def analysis(tmp_path: Path) -> Path:
    """A copy of the analysis folder."""
    return Path(shutil.copytree(PROJECT / "analysis", tmp_path / "requires-python"))


@pytest.mark.docker
def test_the_base_image_runs_this_machines_exact_python(base_image: str) -> None:
    found = capsule_docker.image_python(base_image)
    assert found is not None
    assert f"{found.implementation} {found.version}" == HERE


@pytest.mark.docker
@pytest.mark.slow
def test_a_package_needing_a_newer_python_than_debians_is_built_and_verified(
    analysis_python: Path,
    analysis: Path,
    base_image: str,
    docker_engine: Any,
    tmp_path: Path,
) -> None:
    out = tmp_path / "recent.capsule"
    build(
        BuildOptions(
            source=analysis, output=out, python=str(analysis_python), base_image=base_image
        )
    )
    built = json.loads((out / "capsule.json").read_text())
    assert built["rerun_python"] == HERE
    pins = {pin["name"]: pin for pin in built["lock"]["pins"]}
    assert pins["capfix-recent"]["source"] == "built"
    assert (out / "expected/results/report.txt").read_text() == f"capfix-recent 1.0.0 on {HERE}\n"

    result = verify(VerifyOptions(capsule=out, base_image=base_image, report_dir=tmp_path / "v"))
    verification = result.verification
    try:
        assert verification.outcome == "reproduced", verification.rerun.log_tail
        assert verification.rerun_python == HERE
        assert verification.host_differences == ()
        saved = json.loads((tmp_path / "v" / "verification.json").read_text())
        assert saved["rerun_python"] == HERE
    finally:
        with contextlib.suppress(Exception):
            docker_engine.images.remove(verification.image_id, force=True)


@pytest.mark.docker
def test_a_base_image_with_another_python_stops_the_build_before_any_step(
    image_factory: Callable[[dict[str, str]], str],
    analysis: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    debian = image_factory({"Dockerfile": DEBIAN_PYTHON})
    theirs = capsule_docker.image_python(debian)
    assert theirs is not None and theirs.version != platform.python_version()
    # a script step that would leave a mark if it ran
    (analysis / "scripts" / "report.py").write_text("open('/tmp/ran', 'w')\n")
    out = tmp_path / "refused.capsule"
    code = main(["build", str(analysis), "-o", str(out), "--base-image", debian])
    said = capsys.readouterr().err
    assert code == 3
    assert f"runs CPython {theirs.version} and the analysis {HERE}" in said
    assert OTHER_PYTHON_HINT.format(version=platform.python_version()) in " ".join(said.split())
    assert not out.exists()


@pytest.mark.docker
def test_an_image_whose_python_answers_nonsense_is_an_environment_problem(
    image_factory: Callable[[dict[str, str]], str],
) -> None:
    """Hostile input: what an image prints is parsed, never run, and a lie is not a version."""
    lying = image_factory({"Dockerfile": LYING_PYTHON})
    with pytest.raises(EnvironmentProblem, match="has no python3 that answers"):
        capsule_docker.image_python(lying)


def test_an_answer_is_four_plain_words_or_nothing() -> None:
    assert interpreters.answer("p", "3 11 3.11.7 CPython\n") == interpreters.Interpreter(
        path="p", version="3.11.7", implementation="CPython", major_minor=(3, 11)
    )
    for said in (
        "",
        "3 11 3.11.7",
        "3 11 3.11.7;rm CPython",
        "x y 3.11.7 CPython",
        "3 11 v CPy-thon",
    ):
        assert interpreters.answer("p", said) is None
