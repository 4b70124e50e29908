"""The text comparator: a trimmed unified diff with counts; whitespace-only changes named."""

from __future__ import annotations

from pathlib import Path

from capsule.compare import Comparison, compare, text

LINES = [f"epoch {n}: loss {1 / (n + 1):.4f}" for n in range(20)]


def write(tmp_path: Path, old: str | bytes, new: str | bytes, name: str = "log.txt") -> Comparison:
    """Write two files and compare them through the front door."""
    a, b = tmp_path / "a", tmp_path / "b"
    for file, content in ((a, old), (b, new)):
        file.write_bytes(content.encode() if isinstance(content, str) else content)
    return compare(a, b, path=name)


def test_changed_lines_are_counted_and_shown(tmp_path: Path) -> None:
    new = list(LINES)
    new[2] = "epoch 2: loss 0.3334"
    new.insert(10, "warning: learning rate reduced")
    result = write(tmp_path, "\n".join(LINES) + "\n", "\n".join(new) + "\n")
    assert result.verdict == "differs"
    assert result.comparator == "text"
    assert result.reason == "text differs: 1 line removed, 2 added (2 changes, first at line 3)"
    assert "-epoch 2: loss 0.3333" in result.details
    assert "+epoch 2: loss 0.3334" in result.details
    assert "+warning: learning rate reduced" in result.details


def test_long_diffs_are_trimmed(tmp_path: Path) -> None:
    old = "\n".join(f"line {n}" for n in range(200))
    new = "\n".join(f"line {n}!" for n in range(200))
    result = write(tmp_path, old, new)
    assert result.reason == "text differs: 200 lines removed, 200 added (1 change, first at line 1)"
    assert len(result.details) == text.DIFF_LINES + 1
    assert result.details[-1] == "… 363 more diff lines"


def test_line_endings_only_are_named_but_still_differ(tmp_path: Path) -> None:
    body = "\n".join(LINES) + "\n"
    result = write(tmp_path, body, body.replace("\n", "\r\n"), name="notes.md")
    assert result.verdict == "differs"
    assert result.reason == "text differs: line endings only (LF → CRLF)"


def test_trailing_whitespace_only(tmp_path: Path) -> None:
    body = "\n".join(LINES) + "\n"
    result = write(tmp_path, body, body.replace("loss", "loss").replace("\n", "  \n", 3))
    assert result.verdict == "differs"
    assert result.reason == "text differs: trailing whitespace only (3 lines)"


def test_final_newline_only(tmp_path: Path) -> None:
    body = "\n".join(LINES)
    result = write(tmp_path, body + "\n", body, name="table.tex")
    assert result.verdict == "differs"
    assert result.reason == "text differs: final newline only"


def test_very_long_texts_report_the_first_difference(tmp_path: Path) -> None:
    old = [f"row {n}" for n in range(text.DIFFLIB_MAX_LINES + 10)]
    new = list(old)
    new[30_000] = "row changed"
    result = write(tmp_path, "\n".join(old), "\n".join(new))
    assert result.reason == (
        "text differs: 50010 → 50010 lines, first difference at line 30001: "
        "'row 30000' → 'row changed'"
    )


def test_undecodable_text_falls_back_to_binary(tmp_path: Path) -> None:
    result = write(tmp_path, "caf\u00e9\n", "caf\u00e9\n".encode("latin-1"))
    assert result.verdict == "differs"
    assert result.reason.startswith("actual is not UTF-8 text (UnicodeDecodeError")
    assert "first difference at byte 3" in result.reason
    assert result.comparator == "binary"


def test_nul_bytes_fall_back_to_binary(tmp_path: Path) -> None:
    result = write(tmp_path, b"a\0b", b"a\0c", name="out.log")
    assert result.reason.startswith("expected is not UTF-8 text (ValueError: contains NUL bytes)")
    assert result.comparator == "binary"


def test_describe_directly() -> None:
    reason, details = text.describe("a\nb\n", "a\nc\n")
    assert reason == "text differs: 1 line removed, 1 added (1 change, first at line 2)"
    assert details[:2] == ("--- expected", "+++ actual")
