"""Compare an expected output with a rebuilt one: SHA-256 decides, a comparator explains.

The verdict is bit-for-bit: equal SHA-256 digests are "identical" and nothing else is. When the
bytes differ, the comparator registered for the file's suffix in COMPARATORS says how they
differ (pixels, cells, lines, volatile metadata). An explanation never turns a difference into
"identical"; at best it is "metadata-only" (only volatile metadata the comparator names differs)
or "within-tolerance" (a tolerance was given and the numbers or pixels are within it).

Adding a comparator: write `compare/<kind>.py` with a `compare()` of the Comparator signature
that never raises on malformed input, register its suffixes below, and add
`tests/compare/test_<kind>.py` with real file pairs.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path, PurePosixPath

from capsule.compare import archive, binary, csv, notebook, pdf, png, svg, text
from capsule.compare.model import EXACT, Comparator, Comparison, Tolerance, Verdict
from capsule.hashing import sha256_file

# The one registry: suffix (lower case, the longest one wins) -> comparator. Anything else
# falls back to binary.compare.
COMPARATORS: dict[str, Comparator] = {
    ".png": png.compare,
    ".pdf": pdf.compare,
    ".svg": svg.compare,
    ".csv": csv.compare,
    ".tsv": csv.compare,
    ".txt": text.compare,
    ".md": text.compare,
    ".json": text.compare,
    ".py": text.compare,
    ".tex": text.compare,
    ".html": text.compare,
    ".log": text.compare,
    ".ipynb": notebook.compare,
    ".tar": archive.compare,
    ".tar.gz": archive.compare,
    ".tgz": archive.compare,
    ".tar.bz2": archive.compare,
    ".tar.xz": archive.compare,
    ".gz": archive.compare,
    ".zip": archive.compare,
}


def comparator_for(path: str) -> Comparator:
    """Return the comparator registered for the longest matching suffix of path, else binary."""
    suffixes = [s.lower() for s in PurePosixPath(path).suffixes]
    for start in range(len(suffixes)):
        found = COMPARATORS.get("".join(suffixes[start:]))
        if found is not None:
            return found
    return binary.compare


def compare(
    expected: Path,
    actual: Path,
    *,
    path: str,
    tolerance: Tolerance = EXACT,
    artifacts_dir: Path | None = None,
) -> Comparison:
    """SHA-256 decides; when bytes differ, the comparator for the suffix explains how.

    Never raises for missing, unreadable or malformed files: they give "differs" with a reason.
    """
    missing = [name for name, f in (("expected", expected), ("actual", actual)) if not f.is_file()]
    if missing:
        return Comparison(
            path=path,
            verdict="differs",
            reason=f"{' and '.join(missing)} file missing",
            comparator="sha256",
        )
    try:
        expected_sha, actual_sha = sha256_file(expected), sha256_file(actual)
    except OSError as exc:
        return Comparison(
            path=path, verdict="differs", reason=f"cannot read: {exc}", comparator="sha256"
        )
    if expected_sha == actual_sha:
        return Comparison(
            path=path,
            verdict="identical",
            reason=f"identical bytes (sha256 {expected_sha[:12]})",
            comparator="sha256",
        )
    explain = comparator_for(path)
    try:
        result = explain(
            expected, actual, path=path, tolerance=tolerance, artifacts_dir=artifacts_dir
        )
    except Exception as exc:  # a comparator bug must not hide the verdict
        result = binary.compare(
            expected, actual, path=path, tolerance=tolerance, artifacts_dir=artifacts_dir
        )
        return Comparison(
            path=path,
            verdict="differs",
            reason=f"comparator failed ({type(exc).__name__}: {exc}); {result.reason}",
            details=result.details,
            comparator=result.comparator,
        )
    # An explanation may soften "differs" only as far as the rules allow: never to identical,
    # to metadata-only only by naming the metadata, to within-tolerance only if one was given.
    overreach = (
        result.verdict == "identical"
        or (result.verdict == "metadata-only" and not result.volatile)
        or (result.verdict == "within-tolerance" and tolerance.exact)
    )
    if overreach:
        return replace(result, verdict="differs", reason=f"bytes differ; {result.reason}")
    return result


__all__ = [
    "COMPARATORS",
    "EXACT",
    "Comparator",
    "Comparison",
    "Tolerance",
    "Verdict",
    "comparator_for",
    "compare",
    "sha256_file",
]
