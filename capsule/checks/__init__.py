"""Audit checks: one function per check, registered in one table (CHECKS, at the bottom).

A check takes the AuditContext (the analysis, its plan, its parsed code and, when the audit ran
the analysis, what the run observed) and yields Findings: an id, a severity, a message in the
author's terms, a location (path:line, or path:cell N:line for a notebook) and a fix. Each check
is documented in docs/audit-checks/<family>.md and has a planted defect in a fixture analysis
under tests/projects/ (messy-code/, messy-env/, …).

Adding a check: write the function in the module of its family (code.py for what the source
shows, packages.py, repository.py, secrets.py, run.py for what a run shows), add it to CHECKS
with its id, and add a defect to a fixture under tests/projects/ and a paragraph to
docs/audit-checks/<family>.md.
"""

from __future__ import annotations

from capsule.checks import code, notebooks, packages, repository, run, secrets
from capsule.checks.context import AuditContext, Check, CodeUnit, RunFacts

# The registry, in the order findings are listed: id -> check.
CHECKS: dict[str, Check] = {
    **packages.CHECKS,
    **code.CHECKS,
    **notebooks.CHECKS,
    **run.CHECKS,
    **repository.CHECKS,
    **secrets.CHECKS,
}

__all__ = ["CHECKS", "AuditContext", "Check", "CodeUnit", "RunFacts"]
