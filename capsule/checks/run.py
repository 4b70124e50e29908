"""Checks on what running the analysis showed: network access, files read outside it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from capsule.checks.context import AuditContext, Check
from capsule.model import Finding
from capsule.runtime._capsule_events import NETWORK, TraceEvent, TraceSite
from capsule.wording import plural

NETWORK_MESSAGE = (
    "{where} opened a network connection to {target} during the run: "
    "a reviewer's rerun has no network"
)
NETWORK_FIX = "download the data once, add it to the analysis, and read the local copy"
OUTSIDE_MESSAGE = (
    "step {step!r} read {path}, which is outside the analysis folder: the capsule does not "
    "contain it"
)
OUTSIDE_FIX = "copy the file into the analysis folder and read it by a relative path"
TRACER_FAILED_MESSAGE = (
    "capsule's tracer failed {times} ({first}); the lineage of some outputs may be incomplete"
)
TRACER_FAILED_FIX = "nothing to change in the analysis; please report it to capsule"


class TraceRecord(Protocol):
    """What this module needs of a tracer record (capsule.provenance.read_records)."""

    @property
    def step(self) -> str: ...

    @property
    def events(self) -> tuple[TraceEvent, ...]: ...


def network_events(records: Iterable[TraceRecord]) -> tuple[tuple[str, str, int], ...]:
    """The run's network accesses as RunFacts.network: (code, target, line), one per code line.

    `code` is the analysis file that made the call ("nb.ipynb:cell 3" for a notebook cell), or
    the step's name with line 0 when no frame of the analysis was on the stack. A URL opened
    and the host look-up and connection it causes come from one line: the first target wins.
    """
    found: dict[tuple[str, int], str] = {}
    for record in records:
        for event in record.events:
            if event.op != NETWORK:
                continue
            code, line = _site(event.site, record.step)
            found.setdefault((code, line), event.path)
    return tuple((code, found[code, line], line) for code, line in sorted(found))


def _site(site: TraceSite | None, step: str) -> tuple[str, int]:
    """(file or file:cell N, line) of a recorded call site; (step, 0) when there is none."""
    if site is None:
        return step, 0
    return (f"{site.file}:cell {site.cell}" if site.cell else site.file), site.line


def network_access(ctx: AuditContext) -> Iterator[Finding]:
    """A step reached the network: the rerun, offline in a container, will not."""
    if ctx.run is None:
        return
    for code, target, line in ctx.run.network:
        where = f"{code}:{line}" if line else f"step {code!r}"
        yield Finding(
            check="network-access",
            severity="warning",
            message=NETWORK_MESSAGE.format(where=where, target=target),
            location=f"{code}:{line}" if line else code,
            fix=NETWORK_FIX,
        )


def reads_outside_analysis(ctx: AuditContext) -> Iterator[Finding]:
    """A step read a file outside the analysis folder, which the capsule will not contain."""
    if ctx.run is None:
        return
    steps = {activity.id: activity.step for activity in ctx.run.provenance.activities}
    seen: set[tuple[str, str]] = set()
    for usage in ctx.run.provenance.used:
        key = (steps.get(usage.activity, usage.activity), usage.entity)
        if not usage.external or key in seen:
            continue
        seen.add(key)
        yield Finding(
            check="reads-outside-analysis",
            severity="warning",
            message=OUTSIDE_MESSAGE.format(step=key[0], path=usage.entity),
            location=usage.entity,
            fix=OUTSIDE_FIX,
        )


def tracer_failed(ctx: AuditContext) -> Iterator[Finding]:
    """capsule's tracer failed somewhere: the lineage of some outputs may be incomplete."""
    if ctx.run is None or not ctx.run.tracer_failures:
        return
    yield Finding(
        check="tracer-failed",
        severity="info",
        message=TRACER_FAILED_MESSAGE.format(
            times=plural(ctx.run.tracer_failures, "time"), first=ctx.run.first_tracer_failure
        ),
        fix=TRACER_FAILED_FIX,
    )


CHECKS: dict[str, Check] = {
    "network-access": network_access,
    "reads-outside-analysis": reads_outside_analysis,
    "tracer-failed": tracer_failed,
}
