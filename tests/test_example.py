"""Fast checks of the example analysis in examples/paper_figures (no full run of its steps)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "paper_figures"
DATA_CSV = EXAMPLE / "data" / "utterances.csv"
GENERATOR = EXAMPLE / "data" / "make_utterances.py"
NOTEBOOK = EXAMPLE / "notebooks" / "04_error_analysis.ipynb"

STEPS = (
    "scripts/01_compare_models.py",
    "scripts/02_confusion_matrix.py",
    "scripts/03_ngram_sweep.py",
    "notebooks/04_error_analysis.ipynb",
)
DECLARED_OUTPUTS = (
    "tables/table1_metrics.csv",
    "figures/fig1_model_comparison.png",
    "figures/fig1_model_comparison.pdf",
    "figures/fig2_confusion_matrix.png",
    "figures/fig3_ngram_sweep.svg",
    "figures/fig4_error_analysis.png",
)


def read_rows(path: Path) -> list[dict[str, str]]:
    """Return the rows of a CSV file as dicts keyed by its header."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_corpus_has_10000_rows_with_the_declared_columns() -> None:
    with DATA_CSV.open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle))
    rows = read_rows(DATA_CSV)

    assert header == ["id", "text", "intent"]
    assert len(rows) == 10_000
    assert [row["id"] for row in rows] == [str(i) for i in range(1, 10_001)]
    assert all(row["text"].strip() for row in rows)


def test_corpus_covers_at_least_six_intents() -> None:
    intents = {row["intent"] for row in read_rows(DATA_CSV)}

    assert len(intents) >= 6


def test_corpus_uses_lf_line_endings() -> None:
    assert b"\r" not in DATA_CSV.read_bytes()


def test_generator_regenerates_the_committed_corpus_byte_for_byte(tmp_path: Path) -> None:
    output = tmp_path / "utterances.csv"

    subprocess.run(
        [sys.executable, str(GENERATOR), "--output", str(output)],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        cwd=tmp_path,
    )

    assert output.read_bytes() == DATA_CSV.read_bytes()


def test_notebook_is_valid_and_was_run_top_to_bottom() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    counts = [cell.execution_count for cell in notebook.cells if cell.cell_type == "code"]

    assert notebook.nbformat == 4
    assert notebook.metadata.kernelspec.name == "python3"
    assert notebook.metadata.kernelspec.display_name == "Python 3"
    assert counts == list(range(1, len(counts) + 1))


def test_notebook_outputs_contain_no_errors() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    output_types = {
        output.output_type
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    }

    assert "error" not in output_types
    assert "display_data" in output_types  # Figure 4, shown inline


@pytest.mark.parametrize("relative_path", STEPS)
def test_step_exists(relative_path: str) -> None:
    assert (EXAMPLE / relative_path).is_file()


@pytest.mark.parametrize("relative_path", DECLARED_OUTPUTS)
def test_declared_output_exists(relative_path: str) -> None:
    path = EXAMPLE / relative_path

    assert path.is_file()
    assert path.stat().st_size > 0


def test_table1_has_one_row_per_model_and_feature_set() -> None:
    rows = read_rows(EXAMPLE / "tables" / "table1_metrics.csv")

    assert list(rows[0]) == ["model", "features", "accuracy", "macro_f1"]
    assert len(rows) == len({(row["model"], row["features"]) for row in rows}) == 6
    for row in rows:
        for metric in ("accuracy", "macro_f1"):
            assert 0.5 < float(row[metric]) < 1.0
            assert len(row[metric].split(".")[1]) == 4
