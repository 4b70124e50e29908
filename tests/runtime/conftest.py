"""Run capsule's runtime modules as a step runs them: a real subprocess of this Python, with
PYTHONPATH set to the runtime folder and nothing else of the host's environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from capsule.provenance import TraceRecord

RUNTIME = Path(__file__).resolve().parents[2] / "capsule" / "runtime"


def run_runtime(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    pythonpath: Sequence[Path] = (),
) -> subprocess.CompletedProcess[str]:
    """Run `python *argv` in cwd with the runtime folder (then `pythonpath`) on PYTHONPATH."""
    path = os.pathsep.join(str(folder) for folder in (RUNTIME, *pythonpath))
    return subprocess.run(
        [sys.executable, *argv],
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
