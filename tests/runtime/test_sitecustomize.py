"""runtime/sitecustomize.py: the tracer every Python process of a step loads, run for real
under every supported Python."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from capsule.provenance import TraceRecord, read_records

from .conftest import RUNTIME, named_events, run_runtime

STEP = textwrap.dedent(
    """
    import json, os, socket, sys

    def save(path, text):
        with open(path, "w") as stream:
            stream.write(text)

    data = open("data.csv").read()
    outside = open(sys.argv[1]).read()
    open("/etc/hostname" if os.path.exists("/etc/hostname") else sys.executable, "rb").close()
    os.makedirs("out", exist_ok=True)
    save("out/result.txt", data + outside)
    save("out/draft.txt", "draft")
    os.rename("out/draft.txt", "out/final.txt")
    os.remove("old.txt")
    for host in ("example.invalid", "localhost"):
        try:
            socket.getaddrinfo(host, 80)
        except OSError:
            pass
    print("done")
    """
)


def traced(tmp_path: Path, python: str, **env: str) -> tuple[Path, list[TraceRecord], str]:
    """Run STEP in an analysis folder under the tracer; return the folder, records and stderr."""
    root = tmp_path / "analysis"
    root.mkdir()
    (root / "step.py").write_text(STEP, encoding="utf-8")
    (root / "data.csv").write_text("x\n1\n", encoding="utf-8")
    (root / "old.txt").write_text("stale\n", encoding="utf-8")
    (tmp_path / "outside.txt").write_text("from elsewhere\n", encoding="utf-8")
    trace = tmp_path / "trace"
    trace.mkdir()
    done = run_runtime(
        ["step.py", str(tmp_path / "outside.txt")],
        cwd=root,
        env={
            "CAPSULE_TRACE_DIR": str(trace),
            "CAPSULE_ANALYSIS_ROOT": str(root),
            "CAPSULE_STEP": "the step",
            **env,
        },
        python=python,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "done\n"
    return root, read_records(trace), done.stderr


def test_the_tracer_records_reads_writes_renames_removes_and_network(
    tmp_path: Path, python: str
) -> None:
    root, records, stderr = traced(tmp_path, python)
    assert stderr == ""
    (record,) = records
    assert record.step == "the step"
    assert record.argv[0] == "step.py"
    assert record.failures == 0
    events = named_events(record)
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    seen = {(event["op"], event["path"], event["external"]) for event in events}
    assert {
        ("read", "data.csv", False),
        ("read", str((tmp_path / "outside.txt").resolve()), True),
        ("write", "out/result.txt", False),
        ("write", "out/draft.txt", False),
        ("remove", "out/draft.txt", False),
        ("write", "out/final.txt", False),
        ("remove", "old.txt", False),
        ("network", "example.invalid:80", True),
    } <= seen
    # Nothing of the system, of Python itself, of the loopback, or of the step's own code.
    assert not [path for _op, path, _outside in seen if path.startswith(("/etc", "/usr"))]
    assert not [path for _op, path, _outside in seen if "localhost" in path or path == "step.py"]
    (result,) = [e for e in events if e["op"] == "write" and e["path"] == "out/result.txt"]
    line = STEP.splitlines().index('    with open(path, "w") as stream:') + 1
    assert result["site"] == ("step.py", line, "save", 0)
    assert result["figure"] is None
    assert root.joinpath("out/final.txt").read_text() == "draft"


def test_a_failing_tracer_never_fails_the_step(tmp_path: Path, python: str) -> None:
    root, records, stderr = traced(tmp_path, python, CAPSULE_TRACE_FAIL="1")
    assert (root / "out" / "result.txt").read_text() == "x\n1\nfrom elsewhere\n"
    (record,) = records
    assert record.failures > 1
    assert "CAPSULE_TRACE_FAIL" in record.first_failure
    assert stderr.count("capsule: tracing failed") == 1  # said once, not per event


def test_without_a_trace_folder_nothing_is_recorded(tmp_path: Path, python: str) -> None:
    (tmp_path / "a.py").write_text("open('out.txt', 'w').write('x')\n", encoding="utf-8")
    done = run_runtime(["a.py"], cwd=tmp_path, python=python)
    assert done.returncode == 0, done.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.py", "out.txt"]


def test_the_sitecustomize_it_shadows_still_runs(tmp_path: Path, python: str) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "sitecustomize.py").write_text("print('the other one ran')\n", encoding="utf-8")
    done = run_runtime(
        ["-c", "print('then the program')"], cwd=tmp_path, pythonpath=[other], python=python
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "the other one ran\nthen the program\n"


def test_a_child_process_gets_its_own_record(tmp_path: Path, python: str) -> None:
    trace = tmp_path / "trace"
    trace.mkdir()
    parent = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'pass'], check=True)"
    done = run_runtime(
        ["-c", parent],
        cwd=tmp_path,
        env={"CAPSULE_TRACE_DIR": str(trace), "CAPSULE_ANALYSIS_ROOT": str(tmp_path)},
        python=python,
    )
    assert done.returncode == 0, done.stderr
    first, second = sorted(read_records(trace), key=lambda record: record.argv != ["-c"])
    pids = {record.pid for record in (first, second)}
    assert len(pids) == 2
    assert {first.ppid, second.ppid} & pids  # one is the other's parent


def test_a_kernel_stopped_with_sigterm_still_writes_its_record(tmp_path: Path) -> None:
    """nbclient (jupyter nbconvert, papermill) sends SIGTERM to a kernel slow to shut down: the
    record, and the modules the notebook imported, must not be lost with it."""
    trace = tmp_path / "trace"
    trace.mkdir()
    connection = tmp_path / "kernel-sigterm-test.json"
    kernel = subprocess.Popen(
        [sys.executable, "-m", "ipykernel_launcher", "-f", str(connection)],
        cwd=tmp_path,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "PYTHONPATH": str(RUNTIME),
            "CAPSULE_TRACE_DIR": str(trace),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not connection.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert connection.exists(), "the kernel did not start"
        time.sleep(1)  # past start-up, where the handler is set
        kernel.send_signal(signal.SIGTERM)
        assert kernel.wait(timeout=30) == -signal.SIGTERM  # it still ends as SIGTERM ends it
    finally:
        kernel.kill()
    record = json.loads((trace / f"process-{kernel.pid}.json").read_text())
    assert "ipykernel" in record["modules"]
