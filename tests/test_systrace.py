"""The system observer: every process of a command, whatever its language, run under strace."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from capsule import process, systrace
from capsule.systrace import FileUse, SystemTraceError

OBSERVER = systrace.observer()
needs_strace = pytest.mark.skipif(
    not OBSERVER.program, reason=f"no system observer here: {OBSERVER.description}"
)


def traced(argv: list[str], cwd: Path, tmp_path: Path) -> tuple[FileUse, ...]:
    """Run argv under the observer in cwd and read back what it saw."""
    records = tmp_path / "records"
    done = process.run(systrace.wrap(argv, OBSERVER.program, records), cwd=cwd, check=False)
    assert done.returncode == 0, done.stderr
    return systrace.read(records)


@needs_strace
def test_every_process_is_seen_with_the_program_it_ran(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "data.txt").write_text("1 2 3\n")
    script = work / "step.sh"
    script.write_text("#!/bin/sh\ncat data.txt > out.txt\n")
    script.chmod(0o755)
    uses = traced(["./step.sh"], work, tmp_path)
    executed = {u.path for u in uses if u.executed}
    # the script (run by a relative path), the shell its #! names, resolved, and cat
    assert str(script) in executed
    assert os.path.realpath("/bin/sh") in executed
    cat = [u for u in uses if u.executed and u.path.endswith("/cat")]
    assert cat, uses
    data = [u for u in uses if u.path == str(work / "data.txt")]
    assert data and data[0].program.endswith("/cat") and not data[0].written
    # the redirect is opened by the forked shell before it runs cat: the shell's program
    out = [u for u in uses if u.path == str(work / "out.txt")]
    assert out and out[0].written and out[0].program == "./step.sh"


@needs_strace
def test_children_of_children_and_other_languages_are_seen(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / 'read me ä "q".txt').write_text("x")
    command = 'wc -c < "read me ä \\"q\\".txt" > n.txt'
    code = f"import subprocess; subprocess.run(['sh', '-c', {command!r}], check=True)"
    uses = traced([sys.executable, "-c", code], work, tmp_path)
    odd = [u for u in uses if u.path == str(work / 'read me ä "q".txt')]
    assert odd, "a path with a space, a non-ASCII letter and quotes comes back exactly"
    assert any(u.executed and u.path.endswith("/wc") for u in uses)
    assert any(u.path == str(work / "n.txt") and u.written for u in uses)
    python = [u for u in uses if u.executed and u.program == sys.executable]
    assert python


def test_records_of_other_shapes_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "proc.12").write_text(
        "garbage\n"
        'openat(AT_FDCWD</w>, "/etc/x", O_RDONLY|O_DIRECTORY) = 3</etc/x>\n'
        'execve("/usr/bin/make", ["make"], 0x0 /* 3 vars */) = 0\n'
        'openat(AT_FDCWD</w>, "Makefile", O_RDONLY) = 3</w/Makefile>\n'
        "clone(child_stack=NULL, flags=SIGCHLD) = 13\n"
        "--- SIGCHLD {si_signo=SIGCHLD} ---\n"
    )
    (tmp_path / "proc.13").write_text(
        'openat(AT_FDCWD</w>, "out", O_WRONLY|O_CREAT|O_TRUNC, 0666) = 3</w/out>\n'
    )
    (tmp_path / "proc.not-a-pid").write_text('execve("/bin/evil", [], 0x0) = 0\n')
    uses = systrace.read(tmp_path)
    assert FileUse("/w/Makefile", "/usr/bin/make") in uses
    assert FileUse("/w/out", "/usr/bin/make", written=True) in uses  # inherited from its parent
    assert not any(u.path == "/etc/x" or "evil" in u.path for u in uses)


def test_a_record_that_cannot_be_read_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "proc.7").mkdir()
    with pytest.raises(SystemTraceError, match="cannot read the system trace"):
        systrace.read(tmp_path)


def test_escaped_paths_are_decoded() -> None:
    assert systrace._unescape(r"/a\"b\\c\x41\n\303\244") == '/a"b\\cA\nä'
