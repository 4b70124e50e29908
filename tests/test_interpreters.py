"""capsule/interpreters.py: asking an interpreter which Python it is, refusing one outside the
supported range before any step runs, and finding one of a capsule's version on this machine.

Fake interpreters are small shell scripts that answer (or fail to answer) the way a real one
would; the real ones are the pyenv interpreters, used when the machine has them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from capsule import interpreters
from capsule.build import BuildOptions, build
from capsule.cli import main
from capsule.errors import EnvironmentProblem, ManifestError, PlanError

from conftest import MakeProject

PYENV = Path.home() / ".pyenv" / "versions"
STEP = {"capsule.toml": '[[steps]]\nscript = "a.py"\n', "a.py": "open('ran.txt', 'w')\n"}


def fake_python(folder: Path, answer: str, *, name: str = "python3", code: int = 0) -> Path:
    """A program that prints `answer` (and exits with `code`) whatever it is asked."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\necho '{answer}'\nexit {code}\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def installed(version: str) -> Path:
    """A pyenv interpreter of this machine, or skip the test naming it."""
    path = PYENV / version / "bin" / "python"
    if not path.is_file():
        pytest.skip(f"no Python {version} here ({path})")
    return path


# ── asking ────────────────────────────────────────────────────────────────────────────────


def test_capsule_s_own_python_answers() -> None:
    found = interpreters.resolve("")
    assert found.path == sys.executable
    assert found.major_minor == sys.version_info[:2]
    assert found.version.startswith(f"{sys.version_info[0]}.{sys.version_info[1]}.")
    assert found.implementation == "CPython"


@pytest.mark.parametrize(
    ("answer", "code", "said"),
    [
        ("pyenv: python3.8: command not found", 127, "exit code 127"),
        ("3.8.18", 0, "3.8.18"),  # too few fields
        ("three eight 3.8.18 CPython", 0, "three eight"),
        ("", 0, "no answer"),
    ],
)
def test_a_program_that_does_not_answer_is_refused(
    tmp_path: Path, answer: str, code: int, said: str
) -> None:
    fake = fake_python(tmp_path, answer, code=code)
    with pytest.raises(PlanError, match="did not say which Python it is") as caught:
        interpreters.resolve(str(fake))
    assert said in caught.value.message
    assert "pyenv shim" in caught.value.hint


def test_a_program_that_is_not_there_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="cannot find the Python interpreter"):
        interpreters.resolve(str(tmp_path / "python9"))
    not_executable = tmp_path / "python"
    not_executable.write_text("", encoding="utf-8")
    with pytest.raises(PlanError, match="cannot find the Python interpreter"):
        interpreters.resolve(str(not_executable))


@pytest.mark.parametrize(
    "answer", ["3 7 3.7.16 CPython", "3 14 3.14.0 CPython", "2 7 2.7.18 CPython"]
)
def test_a_python_outside_the_range_is_refused(tmp_path: Path, answer: str) -> None:
    fake = fake_python(tmp_path, answer)
    with pytest.raises(PlanError) as caught:
        interpreters.resolve(str(fake))
    assert caught.value.message == interpreters.UNSUPPORTED.format(
        python=fake, version=answer.split()[2], supported="3.8 to 3.13"
    )
    assert caught.value.hint == interpreters.UNSUPPORTED_HINT


@pytest.mark.parametrize("version", ["2.7.18", "3.6.15", "3.7.16"])
def test_build_refuses_a_real_old_python_before_any_step_runs(
    make_project: MakeProject, tmp_path: Path, capsys: pytest.CaptureFixture[str], version: str
) -> None:
    python = installed(version)
    root = make_project(STEP)
    out = tmp_path / "a.capsule"
    code = main(["build", str(root), "-o", str(out), "--python", str(python)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"is Python {version}; capsule runs analyses on Python 3.8 to 3.13" in err
    assert "hint: run the analysis with one of those" in err
    assert "Traceback" not in err and "SyntaxError" not in err
    assert not out.exists() and not (root / "ran.txt").exists()


def test_audit_refuses_it_too(
    make_project: MakeProject, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = fake_python(tmp_path / "bin", "2 7 2.7.18 CPython")
    root = make_project(STEP)
    assert main(["audit", str(root), "--python", str(fake)]) == 2
    assert "capsule runs analyses on Python 3.8 to 3.13" in capsys.readouterr().err


def test_python_in_capsule_toml_is_checked_as_well(
    make_project: MakeProject, tmp_path: Path
) -> None:
    fake = fake_python(tmp_path / "bin", "3 7 3.7.16 CPython")
    root = make_project(
        {**STEP, "capsule.toml": f'[analysis]\npython = "{fake}"\n{STEP["capsule.toml"]}'}
    )
    with pytest.raises(PlanError, match=r"Python 3\.7\.16; capsule runs analyses"):
        build(BuildOptions(source=root, output=tmp_path / "a.capsule"))


# ── finding one of a capsule's version ────────────────────────────────────────────────────


def test_find_prefers_the_exact_version_then_the_same_x_y(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = fake_python(tmp_path / "a", "3 8 3.8.1 CPython", name="python3.8")
    second = fake_python(tmp_path / "b", "3 8 3.8.2 CPython", name="python3.8")
    shim = fake_python(tmp_path / "shims", "pyenv: python3.8: command not found", code=127)
    shim.rename(shim.with_name("python3.8"))
    folders = [tmp_path / "shims", first.parent, second.parent]
    monkeypatch.setenv("PATH", ":".join(str(f) for f in folders))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    assert interpreters.find("3.8.2").path == str(second)
    assert interpreters.find("3.8.7").path == str(first)  # no 3.8.7: the first 3.8 that answers


def test_find_looks_in_pyenv_s_versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pyenv = tmp_path / "pyenv"
    fake_python(pyenv / "versions" / "3.9.4" / "bin", "3 9 3.9.4 CPython", name="python3.9")
    monkeypatch.setenv("PATH", "")
    monkeypatch.setenv("PYENV_ROOT", str(pyenv))
    found = interpreters.find("3.9.4")
    assert (found.path, found.version) == (str(pyenv / "versions/3.9.4/bin/python3.9"), "3.9.4")


def test_find_says_when_there_is_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    with pytest.raises(EnvironmentProblem) as caught:
        interpreters.find("3.1.4")
    assert caught.value.message == (
        "the capsule was built with Python 3.1.4, and this machine has no Python 3.1"
    )
    assert "install Python 3.1.4" in caught.value.hint
    assert "--backend docker" in caught.value.hint
    own = ".".join(map(str, sys.version_info[:3]))
    assert interpreters.find(own).path == sys.executable


@pytest.mark.parametrize(
    "version",
    [
        "",
        "3",
        "three.eight",
        "../../bin/sh",
        "3.8/../../x",
        "3.*",
        "3.8\n",
        "3.8; rm -rf /",
        "\x1b[31m3.8",
        "3.8." + "1" * 200,
    ],
)
def test_a_version_that_is_not_one_is_refused_before_any_lookup(
    version: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A program each lookup would find and run if the version became part of a path.
    for name in ("sh", "python3.8", "python3.*"):
        fake_python(tmp_path / "bin", "3 8 3.8.1 CPython", name=name)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    with pytest.raises(ManifestError) as caught:
        interpreters.find(version)
    assert caught.value.message == interpreters.NOT_A_VERSION.format(version=version)
    assert "\n" not in caught.value.message and "\x1b" not in caught.value.message
    assert caught.value.hint == interpreters.NOT_A_VERSION_HINT
