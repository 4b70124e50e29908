"""capsule's runtime is capsule's: notebook steps when capsule and the analysis live apart.

capsule runs here from its own environment (.venv, as pipx would install it) and the analysis
from another, with only ipykernel and numpy: the notebook client (nbclient, nbformat) runs in
capsule's interpreter and starts the kernel with the analysis', the analysis' lock holds none of
the client's packages, runtime.lock pins them apart, and the capsule verifies with no network.
The analysis' environment is made once per session (about half a minute).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import nbformat
import pytest

from capsule import manifest, runner
from capsule.build import BuildOptions, build
from capsule.errors import EnvironmentProblem, ManifestError
from capsule.hashing import sha256_file
from capsule.naming import RUNTIME_LOCK, RUNTIME_PYTHON_VARIABLE, RUNTIME_WHEELS
from capsule.runtime import _capsule_notebook
from capsule.verify import VerifyOptions, check_capsule, verify

from conftest import write_tree

# The branch's name in the analysis' folder names the images verify makes (capsule-verify/NAME).
ANALYSIS_NAME = "nb-runtime-analysis"
CLIENT_PACKAGES = {"nbclient", "nbformat"}
NOTEBOOK = "01_analysis.ipynb"
STEP = "01_analysis"
OUTPUTS = {"result.csv", "summary.txt"}


def notebook_text() -> str:
    """A notebook that imports numpy only, writes two files and shows a value."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# An analysis on numpy alone"),
        nbformat.v4.new_code_cell("import numpy as np\nrng = np.random.default_rng(7)"),
        nbformat.v4.new_code_cell(
            "values = rng.normal(size=(20, 3))\n"
            "np.savetxt('result.csv', values, delimiter=',', fmt='%.12f')\n"
            "open('summary.txt', 'w').write(f'mean {values.mean():.12f}\\n')\n"
            "values.shape"
        ),
    ]
    return str(nbformat.writes(notebook))


def make_venv(folder: Path, *packages: str) -> Path:
    """A virtual environment of capsule's base interpreter with `packages`; its python."""
    without_pip = () if packages else ("--without-pip",)
    subprocess.run([sys.executable, "-m", "venv", *without_pip, str(folder)], check=True)
    python = folder / "bin" / "python"
    if packages:
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--no-input", *packages],
            check=True,
        )
    return python


@dataclass(frozen=True)
class Separate:
    """The analysis' own environment and its capsule, built by capsule's environment."""

    python: Path
    source: Path
    capsule: Path


@pytest.fixture(scope="session")
def separate(tmp_path_factory: pytest.TempPathFactory) -> Separate:
    """An analysis venv with ipykernel and numpy (the versions beside capsule), and its capsule."""
    base = tmp_path_factory.mktemp("separate")
    python = make_venv(
        base / "analysis-venv",
        f"ipykernel=={version('ipykernel')}",
        f"numpy=={version('numpy')}",
    )
    source = write_tree(base / ANALYSIS_NAME, {NOTEBOOK: notebook_text()})
    out = base / f"{ANALYSIS_NAME}.capsule"
    build(BuildOptions(source=source, output=out, python=str(python)))
    return Separate(python=python, source=source, capsule=out)


def lock_names(path: Path) -> set[str]:
    """The names pinned by a lock file."""
    return {
        line.split("==", 1)[0].lower()
        for line in path.read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.startswith(("#", " "))
    }


# ── the build ─────────────────────────────────────────────────────────────────────────────


@pytest.mark.slow
def test_capsule_and_the_analysis_live_apart(separate: Separate) -> None:
    """The analysis' environment really lacks capsule's notebook client."""
    probe = "import importlib.util as u; print(u.find_spec('nbclient') is None)"
    done = subprocess.run([str(separate.python), "-c", probe], capture_output=True, text=True)
    assert done.stdout.strip() == "True"


@pytest.mark.slow
def test_the_lock_holds_the_analysis_packages_and_not_the_clients(separate: Separate) -> None:
    loaded = manifest.read(separate.capsule)
    pinned = {pin.name for pin in loaded.lock.pins}
    assert {"numpy", "ipykernel"} <= pinned
    assert not CLIENT_PACKAGES & pinned
    assert lock_names(separate.capsule / "requirements.lock") == pinned
    assert "numpy" in loaded.lock.imported_modules
    assert not {"nbclient", "nbformat"} & set(loaded.lock.imported_modules)


@pytest.mark.slow
def test_runtime_lock_pins_the_client_as_installed_beside_capsule(separate: Separate) -> None:
    loaded = manifest.read(separate.capsule)
    assert loaded.runtime_lock is not None
    runtime = {pin.name: pin for pin in loaded.runtime_lock.pins}
    assert {"nbclient", "nbformat", "jupyter-client"} <= set(runtime)
    assert "numpy" not in runtime
    for name in ("nbclient", "nbformat", "jupyter-client"):
        assert runtime[name].version == version(name)
    assert lock_names(separate.capsule / RUNTIME_LOCK) == set(runtime)
    # every wheel, and the lock, is a file of the capsule listed with its hash
    listed = {entry.path: entry.sha256 for entry in loaded.capsule_files}
    assert listed[RUNTIME_LOCK] == sha256_file(separate.capsule / RUNTIME_LOCK)
    for pin in runtime.values():
        rel = f"{RUNTIME_WHEELS}/{pin.wheel}"
        assert listed[rel] == pin.wheel_sha256 == sha256_file(separate.capsule / rel)


@pytest.mark.slow
def test_the_step_records_the_client_and_the_kernel(separate: Separate) -> None:
    loaded = manifest.read(separate.capsule)
    (step,) = loaded.steps
    assert step.argv == (
        runner.RUNTIME_PYTHON,
        "-m",
        runner.NOTEBOOK_RUNNER,
        runner.KERNEL_OPTION,
        "python",
        NOTEBOOK,
    )
    assert {entry.path for entry in loaded.outputs} == OUTPUTS
    run_sh = (separate.capsule / "run.sh").read_text(encoding="utf-8")
    assert f'"${RUNTIME_PYTHON_VARIABLE}" -m _capsule_notebook --kernel-python python' in run_sh


@pytest.mark.slow
def test_run_sh_without_the_clients_python_says_so(separate: Separate, tmp_path: Path) -> None:
    """Hostile input: run by hand without the client's environment, run.sh stops at once."""
    env = {key: value for key, value in os.environ.items() if key != RUNTIME_PYTHON_VARIABLE}
    done = subprocess.run(
        ["sh", str(separate.capsule / "run.sh"), str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert RUNTIME_PYTHON_VARIABLE in done.stderr
    assert "runtime.lock" in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_changed_runtime_wheel_is_refused(separate: Separate, tmp_path: Path) -> None:
    """Hostile input: a runtime wheel that is not the one built is refused before anything runs."""
    copy = tmp_path / "copy.capsule"
    shutil.copytree(separate.capsule, copy)
    wheel = sorted((copy / RUNTIME_WHEELS).glob("nbclient-*.whl"))[0]
    wheel.write_bytes(wheel.read_bytes() + b"\0")
    with pytest.raises(ManifestError, match=f"{RUNTIME_WHEELS}/{wheel.name}"):
        check_capsule(copy)


# ── the missing kernel ────────────────────────────────────────────────────────────────────


def test_an_analysis_python_without_ipykernel_is_refused_before_any_step(
    tmp_path: Path,
) -> None:
    bare = make_venv(tmp_path / "bare-venv")
    ran = tmp_path / "ran.txt"  # the first step, a script, would write it
    source = write_tree(
        tmp_path / "analysis",
        {"00_first.py": f"open({str(ran)!r}, 'w').write('ran')\n", NOTEBOOK: notebook_text()},
    )
    out = tmp_path / "a.capsule"
    with pytest.raises(EnvironmentProblem) as caught:
        build(BuildOptions(source=source, output=out, python=str(bare)))
    error = caught.value
    assert error.message == runner.NO_KERNEL.format(step=STEP, python=bare)
    assert error.hint == runner.NO_KERNEL_HINT.format(python=bare)
    assert error.exit_code == 3
    assert not out.exists()
    assert not ran.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".a.capsule")] == []


def test_check_kernel_ignores_plans_without_notebooks(tmp_path: Path) -> None:
    steps = (runner.Step(name="s", kind="script", path="s.py"),)
    runner.check_kernel(steps, str(tmp_path / "no-such-python"))  # never asked


def test_a_python_that_does_not_start_is_refused_for_a_notebook(tmp_path: Path) -> None:
    steps = (runner.Step(name="nb", kind="notebook", path=NOTEBOOK),)
    with pytest.raises(EnvironmentProblem, match="has no ipykernel"):
        runner.check_kernel(steps, str(tmp_path / "no-such-python"))


# ── the client ────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "argv",
    [[], ["a.ipynb", "b.ipynb"], ["--kernel-python"], ["--kernel-python", "py"], ["-x", "p", "n"]],
)
def test_the_client_refuses_wrong_arguments(argv: list[str], capsys: Any) -> None:
    assert _capsule_notebook.main(argv) == 2
    assert capsys.readouterr().err == _capsule_notebook.USAGE


def test_the_kernel_argv_names_an_absolute_interpreter(tmp_path: Path) -> None:
    """jupyter_client would replace a bare `python` by the client's own interpreter."""
    found = shutil.which("python3")
    assert found is not None
    argv = _capsule_notebook.kernel_argv("python3")
    assert argv == [str(Path(found).absolute()), "-m", "_capsule_kernel", "-f", "{connection_file}"]
    assert _capsule_notebook.kernel_argv("/x/bin/python")[0] == "/x/bin/python"


def test_the_clients_imports_are_not_recorded_but_the_kernels_are(tmp_path: Path) -> None:
    """One traced notebook run: the client's record has no modules, the kernel's has them."""
    root = write_tree(tmp_path / "work", {NOTEBOOK: notebook_text()})
    trace = tmp_path / "trace"
    trace.mkdir()
    runtime = Path(_capsule_notebook.__file__).parent
    env = {
        **os.environ,
        "PYTHONPATH": str(runtime),
        "CAPSULE_TRACE_DIR": str(trace),
        "CAPSULE_ANALYSIS_ROOT": str(root),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "_capsule_notebook", "--kernel-python", sys.executable, NOTEBOOK],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(path.read_text()) for path in sorted(trace.glob("process-*.json"))]
    by_program = {Path(record["argv"][0]).stem: record for record in records}
    assert set(by_program) == {"_capsule_notebook", "_capsule_kernel"}
    assert by_program["_capsule_notebook"]["modules"] == {}
    kernel = by_program["_capsule_kernel"]["modules"]
    assert {"numpy", "ipykernel"} <= set(kernel)
    assert not {"nbclient", "nbformat"} & set(kernel)
    # the kernel's writes are traced: the step's outputs keep their lineage
    written = {event[2] for event in by_program["_capsule_kernel"]["events"] if event[1] == "write"}
    assert written >= OUTPUTS


# ── verification ──────────────────────────────────────────────────────────────────────────


@pytest.mark.docker
@pytest.mark.slow
def test_verified_in_docker_with_no_network(
    separate: Separate, base_image: str, docker_engine: Any, tmp_path: Path
) -> None:
    result = verify(
        VerifyOptions(capsule=separate.capsule, base_image=base_image, report_dir=tmp_path / "v")
    )
    verification = result.verification
    try:
        assert verification.backend == "docker"
        assert verification.outcome == "reproduced", verification.rerun.log_tail
        assert verification.rerun.network == "none"
        assert {check.path for check in verification.outputs} == OUTPUTS
        assert all(check.status == "identical" for check in verification.outputs)
    finally:
        with contextlib.suppress(Exception):
            docker_engine.images.remove(verification.image_id, force=True)


@pytest.mark.slow
def test_verified_by_the_local_backend(
    separate: Separate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAPSULE_CACHE_DIR", str(tmp_path / "cache"))
    result = verify(
        VerifyOptions(capsule=separate.capsule, backend="local", report_dir=tmp_path / "v")
    )
    verification = result.verification
    assert verification.outcome == "reproduced", verification.rerun.log_tail
    assert {check.path for check in verification.outputs} == OUTPUTS
