"""SVG images: matplotlib's <dc:date> and random ids are volatile; anything else is a text diff.

Without `svg.hashsalt`, matplotlib names clip paths, markers, hatches and images with a salted
hash (`p1a2b3c4d5e`, `m6084a6af02`, `C0_0_9f86d08188`): the same figure gets new ids on each
run. Ids ending in ten hex digits are renumbered in order of first appearance, references
(`url(#id)`, `xlink:href="#id"`, `href="#id"`) with them, before the texts are compared.
"""

from __future__ import annotations

import re
from pathlib import Path

from capsule.compare import binary, text
from capsule.compare._shared import differ, error_text, fallback
from capsule.compare.model import Comparison, Tolerance

NAME = "svg"
SVG_DATE = "SVG date"
RANDOM_IDS = "random ids"
_DATE = re.compile(r"(<dc:date>)(.*?)(</dc:date>)", re.DOTALL)
_DEFINED_ID = re.compile(r"""\bid\s*=\s*["']([^"']+)["']""")
_RANDOM_ID = re.compile(r"(.*?)([0-9a-f]{10})")  # fullmatch: a prefix and ten hex digits
# Any token that could be one of them, wherever it stands: id="…", url(#…), href="#…", CSS.
_CANDIDATE = re.compile(r"(?<![\w.-])[\w.-]*?[0-9a-f]{10}(?![\w.-])")


def compare(
    expected: Path,
    actual: Path,
    *,
    path: str,
    tolerance: Tolerance,
    artifacts_dir: Path | None,
) -> Comparison:
    """Metadata-only when the SVGs are equal once dates and random ids are normalised."""
    texts: list[str] = []
    for label, file in (("expected", expected), ("actual", actual)):
        try:
            texts.append(text.read_text(file))
        except (OSError, ValueError) as exc:
            return fallback(
                f"{label} is not UTF-8 SVG text ({error_text(exc)})",
                binary.compare,
                expected,
                actual,
                path=path,
                tolerance=tolerance,
                artifacts_dir=artifacts_dir,
            )
    (old, old_dates, old_ids), (new, new_dates, new_ids) = (normalise(t) for t in texts)
    volatile = []
    if old_dates != new_dates:
        volatile.append(SVG_DATE)
    if old_ids != new_ids:
        volatile.append(RANDOM_IDS)
    if old == new and volatile:
        return Comparison(
            path=path,
            verdict="metadata-only",
            reason=f"same drawing; only {differ(volatile)}",
            details=tuple(
                f"{SVG_DATE}: {', '.join(old_dates)} → {', '.join(new_dates)}"
                if name == SVG_DATE
                else f"{RANDOM_IDS}: {len(old_ids)} renumbered, e.g. "
                f"{(old_ids or ['-'])[0]} → {(new_ids or ['-'])[0]}"
                for name in volatile
            ),
            volatile=tuple(volatile),
            comparator=NAME,
        )
    reason, details = text.describe(old, new)
    if volatile:
        reason += f" (after normalising: {differ(volatile)} too)"
    return Comparison(
        path=path,
        verdict="differs",
        reason=f"SVG {reason}",
        details=details,
        volatile=tuple(volatile),
        comparator=NAME,
    )


def normalise(svg: str) -> tuple[str, list[str], list[str]]:
    """Replace dates and random ids by placeholders: (text, dates found, random ids in order)."""
    dates = [m.group(2) for m in _DATE.finditer(svg)]
    svg = _DATE.sub(r"\1DATE\3", svg)
    random_ids = {found for found in _DEFINED_ID.findall(svg) if _RANDOM_ID.fullmatch(found)}
    if not random_ids:
        return svg, dates, []
    order: dict[str, str] = {}  # random id -> its placeholder, in order of first appearance

    def renumber(match: re.Match[str]) -> str:
        found = match.group(0)
        if found not in random_ids:
            return found
        if found not in order:
            prefix = _RANDOM_ID.fullmatch(found)
            order[found] = f"{prefix.group(1) if prefix else ''}ID{len(order) + 1}"
        return order[found]

    return _CANDIDATE.sub(renumber, svg), dates, list(order)
