"""CSV and TSV tables: shape, header, the cells that differ and the largest numeric difference.

Rows are numbered from 1 after the header (the header is the first row when none of its cells is
a number); columns are named by their header, else numbered from 1. Files are read as streams.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path

from capsule.compare import text
from capsule.compare._shared import error_text, fallback, number, plural, short
from capsule.compare.model import Comparison, Tolerance, Verdict

NAME = "csv"
CELLS_SHOWN = 10  # differing cells listed in the details
REORDER_CHECK_BYTES = 64 << 20  # larger tables are not checked for reordered rows
SAME_ROWS_REORDERED = "same rows in a different order"
_NUMBER = re.compile(
    r"\s*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|nan|inf|infinity)\s*", re.IGNORECASE
)


@dataclass
class _Table:
    """What is learnt about one file while streaming it."""

    delimiter: str
    header: list[str] | None = None
    rows: int = 0  # data rows, header excluded
    columns: int = 0  # widest row


@dataclass
class _Differences:
    """The cell differences found so far."""

    cells: int = 0  # cells compared in the common rows
    text_cells: int = 0  # differing cells that are not both numbers
    numeric_cells: int = 0  # differing cells that are both numbers
    beyond: int = 0  # numeric cells outside the tolerance
    max_abs: float = 0.0
    max_abs_at: str = ""
    max_rel: float = 0.0
    max_rel_at: str = ""
    shown: list[str] = field(default_factory=list)
    first: str = ""  # first differing cell, for the reason

    @property
    def count(self) -> int:
        """Number of differing cells."""
        return self.text_cells + self.numeric_cells


def compare(
    expected: Path,
    actual: Path,
    *,
    path: str,
    tolerance: Tolerance,
    artifacts_dir: Path | None,
) -> Comparison:
    """Cell by cell; within-tolerance when only numbers differ, all within rtol/atol."""
    tab = path.lower().endswith(".tsv")
    tables = (_Table(_delimiter(expected, tab)), _Table(_delimiter(actual, tab)))
    diffs = _Differences()
    try:
        _walk(expected, actual, tables, diffs, tolerance)
    except (OSError, ValueError, csv.Error) as exc:  # UnicodeDecodeError is a ValueError
        return fallback(
            f"not readable as a table ({error_text(exc)})",
            text.compare,
            expected,
            actual,
            path=path,
            tolerance=tolerance,
            artifacts_dir=artifacts_dir,
        )
    old, new = tables
    details = [f"shape: {_shape(old)} → {_shape(new)} (rows x columns, header excluded)"]
    problems: list[str] = []
    if old.delimiter != new.delimiter:
        problems.append(f"delimiter {old.delimiter!r} → {new.delimiter!r}")
    header = _header_difference(old.header, new.header)
    if header:
        problems.append(header)
        details.append(header)
    if (old.rows, old.columns) != (new.rows, new.columns):
        problems.insert(0, f"shape {_shape(old)} → {_shape(new)}")
    if diffs.count:
        details.extend(diffs.shown)
        if diffs.count > len(diffs.shown):
            details.append(f"… and {diffs.count - len(diffs.shown)} more cells")
    if diffs.numeric_cells:
        details.append(f"max abs diff {number(diffs.max_abs)} at {diffs.max_abs_at}")
        details.append(f"max rel diff {number(diffs.max_rel)} at {diffs.max_rel_at}")
    cells = ""
    if diffs.count == 1:
        cells = f"1 of {plural(diffs.cells, 'cell')} differs: {diffs.first}"
    elif diffs.count:
        cells = f"{diffs.count} of {diffs.cells} cells differ (first: {diffs.first})"
    if diffs.numeric_cells:
        cells += f"; max abs diff {number(diffs.max_abs)}, max rel diff {number(diffs.max_rel)}"
    if problems:
        reason = "; ".join(problems + ([cells] if cells else []))
        return _result(path, "differs", reason, details)
    if not diffs.count:
        try:
            formatting, _ = text.describe(*(text.read_text(f) for f in (expected, actual)))
        except (OSError, ValueError) as exc:
            formatting = f"bytes differ ({error_text(exc)})"
        return _result(path, "differs", f"same cells, {formatting}", details)
    if _same_rows_reordered(expected, actual, tables):
        return _result(path, "differs", f"{SAME_ROWS_REORDERED}; {cells}", details)
    if tolerance.exact or diffs.text_cells or diffs.beyond:
        if diffs.numeric_cells and not diffs.text_cells and not diffs.max_abs:
            cells = "numbers equal but written differently: " + cells
        if not tolerance.exact and diffs.numeric_cells:
            cells += f"; {plural(diffs.beyond, 'numeric cell')} beyond {_tolerance(tolerance)}"
        return _result(path, "differs", cells, details)
    return _result(path, "within-tolerance", f"{cells}; within {_tolerance(tolerance)}", details)


def _same_rows_reordered(expected: Path, actual: Path, tables: tuple[_Table, _Table]) -> bool:
    """True if the data rows are the same but in another order (small files only)."""
    rows = []
    try:
        if max(expected.stat().st_size, actual.stat().st_size) > REORDER_CHECK_BYTES:
            return False
        for file, table in zip((expected, actual), tables, strict=True):
            with file.open(encoding="utf-8-sig", newline="") as stream:
                rows.append(sorted(csv.reader(stream, delimiter=table.delimiter)))
    except (OSError, ValueError, csv.Error):
        return False
    return rows[0] == rows[1]


def _walk(
    expected: Path,
    actual: Path,
    tables: tuple[_Table, _Table],
    diffs: _Differences,
    tolerance: Tolerance,
) -> None:
    """Stream both files row by row, filling in the tables and the differences."""
    old, new = tables
    with (
        expected.open(encoding="utf-8-sig", newline="") as left,
        actual.open(encoding="utf-8-sig", newline="") as right,
    ):
        rows = zip_longest(
            _rows(left, old),
            _rows(right, new),
        )
        for index, (a, b) in enumerate(rows, start=1):
            if a is None or b is None:
                continue
            for column, (x, y) in enumerate(zip_longest(a, b), start=1):
                diffs.cells += 1
                if x != y:
                    name = _column_name(old.header or new.header, column)
                    _record(diffs, index, name, x, y, tolerance)


def _rows(stream: Iterator[str], table: _Table) -> Iterator[list[str]]:
    """Yield the data rows of a file, taking its first row as header when it has no number."""
    for row in csv.reader(stream, delimiter=table.delimiter):
        if table.header is None and table.rows == 0 and _looks_like_header(row):
            table.header = row
            table.columns = len(row)
            continue
        table.rows += 1
        table.columns = max(table.columns, len(row))
        yield row


def _record(
    diffs: _Differences,
    row: int,
    column: str,
    old: str | None,
    new: str | None,
    tolerance: Tolerance,
) -> None:
    """Add one differing cell (None: missing from a short row) and track the largest changes."""
    where = f"row {row}, column {column}"
    shown = f"{where}: {_cell(old)} → {_cell(new)}"
    if not diffs.first:
        diffs.first = shown
    if len(diffs.shown) < CELLS_SHOWN:
        diffs.shown.append(shown)
    if old is None or new is None or not (_NUMBER.fullmatch(old) and _NUMBER.fullmatch(new)):
        diffs.text_cells += 1
        return
    diffs.numeric_cells += 1
    a, b = float(old), float(new)
    if math.isnan(a) and math.isnan(b):
        return
    delta = abs(b - a) if not (math.isinf(a) and a == b) else 0.0
    if math.isnan(delta):  # a number against nan
        delta = math.inf
    relative = (
        delta / abs(a) if a not in (0.0, math.inf, -math.inf) else (math.inf if delta else 0.0)
    )
    if delta > tolerance.atol + tolerance.rtol * abs(a):
        diffs.beyond += 1
    if delta > diffs.max_abs or not diffs.max_abs_at:
        diffs.max_abs, diffs.max_abs_at = delta, where
    if relative > diffs.max_rel or not diffs.max_rel_at:
        diffs.max_rel, diffs.max_rel_at = relative, where


def _cell(value: str | None) -> str:
    """A cell as shown in a reason: stripped, quoted if blank, '(missing)' if absent."""
    if value is None:
        return "(missing)"
    return value.strip() or short(value)


def _delimiter(file: Path, tab: bool) -> str:
    """Guess the delimiter from the first line: tab for .tsv, else ',' unless only ';' or tab."""
    if tab:
        return "\t"
    try:
        with file.open("rb") as stream:
            first = stream.readline(65536).decode("utf-8", "replace")
    except OSError:
        return ","
    if "," in first:
        return ","
    counts = {d: first.count(d) for d in (";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _looks_like_header(row: list[str]) -> bool:
    """A first row with at least one name and no numbers is a header."""
    return any(cell.strip() for cell in row) and not any(_NUMBER.fullmatch(c) for c in row)


def _column_name(header: list[str] | None, column: int) -> str:
    """Name a 1-based column by its header, else by its number."""
    if header and column <= len(header) and header[column - 1].strip():
        return header[column - 1].strip()
    return str(column)


def _header_difference(old: list[str] | None, new: list[str] | None) -> str:
    """Describe how two header rows differ, or ''."""
    if old == new:
        return ""
    if old is None or new is None:
        return "header row only in " + ("actual" if old is None else "expected")
    removed = [c for c in old if c not in new]
    added = [c for c in new if c not in old]
    parts = []
    if removed:
        parts.append(f"columns removed {removed}")
    if added:
        parts.append(f"columns added {added}")
    if not parts:
        parts.append("columns reordered")
    return "header differs: " + ", ".join(parts)


def _shape(table: _Table) -> str:
    """Rows x columns of a table."""
    return f"{table.rows}x{table.columns}"


def _tolerance(tolerance: Tolerance) -> str:
    """Say which tolerance applied."""
    return f"tolerance rtol={tolerance.rtol:g}, atol={tolerance.atol:g}"


def _result(path: str, verdict: Verdict, reason: str, details: list[str]) -> Comparison:
    """Build the Comparison of this comparator."""
    return Comparison(
        path=path,
        verdict=verdict,
        reason=reason,
        details=tuple(details),
        comparator=NAME,
    )
