"""See every program and file of every process of a step, whatever its language.

The Python tracer (runtime/sitecustomize.py) sees only Python processes. This observer runs each
step under Debian's strace with a seccomp filter (`--seccomp-bpf`), so the traced processes stop
only on the calls asked for: program executions, file opens and process creation. strace writes
one file per process (`-ff`), so records of concurrent processes never interleave, and `-y`
prints the resolved path of each opened file descriptor, so relative paths, links and the
merged /usr need no guessing. Only successful calls are recorded (`-z`).

What comes back is plain data: for each process, the program it ran and the files it opened.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from capsule import process
from capsule.errors import CapsuleError

TRACE_PREFIX = "proc"  # strace -ff writes proc.<pid>, one file per process
# `?name`: a call this architecture lacks (open, on arm64) is skipped, not an error.
TRACED_CALLS = "execve,execveat,?open,openat,?openat2,?fork,vfork,clone,?clone3"
WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND")
MAX_SHEBANG = 256  # bytes read from an executed file to find its `#!` interpreter

_PROCESS_CALL = re.compile(r"^(?:clone3?|v?fork)\(.*\)\s+=\s+(\d+)$")
_EXEC_CALL = re.compile(r'^execve(?:at)?\((?:[^,]*,\s*)?"((?:[^"\\]|\\.)*)".*\)\s+=\s+0$')
_OPEN_CALL = re.compile(r"^(open|openat|openat2)\((.*)\)\s+=\s+\d+<(.*)>$")
_CWD = re.compile(r"^\w+\(AT_FDCWD<(.*?)>, ")
_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)")
_SIMPLE_ESCAPES = {b"n": b"\n", b"t": b"\t", b"r": b"\r", b"v": b"\v", b"f": b"\f"}


@dataclass(frozen=True)
class FileUse:
    """A file a process opened (or executed), by its resolved absolute path."""

    path: str
    program: str  # the program the process was running: its path as executed
    executed: bool = False  # run as a program (or as the interpreter of one), not only opened
    written: bool = False  # opened for writing


class SystemTraceError(CapsuleError):
    """strace's records could not be read."""


@dataclass(frozen=True)
class Observer:
    """The system observer of this machine: strace's path and version, or why there is none."""

    program: str  # "" when no observer works here
    description: str  # "strace 6.1", or the reason there is none


@functools.cache
def observer() -> Observer:
    """strace, when it is installed and can trace here (ptrace may be forbidden in a container)."""
    program = shutil.which("strace")
    if program is None:
        return Observer("", "strace is not installed (Debian: apt-get install strace)")
    with tempfile.TemporaryDirectory(prefix="capsule-strace-") as tmp:
        try:
            done = process.run(wrap(("true",), program, Path(tmp)), check=False, timeout=60)
            version = process.run((program, "-V"), check=False, timeout=60).stdout
        except CapsuleError as error:
            return Observer("", f"strace cannot run: {error.message}")
    if done.returncode != 0:
        reason = " ".join(done.stderr.split())[:200]
        return Observer("", f"strace cannot trace here: {reason}")
    words = version.split()
    return Observer(program, f"strace {words[3]}" if len(words) > 3 else "strace")


def wrap(argv: Iterable[str], tracer: str, into: Path) -> tuple[str, ...]:
    """`argv` run under strace, which writes one record file per process into `into`."""
    into.mkdir(parents=True, exist_ok=True)
    return (
        tracer,
        "-f",
        "--seccomp-bpf",
        "-qq",  # no attach and exit notes
        "-z",  # successful calls only
        "-y",  # the resolved path of each returned file descriptor
        "-x",  # non-ASCII bytes of strings as \xHH
        "-s",
        "4096",
        "-e",
        "signal=none",
        "-e",
        f"trace={TRACED_CALLS}",
        "-ff",
        "-o",
        str(into / TRACE_PREFIX),
        "--",
        *argv,
    )


def read(folder: Path) -> tuple[FileUse, ...]:
    """Every file the traced processes executed or opened, once per (path, program, how)."""
    processes = dict(_read_processes(folder))
    parents = {child: pid for pid, proc in processes.items() for child in proc.children}
    uses: dict[tuple[str, str, bool, bool], FileUse] = {}
    for pid in processes:
        for use in _uses(pid, processes, parents):
            uses.setdefault((use.path, use.program, use.executed, use.written), use)
    return tuple(sorted(uses.values(), key=lambda u: (u.path, u.program, u.executed, u.written)))


@dataclass
class _Process:
    """One traced process: what it ran and opened, in order, and the processes it started."""

    events: list[tuple[str, str, bool]]  # ("exec" | "open", path, written)
    children: list[int]
    cwd: str = ""  # the working folder, as the first call relative to it showed


def _read_processes(folder: Path) -> Iterator[tuple[int, _Process]]:
    """Parse each proc.<pid> file of the folder."""
    for path in sorted(folder.glob(f"{TRACE_PREFIX}.*")):
        pid_text = path.name.removeprefix(f"{TRACE_PREFIX}.")
        if not pid_text.isdigit():
            continue
        try:
            text = path.read_bytes().decode("utf-8", errors="surrogateescape")
        except OSError as error:
            raise SystemTraceError(
                f"cannot read the system trace {path}: {error.strerror or error}",
                hint="run the build again; if it persists, report it with --debug output",
            ) from error
        yield int(pid_text), _parse(text)


def _parse(text: str) -> _Process:
    """The events of one process's strace record; lines of other shapes are skipped."""
    process = _Process(events=[], children=[])
    for line in text.splitlines():
        if not process.cwd and (cwd := _CWD.match(line)):
            process.cwd = _unescape(cwd.group(1))
        if match := _OPEN_CALL.match(line):
            flags = match.group(2)
            if "O_DIRECTORY" in flags:
                continue
            written = any(flag in flags for flag in WRITE_FLAGS)
            process.events.append(("open", _unescape(match.group(3)), written))
        elif match := _EXEC_CALL.match(line):
            process.events.append(("exec", _unescape(match.group(1)), False))
        elif match := _PROCESS_CALL.match(line):
            process.children.append(int(match.group(1)))
    return process


def _uses(pid: int, processes: dict[int, _Process], parents: dict[int, int]) -> Iterator[FileUse]:
    """The file uses of one process, each with the program it was running at the time."""
    program = _inherited_program(pid, processes, parents)
    for kind, path, written in processes[pid].events:
        if kind == "exec":
            program = path
            # a relative program (./run.sh) is relative to the process's folder, not capsule's
            where = processes[pid].cwd
            absolute = os.path.normpath(Path(where) / path) if where else path
            resolved = os.path.realpath(absolute)
            yield FileUse(resolved, program, executed=True)
            if absolute != resolved:  # a link (/usr/bin/dot): its package is the program's
                yield FileUse(absolute, program, executed=True)
            interpreter = _shebang(resolved)
            if interpreter:
                yield FileUse(os.path.realpath(interpreter), program, executed=True)
        elif written or not Path(path).is_dir():  # a folder opened is a folder listed
            yield FileUse(path, program, written=written)


def _inherited_program(pid: int, processes: dict[int, _Process], parents: dict[int, int]) -> str:
    """The program a process ran before its first exec: its parent's, at the time of the fork."""
    seen = {pid}
    parent = parents.get(pid)
    while parent is not None and parent not in seen:
        seen.add(parent)
        execs = [path for kind, path, _ in processes[parent].events if kind == "exec"]
        if execs:
            # The child was forked after some of these; the last is the best knowledge short of
            # ordering events across files, and exact for the usual fork-then-exec.
            return execs[-1]
        parent = parents.get(parent)
    return ""


def _shebang(path: str) -> str:
    """The interpreter named by a script's `#!` line, or ""."""
    try:
        with Path(path).open("rb") as file:
            head = file.read(MAX_SHEBANG)
    except OSError:
        return ""
    if not head.startswith(b"#!"):
        return ""
    words = head[2:].split(b"\n", 1)[0].split()
    return os.fsdecode(words[0]) if words and words[0].startswith(b"/") else ""


def _unescape(text: str) -> str:
    """A path as strace printed it (C escapes, \\xHH for other bytes) back to the real one."""
    if "\\" not in text:
        return text
    raw = os.fsencode(text)

    def replace(match: re.Match[bytes]) -> bytes:
        code = match.group(1)
        if code[:1] == b"x":
            return bytes([int(code[1:], 16)])
        if code[:1].isdigit():
            return bytes([int(code, 8) & 0xFF])
        return _SIMPLE_ESCAPES.get(code, code)

    return os.fsdecode(_ESCAPE.sub(replace, raw))
