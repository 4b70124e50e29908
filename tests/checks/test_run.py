"""Tests for capsule/checks/run.py, and the tracer's network events they read.

The network tests run a small script in a real subprocess under capsule's sitecustomize, as a
build does. No traffic leaves the machine: `.invalid` names never resolve (RFC 2606), the audit
event fires before the look-up, and the one real connection goes to a local listener.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from capsule import provenance
from capsule.checks import CHECKS, AuditContext, RunFacts
from capsule.checks import run as checks
from capsule.model import Activity, Plan, Provenance, Usage
from capsule.runtime._capsule_events import TraceEvent, TraceSite

from conftest import REPO, MakeProject

RUNTIME = REPO / "capsule" / "runtime"
NETWORK_SCRIPT = """
import socket
import urllib.request

try:
    socket.getaddrinfo("example.invalid", 80)
except OSError:
    pass
try:
    urllib.request.urlopen("https://example.invalid/data.csv", timeout=0.1)
except OSError:
    pass
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
socket.create_connection(server.getsockname(), timeout=1).close()
server.close()
unix = socket.socket(socket.AF_UNIX)
try:
    unix.connect("/nonexistent/capsule-test.sock")
except OSError:
    pass
"""
EMPTY_PLAN = Plan(title="t", steps=(), data=(), outputs=(), exclude=())


def run_traced(project: Path, script: str) -> list[provenance._Record]:
    """Run `python script` in project under the tracer as step "fetch"; return the records."""
    trace = project.parent / "trace"
    trace.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(project.parent),
        "PYTHONPATH": str(RUNTIME),
        "CAPSULE_TRACE_DIR": str(trace),
        "CAPSULE_ANALYSIS_ROOT": str(project),
        "CAPSULE_STEP": "fetch",
    }
    done = subprocess.run(
        [sys.executable, script], cwd=project, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "capsule:" not in done.stderr, done.stderr
    records = provenance.read_records(trace)
    assert len(records) == 1
    assert records[0].failures == 0, records[0].first_failure
    return records


def context(run: RunFacts) -> AuditContext:
    """An audit context with nothing but what a run saw."""
    return AuditContext(root=Path(), plan=EMPTY_PLAN, files=(), code=(), run=run)


def test_network_access_is_found_at_its_lines_and_loopback_is_not(
    make_project: MakeProject,
) -> None:
    project = make_project({"fetch.py": NETWORK_SCRIPT})
    records = run_traced(project, "fetch.py")
    network = [event for event in records[0].events if event.op == "network"]
    targets = sorted(event.path for event in network)
    # getaddrinfo; urlopen's Request, then its own look-up; no loopback, no Unix socket
    assert targets == [
        "example.invalid:443",
        "example.invalid:80",
        "https://example.invalid/data.csv",
    ]
    assert all(event.external is True for event in network)

    facts = checks.network_events(records)
    assert facts == (
        ("fetch.py", "example.invalid:80", 5),
        ("fetch.py", "https://example.invalid/data.csv", 9),
    )
    found = list(checks.network_access(context(RunFacts(Provenance((), (), ()), (), facts))))
    assert [(f.check, f.severity, f.location) for f in found] == [
        ("network-access", "warning", "fetch.py:5"),
        ("network-access", "warning", "fetch.py:9"),
    ]
    assert found[0].message == (
        "fetch.py:5 opened a network connection to example.invalid:80 during the run: "
        "a reviewer's rerun has no network"
    )
    assert found[0].fix == checks.NETWORK_FIX


def test_network_events_without_a_call_site_name_the_step() -> None:
    record = provenance.TraceRecord(
        pid=1,
        ppid=0,
        step="download",
        argv=(),
        events=(TraceEvent(1, "network", "h:1", True, None, None),),
        failures=0,
        first_failure="",
    )
    assert checks.network_events([record]) == (("download", "h:1", 0),)
    cell = provenance.TraceRecord(
        pid=1,
        ppid=0,
        step="nb",
        argv=(),
        events=(
            TraceEvent(1, "network", "h:1", True, TraceSite("nb.ipynb", 4, "<module>", 3), None),
        ),
        failures=0,
        first_failure="",
    )
    facts = checks.network_events([cell])
    assert facts == (("nb.ipynb:cell 3", "h:1", 4),)
    found = list(checks.network_access(context(RunFacts(Provenance((), (), ()), (), facts))))
    assert found[0].location == "nb.ipynb:cell 3:4"


def test_reads_outside_the_analysis_are_found_once_per_step_and_path() -> None:
    graph = Provenance(
        activities=(
            Activity(id="clean/p1", step="clean", argv=()),
            Activity(id="clean/p2", step="clean", argv=(), parent="clean/p1"),
        ),
        used=(
            Usage(activity="clean/p1", entity="/home/me/raw.csv", seq=1, external=True),
            Usage(activity="clean/p2", entity="/home/me/raw.csv", seq=2, external=True),
            Usage(activity="clean/p1", entity="data/local.csv", seq=3),
        ),
        generated=(),
    )
    found = list(checks.reads_outside_analysis(context(RunFacts(graph, ()))))
    assert [(f.check, f.severity, f.location) for f in found] == [
        ("reads-outside-analysis", "warning", "/home/me/raw.csv")
    ]
    assert "step 'clean' read /home/me/raw.csv" in found[0].message


def test_the_run_checks_are_silent_without_a_run_and_registered() -> None:
    empty = AuditContext(root=Path(), plan=EMPTY_PLAN, files=(), code=())
    assert list(checks.network_access(empty)) == []
    assert list(checks.reads_outside_analysis(empty)) == []
    assert CHECKS["network-access"] is checks.network_access
    assert CHECKS["reads-outside-analysis"] is checks.reads_outside_analysis
