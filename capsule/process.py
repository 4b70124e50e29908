"""The one place capsule starts other programs: argv lists, never a shell, stderr kept."""

from __future__ import annotations

import os
import subprocess
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from capsule.errors import (
    ProcessFailed,
    ProcessTimedOut,
    ProgramFailedToStart,
    ProgramNotFound,
)

TAIL_LINES = 20

# ── user-facing strings (tests import them) ───────────────────────────────────────────────

NOT_FOUND = "cannot run {program}: no such program"
NOT_FOUND_HINT = "install it or check the path; the command was: {command}"
NO_FOLDER = "cannot run {program}: no folder {cwd}"
NO_FOLDER_HINT = "the folder to run it in does not exist; the command was: {command}"
NOT_STARTED = "cannot run {program}: {error}"
NOT_STARTED_HINT = "the command was: {command}"
TIMED_OUT = "{command} did not finish within {timeout:g} s"
TIMED_OUT_HINT = "raise the time limit, or see why the command hangs"
EXITED = "{command} exited with status {code}{where}"
EXITED_HINT = "the end of its error output is shown above"


@dataclass(frozen=True)
class Completed:
    """A finished command: its argv, exit code and output (empty when streamed to files)."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def stderr_tail(text: str, lines: int = TAIL_LINES) -> str:
    """The last `lines` non-blank lines of `text`, for an error message."""
    kept = [line.rstrip() for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def _file_tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last lines of a (possibly large) text file, read line by line."""
    with path.open(encoding="utf-8", errors="replace") as f:
        return stderr_tail("".join(deque(f, maxlen=lines * 4)), lines)


def run(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float | None = None,
    check: bool = True,
    stdout_path: Path | None = None,
    stderr_path: Path | None = None,
) -> Completed:
    """Run argv (never a shell); on failure raise a ProcessError naming it and its stderr tail.

    With `stdout_path`/`stderr_path` the streams go to those files instead of memory and the
    returned `stdout`/`stderr` are empty. `env` replaces the environment when given. With
    `check=False` a non-zero exit is returned, not raised (else ProcessFailed). A program that
    cannot be started always raises ProgramFailedToStart (ProgramNotFound when it does not
    exist), one that runs past `timeout` seconds is killed and raises ProcessTimedOut.
    """
    args = tuple(str(a) for a in argv)
    out_file = stdout_path.open("wb") if stdout_path is not None else None
    err_file = stderr_path.open("wb") if stderr_path is not None else None
    try:
        proc = subprocess.run(
            args,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            input=input.encode("utf-8") if input is not None else None,
            stdin=subprocess.DEVNULL if input is None else None,
            stdout=out_file if out_file is not None else subprocess.PIPE,
            stderr=err_file if err_file is not None else subprocess.PIPE,
            timeout=timeout,
            check=False,
        )
    except OSError as exc:  # no such program or folder, not executable, too many open files, …
        raise _not_started(args, cwd, exc) from exc
    except subprocess.TimeoutExpired as exc:
        raise _timed_out(args, timeout or 0.0, exc) from exc
    finally:
        for f in (out_file, err_file):
            if f is not None:
                f.close()
    stdout = proc.stdout.decode("utf-8", errors="replace") if out_file is None else ""
    stderr = proc.stderr.decode("utf-8", errors="replace") if err_file is None else ""
    if check and proc.returncode != 0:
        tail = _file_tail(stderr_path) if stderr_path is not None else stderr_tail(stderr)
        where = f" (log: {stderr_path})" if stderr_path is not None else ""
        raise ProcessFailed(
            EXITED.format(command=" ".join(args), code=proc.returncode, where=where)
            + (f":\n{tail}" if tail else ""),
            hint=EXITED_HINT,
            argv=args,
            returncode=proc.returncode,
        )
    return Completed(args, proc.returncode, stdout, stderr)


def _not_started(args: tuple[str, ...], cwd: Path | None, error: OSError) -> ProgramFailedToStart:
    """The error for a program the operating system did not start, saying why."""
    command = " ".join(args)
    # Popen reports a missing working folder as FileNotFoundError too: tell the two apart.
    if cwd is not None and not cwd.is_dir():
        return ProgramFailedToStart(
            NO_FOLDER.format(program=args[0], cwd=cwd),
            hint=NO_FOLDER_HINT.format(command=command),
            argv=args,
        )
    if isinstance(error, FileNotFoundError):
        return ProgramNotFound(
            NOT_FOUND.format(program=args[0]),
            hint=NOT_FOUND_HINT.format(command=command),
            argv=args,
        )
    return ProgramFailedToStart(
        NOT_STARTED.format(program=args[0], error=error),
        hint=NOT_STARTED_HINT.format(command=command),
        argv=args,
    )


def _timed_out(
    args: tuple[str, ...], timeout: float, expired: subprocess.TimeoutExpired
) -> ProcessTimedOut:
    """The error for a program killed at its time limit, with what it wrote to stderr until then."""
    partial = expired.stderr  # None when stderr went to a file
    return ProcessTimedOut(
        TIMED_OUT.format(command=" ".join(args), timeout=timeout),
        hint=TIMED_OUT_HINT,
        argv=args,
        timeout_s=timeout,
        stderr=partial.decode("utf-8", errors="replace") if isinstance(partial, bytes) else "",
    )


def environ(**changes: str | None) -> dict[str, str]:
    """A copy of this process's environment with `changes` applied (None removes a variable)."""
    env = dict(os.environ)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env
