"""The CSV comparator: cells named by row and column, numeric differences measured."""

from __future__ import annotations

import csv
from pathlib import Path

from capsule.compare import Comparison, Tolerance, compare
from capsule.compare import csv as csv_compare

EXACT = Tolerance()
HEADER = ["model", "fold", "accuracy", "f1"]
ROWS = [
    ["svm", "1", "0.8101", "0.79"],
    ["svm", "2", "0.8243", "0.80"],
    ["forest", "1", "0.8123", "0.81"],
    ["forest", "2", "0.7990", "0.78"],
]


def table(
    file: Path, rows: list[list[str]], *, header: list[str] | None = HEADER, **fmt: str
) -> Path:
    """Write a table with the csv module, as an analysis would."""
    with file.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream, **fmt)  # type: ignore[arg-type]
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)
    return file


def changed(row: int, column: int, value: str) -> list[list[str]]:
    """ROWS with one cell replaced (0-based row and column)."""
    rows = [list(r) for r in ROWS]
    rows[row][column] = value
    return rows


def explain(old: Path, new: Path, tolerance: Tolerance = EXACT, name: str = "t.csv") -> Comparison:
    """Run the CSV comparator itself."""
    return csv_compare.compare(old, new, path=name, tolerance=tolerance, artifacts_dir=None)


def test_one_cell_is_named_by_row_and_column_with_the_difference(tmp_path: Path) -> None:
    old = table(tmp_path / "a.csv", ROWS)
    new = table(tmp_path / "b.csv", changed(2, 2, "0.8125"))
    result = compare(old, new, path="results/scores.csv")
    assert result.verdict == "differs"
    assert result.comparator == "csv"
    assert result.reason == (
        "1 of 16 cells differs: row 3, column accuracy: 0.8123 → 0.8125; "
        "max abs diff 0.0002, max rel diff 0.000246214"
    )
    assert "shape: 4x4 → 4x4 (rows x columns, header excluded)" in result.details
    assert "max abs diff 0.0002 at row 3, column accuracy" in result.details


def test_tolerance_accepts_small_numeric_drift(tmp_path: Path) -> None:
    old = table(tmp_path / "a.csv", ROWS)
    new = table(tmp_path / "b.csv", changed(2, 2, "0.8125"))
    by_atol = explain(old, new, Tolerance(atol=1e-3))
    assert by_atol.verdict == "within-tolerance"
    assert by_atol.reason.endswith("; within tolerance rtol=0, atol=0.001")
    assert "row 3, column accuracy: 0.8123 → 0.8125" in by_atol.reason
    assert explain(old, new, Tolerance(rtol=1e-3)).verdict == "within-tolerance"
    beyond = explain(old, new, Tolerance(atol=1e-5))
    assert beyond.verdict == "differs"
    assert beyond.reason.endswith("; 1 numeric cell beyond tolerance rtol=0, atol=1e-05")


def test_tolerance_does_not_cover_text_cells(tmp_path: Path) -> None:
    old = table(tmp_path / "a.csv", ROWS)
    new = table(tmp_path / "b.csv", changed(0, 0, "SVM"))
    result = explain(old, new, Tolerance(rtol=1.0, atol=1.0))
    assert result.verdict == "differs"
    assert result.reason == "1 of 16 cells differs: row 1, column model: svm → SVM"


def test_many_cells_list_the_first_ten(tmp_path: Path) -> None:
    rows = [[str(i), f"{i / 7:.6f}"] for i in range(30)]
    drifted = [[str(i), f"{i / 7 + 1e-6 * i:.6f}"] for i in range(30)]
    old = table(tmp_path / "a.csv", rows, header=["n", "value"])
    new = table(tmp_path / "b.csv", drifted, header=["n", "value"])
    result = explain(old, new)
    assert result.verdict == "differs"
    assert result.reason.startswith("29 of 60 cells differ (first: row 2, column value: ")
    assert "max abs diff 2.9e-05" in result.reason
    cells = [line for line in result.details if line.startswith("row ")]
    assert len(cells) == csv_compare.CELLS_SHOWN
    assert "… and 19 more cells" in result.details


def test_shape_and_header_differences(tmp_path: Path) -> None:
    old = table(tmp_path / "a.csv", ROWS)
    longer = table(tmp_path / "b.csv", [*ROWS, ["knn", "1", "0.70", "0.69"]])
    result = explain(old, longer)
    assert result.verdict == "differs"
    assert result.reason == "shape 4x4 → 5x4"
    renamed = table(tmp_path / "c.csv", ROWS, header=["model", "fold", "acc", "f1"])
    result = explain(old, renamed, Tolerance(atol=1))
    assert result.verdict == "differs"
    assert result.reason == "header differs: columns removed ['accuracy'], columns added ['acc']"


def test_equal_numbers_written_differently(tmp_path: Path) -> None:
    old = table(tmp_path / "a.csv", ROWS)
    new = table(tmp_path / "b.csv", changed(0, 3, "0.790"))
    result = explain(old, new)
    assert result.verdict == "differs"
    assert result.reason.startswith("numbers equal but written differently: 1 of 16 cells")
    assert "max abs diff 0," in result.reason
    assert explain(old, new, Tolerance(atol=1e-9)).verdict == "within-tolerance"


def test_same_cells_with_other_line_endings(tmp_path: Path) -> None:
    old = table(tmp_path / "a.csv", ROWS, lineterminator="\n")
    new = table(tmp_path / "b.csv", ROWS, lineterminator="\r\n")
    result = explain(old, new, Tolerance(atol=1))
    assert result.verdict == "differs"
    assert result.reason == "same cells, text differs: line endings only (LF → CRLF)"


def test_reordered_rows_are_recognised(tmp_path: Path) -> None:
    old = table(tmp_path / "a.csv", ROWS)
    new = table(tmp_path / "b.csv", [ROWS[1], ROWS[0], *ROWS[2:]])
    result = explain(old, new, Tolerance(rtol=0.1))
    assert result.verdict == "differs"
    assert result.reason.startswith(
        "same rows in a different order; 6 of 16 cells differ (first: row 1, column fold: 1 → 2)"
    )


def test_byte_order_mark_only(tmp_path: Path) -> None:
    old = table(tmp_path / "a.csv", ROWS)
    new = tmp_path / "b.csv"
    new.write_bytes(b"\xef\xbb\xbf" + old.read_bytes())
    result = explain(old, new)
    assert result.verdict == "differs"
    assert result.reason == "same cells, text differs: byte order mark only"


def test_tsv_without_header_numbers_columns(tmp_path: Path) -> None:
    old = table(tmp_path / "a.tsv", [["1", "2.5"], ["2", "3.5"]], header=None, delimiter="\t")
    new = table(tmp_path / "b.tsv", [["1", "2.5"], ["2", "3.75"]], header=None, delimiter="\t")
    result = compare(old, new, path="t.tsv")
    assert result.verdict == "differs"
    assert result.reason.startswith("1 of 4 cells differs: row 2, column 2: 3.5 → 3.75")


def test_nan_against_a_number_is_beyond_any_tolerance(tmp_path: Path) -> None:
    old = table(tmp_path / "a.csv", ROWS)
    new = table(tmp_path / "b.csv", changed(1, 2, "nan"))
    result = explain(old, new, Tolerance(rtol=10, atol=10))
    assert result.verdict == "differs"
    assert "max abs diff inf" in result.reason


def test_not_utf8_falls_back(tmp_path: Path) -> None:
    old = table(tmp_path / "a.csv", ROWS)
    new = tmp_path / "b.csv"
    new.write_bytes(old.read_bytes().replace(b"forest", b"for\xeat"))
    result = explain(old, new)
    assert result.verdict == "differs"
    assert result.reason.startswith("not readable as a table (UnicodeDecodeError")
    assert result.comparator == "binary"


def test_oversized_field_falls_back_to_text(tmp_path: Path) -> None:
    old = table(tmp_path / "a.csv", ROWS)
    new = table(tmp_path / "b.csv", [*ROWS, ["x" * (csv.field_size_limit() + 1)]])
    result = explain(old, new)
    assert result.verdict == "differs"
    assert result.reason.startswith("not readable as a table (Error: field larger than field limit")
    assert result.comparator == "text"


def test_truncated_table_differs_in_shape(tmp_path: Path) -> None:
    old = table(tmp_path / "a.csv", ROWS)
    new = tmp_path / "b.csv"
    new.write_bytes(old.read_bytes()[:-12])
    result = explain(old, new)
    assert result.verdict == "differs"
    assert result.reason == (
        "2 of 16 cells differ (first: row 4, column accuracy: 0.7990 → 0); "
        "max abs diff 0.799, max rel diff 1"
    )
    assert "row 4, column f1: 0.78 → (missing)" in result.details
