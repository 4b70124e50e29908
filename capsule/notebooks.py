"""What the stored notebooks of an analysis say about how their author ran them.

A notebook saved after a clean "restart and run all" numbers its code cells [1], [2], [3], …
from the top. Counts that go back, skip, or cells left unrun before cells that ran mean the
stored outputs came from a kernel whose state no longer follows from the code: hidden state,
which a rerun from the top does not reproduce.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from capsule.model import Finding

EXECUTION_ORDER = "notebook-execution-order"
NEVER_RUN = "notebook-never-run"
UNREADABLE = "notebook-unreadable"

HIDDEN_STATE = "its stored outputs may depend on hidden state"
EXECUTION_ORDER_FIX = "restart the kernel and run all cells from the top, then save"
NEVER_RUN_FIX = "run all cells from the top and save, so the capsule has outputs to compare"
UNREADABLE_FIX = "open it in Jupyter and save it again, or fix the step that names it"


def execution_order_findings(root: Path, notebooks: Iterable[str]) -> list[Finding]:
    """Findings for notebooks whose stored execution counts are out of order (hidden state)."""
    found: list[Finding] = []
    for path in notebooks:
        try:
            cells = code_cells(json.loads((root / path).read_bytes()))
        except (OSError, ValueError, TypeError) as error:
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


def code_cells(notebook: object) -> list[tuple[int | None, str]]:
    """(execution count, source) of each code cell of a notebook's JSON, in order.

    Raises ValueError when the JSON is not a notebook of format 4 (or 3).
    """
    if not isinstance(notebook, Mapping):
        raise ValueError("the file is JSON but not a notebook")
    cells: Any = notebook.get("cells")
    key = "execution_count"
    if cells is None and isinstance(notebook.get("worksheets"), list):
        # nbformat 3 kept the cells in worksheets and called the count prompt_number.
        cells = [cell for sheet in notebook["worksheets"] for cell in sheet.get("cells", ())]
        key = "prompt_number"
    if not isinstance(cells, list):
        raise ValueError("the file is JSON but has no list of cells")
    result: list[tuple[int | None, str]] = []
    for cell in cells:
        if not isinstance(cell, Mapping) or cell.get("cell_type") != "code":
            continue
        count = cell.get(key)
        source = cell.get("source", cell.get("input", ""))
        text = "".join(source) if isinstance(source, list) else str(source)
        result.append((count if isinstance(count, int) else None, text))
    return result


def _order_finding(path: str, cells: Sequence[tuple[int | None, str]]) -> Finding | None:
    """The clearest sign of hidden state in a notebook's code cells, or None if it ran in order."""
    if all(count is None for count, _source in cells):
        if not any(source.strip() for _count, source in cells):
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
    for number, (count, source) in enumerate(cells, start=1):
        if count is None:
            # Jupyter never sends a blank cell to the kernel: no count is expected there.
            if not first_unrun and source.strip():
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
            if previous == 0:
                how = (
                    f"cell {number} ran as [{count}], not [1]: the kernel had run other code first"
                )
            else:
                how = (
                    f"cell {number} ran as [{count}] after [{previous}]: the counts between "
                    "went to cells that were re-run, edited or deleted"
                )
            skip = _warning(path, number, f"was not run top to bottom in one go ({how})")
        previous = count
    return back or unrun or skip


def _warning(path: str, number: int, what: str) -> Finding:
    """An execution-order warning about code cell `number` of the notebook at path."""
    return Finding(
        check=EXECUTION_ORDER,
        severity="warning",
        message=f"{path} {what}: {HIDDEN_STATE}",
        location=f"{path}:cell {number}",
        fix=EXECUTION_ORDER_FIX,
    )
