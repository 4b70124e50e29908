"""The local backend: the capsule's pins installed from its wheels into a cached virtual
environment on this machine, and the analysis rerun there: no container, no sandbox.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from capsule import process
from capsule.backends._shared import NOT_STARTED, failure_text, log_tail
from capsule.cache import cache_dir
from capsule.errors import (
    EnvironmentProblem,
    ProcessTimedOut,
    ProgramFailedToStart,
    ProgramNotFound,
)
from capsule.hashing import sha256_bytes
from capsule.model import Rerun, RerunRecord, RerunRequest, RunLimits
from capsule.naming import RUNTIME_LOCK, RUNTIME_PYTHON_VARIABLE, RUNTIME_WHEELS
from capsule.progress import Progress

# ── user-facing strings (tests import them) ───────────────────────────────────────────────

WARNING = "the local backend runs the capsule's code on this machine, outside any sandbox"
NO_PYTHON = "the capsule was built with Python {version}, and no python{major_minor} is on PATH"
NO_PYTHON_HINT = "install Python {major_minor}, or verify in a container (--backend docker)"

VENV_READY = ".capsule-ready"  # written last: a cached environment without it is incomplete
# What a POSIX shell (and `docker run`) reports for a command it could not start: 127 when there
# is no such program, 126 when there is one but it cannot be executed.
NOT_FOUND_EXIT = 127
NOT_EXECUTABLE_EXIT = 126
TIMED_OUT_EXIT = -1  # killed at the time limit: it never reported an exit code of its own
PASSED_ENVIRONMENT = ("HOME", "USER", "LOGNAME")  # the rest of this machine's is left out


@dataclass(frozen=True)
class _Ended:
    """How the run.sh process ended, as the RerunRecord reports it."""

    exit_code: int
    output: str  # the end of what it wrote to stderr
    timed_out: bool = False
    started: bool = True
    reason: str = ""  # why it could not be started


class LocalBackend:
    """Rerun a capsule in a virtual environment made from its wheels, on this machine."""

    warning = WARNING

    def __init__(self, request: RerunRequest) -> None:
        self._request = request
        self._python = ""
        self._venv: Path | None = None
        self._runtime_venv: Path | None = None  # the notebook client's, when the capsule has one
        self._build_s = 0.0
        self._scratch: Path | None = None

    def prepare(self, progress: Progress) -> None:
        """Find the capsule's Python X.Y, and make (or reuse) its virtual environment."""
        self._python = local_python(self._request.manifest.lock.python_version)
        start = time.monotonic()
        with progress.stage("Making a virtual environment from wheels/ (no network)"):
            self._venv = local_venv(self._request.capsule, self._python)
            if self._request.manifest.runtime_lock is not None:
                self._runtime_venv = local_venv(
                    self._request.capsule, self._python, RUNTIME_LOCK, RUNTIME_WHEELS
                )
        self._build_s = time.monotonic() - start

    def rerun(self, rerun_dir: Path, progress: Progress) -> Rerun:
        """Run a copy of the capsule's run.sh, its outputs and logs written under rerun_dir."""
        if self._venv is None:
            raise RuntimeError("LocalBackend.rerun before prepare")  # a bug, not a user error
        limits = self._request.limits
        self._scratch = Path(tempfile.mkdtemp(prefix="capsule-local-"))
        copy = self._scratch / "capsule"
        shutil.copytree(
            self._request.capsule,
            copy,
            ignore=shutil.ignore_patterns("wheels", RUNTIME_WHEELS, "expected"),
        )
        env = {
            "PATH": os.pathsep.join((str(self._venv / "bin"), os.environ.get("PATH", ""))),
            **{name: os.environ[name] for name in PASSED_ENVIRONMENT if name in os.environ},
            "TMPDIR": str(self._scratch),
        }
        if self._runtime_venv is not None:
            env[RUNTIME_PYTHON_VARIABLE] = str(self._runtime_venv / "bin" / "python")
        argv = ["sh", str(copy / "run.sh"), str(rerun_dir / "outputs"), str(rerun_dir / "logs")]
        with progress.stage("Running the analysis on this machine"):
            start = time.monotonic()
            ended = _run(argv, copy, env, limits)
            run_s = round(time.monotonic() - start, 3)
        failure = (
            failure_text(ended.exit_code, limits, timed_out=ended.timed_out)
            if ended.started
            else NOT_STARTED.format(reason=ended.reason)
        )
        record = RerunRecord(
            exit_code=ended.exit_code,
            build_s=round(self._build_s, 3),
            run_s=run_s,
            timed_out=ended.timed_out,
            failure=failure,
            log_tail=log_tail(ended.output),
            network="host",
            timeout_s=limits.timeout_s,
        )
        # The interpreter's name, not its path: a path can name the reviewer (/home/NAME/…).
        return Rerun(
            record=record, image=Path(self._python).name, image_id="", started=ended.started
        )

    def cleanup(self) -> None:
        """Remove the copy of the capsule; the virtual environment stays in the cache."""
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


def _run(argv: list[str], cwd: Path, env: dict[str, str], limits: RunLimits) -> _Ended:
    """Run argv to its end, or to its time limit; say truthfully why it did not start."""
    try:
        done = process.run(argv, cwd=cwd, env=env, check=False, timeout=limits.timeout_s)
    except ProcessTimedOut as error:
        return _Ended(exit_code=TIMED_OUT_EXIT, output=error.stderr, timed_out=True)
    except ProgramFailedToStart as error:
        code = NOT_FOUND_EXIT if isinstance(error, ProgramNotFound) else NOT_EXECUTABLE_EXIT
        return _Ended(exit_code=code, output="", started=False, reason=error.message)
    return _Ended(exit_code=done.returncode, output=done.stderr)


def local_python(version: str) -> str:
    """An interpreter of the capsule's Python X.Y on this machine; EnvironmentProblem if none."""
    major_minor = ".".join(version.split(".")[:2])
    if f"{sys.version_info.major}.{sys.version_info.minor}" == major_minor:
        return sys.executable
    found = shutil.which(f"python{major_minor}")
    if found is None:
        raise EnvironmentProblem(
            NO_PYTHON.format(version=version, major_minor=major_minor),
            hint=NO_PYTHON_HINT.format(major_minor=major_minor),
        )
    return found


def local_venv(
    capsule: Path, python: str, lock_name: str = "requirements.lock", wheels: str = "wheels"
) -> Path:
    """A virtual environment with exactly the pins of the capsule's lock_name, from its wheels.

    Environments are kept in capsule's cache, keyed by the lockfile and the interpreter, so a
    second verification of the same capsule reuses its environment instead of reinstalling.
    """
    lock = capsule / lock_name
    key = sha256_bytes(lock.read_bytes() + b"\0" + str(Path(python).absolute()).encode())
    target = cache_dir() / "venvs" / key[:32]
    if (target / VENV_READY).is_file():
        if _venv_works(target):
            return target
        shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".venv-", dir=target.parent))
    try:
        process.run([python, "-m", "venv", str(staging)])
        if any(line and not line.startswith(("#", " ")) for line in lock.read_text().splitlines()):
            process.run(
                [
                    str(staging / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--no-index",
                    "--find-links",
                    str(capsule / wheels),
                    "--require-hashes",
                    "--no-deps",
                    "-r",
                    str(lock),
                ],
            )
        (staging / VENV_READY).write_text(lock.read_text())
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _venv_works(venv: Path) -> bool:
    """Whether a cached environment's interpreter still starts (its base Python may be gone)."""
    try:
        return (
            process.run([str(venv / "bin" / "python"), "-c", "pass"], check=False).returncode == 0
        )
    except ProgramFailedToStart:
        return False
