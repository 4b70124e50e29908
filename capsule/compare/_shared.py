"""Small helpers the comparators share: wording, safe artifact names, falling back."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from capsule.compare.model import Comparator, Comparison, Tolerance


def fallback(
    why: str,
    to: Comparator,
    expected: Path,
    actual: Path,
    *,
    path: str,
    tolerance: Tolerance,
    artifacts_dir: Path | None,
) -> Comparison:
    """Explain with a plainer comparator, the reason starting with why the first one could not."""
    result = to(expected, actual, path=path, tolerance=tolerance, artifacts_dir=artifacts_dir)
    return replace(result, reason=f"{why}; {result.reason}")


def short(value: object, limit: int = 60) -> str:
    """Return repr(value) cut to about limit characters, for one-line reasons."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plural(count: int, word: str, words: str = "") -> str:
    """Return '1 cell' or '3 cells' (or the given plural)."""
    return f"{count} {word if count == 1 else (words or word + 's')}"


def number(value: float) -> str:
    """Format a difference compactly: 0.0002, 2.46e-07, inf."""
    return f"{value:.6g}"


def safe_name(path: str) -> str:
    """Turn a relative output path into one file name: 'figs/a b.png' -> 'figs__a_b.png'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", path.replace("/", "__")).lstrip(".") or "output"


def error_text(exc: BaseException) -> str:
    """Describe an exception in a few words for a reason."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def differ(names: list[str] | tuple[str, ...]) -> str:
    """'PDF ID differs', 'SVG date and random ids differ', 'a, b and c differ'."""
    if len(names) == 1:
        return f"{names[0]} differs"
    return f"{', '.join(names[:-1])} and {names[-1]} differ"


def first_difference(a: bytes, b: bytes) -> int:
    """Offset of the first differing byte of a and b (the shorter length if one is a prefix)."""
    common = min(len(a), len(b))
    xor = (int.from_bytes(a[:common]) ^ int.from_bytes(b[:common])).to_bytes(common)
    return common - len(xor.lstrip(b"\0"))
