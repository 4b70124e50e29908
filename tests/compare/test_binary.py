"""The binary fallback: sizes and the first differing byte."""

from __future__ import annotations

from pathlib import Path

from capsule.compare import Comparison, Tolerance, binary, compare


def write(tmp_path: Path, old: bytes, new: bytes) -> Comparison:
    """Write two unknown-kind files and compare them through the front door."""
    a, b = tmp_path / "model.bin", tmp_path / "model2.bin"
    a.write_bytes(old)
    b.write_bytes(new)
    return compare(a, b, path="model.bin")


def test_same_size_counts_differing_bytes(tmp_path: Path) -> None:
    old = bytes(range(256)) * 8
    new = bytearray(old)
    new[1000] ^= 0xFF
    new[1500] ^= 0x01
    result = write(tmp_path, old, bytes(new))
    assert result.verdict == "differs"
    assert result.comparator == "binary"
    assert result.reason == (
        "binary files differ: same size (2048 bytes), first difference at byte 1000 (0x3e8), "
        "2 bytes differ"
    )
    assert result.details[0].startswith("expected @0x3d8: d8 d9")


def test_truncation_is_recognised(tmp_path: Path) -> None:
    old = b"x" * (3 << 20)  # spans several 1 MiB chunks
    result = write(tmp_path, old, old[: (2 << 20) + 5])
    assert result.reason == (
        "binary files differ: 3145728 → 2097157 bytes, first difference at byte 2097157 "
        "(0x200005) (actual is a prefix of the other: truncated or appended)"
    )


def test_difference_in_a_later_chunk(tmp_path: Path) -> None:
    old = bytes(3 << 20)
    new = bytearray(old)
    new[(2 << 20) + 7] = 1
    result = write(tmp_path, old, bytes(new))
    assert "first difference at byte 2097159 (0x200007), 1 byte differs" in result.reason


def test_unreadable_file_is_a_reason_not_an_exception(tmp_path: Path) -> None:
    result = binary.compare(
        tmp_path / "gone", tmp_path / "gone", path="x", tolerance=Tolerance(), artifacts_dir=None
    )
    assert result.verdict == "differs"
    assert result.reason.startswith("cannot read: FileNotFoundError")
