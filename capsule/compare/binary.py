"""The fallback comparator: sizes and the first differing byte, for any kind of file."""

from __future__ import annotations

from pathlib import Path

from capsule.compare._shared import error_text, first_difference, plural
from capsule.compare.model import HASH_CHUNK, Comparison, Tolerance

NAME = "binary"
CONTEXT = 16  # bytes shown either side of the first difference


def compare(
    expected: Path,
    actual: Path,
    *,
    path: str,
    tolerance: Tolerance,
    artifacts_dir: Path | None,
) -> Comparison:
    """Report sizes, the first differing byte offset and how many bytes differ; always differs."""
    try:
        expected_size, actual_size = expected.stat().st_size, actual.stat().st_size
        offset, changed = _first_difference(expected, actual)
    except OSError as exc:
        return Comparison(
            path=path, verdict="differs", reason=f"cannot read: {error_text(exc)}", comparator=NAME
        )
    sizes = (
        f"same size ({plural(expected_size, 'byte')})"
        if expected_size == actual_size
        else f"{expected_size} → {actual_size} bytes"
    )
    if offset is None:  # only possible if a file changed while being read
        return Comparison(
            path=path, verdict="differs", reason=f"bytes differ; {sizes}", comparator=NAME
        )
    where = f"first difference at byte {offset} (0x{offset:x})"
    if expected_size == actual_size:
        where += f", {plural(changed, 'byte')} " + ("differs" if changed == 1 else "differ")
    elif offset == min(expected_size, actual_size):
        shorter = "actual" if actual_size < expected_size else "expected"
        where += f" ({shorter} is a prefix of the other: truncated or appended)"
    return Comparison(
        path=path,
        verdict="differs",
        reason=f"binary files differ: {sizes}, {where}",
        details=_excerpt(expected, actual, offset),
        comparator=NAME,
    )


def _first_difference(expected: Path, actual: Path) -> tuple[int | None, int]:
    """Return the first differing offset (None if equal) and, for equal sizes, the count."""
    first: int | None = None
    changed = 0
    position = 0
    with expected.open("rb") as left, actual.open("rb") as right:
        while True:
            a, b = left.read(HASH_CHUNK), right.read(HASH_CHUNK)
            if not a and not b:
                break
            if a != b:
                common = min(len(a), len(b))
                if first is None:
                    first = position + first_difference(a, b)
                # XOR of the two chunks as big integers: a zero byte wherever they agree.
                xor = (int.from_bytes(a[:common]) ^ int.from_bytes(b[:common])).to_bytes(common)
                changed += common - xor.count(0) + abs(len(a) - len(b))
            position += max(len(a), len(b))
    return first, changed


def _excerpt(expected: Path, actual: Path, offset: int) -> tuple[str, ...]:
    """Hex of the bytes around offset in both files."""
    start = max(0, offset - CONTEXT)
    lines = []
    for label, file in (("expected", expected), ("actual", actual)):
        with file.open("rb") as stream:
            stream.seek(start)
            chunk = stream.read(2 * CONTEXT)
        lines.append(f"{label:>8} @{start:#x}: {chunk.hex(' ')}")
    return tuple(lines)
