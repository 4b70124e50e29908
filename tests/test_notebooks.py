"""Tests for capsule/notebooks.py, checks/notebooks.py and runtime/_capsule_notebook.py.

The runner tests execute real notebooks in real kernels, the way a notebook step runs: one
subprocess per notebook, all started together by a module fixture, so the kernels start once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from capsule.checks.notebooks import (
    EXECUTION_ORDER,
    EXECUTION_ORDER_FIX,
    HIDDEN_STATE,
    NEVER_RUN,
    UNREADABLE,
    execution_order_findings,
)
from capsule.runtime import _capsule_notebook as runner

REPO = Path(__file__).resolve().parent.parent
RUNTIME = REPO / "capsule" / "runtime"

# A 1x1 PNG: the "author's" stored output of a cell the failing run never reaches.
STALE_PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360606060000000050001a5f645400000000049454e44ae426082"
    )
).decode()

SHOWN = [
    "import matplotlib.pyplot as plt\nprint('ready')",
    # Two figures: one by plt.show(), one by display().
    "fig, ax = plt.subplots()\nax.plot([1, 3, 2])\nax.set_title('first')\nplt.show()\n"
    "fig2, ax2 = plt.subplots()\nax2.bar(['a', 'b'], [2, 1])\ndisplay(fig2)\nplt.close(fig2)",
    "from IPython.display import SVG\n"
    'SVG(\'<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10">'
    '<text x="0" y="9">µ±é</text></svg>\')',
]
FAILING = [
    "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()",
    "plt.plot([2, 1])\nplt.show()\nraise ValueError('boom-capsule')",
    "plt.plot([1, 1])\nplt.show()",
]


@dataclass(frozen=True)
class Run:
    """One execution of the runner: where it ran and what it said."""

    root: Path
    logs: Path
    returncode: int
    stdout: str
    stderr: str
    sha_before: str
    sha_after: str


def _notebook(sources: list[str], stale_outputs: Mapping[int, list[Any]] | None = None) -> Any:
    """A notebook with a markdown cell first (not counted), then one code cell per source."""
    cells: list[Any] = [new_markdown_cell("# title")]
    for index, source in enumerate(sources):
        cell = new_code_cell(source)
        if stale_outputs and index in stale_outputs:
            cell.outputs = stale_outputs[index]
            cell.execution_count = index + 1
        cells.append(cell)
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    return notebook


def _sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _environment(base: Path) -> dict[str, str]:
    """The runner's environment: the determinism settings, no MPLBACKEND, isolated config."""
    env = {name: value for name, value in os.environ.items() if name != "MPLBACKEND"}
    rc = base / "matplotlibrc"
    rc.write_text("svg.hashsalt: capsule\n", encoding="utf-8")
    env.update(
        PYTHONPATH=str(RUNTIME),
        PYTHONHASHSEED="0",
        SOURCE_DATE_EPOCH="1700000000",
        MATPLOTLIBRC=str(rc),
        MPLCONFIGDIR=str(base / "config" / "matplotlib"),
        IPYTHONDIR=str(base / "config" / "ipython"),
        JUPYTER_CONFIG_DIR=str(base / "config" / "jupyter"),
        JUPYTER_DATA_DIR=str(base / "config" / "jupyter-data"),
        JUPYTER_RUNTIME_DIR=str(base / "config" / "jupyter-runtime"),
    )
    return env


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    """The runner on: the SVG/figures notebook twice, a failing notebook, and invalid JSON."""
    base = tmp_path_factory.mktemp("notebooks")
    env = _environment(base)
    failing = _notebook(
        FAILING, stale_outputs={2: [new_output("display_data", data={"image/png": STALE_PNG})]}
    )
    cases: dict[str, tuple[str, Any]] = {
        "first": ("nb.ipynb", _notebook(SHOWN)),
        "second": ("nb.ipynb", _notebook(SHOWN)),
        "failing": ("notebooks/fail.ipynb", failing),
        "invalid": ("broken.ipynb", None),
    }
    started = {}
    for case, (rel, notebook) in cases.items():
        root = base / case
        path = root / rel
        path.parent.mkdir(parents=True)
        if notebook is None:
            path.write_text('{"cells": [', encoding="utf-8")
        else:
            nbformat.write(notebook, path)
        # The notebook's own folder already holds files of the author's: they must survive.
        (path.parent / path.stem).mkdir()
        (path.parent / path.stem / "notes.txt").write_text("mine\n", encoding="utf-8")
        logs = base / f"{case}-logs"
        logs.mkdir()
        process = subprocess.Popen(
            [sys.executable, "-m", "_capsule_notebook", rel],
            cwd=root,
            env={**env, "CAPSULE_LOG_DIR": str(logs)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started[case] = (root, logs, path, _sha256(path), process)
    results = {}
    for case, (root, logs, path, before, process) in started.items():
        stdout, stderr = process.communicate(timeout=120)
        results[case] = Run(root, logs, process.returncode, stdout, stderr, before, _sha256(path))
    yield results


def _logged_images(run: Run, name: str) -> dict[str, bytes]:
    """The images of the executed copy in the log folder, named as the runner names them."""
    stored = json.loads((run.logs / name).read_text(encoding="utf-8"))
    images = {}
    number = 0
    for cell in stored["cells"]:
        if cell["cell_type"] != "code":
            continue
        number += 1
        k = 0
        for output in cell["outputs"]:
            data = output.get("data", {})
            for mime, suffix in (("image/png", "png"), ("image/svg+xml", "svg")):
                if mime in data:
                    k += 1
                    value = "".join(data[mime])
                    raw = base64.b64decode(value) if suffix == "png" else value.encode("utf-8")
                    images[f"cell{number}-{k}.{suffix}"] = raw
    return images


def _written(folder: Path) -> dict[str, bytes]:
    """The cell images in a notebook's image folder, by name."""
    return {path.name: path.read_bytes() for path in folder.glob("cell*")}


def test_each_shown_image_becomes_a_file_with_the_output_bytes(runs: dict[str, Run]) -> None:
    run = runs["first"]
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    written = _written(run.root / "nb")
    assert sorted(written) == ["cell2-1.png", "cell2-2.png", "cell3-1.svg"]
    assert written == _logged_images(run, "nb.ipynb")
    assert written["cell2-1.png"].startswith(b"\x89PNG\r\n\x1a\n")
    assert written["cell2-1.png"] != written["cell2-2.png"]
    assert "µ±é".encode() in written["cell3-1.svg"]


def test_two_runs_give_identical_image_files(runs: dict[str, Run]) -> None:
    first, second = runs["first"], runs["second"]
    assert second.returncode == 0, second.stderr
    assert _written(second.root / "nb") == _written(first.root / "nb")


def test_the_notebook_and_the_authors_files_are_left_alone(runs: dict[str, Run]) -> None:
    for case in ("first", "failing"):
        run = runs[case]
        assert run.sha_after == run.sha_before, case
    assert (runs["first"].root / "nb" / "notes.txt").read_text(encoding="utf-8") == "mine\n"
    assert (runs["failing"].root / "notebooks" / "fail" / "notes.txt").is_file()


def test_a_failing_cell_fails_the_step_but_keeps_the_images_before_it(
    runs: dict[str, Run],
) -> None:
    run = runs["failing"]
    assert run.returncode == 1
    assert "ValueError" in run.stderr
    assert "boom-capsule" in run.stderr
    written = _written(run.root / "notebooks" / "fail")
    # Cell 3 never ran in this run: its stored (stale) image is not an output of the step.
    assert sorted(written) == ["cell1-1.png", "cell2-1.png"]
    logged = _logged_images(run, "notebooks__fail.ipynb")
    assert written == {name: logged[name] for name in written}


def test_an_invalid_notebook_is_refused(runs: dict[str, Run]) -> None:
    run = runs["invalid"]
    assert run.returncode == 2
    assert "broken.ipynb: not a readable notebook" in run.stderr
    assert sorted(p.name for p in (run.root / "broken").iterdir()) == ["notes.txt"]


def test_cell_images_numbers_code_cells_and_shares_k_across_formats() -> None:
    png = base64.b64encode(b"\x89PNG-a").decode()
    cells = [
        {"cell_type": "markdown", "source": "x"},
        {"cell_type": "code", "source": "", "outputs": []},
        {
            "cell_type": "code",
            "outputs": [
                {"output_type": "stream", "text": "hi"},
                {"output_type": "display_data", "data": {"image/svg+xml": ["<svg>", "</svg>"]}},
                {
                    "output_type": "execute_result",
                    "data": {"image/jpeg": "/9g=", "image/png": png, "text/plain": "<Figure>"},
                },
            ],
        },
        {
            "cell_type": "code",
            "outputs": [{"output_type": "display_data", "data": {"image/png": png}}],
        },
    ]
    images = list(runner.cell_images(cells, executed={1, 2}))
    assert images == [
        ("cell2-1.svg", b"<svg></svg>"),
        ("cell2-2.png", b"\x89PNG-a"),
        ("cell2-2.jpg", b"\xff\xd8"),
    ]


def test_image_folder_is_the_notebook_path_without_suffix() -> None:
    assert runner.image_folder("notebooks/04_error_analysis.ipynb") == "notebooks/04_error_analysis"


# ── execution order of the stored notebooks ───────────────────────────────────────────────


def _stored(
    root: Path, name: str, counts: list[int | None], sources: list[str] | None = None
) -> str:
    """Write a notebook whose code cells carry the given execution counts; return its path."""
    cells: list[Any] = [new_markdown_cell("intro")]
    for index, count in enumerate(counts):
        cell = new_code_cell(sources[index] if sources else f"x = {index}")
        cell.execution_count = count
        cells.append(cell)
    rel = f"notebooks/{name}.ipynb"
    (root / "notebooks").mkdir(exist_ok=True)
    nbformat.write(new_notebook(cells=cells), root / rel)
    return rel


def test_a_notebook_run_in_order_has_no_finding(tmp_path: Path) -> None:
    rel = _stored(tmp_path, "ok", [1, 2, 3, None], sources=["a", "b", "c", "d"])
    blank = _stored(tmp_path, "blank", [1, None, 2], sources=["a", "  \n", "c"])
    assert execution_order_findings(tmp_path, [rel, blank]) == []


def test_skipped_counts_are_found(tmp_path: Path) -> None:
    rel = _stored(tmp_path, "skip", [1, 2, 5])
    [finding] = execution_order_findings(tmp_path, [rel])
    assert finding.check == EXECUTION_ORDER
    assert finding.severity == "warning"
    assert finding.location == "notebooks/skip.ipynb:cell 3"
    assert "cell 3 ran as [5] after [2]" in finding.message
    assert finding.message.endswith(HIDDEN_STATE)
    assert finding.fix == EXECUTION_ORDER_FIX


def test_a_first_count_above_one_is_found(tmp_path: Path) -> None:
    rel = _stored(tmp_path, "late", [4, 5, 6])
    [finding] = execution_order_findings(tmp_path, [rel])
    assert finding.location == "notebooks/late.ipynb:cell 1"
    assert "not [1]" in finding.message


def test_out_of_order_counts_name_the_cell(tmp_path: Path) -> None:
    rel = _stored(tmp_path, "04", [3, 1, 2])
    [finding] = execution_order_findings(tmp_path, [rel])
    assert finding.check == EXECUTION_ORDER
    assert finding.location == "notebooks/04.ipynb:cell 2"
    assert "was run out of order (cell 2 ran as [1] after [3])" in finding.message
    # A count that goes back is named before an earlier skip: it is the clearer sign.
    rel = _stored(tmp_path, "05", [1, 2, 7, 3])
    [finding] = execution_order_findings(tmp_path, [rel])
    assert finding.location == "notebooks/05.ipynb:cell 4"
    rel = _stored(tmp_path, "06", [1, 3, 2])
    [finding] = execution_order_findings(tmp_path, [rel])
    assert finding.location == "notebooks/06.ipynb:cell 3"
    rel = _stored(tmp_path, "07", [1, 2, 2])
    [finding] = execution_order_findings(tmp_path, [rel])
    assert finding.message == (
        "notebooks/07.ipynb was run out of order (cell 3 ran as [2] after [2]): " + HIDDEN_STATE
    )


def test_a_partly_run_notebook_is_found(tmp_path: Path) -> None:
    rel = _stored(tmp_path, "partly", [1, None, 2])
    [finding] = execution_order_findings(tmp_path, [rel])
    assert finding.check == EXECUTION_ORDER
    assert finding.location == "notebooks/partly.ipynb:cell 2"
    assert "cell 2 never ran, but cell 3 after it ran as [2]" in finding.message
    rel = _stored(tmp_path, "gap", [1, None, 3, None])
    [finding] = execution_order_findings(tmp_path, [rel])
    assert finding.location == "notebooks/gap.ipynb:cell 2"


def test_a_notebook_never_run_is_info(tmp_path: Path) -> None:
    rel = _stored(tmp_path, "never", [None, None])
    [finding] = execution_order_findings(tmp_path, [rel])
    assert finding.check == NEVER_RUN
    assert finding.severity == "info"
    assert finding.location == rel
    assert "cannot be compared" in finding.message


def test_an_unreadable_notebook_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "bad.ipynb").write_text("{not json", encoding="utf-8")
    (tmp_path / "list.ipynb").write_text("[]", encoding="utf-8")
    found = execution_order_findings(tmp_path, ["bad.ipynb", "list.ipynb", "missing.ipynb"])
    assert [(f.check, f.location) for f in found] == [
        (UNREADABLE, "bad.ipynb"),
        (UNREADABLE, "list.ipynb"),
        (UNREADABLE, "missing.ipynb"),
    ]
