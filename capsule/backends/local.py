"""The local backend: the capsule's pins installed from its wheels into a cached virtual
environment on this machine, and the analysis rerun there: no container, no sandbox.
"""

from __future__ import annotations

import fcntl
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from capsule import interpreters, process, syspkg, system
from capsule.backends._shared import NOT_STARTED, failure_text, log_tail
from capsule.cache import cache_dir
from capsule.errors import (
    ProcessTimedOut,
    ProgramFailedToStart,
    ProgramNotFound,
)
from capsule.hashing import sha256_bytes
from capsule.interpreters import Interpreter
from capsule.model import HostDifference, Manifest, Rerun, RerunRecord, RerunRequest, RunLimits
from capsule.naming import RUNTIME_LOCK, RUNTIME_PYTHON_VARIABLE, RUNTIME_WHEELS
from capsule.platforms import platform_of
from capsule.progress import Progress

# ── user-facing strings (tests import them) ───────────────────────────────────────────────

WARNING = "the local backend runs the capsule's code on this machine, outside any sandbox"

HOST_DIFFERS = "this machine differs from the build's: {what}: capsule {capsule}, here {host}"
# What the local backend compares between the capsule and this machine (HostDifference.what).
PYTHON_IMPLEMENTATION = "python implementation"
PYTHON_VERSION = "python version"
PLATFORM = "platform"
OS_RELEASE = "operating system"
SYSTEM_PACKAGE = "system package {name}"
SYSTEM_FILE = "file {path}"
NOT_INSTALLED = "not installed"
MISSING_HERE = "missing"

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
        self._python: Interpreter | None = None
        self._venv: Path | None = None
        self._runtime_venv: Path | None = None  # the notebook client's, when the capsule has one
        self._build_s = 0.0
        self._scratch: Path | None = None
        self._differences: tuple[HostDifference, ...] = ()

    def prepare(self, progress: Progress) -> None:
        """Find the capsule's Python (X.Y.Z, else X.Y), say how this machine differs, make its
        environment."""
        self._python = interpreters.find(self._request.manifest.lock.python_version)
        database = syspkg.load()
        self._differences = host_differences(
            self._request.manifest,
            python_version=self._python.version,
            python_implementation=self._python.implementation,
            machine=platform.machine(),
            packages={p.name: p.version for p in database.packages.values()} if database else None,
            os_release=system.os_release(),
        )
        for difference in self._differences:
            progress.note(
                "[yellow]warning:[/yellow] "
                + HOST_DIFFERS.format(
                    what=difference.what, capsule=difference.capsule, host=difference.host
                )
            )
        start = time.monotonic()
        with progress.stage("Making a virtual environment from wheels/ (no network)"):
            self._venv = local_venv(self._request.capsule, self._python.path)
            if self._request.manifest.runtime_lock is not None:
                self._runtime_venv = local_venv(
                    self._request.capsule, self._python.path, RUNTIME_LOCK, RUNTIME_WHEELS
                )
        self._build_s = time.monotonic() - start

    def rerun(self, rerun_dir: Path, progress: Progress) -> Rerun:
        """Run a copy of the capsule's run.sh, its outputs and logs written under rerun_dir."""
        if self._venv is None or self._python is None:
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
        # What the interpreter is, not its path: a path can name the reviewer (/home/NAME/…).
        return Rerun(
            record=record,
            image=f"{self._python.implementation} {self._python.version}",
            image_id="",
            started=ended.started,
            platform=platform_of(platform.machine()),
            host_differences=self._differences,
            python=f"{self._python.implementation} {self._python.version}",
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


def host_differences(
    manifest: Manifest,
    *,
    python_version: str,
    python_implementation: str,
    machine: str,
    packages: Mapping[str, str] | None = None,
    os_release: str = "",
) -> tuple[HostDifference, ...]:
    """How this machine differs from the capsule's record: (what, capsule, host), in order.

    Only what the capsule recorded is compared; an empty record (an older capsule) is skipped.
    `packages` are this machine's dpkg packages (name -> version), None when it has none: then
    every system package the run used is missing here.
    """
    compared = [
        (PYTHON_IMPLEMENTATION, manifest.environment.python_implementation, python_implementation),
        (PYTHON_VERSION, manifest.lock.python_version, python_version),
        (PLATFORM, manifest.platform, platform_of(machine) or machine),
    ]
    section = manifest.system
    if section is not None:
        compared.append((OS_RELEASE, section.os_release, os_release or "unknown"))
        here = packages or {}
        compared.extend(
            (SYSTEM_PACKAGE.format(name=p.name), p.version, here.get(p.name, NOT_INSTALLED))
            for p in section.packages
            if p.used_by  # what the run used itself; a dependency shows through its user
        )
        compared.extend(
            (SYSTEM_FILE.format(path=u.path), "used by the build", MISSING_HERE)
            for u in system.reported(section.unowned)
            if not Path(u.path).exists()
        )
    return tuple(
        HostDifference(what=what, capsule=capsule, host=host)
        for what, capsule, host in compared
        if capsule and capsule != host
    )


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file `path` (made if missing) for the with block."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def local_venv(
    capsule: Path, python: str, lock_name: str = "requirements.lock", wheels: str = "wheels"
) -> Path:
    """A virtual environment with exactly the pins of the capsule's lock_name, from its wheels.

    Environments are kept in capsule's cache, keyed by the lockfile and the interpreter, so a
    second verification of the same capsule reuses its environment instead of reinstalling.
    Each is made where it stays, under a lock, and marked complete last: a venv cannot be
    moved, since its console scripts (`jupyter`, …) name its interpreter by absolute path.
    """
    lock = capsule / lock_name
    key = sha256_bytes(lock.read_bytes() + b"\0" + str(Path(python).absolute()).encode())
    target = cache_dir() / "venvs" / key[:32]
    if (target / VENV_READY).is_file() and _venv_works(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.parent / f"{target.name}.lock"):
        if (target / VENV_READY).is_file() and _venv_works(target):
            return target  # another verification made it while this one waited
        shutil.rmtree(target, ignore_errors=True)  # incomplete or broken: made again
        try:
            _make_venv(target, python, lock, capsule / wheels)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
    return target


def _make_venv(target: Path, python: str, lock: Path, wheels: Path) -> None:
    """Make the venv at target, install the lock's pins from wheels, then mark it complete."""
    process.run([python, "-m", "venv", str(target)])
    if any(line and not line.startswith(("#", " ")) for line in lock.read_text().splitlines()):
        process.run(
            [
                str(target / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-index",
                "--find-links",
                str(wheels),
                "--require-hashes",
                "--no-deps",
                "-r",
                str(lock),
            ],
        )
    (target / VENV_READY).write_text(lock.read_text())


def _venv_works(venv: Path) -> bool:
    """Whether a cached environment's interpreter still starts (its base Python may be gone)."""
    try:
        return (
            process.run([str(venv / "bin" / "python"), "-c", "pass"], check=False).returncode == 0
        )
    except ProgramFailedToStart:
        return False
