"""capsule/runner.py: the argv and environment of a step, and what a run of real steps records."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from capsule import runner
from capsule.determinism import decide
from capsule.errors import StepFailed
from capsule.hashing import snapshot
from capsule.model import Determinism, Plan, Step
from capsule.runner import (
    RunPaths,
    RunResult,
    log_name,
    run_steps,
    step_argv,
    step_environment,
)

PYTHON = "/opt/analysis/bin/python3"
RUNTIME_PYTHON = "/opt/capsule/bin/python3"  # capsule's own, which runs the notebook client
DETERMINISM = decide(Plan(title="t", steps=(), data=(), outputs=(), exclude=()), None, {})


def run_paths(tmp_path: Path) -> RunPaths:
    """Run folders under tmp_path, with an empty runtime folder: no tracer, just the runner."""
    paths = RunPaths(
        work=tmp_path / "work",
        runtime=tmp_path / "runtime",
        matplotlibrc=tmp_path / "matplotlibrc",
        config=tmp_path / "config",
        logs=tmp_path / "logs",
        trace=tmp_path / "trace",
    )
    paths.work.mkdir()
    paths.runtime.mkdir()
    return paths


@pytest.mark.parametrize(
    ("step", "argv"),
    [
        (
            Step(name="a", kind="script", path="src/a.py", args=("--n", "3")),
            (PYTHON, "src/a.py", "--n", "3"),
        ),
        (
            Step(name="n", kind="notebook", path="nb/explore.ipynb"),
            (
                RUNTIME_PYTHON,
                "-m",
                runner.NOTEBOOK_RUNNER,
                runner.KERNEL_OPTION,
                PYTHON,
                "nb/explore.ipynb",
            ),
        ),
        (Step(name="c", kind="command", args=("python", "-m", "x")), (PYTHON, "-m", "x")),
        (Step(name="c", kind="command", args=("python3", "run.py")), (PYTHON, "run.py")),
        (Step(name="c", kind="command", args=("make", "all")), ("make", "all")),
        (Step(name="c", kind="command", args=()), ()),
    ],
    ids=["script", "notebook", "python", "python3", "other-command", "empty-command"],
)
def test_step_argv(step: Step, argv: tuple[str, ...]) -> None:
    assert step_argv(step, PYTHON, RUNTIME_PYTHON) == argv


@pytest.mark.parametrize(
    ("index", "name", "expected"),
    [
        (1, "01_clean.py", "01-01_clean.py"),
        (12, "make figures/all", "12-make-figures-all"),
        (3, "../../etc/passwd", "03-..-..-etc-passwd"),
        (4, "***", "04-step"),
    ],
)
def test_log_name_is_a_safe_file_name(index: int, name: str, expected: str) -> None:
    assert log_name(index, Step(name=name, kind="command", args=("true",))) == expected


def test_step_environment_keeps_only_a_few_host_variables(tmp_path: Path) -> None:
    host = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/home/author",
        "USER": "author",
        "LOGNAME": "author",
        "TMPDIR": "/var/tmp",
        "AWS_SECRET_ACCESS_KEY": "planted",
        "PYTHONPATH": "/home/author/hacks",
        "LD_PRELOAD": "/home/author/libfast.so",
        "OMP_NUM_THREADS": "64",
    }
    paths = run_paths(tmp_path)
    env = step_environment(DETERMINISM, paths, PYTHON, host)
    from_host = {name for name in env if name in host and env[name] == host[name]}
    assert from_host == {"HOME", "USER", "LOGNAME", "TMPDIR"}
    # The analysis' interpreter is found first, then the host's PATH.
    assert env["PATH"] == "/opt/analysis/bin:/usr/bin:/bin"
    assert set(DETERMINISM.env) <= set(env.items())
    assert env["OMP_NUM_THREADS"] == "1"
    assert env["PYTHONPATH"] == str(paths.runtime)
    assert env["CAPSULE_ANALYSIS_ROOT"] == str(paths.work)
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert "LD_PRELOAD" not in env


def test_step_environment_without_host_variables(tmp_path: Path) -> None:
    env = step_environment(DETERMINISM, run_paths(tmp_path), PYTHON, {})
    assert env["PATH"] == "/opt/analysis/bin"
    assert not {"HOME", "USER", "LOGNAME", "TMPDIR"} & set(env)


def run_all(paths: RunPaths, steps: tuple[Step, ...]) -> RunResult:
    """Run the steps in paths.work with this Python, the fixed settings and nothing of the host."""
    return run_steps(
        steps,
        paths=paths,
        python=sys.executable,
        determinism=DETERMINISM,
        packaged=snapshot(paths.work),
        host={},
    )


def script(name: str) -> Step:
    """A script step named after its file."""
    return Step(name=name, kind="script", path=name)


def test_run_steps_records_what_each_step_wrote_removed_and_changed(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    sources = {
        "01_make.py": "from pathlib import Path\nPath('out').mkdir()\n"
        "Path('out/a.txt').write_text('a')\nPath('out/b.txt').write_text('b')\n",
        "02_tidy.py": "from pathlib import Path\nPath('out/b.txt').unlink()\n"
        "Path('data.csv').write_text('rewritten')\nPath('scratch.txt').unlink()\n",
        "data.csv": "x\n1\n",
        "scratch.txt": "temporary\n",
    }
    for name, text in sources.items():
        (paths.work / name).write_text(text, encoding="utf-8")
    packaged = snapshot(paths.work)
    seen: list[tuple[int, str]] = []

    result = run_steps(
        (script("01_make.py"), script("02_tidy.py")),
        paths=paths,
        python=sys.executable,
        determinism=DETERMINISM,
        packaged=packaged,
        host={"PATH": "/usr/bin:/bin"},
        on_step=lambda index, step: seen.append((index, step.name)),
    )

    assert seen == [(1, "01_make.py"), (2, "02_tidy.py")]
    make, tidy = result.steps
    assert make.argv == ("python", "01_make.py")
    assert make.exit_code == 0
    assert make.wrote == ("out/a.txt", "out/b.txt")
    assert make.removed == ()
    assert make.changed_inputs == ()
    assert (make.log_stdout, make.log_stderr) == (
        "logs/01-01_make.py.stdout",
        "logs/01-01_make.py.stderr",
    )
    assert tidy.wrote == ("data.csv",)
    assert tidy.removed == ("out/b.txt", "scratch.txt")
    assert tidy.changed_inputs == ("data.csv", "scratch.txt")  # packaged files only
    assert result.writer == {"out/a.txt": "01_make.py", "data.csv": "02_tidy.py"}
    assert sorted(result.final) == ["01_make.py", "02_tidy.py", "data.csv", "out/a.txt"]
    assert sorted(runner.outputs_of(result, packaged)) == ["data.csv", "out/a.txt"]
    assert (paths.logs / "01-01_make.py.stdout").is_file()


def test_a_step_sees_the_step_environment(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    (paths.work / "env.py").write_text(
        "import os\nprint(os.environ['CAPSULE_STEP'], os.environ['PYTHONHASHSEED'],"
        " 'SECRET' in os.environ)\n",
        encoding="utf-8",
    )
    run_steps(
        (script("env.py"),),
        paths=paths,
        python=sys.executable,
        determinism=DETERMINISM,
        packaged=snapshot(paths.work),
        host={"PATH": "/usr/bin:/bin", "SECRET": "planted"},
    )
    assert (paths.logs / "01-env.py.stdout").read_text() == "env.py 0 False\n"


def test_a_failing_step_raises_with_the_end_of_its_stderr(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    (paths.work / "ok.py").write_text("print('fine')\n", encoding="utf-8")
    (paths.work / "bad.py").write_text(
        "import sys\nfor i in range(50):\n    print(f'noise {i}', file=sys.stderr)\n"
        "print('ValueError: the last words', file=sys.stderr)\nsys.exit(3)\n",
        encoding="utf-8",
    )
    never = paths.work / "never.py"
    never.write_text("open('ran', 'w')\n", encoding="utf-8")
    with pytest.raises(StepFailed) as raised:
        run_all(paths, (script("ok.py"), script("bad.py"), script("never.py")))
    message = raised.value.message
    assert message.startswith("step 'bad.py' failed with exit code 3")
    assert message.endswith("ValueError: the last words")
    assert "noise 49" in message
    assert "noise 0\n" not in message  # only the tail
    assert (paths.work / "ran").exists()  # the later steps still ran


def test_every_failing_step_is_said_at_once_and_python_2_by_name(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    (paths.work / "figure-1.py").write_text("print('fine')\n", encoding="utf-8")
    (paths.work / "figure-2.py").write_text("x = 1\nprint 'old'\n", encoding="utf-8")
    (paths.work / "figure-3.py").write_text("raise SystemExit('no data')\n", encoding="utf-8")
    with pytest.raises(StepFailed) as raised:
        run_all(paths, tuple(script(f"figure-{n}.py") for n in (1, 2, 3)))
    message = raised.value.message
    assert message.startswith("2 of 3 steps failed")
    assert "step 'figure-2.py' failed" in message and "step 'figure-3.py' failed" in message
    assert "a print statement at line 2 of figure-2.py: this is Python 2 code" in message
    assert "no data" in message
    assert str(paths.work) not in message  # paths as the author knows them


def test_a_missing_package_hints_at_the_interpreter(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    (paths.work / "a.py").write_text("import capsule_no_such_package\n", encoding="utf-8")
    with pytest.raises(StepFailed, match="ModuleNotFoundError") as raised:
        run_steps(
            (script("a.py"),),
            paths=paths,
            python=sys.executable,
            determinism=Determinism(env=(), source_date_epoch_from="default"),
            packaged=snapshot(paths.work),
            host={},
        )
    assert "--python" in raised.value.hint


def test_a_silent_failure_says_so(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    (paths.work / "a.py").write_text("raise SystemExit(1)\n", encoding="utf-8")
    with pytest.raises(StepFailed, match="wrote nothing to stderr"):
        run_all(paths, (script("a.py"),))


def test_a_step_runs_in_its_folder_with_its_settings(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    (paths.work / "part").mkdir()
    (paths.work / "part" / "where.py").write_text(
        "import os\nopen('here.txt', 'w').write(os.getcwd() + ' ' + os.environ['LEVEL'])\n",
        encoding="utf-8",
    )
    step = Step(name="w", kind="script", path="part/where.py", cwd="part", env=(("LEVEL", "3"),))
    result = run_all(paths, (step,))
    assert result.steps[0].wrote == ("part/here.txt",)
    assert (paths.work / "part" / "here.txt").read_text() == f"{paths.work / 'part'} 3"
    assert result.steps[0].argv == ("python", "where.py")  # named from its folder


def test_a_step_past_its_time_limit_is_stopped_and_said(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    (paths.work / "slow.py").write_text("import time\ntime.sleep(60)\n", encoding="utf-8")
    step = Step(name="slow", kind="script", path="slow.py", timeout_s=1)
    with pytest.raises(StepFailed, match=r"'slow' ran past its time limit of 1 s") as raised:
        run_all(paths, (step,))
    assert "timeout" in raised.value.hint
