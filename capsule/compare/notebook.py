"""Jupyter notebooks: sources and outputs cell by cell, execution metadata set aside.

Cells and outputs are numbered from 1 in reasons ("cell 3 output 1"). Volatile, and named when
they differ: execution counts, execution timings (cell metadata `execution`, `ExecuteTime`,
`papermill`), cell view state, cell ids, kernel facts in the notebook metadata, widget ids, and
inside output text: memory addresses (`at 0x7f...`), kernel temp paths
(`/tmp/ipykernel_1234/5678.py`), `In [n]` in tracebacks and `%time` lines. Embedded PNGs are
compared by the PNG comparator on their decoded bytes, other images by decoded bytes equality.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capsule.compare import png, text
from capsule.compare._shared import differ, error_text, fallback, plural, short
from capsule.compare.model import Comparison, Tolerance

NAME = "notebook"
EXECUTION_COUNTS = "execution counts"
EXECUTION_TIMINGS = "execution timings"
VIEW_STATE = "cell view state"
CELL_IDS = "cell ids"
MEMORY_ADDRESSES = "memory addresses"
KERNEL_PATHS = "kernel temp paths"
TIMING_OUTPUT = "timing output"
WIDGET_IDS = "widget ids"
BASE64_WRAPPING = "encoding only (base64 line wrapping)"
JSON_FORMATTING = "encoding only (JSON formatting)"
DIFFERENCES_SHOWN = 10

# Notebook metadata that describes the kernel or the run, not the analysis.
_VOLATILE_NOTEBOOK_METADATA = frozenset(
    {"kernelspec", "language_info", "widgets", "papermill", "vscode", "interpreter", "toc"}
)
_VOLATILE_CELL_METADATA = {
    "execution": EXECUTION_TIMINGS,
    "ExecuteTime": EXECUTION_TIMINGS,
    "papermill": EXECUTION_TIMINGS,
    "collapsed": VIEW_STATE,
    "scrolled": VIEW_STATE,
    "jupyter": VIEW_STATE,
}
_VOLATILE_TEXT = [
    (MEMORY_ADDRESSES, re.compile(r"\bat 0x[0-9a-fA-F]+"), "at 0x?"),
    (KERNEL_PATHS, re.compile(r"[^\s'\"()]*ipykernel_\d+[/\\]\d+\.py"), "<ipykernel>.py"),
    (TIMING_OUTPUT, re.compile(r"(?:Wall time|CPU times): [^\n]*"), "<time>"),
]
# Tracebacks name the cell by its execution count, between ANSI colour codes: "\x1b[32mIn[4]".
_TRACEBACK_COUNT = (EXECUTION_COUNTS, re.compile(r"(In|Out) ?\[\d+\]"), r"\1[?]")
_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# The fields compared one by one; any other field is compared as a whole, so nothing escapes.
_NOTEBOOK_FIELDS = frozenset({"nbformat", "nbformat_minor", "metadata", "cells"})
_CELL_FIELDS = frozenset(
    {"cell_type", "id", "source", "metadata", "execution_count", "attachments", "outputs"}
)
_OUTPUT_FIELDS = frozenset(
    {"output_type", "execution_count", "metadata", "data"}  # display_data, execute_result
    | {"name", "text"}  # stream
    | {"ename", "evalue", "traceback"}  # error
)


@dataclass
class _Findings:
    """What differs, what volatile things differ, what is within tolerance."""

    differences: list[str] = field(default_factory=list)
    volatile: list[str] = field(default_factory=list)
    tolerated: list[str] = field(default_factory=list)

    def volatile_name(self, name: str) -> None:
        """Record a volatile difference once."""
        if name not in self.volatile:
            self.volatile.append(name)


def compare(
    expected: Path,
    actual: Path,
    *,
    path: str,
    tolerance: Tolerance,
    artifacts_dir: Path | None,
) -> Comparison:
    """Cell by cell; metadata-only when only execution metadata and volatile text differ."""
    notebooks = []
    for label, file in (("expected", expected), ("actual", actual)):
        try:
            notebooks.append(_load(file))
        except (OSError, ValueError, RecursionError) as exc:
            return fallback(
                f"{label} is not a notebook ({error_text(exc)})",
                text.compare,
                expected,
                actual,
                path=path,
                tolerance=tolerance,
                artifacts_dir=artifacts_dir,
            )
    findings = _Findings()
    try:
        _compare_notebooks(notebooks[0], notebooks[1], findings, tolerance)
    except (TypeError, AttributeError, KeyError, ValueError) as exc:  # a schema surprise
        findings.differences.append(f"notebook structure not understood ({error_text(exc)})")
    differences, volatile = findings.differences, tuple(findings.volatile)
    details = tuple(differences[:DIFFERENCES_SHOWN] + findings.tolerated[:DIFFERENCES_SHOWN])
    if differences:
        reason = f"{plural(len(differences), 'difference')}: {differences[0]}"
        if volatile:
            reason += f" (also volatile: {', '.join(volatile)})"
        return Comparison(
            path=path,
            verdict="differs",
            reason=reason,
            details=details,
            volatile=volatile,
            comparator=NAME,
        )
    if findings.tolerated:
        return Comparison(
            path=path,
            verdict="within-tolerance",
            reason=f"within tolerance: {findings.tolerated[0]}",
            details=details,
            volatile=volatile,
            comparator=NAME,
        )
    # Every field was compared; if none differs, not even a volatile one, only the JSON text
    # does: indentation, key order, escapes, a string written as a list of lines.
    volatile = volatile or (JSON_FORMATTING,)
    return Comparison(
        path=path,
        verdict="metadata-only",
        reason=f"same sources and outputs; only {differ(volatile)}",
        volatile=volatile,
        comparator=NAME,
    )


def _load(file: Path) -> dict[str, Any]:
    """Read a notebook's JSON; ValueError if it is not a version 4 style notebook."""
    notebook = json.loads(file.read_bytes())
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise ValueError("no list of cells")
    return notebook


def _compare_notebooks(
    old: dict[str, Any], new: dict[str, Any], findings: _Findings, tolerance: Tolerance
) -> None:
    """Fill findings with every difference between two notebooks."""
    versions = [(nb.get("nbformat"), nb.get("nbformat_minor")) for nb in (old, new)]
    if versions[0] != versions[1]:
        findings.differences.append(f"nbformat {versions[0]} → {versions[1]}")
    old_meta, new_meta = old.get("metadata") or {}, new.get("metadata") or {}
    for key in sorted(old_meta.keys() | new_meta.keys()):
        if old_meta.get(key) != new_meta.get(key):
            if key in _VOLATILE_NOTEBOOK_METADATA:
                findings.volatile_name(f"notebook metadata {key}")
            else:
                findings.differences.append(f"notebook metadata {key!r} differs")
    findings.differences.extend(_other_fields("notebook ", old, new, _NOTEBOOK_FIELDS))
    old_cells, new_cells = old["cells"], new["cells"]
    if len(old_cells) != len(new_cells):
        findings.differences.append(f"{len(old_cells)} cells → {len(new_cells)} cells")
    for number, (a, b) in enumerate(zip(old_cells, new_cells, strict=False), start=1):
        _compare_cells(f"cell {number}", a, b, findings, tolerance)


def _compare_cells(
    label: str, old: dict[str, Any], new: dict[str, Any], findings: _Findings, tolerance: Tolerance
) -> None:
    """Compare one cell: type, source, metadata, execution count, attachments, outputs."""
    if old.get("cell_type") != new.get("cell_type"):
        findings.differences.append(f"{label} type {old.get('cell_type')} → {new.get('cell_type')}")
    if old.get("id") != new.get("id"):
        findings.volatile_name(CELL_IDS)
    source = _first_line_difference(_joined(old.get("source")), _joined(new.get("source")))
    if source:
        findings.differences.append(f"{label} source differs: {source}")
    old_meta, new_meta = old.get("metadata") or {}, new.get("metadata") or {}
    for key in sorted(old_meta.keys() | new_meta.keys()):
        if old_meta.get(key) != new_meta.get(key):
            if key in _VOLATILE_CELL_METADATA:
                findings.volatile_name(_VOLATILE_CELL_METADATA[key])
            else:
                findings.differences.append(f"{label} metadata {key!r} differs")
    if old.get("execution_count") != new.get("execution_count"):
        findings.volatile_name(EXECUTION_COUNTS)
    if old.get("attachments") != new.get("attachments"):
        findings.differences.append(f"{label} attachments differ")
    findings.differences.extend(_other_fields(f"{label} ", old, new, _CELL_FIELDS))
    old_outputs, new_outputs = old.get("outputs") or [], new.get("outputs") or []
    if len(old_outputs) != len(new_outputs):
        findings.differences.append(
            f"{label}: {plural(len(old_outputs), 'output')} → {len(new_outputs)}"
        )
    for number, (a, b) in enumerate(zip(old_outputs, new_outputs, strict=False), start=1):
        _compare_outputs(f"{label} output {number}", a, b, findings, tolerance)


def _compare_outputs(
    label: str, old: dict[str, Any], new: dict[str, Any], findings: _Findings, tolerance: Tolerance
) -> None:
    """Compare one output: stream text, rich data by mime type, or an error."""
    kind = old.get("output_type")
    if kind != new.get("output_type"):
        findings.differences.append(f"{label} type {kind} → {new.get('output_type')}")
        return
    if old.get("execution_count") != new.get("execution_count"):
        findings.volatile_name(EXECUTION_COUNTS)
    findings.differences.extend(_other_fields(f"{label} ", old, new, _OUTPUT_FIELDS))
    if kind == "stream":
        if old.get("name") != new.get("name"):
            findings.differences.append(f"{label} stream {old.get('name')} → {new.get('name')}")
        _compare_text(f"{label} text", old.get("text"), new.get("text"), findings)
    elif kind == "error":
        for key in ("ename", "evalue"):
            _compare_text(f"{label} {key}", old.get(key), new.get(key), findings)
        _compare_text(
            f"{label} traceback",
            old.get("traceback"),
            new.get("traceback"),
            findings,
            traceback=True,
        )
    else:
        _compare_data(label, old.get("data") or {}, new.get("data") or {}, findings, tolerance)
        if old.get("metadata") != new.get("metadata"):
            findings.differences.append(f"{label} metadata differs")


def _compare_data(
    label: str,
    old: dict[str, Any],
    new: dict[str, Any],
    findings: _Findings,
    tolerance: Tolerance,
) -> None:
    """Compare the mime bundle of a display_data or execute_result output."""
    if old.keys() != new.keys():
        findings.differences.append(f"{label} mime types {sorted(old)} → {sorted(new)}")
    for mime in sorted(old.keys() & new.keys()):
        a, b = old[mime], new[mime]
        if a == b:
            continue
        where = f"{label} {mime}"
        if mime.startswith("image/") and mime != "image/svg+xml":
            _compare_image(where, mime, a, b, findings, tolerance)
        elif mime == _WIDGET_VIEW and isinstance(a, dict) and isinstance(b, dict):
            if {**a, "model_id": ""} == {**b, "model_id": ""}:
                findings.volatile_name(WIDGET_IDS)
            else:
                findings.differences.append(f"{where} differs")
        elif isinstance(a, str | list) and isinstance(b, str | list):
            _compare_text(where, a, b, findings)
        else:
            findings.differences.append(f"{where} differs")


def _compare_image(
    where: str, mime: str, old: Any, new: Any, findings: _Findings, tolerance: Tolerance
) -> None:
    """Compare base64 images by their decoded bytes; PNGs with the PNG comparator."""
    try:
        a, b = (base64.b64decode(_joined(v).encode("ascii")) for v in (old, new))
    except (binascii.Error, ValueError, TypeError) as exc:
        findings.differences.append(f"{where} not valid base64 ({error_text(exc)})")
        return
    if a == b:
        findings.volatile_name(BASE64_WRAPPING)
        return
    if mime == "image/png":
        result = png.compare_bytes(a, b, path=where, tolerance=tolerance)
        if result.verdict == "metadata-only":
            for name in result.volatile:
                findings.volatile_name(f"image {name}")
        elif result.verdict == "within-tolerance":
            findings.tolerated.append(f"{where}: {result.reason}")
        else:
            findings.differences.append(f"{where} differs: {result.reason}")
        return
    findings.differences.append(f"{where} differs ({len(a)} → {len(b)} bytes)")


def _compare_text(
    where: str, old: Any, new: Any, findings: _Findings, *, traceback: bool = False
) -> None:
    """Compare output text, naming volatile parts (addresses, temp paths) when only they differ."""
    a, b = _joined(old), _joined(new)
    if a == b:
        return
    rules = [*_VOLATILE_TEXT, _TRACEBACK_COUNT] if traceback else _VOLATILE_TEXT
    for name, pattern, placeholder in rules:
        if pattern.findall(a) != pattern.findall(b):
            findings.volatile_name(name)
        a, b = pattern.sub(placeholder, a), pattern.sub(placeholder, b)
    difference = _first_line_difference(a, b)
    if difference:
        findings.differences.append(f"{where} differs: {difference}")


def _joined(value: Any) -> str:
    """Notebook text is a string or a list of strings."""
    if isinstance(value, list):
        return "".join(str(part) for part in value)
    return "" if value is None else str(value)


def _first_line_difference(old: str, new: str) -> str:
    """'line 2: 'a' → 'b'' for the first differing line, or '' if the texts are equal."""
    if old == new:
        return ""
    a, b = old.splitlines(), new.splitlines()
    for number, (x, y) in enumerate(zip(a, b, strict=False), start=1):
        if x != y:
            return f"line {number}: {short(x)} → {short(y)}"
    if len(a) != len(b):
        return f"{len(a)} → {len(b)} lines"
    return "whitespace at the end differs"


def _other_fields(
    label: str, old: dict[str, Any], new: dict[str, Any], known: frozenset[str]
) -> list[str]:
    """Differences in the fields a comparison does not look at one by one."""
    return [
        f"{label}field {key!r} differs"
        for key in sorted((old.keys() | new.keys()) - known)
        if old.get(key) != new.get(key)
    ]
