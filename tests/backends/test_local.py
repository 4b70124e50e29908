"""Tests of capsule/backends/local.py, and of the BACKENDS table the verification chooses from.

Real runs: a small capsule built from an inline analysis, rerun in a virtual environment made
from its wheels. Each way the rerun can end (exit 0, a failure, the time limit, a program that
cannot be started) is reported as what it was.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from capsule import backends, manifest
from capsule.backends import _shared
from capsule.backends.local import (
    HOST_DIFFERS,
    NOT_FOUND_EXIT,
    PLATFORM,
    PYTHON_IMPLEMENTATION,
    PYTHON_VERSION,
    TIMED_OUT_EXIT,
    VENV_READY,
    WARNING,
    LocalBackend,
    host_differences,
    local_venv,
)
from capsule.build import BuildOptions, build
from capsule.cli import main
from capsule.errors import CapsuleError, EnvironmentProblem, ManifestError
from capsule.model import (
    HostDifference,
    Rerun,
    RerunRequest,
    RunLimits,
    SystemEnvironment,
    SystemPackage,
    SystemUse,
    UnownedFile,
)
from capsule.platforms import platform_of
from capsule.progress import Progress

from conftest import MakeProject, sample_manifest

ANALYSIS = {
    "01_write.py": """
        import pathlib, sys
        print("writing", file=sys.stderr)
        pathlib.Path("out").mkdir(exist_ok=True)
        pathlib.Path("out/result.txt").write_text("42\\n")
    """,
}
QUIET = Progress(enabled=False)
VENV_BIN = str(Path(sys.executable).parent)  # python is here, sh is not


@pytest.fixture
def capsule(make_project: MakeProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """ANALYSIS built into a capsule; virtual environments cached in tmp_path."""
    monkeypatch.setenv("CAPSULE_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "small.capsule"
    build(BuildOptions(source=make_project(ANALYSIS), output=out))
    return out


def cached(tmp_path: Path) -> set[Path]:
    """Everything in the test's cache folder (the build's fixture may have put some there)."""
    return set((tmp_path / "cache").rglob("*"))


def request(capsule: Path, limits: RunLimits | None = None) -> RerunRequest:
    """What verify gives a backend for this capsule."""
    return RerunRequest(
        capsule=capsule,
        manifest=manifest.read(capsule),
        capsule_id="0" * 64,
        base_image="",
        limits=limits or RunLimits(),
    )


def rerun(capsule: Path, rerun_dir: Path, limits: RunLimits | None = None) -> Rerun:
    """prepare, rerun and cleanup, as verify calls them."""
    backend = LocalBackend(request(capsule, limits))
    try:
        backend.prepare(QUIET)
        return backend.rerun(rerun_dir, QUIET)
    finally:
        backend.cleanup()


def replace_step(capsule: Path, code: str) -> None:
    """Make the capsule's step run `code` (the backend itself does not check the manifest)."""
    (capsule / "work/01_write.py").write_text(code)


# ── the local backend ────────────────────────────────────────────────────────────────────


def test_a_rerun_that_completes(capsule: Path, tmp_path: Path) -> None:
    done = rerun(capsule, tmp_path / "rerun")
    assert done.started
    own = ".".join(map(str, sys.version_info[:3]))
    assert done.image == f"CPython {own}" and done.image_id == ""
    record = done.record
    assert (record.exit_code, record.timed_out, record.oom_killed) == (0, False, False)
    assert record.failure == ""
    assert record.network == "host" and record.timeout_s == RunLimits().timeout_s
    assert (tmp_path / "rerun/outputs/out/result.txt").read_text() == "42\n"
    assert (tmp_path / "rerun/logs").is_dir()


def test_the_environment_is_cached_and_reused(capsule: Path, tmp_path: Path) -> None:
    rerun(capsule, tmp_path / "first")
    (ready,) = (tmp_path / "cache/venvs").glob(f"*/{VENV_READY}")
    stamp = ready.stat().st_mtime_ns
    rerun(capsule, tmp_path / "second")
    assert ready.stat().st_mtime_ns == stamp


def test_a_cached_environment_that_no_longer_starts_is_made_again(
    capsule: Path, tmp_path: Path
) -> None:
    rerun(capsule, tmp_path / "first")
    (ready,) = (tmp_path / "cache/venvs").glob(f"*/{VENV_READY}")
    python = ready.parent / "bin/python"
    python.unlink()  # as when the interpreter it was made from is gone
    done = rerun(capsule, tmp_path / "second")
    assert done.record.exit_code == 0
    assert python.exists()


def test_console_scripts_of_the_cached_environment_run(capsule: Path, tmp_path: Path) -> None:
    """Seen in the wild: the venv was made elsewhere and renamed, so every script's shebang
    named a folder that no longer existed."""
    venv = local_venv(capsule, sys.executable)
    scripts = [path for path in (venv / "bin").iterdir() if path.read_bytes()[:2] == b"#!"]
    assert scripts, "a venv has console scripts (pip at least)"
    for script in scripts:
        interpreter = script.read_text().splitlines()[0][2:].split()[0]
        assert Path(interpreter).parent == venv / "bin", (script.name, interpreter)
    done = subprocess.run(
        [str(venv / "bin/pip"), "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert str(venv) in done.stdout  # pip runs from the cached environment itself
    assert local_venv(capsule, sys.executable) == venv  # reused, scripts and all


def test_an_incomplete_environment_is_made_again_in_place(capsule: Path, tmp_path: Path) -> None:
    venv = local_venv(capsule, sys.executable)
    (venv / VENV_READY).unlink()  # as if a verification was killed while making it
    (venv / "leftover").write_text("half made")
    assert local_venv(capsule, sys.executable) == venv
    assert (venv / VENV_READY).is_file() and not (venv / "leftover").exists()
    assert not list(venv.parent.glob(".venv-*"))  # no staging folders any more


# ── how this machine differs from the capsule's ──────────────────────────────────────────


def test_host_differences_list_what_differs_and_nothing_else() -> None:
    the_manifest = dataclasses.replace(sample_manifest(), platform="linux/arm64")
    found = host_differences(
        the_manifest, python_version="3.11.2", python_implementation="CPython", machine="x86_64"
    )
    assert found == (
        HostDifference(what=PYTHON_VERSION, capsule="3.11.7", host="3.11.2"),
        HostDifference(what=PLATFORM, capsule="linux/arm64", host="linux/amd64"),
    )
    same = host_differences(
        the_manifest, python_version="3.11.7", python_implementation="CPython", machine="aarch64"
    )
    assert same == ()
    unpinned = dataclasses.replace(the_manifest, platform="")  # an older capsule: not compared
    assert host_differences(
        unpinned, python_version="3.11.7", python_implementation="PyPy", machine="riscv64"
    ) == (HostDifference(what=PYTHON_IMPLEMENTATION, capsule="CPython", host="PyPy"),)


def test_host_differences_name_the_system_packages_and_files_the_run_used() -> None:
    user = (SystemUse(step="make", program="/usr/bin/make"),)
    section = SystemEnvironment(
        os_release="debian 12",
        observer="strace 6.1",
        packages=(
            SystemPackage("make", "4.3-4.1", "amd64", ("/usr/bin/make",), user, in_base=False),
            SystemPackage("graphviz", "2.42.2-7", "amd64", ("/usr/bin/dot",), user, False),
            SystemPackage("libc6", "2.36-9", "amd64", ("/usr/lib/libc.so.6",), user, True),
            SystemPackage("libgvc6", "2.42.2-7", "amd64", (), (), in_base=False),  # a dependency
        ),
        unowned=(UnownedFile("/opt/capsule-test-missing/tool", user),),
        base_packages="image",
    )
    the_manifest = dataclasses.replace(sample_manifest(), system=section)
    found = host_differences(
        the_manifest,
        python_version="3.11.7",
        python_implementation="CPython",
        machine="x86_64",
        packages={"make": "4.3-4.1", "libc6": "2.36-9+deb12u14"},
        os_release="ubuntu 24.04",
    )
    assert found == (
        HostDifference(what="operating system", capsule="debian 12", host="ubuntu 24.04"),
        HostDifference(what="system package graphviz", capsule="2.42.2-7", host="not installed"),
        HostDifference(what="system package libc6", capsule="2.36-9", host="2.36-9+deb12u14"),
        HostDifference(
            what="file /opt/capsule-test-missing/tool", capsule="used by the build", host="missing"
        ),
    )


def test_verify_lists_the_host_differences(
    capsule: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = manifest.read(capsule)
    recorded = f"{sys.version_info.major}.{sys.version_info.minor}.99"
    changed = dataclasses.replace(
        old,
        lock=dataclasses.replace(old.lock, python_version=recorded),
        environment=dataclasses.replace(old.environment, python_implementation="PyPy"),
    )
    manifest.write(changed, capsule)  # capsule.json is not hashed in itself
    report = tmp_path / "report"
    code = main(["verify", str(capsule), "--backend", "local", "--report-dir", str(report)])
    data = json.loads((report / "verification.json").read_text())
    assert code == 0  # the outputs still match; the differences are said, not judged
    assert data["host_differences"] == [
        {
            "what": PYTHON_IMPLEMENTATION,
            "capsule": "PyPy",
            "host": platform.python_implementation(),
        },
        {"what": PYTHON_VERSION, "capsule": recorded, "host": platform.python_version()},
    ]
    assert data["rerun_platform"] == platform_of(platform.machine())
    assert data["platform"] == platform_of(platform.machine()) and not data["emulated"]
    captured = capsys.readouterr()
    said = HOST_DIFFERS.format(
        what=PYTHON_VERSION, capsule=recorded, host=platform.python_version()
    )
    assert said in " ".join(captured.err.split())
    assert f"{PYTHON_VERSION}: capsule {recorded}, this machine" in captured.out


def test_cleanup_removes_the_copy_of_the_capsule(capsule: Path, tmp_path: Path) -> None:
    backend = LocalBackend(request(capsule))
    backend.prepare(QUIET)
    backend.rerun(tmp_path / "rerun", QUIET)
    scratch = backend._scratch
    assert scratch is not None and (scratch / "capsule/run.sh").is_file()
    backend.cleanup()
    assert not scratch.exists()
    backend.cleanup()  # twice is harmless


def test_a_failing_rerun_reports_its_exit_code_and_output(capsule: Path, tmp_path: Path) -> None:
    replace_step(capsule, "import sys\nprint('it broke here', file=sys.stderr)\nsys.exit(5)\n")
    done = rerun(capsule, tmp_path / "rerun")
    assert done.started
    assert done.record.exit_code != 0 and not done.record.timed_out
    assert done.record.failure == _shared.EXITED.format(code=done.record.exit_code)
    assert any("it broke here" in line for line in done.record.log_tail)


def test_the_time_limit(capsule: Path, tmp_path: Path) -> None:
    replace_step(capsule, "import sys, time\nprint('waiting', file=sys.stderr)\ntime.sleep(60)\n")
    done = rerun(capsule, tmp_path / "rerun", RunLimits(timeout_s=3))
    record = done.record
    assert done.started and record.timed_out
    assert record.exit_code == TIMED_OUT_EXIT
    assert record.failure == _shared.TIMED_OUT.format(timeout=3)
    assert 3 <= record.run_s < 30


def test_sh_off_path_is_a_rerun_that_could_not_start(
    capsule: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen in the wild: with sh off PATH the rerun was said to exceed its time limit."""
    monkeypatch.setenv("PATH", VENV_BIN)
    done = rerun(capsule, tmp_path / "rerun")
    record = done.record
    assert not done.started
    assert not record.timed_out and not record.oom_killed
    assert record.exit_code == NOT_FOUND_EXIT
    assert record.failure == _shared.NOT_STARTED.format(reason="cannot run sh: no such program")
    assert record.log_tail == ()  # nothing ran, so nothing was written


def test_verify_reports_sh_off_path_truthfully(
    capsule: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", VENV_BIN)
    report = tmp_path / "report"
    code = main(["verify", str(capsule), "--backend", "local", "--report-dir", str(report)])
    data = json.loads((report / "verification.json").read_text())
    assert code == 2  # could not check: nothing ran
    assert data["outcome"] == "failed"
    assert data["rerun"]["timed_out"] is False
    assert data["rerun"]["exit_code"] == NOT_FOUND_EXIT
    failure = "the rerun could not be started: cannot run sh: no such program"
    assert data["rerun"]["failure"] == failure
    html = (report / "verification.html").read_text()
    assert "could not be started: cannot run sh: no such program" in html
    assert "time limit" not in html


def test_no_interpreter_of_the_capsules_python(
    capsule: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = json.loads((capsule / "capsule.json").read_text())
    data["lock"]["python_version"] = "3.1.4"
    (capsule / "capsule.json").write_text(json.dumps(data))
    monkeypatch.setenv("PATH", "")
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    backend = LocalBackend(request(capsule))
    before = cached(tmp_path)
    with pytest.raises(EnvironmentProblem, match=r"has no Python 3\.1$") as caught:
        backend.prepare(QUIET)
    assert "--backend docker" in caught.value.hint
    assert cached(tmp_path) == before  # nothing was made


def test_a_capsule_recording_no_python_version_runs_nothing(
    capsule: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = json.loads((capsule / "capsule.json").read_text())
    data["lock"]["python_version"] = "../../../bin/sh"
    (capsule / "capsule.json").write_text(json.dumps(data))
    before = cached(tmp_path)
    with pytest.raises(ManifestError, match=r"records the Python version '\.\./\.\./\.\./bin/sh'"):
        LocalBackend(request(capsule)).prepare(QUIET)
    assert cached(tmp_path) == before


# ── the table and the choice ─────────────────────────────────────────────────────────────


def test_the_table_names_each_backend() -> None:
    assert sorted(backends.BACKENDS) == ["docker", "local"]
    assert backends.BACKENDS["local"] is LocalBackend
    assert LocalBackend.warning == WARNING


def test_choose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/capsule-test/docker.sock")
    assert backends.choose("local") == "local"
    with pytest.raises(EnvironmentProblem) as caught:
        backends.choose(None)
    assert caught.value.message == backends.NO_ENGINE + backends.NO_BACKEND_GIVEN
    assert caught.value.hint == backends.NO_ENGINE_HINT
    with pytest.raises(EnvironmentProblem) as caught:
        backends.choose("docker")  # asked for by name: no fallback either
    assert caught.value.message == backends.NO_ENGINE
    with pytest.raises(
        CapsuleError, match="no backend podman; the backends are docker, local"
    ) as bad:
        backends.choose("podman")
    assert bad.value.hint == backends.UNKNOWN_BACKEND_HINT
