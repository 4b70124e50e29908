"""Audit checks: one function per check, registered in one table (CHECKS, at the bottom).

A check takes the AuditContext (the analysis, its plan, its parsed code and, when the audit ran
the analysis, what the run observed) and yields Findings: an id, a severity, a message in the
author's terms, a location (path:line, or path:cell N:line for a notebook) and a fix. Each check
is documented in docs/audit-checks/<family>.md and has a planted defect in a fixture analysis
under tests/projects/ (messy-code/, messy-env/, …).

Every finding capsule makes, in an audit or a build, comes from this table: its id is a key of
CHECKS. A check that can make findings of several ids (the execution-order check, one per
variation of the probe) is registered under each of them and still runs once.

Adding a check: write the function in the module of its family (code.py for what the source
shows, packages.py, repository.py, secrets.py, notebooks.py; run.py for what a traced run shows,
outputs.py for what a build's run wrote, system.py for what it used of the operating system,
probe.py for what the determinism probe saw), add it to CHECKS with its id, and add a defect to
a fixture under tests/projects/ and a paragraph to docs/audit-checks/<family>.md.
"""

from __future__ import annotations

from capsule.checks import (
    code,
    notebooks,
    outputs,
    packages,
    probe,
    repository,
    run,
    secrets,
    system,
)
from capsule.checks.context import AuditContext, BuildFacts, Check, CodeUnit, RunFacts

# The registry, in the order findings are listed: id -> check.
CHECKS: dict[str, Check] = {
    **packages.CHECKS,
    **code.CHECKS,
    **notebooks.CHECKS,
    **run.CHECKS,
    **outputs.CHECKS,
    **system.CHECKS,
    **probe.CHECKS,
    **repository.CHECKS,
    **secrets.CHECKS,
}

__all__ = ["CHECKS", "AuditContext", "BuildFacts", "Check", "CodeUnit", "RunFacts"]
