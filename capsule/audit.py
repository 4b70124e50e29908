"""`capsule audit`: find what threatens reproducibility before it bites, and say how to fix it.

The orchestrator of the audit: it reads the analysis (never writing to it), parses its code and
notebooks once, runs every registered check (capsule/checks/), optionally runs the analysis under
the tracer and the determinism probe, and returns the findings sorted by severity.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from capsule import plan as plans
from capsule import probe
from capsule.checks import CHECKS, AuditContext, BuildFacts, Check, CodeUnit, RunFacts
from capsule.checks.run import network_events
from capsule.hashing import walk
from capsule.model import Finding, Plan, ProbeResult, Severity
from capsule.notebooks import NotebookError, read_code_cells
from capsule.progress import Progress
from capsule.scratch import TracedRun, interpreter

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
    """Run the registered checks (or only those of the named ids) and return their findings.

    A check registered under several ids runs once.
    """
    wanted = set(only)
    found: list[Finding] = []
    done: set[Check] = set()
    for check_id, check in CHECKS.items():
        if (wanted and check_id not in wanted) or check in done:
            continue
        done.add(check)
        found.extend(f for f in check(context) if not wanted or f.check in wanted)
    return found


def run_facts(
    run: TracedRun,
    *,
    build: BuildFacts | None = None,
    probe: ProbeResult | None = None,
    imported_distributions: tuple[tuple[str, str, str], ...] = (),
) -> RunFacts:
    """What a traced run observed, as the run-based checks read it."""
    failed = [record for record in run.records if record.failures]
    return RunFacts(
        provenance=run.provenance,
        outputs=tuple(sorted(run.outputs)),
        network=network_events(run.records),
        imported_distributions=imported_distributions,
        steps=run.result.steps,
        tracer_failures=sum(record.failures for record in failed),
        first_tracer_failure=failed[0].first_failure if failed else "",
        build=build,
        probe=probe,
    )


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
        cells = read_code_cells(root / rel)
    except (OSError, NotebookError):
        return []  # notebook-unreadable says so
    units = []
    for cell in cells:
        python = "\n".join(
            "" if line.lstrip().startswith(("%", "!")) else line
            for line in cell.source.splitlines()
        )
        units.append(CodeUnit(path=rel, source=python, tree=_parse(python, rel), cell=cell.number))
    return units


@dataclass(frozen=True)
class AuditOptions:
    """What the author asked of `capsule audit`."""

    source: Path
    runs: int = 2  # 0: static checks only; else the determinism probe's identical runs
    variations: tuple[str, ...] | None = None  # None: every variation the probe knows
    fail_on: FailOn = "error"
    python: str = ""


NO_STEPS_AUDIT = (
    "the static checks run, not the determinism probe (list the steps in capsule.toml for it)"
)


def audit(options: AuditOptions, progress: Progress | None = None) -> AuditResult:
    """Audit an analysis: every check, and with runs > 0 the determinism probe too."""
    progress = progress or Progress(enabled=False)
    root = options.source
    try:
        the_plan = plans.load(root)
    except plans.NoStepsFound as error:
        the_plan = plans.without_steps(root)  # the static checks need no step; the probe does
        progress.note(f"[yellow]note:[/yellow] {error.message}: {NO_STEPS_AUDIT}")
    with progress.stage("Reading the analysis and its code"):
        context = static_context(root, the_plan)
    findings: list[Finding] = []
    if options.runs > 0 and the_plan.steps:
        variations = probe.ALL if options.variations is None else options.variations
        total = options.runs + len(variations) + 1
        with progress.stage(f"Running the analysis {total} times (determinism probe)"):
            result, first = probe.probe(
                root,
                the_plan,
                python=interpreter(options.python or the_plan.python),
                runs=options.runs,
                variations=variations,
                say=progress.say,
            )
        if first is not None:
            context = with_run(context, run_facts(first, probe=result))
    with progress.stage(f"Running {len(set(CHECKS.values()))} checks"):
        findings.extend(run_checks(context))
    return AuditResult(findings=sort_findings(findings), fail_on=options.fail_on)
