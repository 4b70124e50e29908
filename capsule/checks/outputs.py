"""Checks on what a build's run wrote: steps that change their inputs, the author's own copies
of the outputs that the code no longer makes, and output files that no step writes."""

from __future__ import annotations

from collections.abc import Iterator

from capsule import plan as plans
from capsule.checks.context import AuditContext, Check
from capsule.model import Finding

MODIFIES_INPUT_FIX = "write results to new files; the capsule keeps the original bytes"
STALE_FIX = "rerun the analysis, or check which version of the code made this file"
ORPHAN_FIX = "delete it if it is obsolete, or add the step that makes it"


def _changed_inputs(ctx: AuditContext) -> dict[str, str]:
    """Packaged file -> the step that changed it, as the run's snapshots saw."""
    steps = ctx.run.steps if ctx.run is not None else ()
    return {rel: step.name for step in steps for rel in step.changed_inputs}


def step_modifies_input(ctx: AuditContext) -> Iterator[Finding]:
    """A step changed a file the analysis started with: its input is gone after one run."""
    if ctx.run is None or ctx.run.build is None:
        return
    for step in ctx.run.steps:
        for rel in step.changed_inputs:
            yield Finding(
                check="step-modifies-input",
                severity="warning",
                message=f"step {step.name!r} changed {rel}, a file the analysis started with",
                location=rel,
                fix=MODIFIES_INPUT_FIX,
            )


def stale_output(ctx: AuditContext) -> Iterator[Finding]:
    """The author's copy of an output is not what the current code makes."""
    if ctx.run is None or ctx.run.build is None:
        return
    changed = _changed_inputs(ctx)
    for entry in ctx.run.build.on_disk:
        if entry.on_disk == "stale" and entry.path not in changed:
            yield Finding(
                check="stale-output",
                severity="warning",
                message=f"{entry.path} on disk is not what the current code makes "
                f"({entry.on_disk_note})",
                location=entry.path,
                fix=STALE_FIX,
            )


def orphan_output(ctx: AuditContext) -> Iterator[Finding]:
    """A file where the outputs go that no step of the run wrote."""
    if ctx.run is None or ctx.run.build is None:
        return
    written = set(ctx.run.outputs)
    for rel in ctx.files:
        if plans.is_output(rel, ctx.plan) and rel not in written:
            yield Finding(
                check="orphan-output",
                severity="warning",
                message=f"{rel} is in the analysis folder but no step wrote it",
                location=rel,
                fix=ORPHAN_FIX,
            )


CHECKS: dict[str, Check] = {
    "step-modifies-input": step_modifies_input,
    "stale-output": stale_output,
    "orphan-output": orphan_output,
}
