"""The one reader of Jupyter notebook files: their JSON, and their code cells as plain data.

Every part of capsule that looks into a notebook (the plan, the audit's code checks and
execution-order check, the build's comparison of stored outputs, the notebook comparator) reads
it here, so that nbformat 3 and 4, sources stored as strings or lists of lines, and damaged
files are handled once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class NotebookError(ValueError):
    """A file that cannot be read as a notebook; the message says why."""


@dataclass(frozen=True)
class CodeCell:
    """One code cell of a notebook, as stored."""

    number: int  # among the code cells, counted from 1
    source: str
    execution_count: int | None  # None when it never ran
    has_outputs: bool


def load(path: Path) -> dict[str, Any]:
    """A notebook's JSON document; NotebookError when it is not JSON or has no cells.

    nbformat 4 keeps its cells in "cells"; nbformat 3 in "worksheets", accepted too.
    """
    try:
        notebook = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise NotebookError(f"not valid JSON: {error}") from error
    if not isinstance(notebook, dict):
        raise NotebookError("the file is JSON but not a notebook")
    if not isinstance(notebook.get("cells"), list) and not isinstance(
        notebook.get("worksheets"), list
    ):
        raise NotebookError("no list of cells")
    return notebook


def code_cells(notebook: Mapping[str, Any]) -> list[CodeCell]:
    """The code cells of a notebook's JSON, in order; NotebookError when it has no cells."""
    cells: Any = notebook.get("cells")
    key = "execution_count"
    if cells is None and isinstance(notebook.get("worksheets"), list):
        # nbformat 3 kept the cells in worksheets and called the count prompt_number.
        cells = [
            cell
            for sheet in notebook["worksheets"]
            if isinstance(sheet, Mapping)
            for cell in sheet.get("cells", ())
        ]
        key = "prompt_number"
    if not isinstance(cells, list):
        raise NotebookError("the file is JSON but has no list of cells")
    found: list[CodeCell] = []
    for cell in cells:
        if not isinstance(cell, Mapping) or cell.get("cell_type") != "code":
            continue
        count = cell.get(key)
        source = cell.get("source", cell.get("input", ""))
        found.append(
            CodeCell(
                number=len(found) + 1,
                source="".join(source) if isinstance(source, list) else str(source),
                execution_count=count if isinstance(count, int) else None,
                has_outputs=bool(cell.get("outputs")),
            )
        )
    return found


def read_code_cells(path: Path) -> list[CodeCell]:
    """The code cells of the notebook at path; NotebookError (or OSError) if it is not one."""
    return code_cells(load(path))
