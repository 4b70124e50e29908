"""Checks on notebooks: stored execution counts out of order (hidden state), never run."""

from __future__ import annotations

from collections.abc import Iterator

from capsule.checks.context import AuditContext, Check
from capsule.model import Finding
from capsule.notebooks import execution_order_findings


def check_execution_order(ctx: AuditContext) -> Iterator[Finding]:
    """Notebooks whose stored execution counts say they were run out of order, or never."""
    notebooks = sorted(rel for rel in ctx.files if rel.endswith(".ipynb"))
    yield from execution_order_findings(ctx.root, notebooks)


CHECKS: dict[str, Check] = {"notebook-execution-order": check_execution_order}
