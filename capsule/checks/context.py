"""The context every audit check reads: the analysis, its plan, its code, what a run saw."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from capsule.model import (
    Finding,
    OutputEntry,
    Plan,
    ProbeResult,
    Provenance,
    StepRun,
    SystemEnvironment,
)


@dataclass(frozen=True)
class CodeUnit:
    """Python source to inspect: a script or module, or one code cell of a notebook."""

    path: str  # relative POSIX path of the file
    source: str
    tree: ast.Module | None  # None when the code does not parse (a finding of its own)
    cell: int = 0  # for a notebook: the code cell, counted from 1

    def location(self, line: int) -> str:
        """path:line, or path:cell N:line for a notebook cell."""
        if self.cell:
            return f"{self.path}:cell {self.cell}:{line}"
        return f"{self.path}:{line}"


@dataclass(frozen=True)
class BuildFacts:
    """What only a build knows: the author's own outputs compared, the notebooks as executed."""

    on_disk: tuple[OutputEntry, ...]  # each output, with the author's copy compared against it
    executed_notebooks: tuple[tuple[str, Path], ...] = ()  # notebook step -> its executed copy
    system: SystemEnvironment | None = None  # what the run used of the operating system
    unvendored: tuple[str, ...] = ()  # system packages (name=version) no .deb could be had for
    rerun_python: str = ""  # the base image's Python, as asked; "" when it could not be


@dataclass(frozen=True)
class RunFacts:
    """What running the analysis under capsule's tracer observed (absent for a static audit)."""

    provenance: Provenance
    outputs: tuple[str, ...]  # paths the run wrote
    network: tuple[tuple[str, str, int], ...] = ()  # (activity, "host:port" or address, line)
    imported_distributions: tuple[tuple[str, str, str], ...] = ()  # (name, version, origin)
    steps: tuple[StepRun, ...] = ()  # what each step did
    tracer_failures: int = 0  # how often capsule's tracer failed, over all processes
    first_tracer_failure: str = ""
    build: BuildFacts | None = None  # for a build
    probe: ProbeResult | None = None  # for an audit that ran the determinism probe


@dataclass(frozen=True)
class AuditContext:
    """Everything a check may look at; built once per audit by capsule/audit.py."""

    root: Path
    plan: Plan
    files: tuple[str, ...]  # every file of the analysis (relative, sorted), as packaged
    code: tuple[CodeUnit, ...]  # every .py file and every notebook code cell
    run: RunFacts | None = None
    extra: dict[str, object] = field(default_factory=dict)


# A check: reads the context, yields findings; it never raises on odd input (it may skip it).
Check = Callable[[AuditContext], Iterable[Finding]]
