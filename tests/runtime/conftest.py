"""Run capsule's runtime modules as a step runs them: a real subprocess of an analysis' Python,
with PYTHONPATH set to the runtime folder and nothing else of the host's environment.

The runtime runs inside the analysis' own interpreter, which may be older than capsule's: tests
that take the `python` fixture run once under every supported X.Y (capsule.interpreters), each
skipped, with the reason, on a machine that has no such Python.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from capsule import interpreters
from capsule.errors import EnvironmentProblem
from capsule.provenance import TraceRecord

RUNTIME = Path(__file__).resolve().parents[2] / "capsule" / "runtime"
SUPPORTED = [
    f"{interpreters.OLDEST[0]}.{minor}"
    for minor in range(interpreters.OLDEST[1], interpreters.NEWEST[1] + 1)
]


@pytest.fixture(scope="session", params=SUPPORTED)
def python(request: pytest.FixtureRequest) -> str:
    """An interpreter of each supported X.Y, found as the local backend finds one."""
    try:
        return interpreters.find(request.param).path
    except EnvironmentProblem:
        xy = request.param
        pytest.skip(f"no Python {xy} here (looked for python{xy} on PATH and in pyenv's versions)")


def run_runtime(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    pythonpath: Sequence[Path] = (),
    python: str = sys.executable,
) -> subprocess.CompletedProcess[str]:
    """Run `python *argv` in cwd with the runtime folder (then `pythonpath`) on PYTHONPATH."""
    path = os.pathsep.join(str(folder) for folder in (RUNTIME, *pythonpath))
    return subprocess.run(
        [python, *argv],
        cwd=cwd,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(cwd),
            "PYTHONPATH": path,
            **(env or {}),
        },
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def named_events(record: TraceRecord) -> list[dict[str, Any]]:
    """The record's events (TraceEvent, capsule/runtime/_capsule_events.py) as dicts by name."""
    return [event._asdict() for event in record.events]
