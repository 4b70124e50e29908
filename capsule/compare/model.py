"""The plain data of comparing: a verdict, a tolerance, a comparison, a comparator's signature.

Its own module so that the comparators import it, not the package that registers them: the
package imports every comparator, and a comparator importing the package back would be a cycle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from capsule.errors import CapsuleError
from capsule.hashing import CHUNK

Verdict = Literal["identical", "metadata-only", "within-tolerance", "differs"]

HASH_CHUNK = CHUNK  # files are streamed in 1 MiB chunks, never read whole


@dataclass(frozen=True)
class Tolerance:
    """How far numbers (rtol, atol) and images (atol per channel, a pixel budget) may drift."""

    rtol: float = 0.0  # CSV: |actual - expected| <= atol + rtol * |expected|, as numpy.isclose
    atol: float = 0.0  # CSV: absolute; PNG: largest channel delta (0-255) that is not counted
    pixels: int = 0  # PNG: how many pixels may differ by more than atol

    def __post_init__(self) -> None:
        values = (self.rtol, self.atol, float(self.pixels))
        if any(not math.isfinite(v) or v < 0 for v in values):
            raise CapsuleError(
                f"invalid tolerance rtol={self.rtol} atol={self.atol} pixels={self.pixels}",
                hint="tolerances are finite numbers >= 0",
            )

    @property
    def exact(self) -> bool:
        """True when no tolerance was given, so nothing can be within-tolerance."""
        return self.rtol == 0 and self.atol == 0 and self.pixels == 0


EXACT = Tolerance()


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """The verdict on one output and the comparator's explanation of it."""

    path: str  # relative POSIX path of the output
    verdict: Verdict
    reason: str  # one line, for a terminal table
    details: tuple[str, ...] = ()  # more lines: a diff excerpt, the differing cells, ...
    volatile: tuple[str, ...] = ()  # volatile metadata that differs, e.g. "PDF CreationDate"
    artifacts: tuple[str, ...] = ()  # files written, e.g. a PNG difference image
    comparator: str  # which comparator explained it ("sha256" when the bytes are identical)


class Comparator(Protocol):
    """A function that explains how two files with different bytes differ; it never raises."""

    def __call__(
        self,
        expected: Path,
        actual: Path,
        *,
        path: str,
        tolerance: Tolerance,
        artifacts_dir: Path | None,
    ) -> Comparison: ...
