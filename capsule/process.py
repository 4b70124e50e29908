"""The one place capsule starts other programs: argv lists, never a shell, stderr kept."""

from __future__ import annotations

import os
import subprocess
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from capsule.errors import CapsuleError

TAIL_LINES = 20


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
    """Run argv (never a shell); on failure raise CapsuleError naming it and its stderr tail.

    With `stdout_path`/`stderr_path` the streams go to those files instead of memory and the
    returned `stdout`/`stderr` are empty. `env` replaces the environment when given. With
    `check=False` a non-zero exit is returned, not raised; a missing program or a timeout
    always raise.
    """
    args = tuple(str(a) for a in argv)
    shown = " ".join(args)
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
    except FileNotFoundError as exc:
        missing = f"no folder {cwd}" if cwd is not None and not cwd.is_dir() else "no such program"
        raise CapsuleError(
            f"cannot run {args[0]}: {missing}",
            hint="install it or check the path; the command was: " + shown,
        ) from exc
    except OSError as exc:  # not executable, too many open files, …
        raise CapsuleError(
            f"cannot run {args[0]}: {exc}", hint="the command was: " + shown
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise CapsuleError(
            f"{shown} did not finish within {timeout:g} s",
            hint="raise the time limit, or see why the command hangs",
        ) from exc
    finally:
        for f in (out_file, err_file):
            if f is not None:
                f.close()
    stdout = proc.stdout.decode("utf-8", errors="replace") if out_file is None else ""
    stderr = proc.stderr.decode("utf-8", errors="replace") if err_file is None else ""
    done = Completed(args, proc.returncode, stdout, stderr)
    if check and proc.returncode != 0:
        tail = _file_tail(stderr_path) if stderr_path is not None else stderr_tail(stderr)
        where = f" (log: {stderr_path})" if stderr_path is not None else ""
        raise CapsuleError(
            f"{shown} exited with status {proc.returncode}{where}" + (f":\n{tail}" if tail else ""),
            hint="the end of its error output is shown above",
        )
    return done


def environ(**changes: str | None) -> dict[str, str]:
    """A copy of this process's environment with `changes` applied (None removes a variable)."""
    env = dict(os.environ)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env
