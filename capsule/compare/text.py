"""Text files: a unified diff with line counts; whitespace-only differences named as such."""

from __future__ import annotations

import difflib
from pathlib import Path

from capsule.compare import binary
from capsule.compare._shared import error_text, fallback, plural, short
from capsule.compare.model import Comparison, Tolerance

NAME = "text"
DIFF_LINES = 40  # lines of unified diff kept in the details
DIFFLIB_MAX_LINES = 50_000  # beyond this, difflib is too slow: report the first difference only
LINE_ENDINGS_ONLY = "line endings only"
TRAILING_WHITESPACE_ONLY = "trailing whitespace only"
FINAL_NEWLINE_ONLY = "final newline only"
BOM_ONLY = "byte order mark only"


def read_text(file: Path) -> str:
    """Decode a file as UTF-8 text, keeping line endings; ValueError if it looks binary."""
    data = file.read_bytes()
    if b"\0" in data:
        raise ValueError("contains NUL bytes")
    return data.decode("utf-8")


def compare(
    expected: Path,
    actual: Path,
    *,
    path: str,
    tolerance: Tolerance,
    artifacts_dir: Path | None,
) -> Comparison:
    """Unified diff and line counts; falls back to binary for text that cannot be decoded."""
    texts = []
    for label, file in (("expected", expected), ("actual", actual)):
        try:
            texts.append(read_text(file))
        except (OSError, ValueError) as exc:
            return fallback(
                f"{label} is not UTF-8 text ({error_text(exc)})",
                binary.compare,
                expected,
                actual,
                path=path,
                tolerance=tolerance,
                artifacts_dir=artifacts_dir,
            )
    reason, details = describe(texts[0], texts[1])
    return Comparison(path=path, verdict="differs", reason=reason, details=details, comparator=NAME)


def describe(expected: str, actual: str) -> tuple[str, tuple[str, ...]]:
    """Explain how two different texts differ: (one-line reason, diff excerpt lines)."""
    if expected == actual:
        return "same text, different bytes", ()
    cosmetic = _cosmetic(expected, actual)
    if cosmetic:
        return f"text differs: {cosmetic}", ()
    old, new = expected.splitlines(), actual.splitlines()
    if max(len(old), len(new)) > DIFFLIB_MAX_LINES:
        return _first_line_difference(old, new), ()
    removed = added = hunks = 0
    first = 0
    matcher = difflib.SequenceMatcher(None, old, new)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        hunks += 1
        first = first or i1 + 1
        removed += i2 - i1
        added += j2 - j1
    diff = list(difflib.unified_diff(old, new, "expected", "actual", lineterm="", n=3))
    if len(diff) > DIFF_LINES:
        diff = [*diff[:DIFF_LINES], f"… {len(diff) - DIFF_LINES} more diff lines"]
    reason = (
        f"text differs: {plural(removed, 'line')} removed, {added} added "
        f"({plural(hunks, 'change')}, first at line {first})"
    )
    return reason, tuple(diff)


def _cosmetic(expected: str, actual: str) -> str:
    """Name a difference that is only line endings, trailing whitespace or a BOM; else ''."""
    if expected.lstrip("\ufeff") == actual.lstrip("\ufeff"):
        return BOM_ONLY
    unified = [t.replace("\r\n", "\n").replace("\r", "\n") for t in (expected, actual)]
    if unified[0] == unified[1]:
        return f"{LINE_ENDINGS_ONLY} ({_endings(expected)} → {_endings(actual)})"
    old, new = (t.split("\n") for t in unified)
    if [line.rstrip() for line in old] == [line.rstrip() for line in new]:
        count = sum(a != b for a, b in zip(old, new, strict=True))
        return f"{TRAILING_WHITESPACE_ONLY} ({plural(count, 'line')})"
    if unified[0].rstrip("\n") == unified[1].rstrip("\n"):
        return FINAL_NEWLINE_ONLY
    stripped = [[line.rstrip() for line in t.rstrip().split("\n")] for t in unified]
    if stripped[0] == stripped[1]:
        return f"{TRAILING_WHITESPACE_ONLY} (and blank lines at the end)"
    return ""


def _endings(text: str) -> str:
    """Name the line endings a text uses: 'CRLF', 'LF', 'CR', 'mixed' or 'none'."""
    crlf = text.count("\r\n")
    lf = text.count("\n") - crlf
    cr = text.count("\r") - crlf
    kinds = [name for name, n in (("CRLF", crlf), ("LF", lf), ("CR", cr)) if n]
    return "mixed" if len(kinds) > 1 else (kinds[0] if kinds else "none")


def _first_line_difference(old: list[str], new: list[str]) -> str:
    """Cheap explanation for very long texts: line counts and the first differing line."""
    line = next(
        (i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b),
        min(len(old), len(new)),
    )
    before = old[line] if line < len(old) else ""
    after = new[line] if line < len(new) else ""
    shown = f"{short(before)} → {short(after)}"
    return (
        f"text differs: {len(old)} → {len(new)} lines, first difference at line {line + 1}: {shown}"
    )
