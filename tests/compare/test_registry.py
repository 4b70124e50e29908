"""The front door: SHA-256 decides, the registry picks the comparator, nothing raises."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import capsule.compare as comparing
from capsule.compare import (
    COMPARATORS,
    Comparison,
    Tolerance,
    archive,
    binary,
    comparator_for,
    compare,
    csv,
    notebook,
    pdf,
    png,
    svg,
    text,
)
from capsule.errors import CapsuleError


def pair(tmp_path: Path, old: bytes, new: bytes, suffix: str) -> tuple[Path, Path]:
    """Two files with the given bytes."""
    a, b = tmp_path / f"expected{suffix}", tmp_path / f"actual{suffix}"
    a.write_bytes(old)
    b.write_bytes(new)
    return a, b


def refuse(*args: object, **kwargs: object) -> Comparison:
    """A comparator that must not be called."""
    raise AssertionError("the comparator ran although the bytes are identical")


def test_identical_bytes_never_reach_a_comparator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(COMPARATORS, ".png", refuse)
    a, b = pair(tmp_path, b"same bytes", b"same bytes", ".png")
    result = compare(a, b, path="fig.png")
    assert result.verdict == "identical"
    assert result.comparator == "sha256"
    assert result.reason == "identical bytes (sha256 58100dc8fc06)"


def test_the_registry_covers_every_kind() -> None:
    expected = {
        ".png": png.compare,
        ".pdf": pdf.compare,
        ".svg": svg.compare,
        ".csv": csv.compare,
        ".tsv": csv.compare,
        ".ipynb": notebook.compare,
        **dict.fromkeys((".txt", ".md", ".json", ".py", ".tex", ".html", ".log"), text.compare),
        **dict.fromkeys((".tar", ".tar.gz", ".tgz", ".gz", ".zip"), archive.compare),
    }
    assert expected.items() <= COMPARATORS.items()


@pytest.mark.parametrize(
    ("path", "module"),
    [
        ("figs/Fig1.PNG", png),
        ("out/data.tar.gz", archive),
        ("out/log.csv.gz", archive),
        ("out/v1.2.csv", csv),
        ("Makefile", binary),
        ("model.pkl", binary),
        (".hidden", binary),
    ],
)
def test_the_longest_suffix_wins_and_unknown_is_binary(path: str, module: object) -> None:
    assert comparator_for(path) is module.compare  # type: ignore[attr-defined]


def test_missing_files_differ(tmp_path: Path) -> None:
    a = tmp_path / "a.csv"
    a.write_text("x\n")
    result = compare(a, tmp_path / "gone.csv", path="a.csv")
    assert result.verdict == "differs"
    assert result.reason == "actual file missing"


def test_a_failing_comparator_still_gives_a_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> Comparison:
        raise RuntimeError("bug")

    monkeypatch.setitem(COMPARATORS, ".csv", broken)
    a, b = pair(tmp_path, b"a\n", b"b\n", ".csv")
    result = compare(a, b, path="t.csv")
    assert result.verdict == "differs"
    assert result.reason.startswith("comparator failed (RuntimeError: bug); binary files differ")


@pytest.mark.parametrize(
    ("claimed", "volatile", "tolerance"),
    [
        ("identical", (), Tolerance()),
        ("metadata-only", (), Tolerance()),
        ("within-tolerance", (), Tolerance()),
    ],
)
def test_an_explanation_cannot_overreach(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    claimed: comparing.Verdict,
    volatile: tuple[str, ...],
    tolerance: Tolerance,
) -> None:
    def lenient(*args: object, path: str, **kwargs: object) -> Comparison:
        return Comparison(path=path, verdict=claimed, reason="looks fine", comparator="lenient")

    monkeypatch.setitem(COMPARATORS, ".txt", lenient)
    a, b = pair(tmp_path, b"a", b"b", ".txt")
    result = compare(a, b, path="x.txt", tolerance=tolerance)
    assert result.verdict == "differs"
    assert result.reason == "bytes differ; looks fine"


def test_tolerances_must_be_finite_and_not_negative() -> None:
    with pytest.raises(CapsuleError, match="invalid tolerance"):
        Tolerance(rtol=-1)
    with pytest.raises(CapsuleError):
        Tolerance(atol=float("nan"))
    assert Tolerance().exact
    assert not Tolerance(pixels=1).exact


GARBAGE = [
    b"",
    os.urandom(3000),
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
    b"%PDF-1.7\n1 0 obj << /Length 99999 >> stream\nxx",
    b"\x1f\x8b\x08\x08\0\0\0\0\0\x03name",
    b"PK\x03\x04" + bytes(40),
    b'{"cells": [{"outputs": [{"data": {"image/png": "!!"}}]}]}',
    "name,value\n\u00e9,1\n".encode("utf-16"),
]


@pytest.mark.parametrize("suffix", sorted(COMPARATORS))
def test_every_comparator_explains_broken_files_without_raising(
    tmp_path: Path, suffix: str
) -> None:
    comparator = COMPARATORS[suffix]
    good = {".ipynb": b'{"cells": [], "metadata": {}, "nbformat": 4}'}.get(suffix, b"x,y\n1,2\n")
    for number, junk in enumerate(GARBAGE):
        a, b = pair(tmp_path, good, junk, f"{number}{suffix}")
        for old, new in ((a, b), (b, a)):
            result = comparator(
                old, new, path=f"out{suffix}", tolerance=Tolerance(), artifacts_dir=tmp_path
            )
            assert result.verdict == "differs", (junk[:20], result)
            assert result.reason
