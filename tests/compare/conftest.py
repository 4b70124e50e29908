"""Real file pairs for the comparator tests, made by the tools that make them in analyses.

Matplotlib figures and executed notebooks come from separate processes, as two runs of an
analysis would: `SOURCE_DATE_EPOCH` and the random SVG salt differ between the runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Writes the same figure as PDF, SVG and PNG, plus variants; argv: folder, CreationDate, y.
FIGURE_SCRIPT = textwrap.dedent(
    """
    import datetime, sys
    import matplotlib
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = None  # random ids, as without capsule's matplotlibrc
    import matplotlib.pyplot as plt

    out, created, last = sys.argv[1], sys.argv[2], float(sys.argv[3])

    def figure(y_last):
        fig, ax = plt.subplots(figsize=(2, 2), dpi=50)
        ax.plot([0, 1, 2], [0, 1, y_last], clip_on=True)
        ax.set_title("accuracy")
        return fig

    fig = figure(last)
    fig.savefig(f"{out}/fig.pdf")
    fig.savefig(f"{out}/fig.svg")
    fig.savefig(f"{out}/fig.png", metadata={"Software": f"run at {created}"})
    created_at = datetime.datetime.fromisoformat(created)
    fig.savefig(f"{out}/fig-dated.pdf", metadata={"CreationDate": created_at})
    changed = figure(last + 1.5)
    changed.savefig(f"{out}/changed.pdf")
    changed.savefig(f"{out}/changed.svg")
    changed.savefig(f"{out}/changed.png")
    """
)

# Writes a notebook with fixed cell ids, then executes it once per run folder.
NOTEBOOK_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import nbformat
    from nbclient import NotebookClient

    source = nbformat.v4.new_notebook()
    source.cells = [
        nbformat.v4.new_markdown_cell("# Accuracy"),
        nbformat.v4.new_code_cell("print(open('value.txt').read())"),
        nbformat.v4.new_code_cell("object()"),
        nbformat.v4.new_code_cell("1 / 0"),
    ]
    for number, cell in enumerate(source.cells):
        cell.id = f"cell-{number}"
    for run in sys.argv[1:]:
        notebook = nbformat.from_dict(source)
        NotebookClient(
            notebook, kernel_name="python3", allow_errors=True, timeout=60,
            resources={"metadata": {"path": run}},
        ).execute()
        nbformat.write(notebook, str(Path(run) / "analysis.ipynb"))
    """
)


def _run(argv: list[str], env: dict[str, str]) -> None:
    """Run a helper process; fail the test with its stderr if it fails."""
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode:
        pytest.fail(f"{argv[:3]} failed:\n{done.stderr[-3000:]}")


@pytest.fixture(scope="session")
def figure_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two runs of the same figure script with different SOURCE_DATE_EPOCH and CreationDate."""
    runs = []
    for name, epoch, created in (
        ("run1", "1000000000", "2020-01-01T00:00:00+00:00"),
        ("run2", "1700000000", "2021-06-15T12:30:00+02:00"),  # longer PDF date: offsets move
    ):
        folder = tmp_path_factory.mktemp(name)
        env = {**os.environ, "SOURCE_DATE_EPOCH": epoch, "MPLBACKEND": "Agg"}
        env.pop("MATPLOTLIBRC", None)
        _run([sys.executable, "-c", FIGURE_SCRIPT, str(folder), created, "4"], env)
        runs.append(folder)
    return runs[0], runs[1]


@pytest.fixture(scope="session")
def notebook_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """One notebook executed three times: twice on the same data, once on changed data."""
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    folders = [tmp_path_factory.mktemp(f"nbrun{n}") for n in (1, 2, 3)]
    for folder, value in zip(folders, ("0.8123", "0.8123", "0.8125"), strict=True):
        (folder / "value.txt").write_text(value)
    env = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    _run([sys.executable, "-c", NOTEBOOK_SCRIPT, *map(str, folders)], env)
    first, second, third = (folder / "analysis.ipynb" for folder in folders)
    return first, second, third
