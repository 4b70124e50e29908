"""`capsule audit`: find what threatens reproducibility before it bites, and say how to fix it.

The orchestrator of the audit: it reads the analysis (never writing to it), parses its code and
notebooks once, runs every registered check (capsule/checks/), optionally runs the analysis under
the tracer and the determinism probe, and returns the findings sorted by severity.
"""

from __future__ import annotations

import ast
import json
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from capsule import plan as plans
from capsule.checks import CHECKS, AuditContext, CodeUnit, RunFacts
from capsule.hashing import walk
from capsule.model import Finding, Plan, Severity
from capsule.progress import Progress

SEVERITY_ORDER: tuple[Severity, ...] = ("error", "warning", "info")
FailOn = Literal["error", "warning", "info", "never"]


@dataclass(frozen=True)
class AuditResult:
    """The findings of an audit, most severe first, and whether they fail it."""

    findings: tuple[Finding, ...]
    fail_on: FailOn

    @property
    def failed(self) -> bool:
        """True when a finding reaches the --fail-on level."""
        if self.fail_on == "never":
            return False
        limit = SEVERITY_ORDER.index(self.fail_on)
        return any(SEVERITY_ORDER.index(f.severity) <= limit for f in self.findings)


def code_units(root: Path, files: Iterable[str]) -> tuple[CodeUnit, ...]:
    """Every Python file and notebook code cell of the analysis, parsed once."""
    units: list[CodeUnit] = []
    for rel in files:
        if rel.endswith(".py"):
            source = (root / rel).read_text(encoding="utf-8", errors="replace")
            units.append(CodeUnit(path=rel, source=source, tree=_parse(source, rel)))
        elif rel.endswith(".ipynb"):
            units.extend(_notebook_cells(root, rel))
    return tuple(units)


def static_context(root: Path, the_plan: Plan | None = None) -> AuditContext:
    """The context of a static audit: the analysis as it is on disk, nothing run."""
    the_plan = the_plan or plans.load(root)
    files = tuple(walk(root, the_plan.exclude))
    return AuditContext(root=root, plan=the_plan, files=files, code=code_units(root, files))


def run_checks(context: AuditContext, only: Iterable[str] = ()) -> list[Finding]:
    """Run the registered checks (or only the named ones) and return their findings."""
    wanted = set(only)
    found: list[Finding] = []
    for check_id, check in CHECKS.items():
        if wanted and check_id not in wanted:
            continue
        found.extend(check(context))
    return found


def sort_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Most severe first, then by location and check, without duplicates."""
    unique = {(f.check, f.location, f.message): f for f in findings}
    return tuple(
        sorted(
            unique.values(),
            key=lambda f: (SEVERITY_ORDER.index(f.severity), f.location, f.check, f.message),
        )
    )


def with_run(context: AuditContext, run: RunFacts) -> AuditContext:
    """The same context, with what a traced run observed."""
    return AuditContext(
        root=context.root,
        plan=context.plan,
        files=context.files,
        code=context.code,
        run=run,
        extra=context.extra,
    )


def _parse(source: str, rel: str) -> ast.Module | None:
    """The syntax tree of a file, or None when it does not parse."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SyntaxWarnings of the author's code are not ours
        try:
            return ast.parse(source, filename=rel)
        except (SyntaxError, ValueError):
            return None


def _notebook_cells(root: Path, rel: str) -> list[CodeUnit]:
    """The code cells of a notebook, IPython magics and shell escapes blanked out."""
    try:
        doc = json.loads((root / rel).read_text(encoding="utf-8"))
        cells = doc.get("cells", [])
    except (OSError, ValueError, AttributeError):
        return []
    units = []
    number = 0
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        number += 1
        raw = cell.get("source", "")
        source = "".join(raw) if isinstance(raw, list) else str(raw)
        python = "\n".join(
            "" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()
        )
        units.append(CodeUnit(path=rel, source=python, tree=_parse(python, rel), cell=number))
    return units


@dataclass(frozen=True)
class AuditOptions:
    """What the author asked of `capsule audit`."""

    source: Path
    runs: int = 2  # 0: static checks only; else the determinism probe's identical runs
    variations: tuple[str, ...] | None = None  # None: every variation the probe knows
    fail_on: FailOn = "error"
    python: str = ""


def audit(options: AuditOptions, progress: Progress | None = None) -> AuditResult:
    """Audit an analysis: every check, and with runs > 0 the determinism probe too."""
    progress = progress or Progress(enabled=False)
    root = options.source
    the_plan = plans.load(root)
    with progress.stage("Reading the analysis and its code"):
        context = static_context(root, the_plan)
    findings: list[Finding] = []
    if options.runs > 0:
        from capsule import probe
        from capsule.build import interpreter

        variations = probe.ALL if options.variations is None else options.variations
        total = options.runs + len(variations) + 1
        with progress.stage(f"Running the analysis {total} times (determinism probe)"):
            result = probe.probe(
                root,
                the_plan,
                python=interpreter(options.python or the_plan.python),
                runs=options.runs,
                variations=variations,
                say=progress.say,
            )
        findings.extend(probe.probe_findings(result))
        if result.facts is not None:
            context = with_run(context, result.facts)
    with progress.stage(f"Running {len(CHECKS)} checks"):
        findings.extend(run_checks(context))
    return AuditResult(findings=sort_findings(findings), fail_on=options.fail_on)
