"""Tests of capsule/process.py: the one place capsule starts programs, and how each way fails."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from capsule import process
from capsule.errors import (
    CapsuleError,
    ProcessFailed,
    ProcessTimedOut,
    ProgramFailedToStart,
    ProgramNotFound,
)

PY = sys.executable


def test_output_is_returned_and_input_is_given() -> None:
    done = process.run([PY, "-c", "import sys; print(sys.stdin.read().upper())"], input="hi")
    assert done.returncode == 0
    assert done.stdout == "HI\n"
    assert done.stderr == ""
    assert done.argv == (PY, "-c", "import sys; print(sys.stdin.read().upper())")


def test_stdin_is_empty_without_input() -> None:
    done = process.run([PY, "-c", "import sys; print(repr(sys.stdin.read()))"])
    assert done.stdout == "''\n"


def test_a_non_zero_exit_raises_process_failed_with_the_stderr_tail() -> None:
    argv = [PY, "-c", "import sys; print('first'); sys.exit('it broke')"]
    with pytest.raises(ProcessFailed) as caught:
        process.run(argv)
    error = caught.value
    assert error.returncode == 1
    assert error.argv == tuple(argv)
    assert "exited with status 1" in error.message
    assert error.message.endswith(":\nit broke")
    assert error.hint == process.EXITED_HINT


def test_check_false_returns_a_non_zero_exit() -> None:
    done = process.run([PY, "-c", "import sys; sys.exit(3)"], check=False)
    assert done.returncode == 3


def test_output_to_files(tmp_path: Path) -> None:
    out, err = tmp_path / "out.log", tmp_path / "err.log"
    code = "import sys; print('to out'); print('to err', file=sys.stderr)"
    done = process.run([PY, "-c", code], stdout_path=out, stderr_path=err)
    assert (done.stdout, done.stderr) == ("", "")
    assert out.read_text() == "to out\n"
    assert err.read_text() == "to err\n"


def test_a_failure_with_output_to_a_file_names_the_log_and_its_tail(tmp_path: Path) -> None:
    err = tmp_path / "err.log"
    code = "import sys\nfor i in range(100): print(f'line {i}', file=sys.stderr)\nsys.exit(2)"
    with pytest.raises(ProcessFailed) as caught:
        process.run([PY, "-c", code], stderr_path=err)
    message = caught.value.message
    assert f"(log: {err})" in message
    assert message.endswith("line 99")
    assert "line 79" not in message  # only the last process.TAIL_LINES lines
    assert caught.value.returncode == 2


def test_env_replaces_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAPSULE_TEST_LEAK", "leaked")
    code = "import os; print(sorted(k for k in os.environ if k.startswith('CAPSULE_TEST')))"
    done = process.run([PY, "-c", code], env={"CAPSULE_TEST_GIVEN": "1"})
    assert done.stdout == "['CAPSULE_TEST_GIVEN']\n"
    inherited = process.run([PY, "-c", code])
    assert "CAPSULE_TEST_LEAK" in inherited.stdout


def test_environ_changes_a_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAPSULE_TEST_GONE", "x")
    env = process.environ(CAPSULE_TEST_GONE=None, CAPSULE_TEST_NEW="y")
    assert "CAPSULE_TEST_GONE" not in env and env["CAPSULE_TEST_NEW"] == "y"
    assert os.environ["CAPSULE_TEST_GONE"] == "x"


def test_cwd(tmp_path: Path) -> None:
    done = process.run([PY, "-c", "import os; print(os.getcwd())"], cwd=tmp_path)
    assert Path(done.stdout.strip()).resolve() == tmp_path.resolve()


# ── the ways a program does not run: each its own type ────────────────────────────────────


def test_a_missing_program_is_program_not_found(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-program")
    with pytest.raises(ProgramNotFound) as caught:
        process.run([missing, "--flag"], check=False)
    error = caught.value
    assert isinstance(error, ProgramFailedToStart) and isinstance(error, CapsuleError)
    assert error.message == process.NOT_FOUND.format(program=missing)
    assert error.hint == process.NOT_FOUND_HINT.format(command=f"{missing} --flag")
    assert error.argv == (missing, "--flag")
    assert isinstance(error.__cause__, FileNotFoundError)


def test_a_program_off_path_is_program_not_found() -> None:
    with pytest.raises(ProgramNotFound, match="cannot run sh: no such program"):
        process.run(["sh", "-c", "true"], env={"PATH": str(Path(PY).parent)}, check=False)


def test_a_missing_working_folder_is_not_a_missing_program(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    with pytest.raises(ProgramFailedToStart) as caught:
        process.run([PY, "-c", "pass"], cwd=gone, check=False)
    error = caught.value
    assert not isinstance(error, ProgramNotFound)
    assert error.message == process.NO_FOLDER.format(program=PY, cwd=gone)
    assert error.hint == process.NO_FOLDER_HINT.format(command=f"{PY} -c pass")


def test_a_file_that_cannot_be_executed_fails_to_start(tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hello\n")
    script.chmod(0o644)  # not executable (root may read and write it, but not exec it)
    with pytest.raises(ProgramFailedToStart) as caught:
        process.run([str(script)], check=False)
    error = caught.value
    assert not isinstance(error, ProgramNotFound)
    assert error.message.startswith(f"cannot run {script}: ")
    assert "Permission denied" in error.message
    assert isinstance(error.__cause__, PermissionError)


def test_a_timeout_is_process_timed_out_with_what_it_wrote() -> None:
    code = "import sys, time; print('started', file=sys.stderr, flush=True); time.sleep(30)"
    start = time.monotonic()
    with pytest.raises(ProcessTimedOut) as caught:
        process.run([PY, "-c", code], timeout=1.0, check=False)
    assert time.monotonic() - start < 20
    error = caught.value
    assert not isinstance(error, ProgramFailedToStart)
    assert error.timeout_s == 1.0
    assert error.stderr == "started\n"
    assert error.message == process.TIMED_OUT.format(command=f"{PY} -c {code}", timeout=1.0)
    assert error.hint == process.TIMED_OUT_HINT


def test_a_timeout_with_stderr_to_a_file(tmp_path: Path) -> None:
    with pytest.raises(ProcessTimedOut) as caught:
        process.run(
            [PY, "-c", "import time; time.sleep(30)"],
            timeout=0.5,
            stderr_path=tmp_path / "err.log",
        )
    assert caught.value.stderr == ""  # it went to the file
    assert "did not finish within 0.5 s" in caught.value.message


def test_stderr_tail_keeps_the_last_non_blank_lines() -> None:
    text = "\n".join(f"line {i}" for i in range(30)) + "\n\n   \n"
    assert process.stderr_tail(text, lines=2) == "line 28\nline 29"
