"""Checks on notebooks: stored execution counts out of order (hidden state), never run, and
stored outputs that a run from the top in a fresh kernel does not reproduce.

A notebook saved after a clean "restart and run all" numbers its code cells [1], [2], [3], …
from the top. Counts that go back, skip, or cells left unrun before cells that ran mean the
stored outputs came from a kernel whose state no longer follows from the code: hidden state,
which a rerun from the top does not reproduce.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from capsule import compare
from capsule.checks.context import AuditContext, Check
from capsule.model import Finding
from capsule.notebooks import CodeCell, NotebookError, read_code_cells

EXECUTION_ORDER = "notebook-execution-order"
NEVER_RUN = "notebook-never-run"
UNREADABLE = "notebook-unreadable"
NOT_REPRODUCED = "notebook-outputs-not-reproduced"

HIDDEN_STATE = "its stored outputs may depend on hidden state"
EXECUTION_ORDER_FIX = "restart the kernel and run all cells from the top, then save"
NEVER_RUN_FIX = "run all cells from the top and save, so the capsule has outputs to compare"
UNREADABLE_FIX = "open it in Jupyter and save it again, or fix the step that names it"
NOT_REPRODUCED_FIX = (
    "restart the kernel, run all cells and save; the stored outputs then show what the code makes"
)


def execution_order_findings(root: Path, notebooks: Iterable[str]) -> list[Finding]:
    """Findings for notebooks whose stored execution counts are out of order (hidden state)."""
    found: list[Finding] = []
    for path in notebooks:
        try:
            cells = read_code_cells(root / path)
        except (OSError, NotebookError) as error:
            found.append(
                Finding(
                    check=UNREADABLE,
                    severity="warning",
                    message=f"{path} cannot be read as a notebook: {error}",
                    location=path,
                    fix=UNREADABLE_FIX,
                )
            )
            continue
        finding = _order_finding(path, cells)
        if finding is not None:
            found.append(finding)
    return found


def _order_finding(path: str, cells: Sequence[CodeCell]) -> Finding | None:
    """The clearest sign of hidden state in a notebook's code cells, or None if it ran in order."""
    if all(cell.execution_count is None for cell in cells):
        if not any(cell.source.strip() for cell in cells):
            return None  # no code to run: nothing stored to compare
        return Finding(
            check=NEVER_RUN,
            severity="info",
            message=(
                f"{path} was saved without running it: its stored outputs cannot be compared "
                "with the capsule's run"
            ),
            location=path,
            fix=NEVER_RUN_FIX,
        )
    # The clearest sign wins: a count that goes back, then a cell left unrun, then a skip.
    back: Finding | None = None
    unrun: Finding | None = None
    skip: Finding | None = None
    previous = 0
    first_unrun = 0  # the first code cell never run, while some later cell ran
    for cell in cells:
        count, number = cell.execution_count, cell.number
        if count is None:
            # Jupyter never sends a blank cell to the kernel: no count is expected there.
            if not first_unrun and cell.source.strip():
                first_unrun = number
            continue
        if first_unrun and unrun is None:
            unrun = _warning(
                path,
                first_unrun,
                f"was only partly run (cell {first_unrun} never ran, but cell {number} after "
                f"it ran as [{count}])",
            )
        if count <= previous:
            back = back or _warning(
                path,
                number,
                f"was run out of order (cell {number} ran as [{count}] after [{previous}])",
            )
        elif count != previous + 1 and skip is None:
            skip = _warning(path, number, _skip_text(number, count, previous))
        previous = count
    return back or unrun or skip


def _skip_text(number: int, count: int, previous: int) -> str:
    """What a skipped execution count says about how the notebook was run."""
    if previous == 0:
        how = f"cell {number} ran as [{count}], not [1]: the kernel had run other code first"
    else:
        how = (
            f"cell {number} ran as [{count}] after [{previous}]: the counts between "
            "went to cells that were re-run, edited or deleted"
        )
    return f"was not run top to bottom in one go ({how})"


def _warning(path: str, number: int, what: str) -> Finding:
    """An execution-order warning about code cell `number` of the notebook at path."""
    return Finding(
        check=EXECUTION_ORDER,
        severity="warning",
        message=f"{path} {what}: {HIDDEN_STATE}",
        location=f"{path}:cell {number}",
        fix=EXECUTION_ORDER_FIX,
    )


def check_execution_order(ctx: AuditContext) -> Iterator[Finding]:
    """Notebooks whose stored execution counts say they were run out of order, or never."""
    notebooks = sorted(rel for rel in ctx.files if rel.endswith(".ipynb"))
    yield from execution_order_findings(ctx.root, notebooks)


def outputs_not_reproduced(ctx: AuditContext) -> Iterator[Finding]:
    """Notebooks whose stored outputs a top-to-bottom run in a fresh kernel does not reproduce."""
    if ctx.run is None or ctx.run.build is None:
        return
    for notebook, executed in ctx.run.build.executed_notebooks:
        try:
            stored = read_code_cells(ctx.root / notebook)
        except (OSError, NotebookError):
            continue  # notebook-unreadable says so
        if not any(cell.has_outputs for cell in stored):
            continue  # never run: notebook-never-run says so
        verdict = compare.compare(ctx.root / notebook, executed, path=notebook)
        if verdict.verdict == "differs":
            yield Finding(
                check=NOT_REPRODUCED,
                severity="warning",
                message=f"{notebook}: a run from top to bottom in a fresh kernel does not "
                f"reproduce its stored outputs ({verdict.reason})",
                location=notebook,
                fix=NOT_REPRODUCED_FIX,
            )


CHECKS: dict[str, Check] = {
    EXECUTION_ORDER: check_execution_order,
    NEVER_RUN: check_execution_order,
    UNREADABLE: check_execution_order,
    NOT_REPRODUCED: outputs_not_reproduced,
}
