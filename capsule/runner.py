"""Run the steps of a plan in a scratch copy, under the determinism environment, and see what
each one wrote by comparing snapshots of the tree before and after it."""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from capsule import process, systrace
from capsule.environment import now_iso
from capsule.errors import (
    CapsuleError,
    EnvironmentProblem,
    ProcessError,
    ProcessTimedOut,
    StepFailed,
)
from capsule.hashing import Snapshot, Stat, diff, snapshot
from capsule.model import Determinism, Step, StepRun

NOTEBOOK_RUNNER = "_capsule_notebook"
KERNEL_OPTION = "--kernel-python"  # the notebook client's option naming the kernel's interpreter
PYTHON_NAMES = ("python", "python3")
# How a step's argv records capsule's own interpreter, which runs the notebook client.
RUNTIME_PYTHON = "capsule-runtime-python"
# Asked of the analysis' interpreter before a notebook step runs; -E keeps capsule's tracer out.
KERNEL_PROBE = (
    "import importlib.util, sys; "
    "sys.exit(0 if importlib.util.find_spec('ipykernel_launcher') else 1)"
)
# Run before an observed run (see warm_font_cache); a Python without matplotlib exits at once.
FONT_LIST_WARMUP = (
    "import importlib.util, sys\n"
    "if importlib.util.find_spec('matplotlib'):\n"
    "    import matplotlib.font_manager"
)
FONT_LIST_TIMEOUT_S = 300
# What Python 3 says of Python 2 code, and what that code is.
PYTHON2_MARKERS = {
    "Missing parentheses in call to 'print'": "a print statement",
    "Missing parentheses in call to 'exec'": "an exec statement",
    "multiple exception types must be parenthesized": "an `except X, e:` clause",
}
PYTHON2_HINT = "capsule runs analyses on Python 3: port it (`2to3 -w FILE` does most of it)"
ALLOW_FAILURE_HINT = (
    "if the step is meant to fail (a script kept for the record), add one line under its "
    "[[steps]] in capsule.toml, allow_failure = true, and verify will expect the same failure"
)
_TRACEBACK_PLACE = re.compile(r'File "([^"]+)", line (\d+)')

# ── user-facing strings (tests import them) ───────────────────────────────────────────────

TIMED_OUT = "step {step!r} ran past its time limit of {seconds} s and was stopped"
TIMED_OUT_HINT = "raise its timeout in capsule.toml, or make the step faster"
NO_KERNEL = (
    "notebook step {step!r} runs its kernel in the analysis' Python ({python}), "
    "which has no ipykernel"
)
NO_KERNEL_HINT = (
    "install it there (`{python} -m pip install ipykernel`), or point capsule at the "
    "interpreter the notebook runs with: --python PATH (or python = ... in capsule.toml)"
)


@dataclass(frozen=True)
class RunPaths:
    """Where one run happens: the tree it runs in and the folders around it."""

    work: Path  # the scratch copy the steps run in (never the author's folder)
    runtime: Path  # capsule's runtime folder, put on PYTHONPATH
    matplotlibrc: Path
    config: Path  # fresh matplotlib, Jupyter and IPython config folders
    logs: Path  # stdout and stderr of each step
    trace: Path  # per-process records of imported modules
    system: Path | None = None  # the system observer's records, a folder per step; None: off


@dataclass(frozen=True)
class RunResult:
    """What a run did: a record per step, the final snapshot and who last wrote each path."""

    steps: tuple[StepRun, ...]
    final: Snapshot
    writer: Mapping[str, str]  # path -> name of the last step that wrote it


def step_argv(step: Step, python: str, runtime_python: str) -> tuple[str, ...]:
    """The argv a step runs as; `python` stands for the analysis' interpreter.

    A notebook step runs capsule's notebook client with `runtime_python` (capsule's own
    interpreter), which starts the notebook's kernel with `python`.
    """
    # A step with its own cwd names its file from there (capsule.toml names it from the root).
    path = posixpath.relpath(step.path, step.cwd) if step.cwd and step.path else step.path
    if step.kind == "script":
        return (python, path, *step.args)
    if step.kind == "notebook":
        return (runtime_python, "-m", NOTEBOOK_RUNNER, KERNEL_OPTION, python, path)
    argv = step.args
    if argv and argv[0] in PYTHON_NAMES:
        return (python, *argv[1:])
    return argv


def shell_step(
    index: int, step: Step, runtime_python: str, expected_exit: int = 0
) -> dict[str, object]:
    """How run.sh runs a step: its name, log, folder (relative to work/), time limit, the exit
    code the build's run ended with (not 0 only for a step allowed to fail) and argv, `python`
    standing for the analysis' interpreter; its env settings go in through `env`."""
    argv = step_argv(step, "python", runtime_python)
    if step.env:
        argv = ("env", *(f"{name}={value}" for name, value in step.env), *argv)
    return {
        "name": step.name,
        "log": log_name(index, step),
        "cwd": step.cwd or ".",
        "timeout": step.timeout_s,
        "expect": expected_exit if step.allow_failure else 0,
        "argv": argv,
    }


def log_name(index: int, step: Step) -> str:
    """The base name of a step's log files: its position and a file-safe form of its name."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", step.name).strip("-") or "step"
    return f"{index:02d}-{slug}"


def step_environment(
    determinism: Determinism, paths: RunPaths, python: str, host: Mapping[str, str]
) -> dict[str, str]:
    """The whole environment of a step: nothing of the host's but PATH, HOME and the user.

    Secrets and settings of the author's shell never reach the analysis, so a dependency on
    them shows at build time instead of in a reviewer's rerun.
    """
    python_dir = str(Path(python).parent)
    env = {
        "PATH": os.pathsep.join(part for part in (python_dir, host.get("PATH", "")) if part),
        **{name: host[name] for name in ("HOME", "USER", "LOGNAME", "TMPDIR") if name in host},
        **dict(determinism.env),
        "MATPLOTLIBRC": str(paths.matplotlibrc),
        "MPLCONFIGDIR": str(paths.config / "matplotlib"),
        "JUPYTER_CONFIG_DIR": str(paths.config / "jupyter"),
        "JUPYTER_DATA_DIR": str(paths.config / "jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(paths.config / "jupyter-runtime"),
        "IPYTHONDIR": str(paths.config / "ipython"),
        "PYTHONPATH": str(paths.runtime),
        "CAPSULE_TRACE_DIR": str(paths.trace),
        "CAPSULE_ANALYSIS_ROOT": str(paths.work),
        "CAPSULE_LOG_DIR": str(paths.logs),
        # capsule's own tests force a tracer failure with it, to show it cannot fail a step
        **{name: host[name] for name in ("CAPSULE_TRACE_FAIL",) if name in host},
    }
    return env


def run_steps(
    steps: tuple[Step, ...],
    *,
    paths: RunPaths,
    python: str,
    determinism: Determinism,
    packaged: Snapshot,
    host: Mapping[str, str],
    on_step: Callable[[int, Step], None] = lambda _i, _s: None,
    observer: str = "",
) -> RunResult:
    """Run every step in order in paths.work; stop with StepFailed at the first that fails.

    `packaged` is the snapshot of the tree before any step ran: a step that modifies one of
    those files is changing its own inputs, which the record says. With `observer` (strace's
    path) and paths.system, every process of a step is observed into paths.system/<log name>.
    """
    check_kernel(steps, python)
    for folder in (paths.logs, paths.trace, paths.config):
        folder.mkdir(parents=True, exist_ok=True)
    env = step_environment(determinism, paths, python, host)
    if observer and paths.system is not None:
        warm_font_cache(python, env, paths.work)
    current = dict(packaged)
    failures: list[StepFailed] = []
    writer: dict[str, str] = {}
    records: list[StepRun] = []
    for index, step in enumerate(steps, start=1):
        on_step(index, step)
        argv = step_argv(step, python, sys.executable)
        log = log_name(index, step)
        started_at, start = now_iso(), time.monotonic()
        observed = argv
        if observer and paths.system is not None:
            observed = systrace.wrap(argv, observer, paths.system / log)
        done = _run_one(step, observed, paths, env, log)
        duration = time.monotonic() - start
        if isinstance(done, StepFailed):
            failures.append(done)  # the later steps still run: every failure is said at once
            continue
        after = snapshot(paths.work, previous=current)
        change = diff(current, after)
        for path in change.written:
            writer[path] = step.name
        for path in change.removed:
            writer.pop(path, None)
        records.append(
            StepRun(
                name=step.name,
                argv=_portable(step, argv, python),
                exit_code=done.returncode,
                started_at=started_at,
                duration_s=round(duration, 3),
                log_stdout=f"logs/{log}.stdout",
                log_stderr=f"logs/{log}.stderr",
                wrote=change.written,
                removed=change.removed,
                changed_inputs=tuple(
                    path for path in change.modified + change.removed if path in packaged
                ),
            )
        )
        current = after
    if failures:
        raise all_failed(failures, len(steps))
    return RunResult(steps=tuple(records), final=current, writer=writer)


def warm_font_cache(python: str, env: Mapping[str, str], cwd: Path) -> None:
    """Let matplotlib (if the analysis has it) build its font list before the observed run.

    Building it opens every font of the machine; done in the observed run, every font package
    would count as used. With the list made, a step opens only the fonts it draws with. Run
    without capsule's tracer (nothing is recorded), and whatever happens is ignored: the step
    builds the list itself then.
    """
    untraced = {k: v for k, v in env.items() if k not in ("PYTHONPATH", "CAPSULE_TRACE_DIR")}
    with contextlib.suppress(CapsuleError):
        process.run(
            (python, "-c", FONT_LIST_WARMUP),
            cwd=cwd,
            env=untraced,
            check=False,
            timeout=FONT_LIST_TIMEOUT_S,
        )


def outputs_of(result: RunResult, packaged: Snapshot) -> dict[str, Stat]:
    """The files the run left that were not packaged as they are: new or changed ones."""
    return {
        path: stat
        for path, stat in result.final.items()
        if path not in packaged or packaged[path].sha256 != stat.sha256
    }


def check_kernel(steps: tuple[Step, ...], python: str) -> None:
    """Before any step runs: a notebook step needs ipykernel in the analysis' Python.

    Raises EnvironmentProblem naming the first notebook step when `python` lacks it (or does
    not start).
    """
    notebook = next((step for step in steps if step.kind == "notebook"), None)
    if notebook is None:
        return
    try:
        found = process.run([python, "-E", "-c", KERNEL_PROBE], check=False).returncode == 0
    except ProcessError:
        found = False
    if not found:
        raise EnvironmentProblem(
            NO_KERNEL.format(step=notebook.name, python=python),
            hint=NO_KERNEL_HINT.format(python=python),
        )


def _run_one(
    step: Step, argv: tuple[str, ...], paths: RunPaths, env: Mapping[str, str], log: str
) -> process.Completed | StepFailed:
    """Run one step in its folder with its settings; what it did, or why it failed."""
    try:
        done = process.run(
            argv,
            cwd=paths.work / step.cwd,
            env={**env, **dict(step.env), "CAPSULE_STEP": step.name},
            check=False,
            timeout=step.timeout_s or None,
            stdout_path=paths.logs / f"{log}.stdout",
            stderr_path=paths.logs / f"{log}.stderr",
        )
    except ProcessTimedOut:
        return StepFailed(
            TIMED_OUT.format(step=step.name, seconds=step.timeout_s), hint=TIMED_OUT_HINT
        )
    if done.returncode != 0 and not step.allow_failure:
        return failure(step, done.returncode, paths.logs / f"{log}.stderr", paths.work)
    return done


def _portable(step: Step, argv: tuple[str, ...], python: str) -> tuple[str, ...]:
    """The argv as recorded: the analysis' interpreter written as `python`, and the notebook
    client's (capsule's own) as RUNTIME_PYTHON."""
    head = (RUNTIME_PYTHON,) if step.kind == "notebook" else argv[:1]
    return tuple("python" if part == python else part for part in (*head, *argv[1:]))


def failure(step: Step, code: int, stderr_log: Path, work: Path) -> StepFailed:
    """The error for a failed step: its name, exit code, the end of its stderr, and a hint."""
    text = stderr_log.read_text(encoding="utf-8", errors="replace").replace(f"{work}/", "")
    tail = process.stderr_tail(text)
    hint = f"fix the step and build again; {ALLOW_FAILURE_HINT}"
    python2 = python2_code(text)
    if python2:
        hint = f"{python2}: this is Python 2 code. {PYTHON2_HINT}; {ALLOW_FAILURE_HINT}"
    elif "ModuleNotFoundError" in tail:
        hint = (
            "the step's Python lacks a package: install it there, or point capsule at the "
            "interpreter the analysis uses with --python PATH (or python = ... in capsule.toml)"
        )
    return StepFailed(
        f"step {step.name!r} failed with exit code {code}"
        + (f"; the end of its stderr:\n{tail}" if tail else " and wrote nothing to stderr"),
        hint=hint,
        failed=((step.name, text),),
    )


def all_failed(failures: list[StepFailed], total: int) -> StepFailed:
    """One error for every step that failed, each with the end of its stderr and its hint."""
    if len(failures) == 1:
        return failures[0]
    parts = [f"{failure.message}\n  hint: {failure.hint}" for failure in failures]
    return StepFailed(
        f"{len(failures)} of {total} steps failed (a step after a failed one may have needed "
        "what it would have written):\n\n" + "\n\n".join(parts),
        hint="fix these steps (each hint above says how); those meant to fail get "
        "allow_failure = true under their [[steps]] in capsule.toml",
        failed=tuple(pair for failure in failures for pair in failure.failed),
    )


def python2_code(stderr: str) -> str:
    """ "print statement at line 3 of fig2.py" when stderr shows Python 2 code, else ""."""
    for marker, what in PYTHON2_MARKERS.items():
        if marker not in stderr:
            continue
        places = _TRACEBACK_PLACE.findall(stderr[: stderr.index(marker)])
        if not places:
            return what
        path, line = places[-1]
        return f"{what} at line {line} of {path}"
    return ""
