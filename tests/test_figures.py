"""Tests for runtime/_capsule_figures.py (figure tracers) and runtime/_capsule_show.py (backend).

The end-to-end ones run small scripts in real subprocesses of the dev Python, under capsule's
sitecustomize with tracing on, and read the process record it writes at exit, as a build does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import matplotlib
import pytest
from matplotlib.figure import Figure
from PIL import Image

from capsule.runtime import _capsule_figures as figures
from capsule.runtime import _capsule_show as show

from conftest import REPO, MakeProject

RUNTIME = REPO / "capsule" / "runtime"
PYTHON = REPO / ".venv" / "bin" / "python"
SHOW_BACKEND = "module://_capsule_show"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def mpl_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One matplotlib config folder for every script here: its font cache is built once."""
    return tmp_path_factory.mktemp("mplconfig")


def run_traced(
    project: Path, script: str, mpl_config: Path, backend: str = "Agg"
) -> dict[str, Any]:
    """Run `python script` in project under the tracer; return the process record."""
    trace = project.parent / "trace"
    trace.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(project.parent),
        "PYTHONPATH": str(RUNTIME),
        "MPLBACKEND": backend,
        "MPLCONFIGDIR": str(mpl_config),
        "CAPSULE_TRACE_DIR": str(trace),
        "CAPSULE_ANALYSIS_ROOT": str(project),
    }
    done = subprocess.run(
        [str(PYTHON), script], cwd=project, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "capsule:" not in done.stderr, done.stderr
    records = sorted(trace.glob("process-*.json"))
    assert len(records) == 1, records
    record: dict[str, Any] = json.loads(records[0].read_text(encoding="utf-8"))
    assert record["failures"] == 0, record["first_failure"]
    return record


def writes(record: dict[str, Any]) -> dict[str, tuple[list[Any], dict[str, Any]]]:
    """path -> (call site, figure) of each write event in a process record."""
    return {
        path: (site, figure) for _, op, path, _, site, figure in record["events"] if op == "write"
    }


def line_of(path: Path, text: str) -> int:
    """The line number (from 1) of the only line of the file that is exactly text."""
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines.count(text) == 1
    return lines.index(text) + 1


def test_figure_savefig_records_suptitle_labels_size_and_dpi(
    make_project: MakeProject, mpl_config: Path
) -> None:
    project = make_project(
        {
            "scripts/confusion.py": """
                import matplotlib.pyplot as plt

                fig, ax = plt.subplots(figsize=(6, 4))
                ax.imshow([[5, 1], [2, 7]])
                ax.set_title("ignored: the suptitle wins")
                ax.set_xlabel("Predicted")
                ax.set_ylabel("True")
                fig.suptitle("Figure 2: Confusion matrix")
                fig.savefig("figures/fig2.png", dpi=150)
            """,
            "figures/.keep": "",
        }
    )
    record = run_traced(project, "scripts/confusion.py", mpl_config)
    site, figure = writes(record)["figures/fig2.png"]
    assert site == ["scripts/confusion.py", 9, "<module>", 0]
    assert figure == {
        "library": "matplotlib",
        "title": "Figure 2: Confusion matrix",
        "axis_labels": ["Predicted", "True"],
        "width_in": 6.0,
        "height_in": 4.0,
        "dpi": 150.0,
    }
    with Image.open(project / "figures" / "fig2.png") as image:
        assert image.size == (900, 600)


def test_pyplot_savefig_records_the_axes_title(make_project: MakeProject, mpl_config: Path) -> None:
    project = make_project(
        {
            "plot.py": """
                import matplotlib.pyplot as plt

                def plot_loss():
                    plt.figure(figsize=(3.5, 2.25), dpi=80)
                    plt.plot([3, 2, 1])
                    plt.title("Training loss")
                    plt.savefig("loss.png")

                plot_loss()
            """,
        }
    )
    record = run_traced(project, "plot.py", mpl_config)
    site, figure = writes(record)["loss.png"]
    assert site == ["plot.py", 7, "plot_loss", 0]
    assert figure == {
        "library": "matplotlib",
        "title": "Training loss",
        "axis_labels": [],
        "width_in": 3.5,
        "height_in": 2.25,
        "dpi": 80.0,  # rc savefig.dpi is "figure"
    }


SHOW_SCRIPT = """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([1, 2, 3])
    ax.set_title("First")
    ax.set_xlabel("x")
    plt.figure(figsize=(2, 2))
    plt.title("Second", loc="right")
    plt.show()
"""


def test_show_saves_each_open_figure_with_the_show_line_as_call_site(
    make_project: MakeProject, mpl_config: Path
) -> None:
    project = make_project({"scripts/02_plot.py": SHOW_SCRIPT})
    show_line = line_of(project / "scripts" / "02_plot.py", "plt.show()")
    record = run_traced(project, "scripts/02_plot.py", mpl_config, backend=SHOW_BACKEND)
    assert sorted(path.name for path in (project / "shown").iterdir()) == [
        "02_plot-figure1.png",
        "02_plot-figure2.png",
    ]
    for name, size in (("02_plot-figure1.png", (400, 300)), ("02_plot-figure2.png", (200, 200))):
        assert (project / "shown" / name).read_bytes().startswith(PNG_SIGNATURE)
        with Image.open(project / "shown" / name) as image:
            image.verify()
            assert image.size == size
    written = writes(record)
    assert list(written) == ["shown/02_plot-figure1.png", "shown/02_plot-figure2.png"]
    site, figure = written["shown/02_plot-figure1.png"]
    assert site == ["scripts/02_plot.py", show_line, "<module>", 0]
    assert figure == {
        "library": "matplotlib",
        "title": "First",
        "axis_labels": ["x"],
        "width_in": 4.0,
        "height_in": 3.0,
        "dpi": 100.0,
    }
    site, figure = written["shown/02_plot-figure2.png"]
    assert site == ["scripts/02_plot.py", show_line, "<module>", 0]
    assert figure["title"] == "Second"


def test_shown_pngs_are_byte_identical_across_runs(
    make_project: MakeProject, mpl_config: Path, tmp_path: Path
) -> None:
    first = make_project({"scripts/02_plot.py": SHOW_SCRIPT})
    run_traced(first, "scripts/02_plot.py", mpl_config, backend=SHOW_BACKEND)
    second = tmp_path / "again" / "analysis"
    second.parent.mkdir()
    first.rename(second)
    pictures = {path.name: path.read_bytes() for path in (second / "shown").iterdir()}
    run_traced(second, "scripts/02_plot.py", mpl_config, backend=SHOW_BACKEND)
    assert {path.name: path.read_bytes() for path in (second / "shown").iterdir()} == pictures


def test_show_never_overwrites_an_earlier_picture(
    make_project: MakeProject, mpl_config: Path
) -> None:
    project = make_project(
        {
            "again.py": """
                import matplotlib.pyplot as plt

                plt.plot([1, 2])
                plt.show()
                plt.plot([2, 1])
                plt.show(block=False)
                plt.title("still open")
                plt.show()
                plt.show()
            """,
        }
    )
    record = run_traced(project, "again.py", mpl_config, backend=SHOW_BACKEND)
    # The first show closed figure 1, so the next plot made a new figure 1; the non-blocking
    # show left it open, so the last blocking show saved it again, then closed it.
    assert sorted(path.name for path in (project / "shown").iterdir()) == [
        "again-figure1-2.png",
        "again-figure1-3.png",
        "again-figure1.png",
    ]
    written = writes(record)
    assert [site[1] for site, _ in written.values()] == [4, 6, 8]
    assert [figure["title"] for _, figure in written.values()] == ["", "", "still open"]


def test_show_names_code_run_with_dash_c_interactive(tmp_path: Path, mpl_config: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(RUNTIME),
        "MPLBACKEND": SHOW_BACKEND,
        "MPLCONFIGDIR": str(mpl_config),
    }
    code = "import matplotlib.pyplot as plt; plt.plot([1]); plt.show()"
    subprocess.run([str(PYTHON), "-c", code], cwd=tmp_path, env=env, check=True)
    assert [path.name for path in (tmp_path / "shown").iterdir()] == ["interactive-figure1.png"]


@pytest.mark.parametrize(
    ("argv", "stem"),
    [
        (["scripts/02_plot.py"], "02_plot"),
        (["/abs/path/make_figures.py", "--fast"], "make_figures"),
        (["-c"], "interactive"),
        ([""], "interactive"),
        ([], "interactive"),
    ],
)
def test_script_stem(argv: list[str], stem: str) -> None:
    assert show.script_stem(argv) == stem


def test_shown_name_suffixes_taken_names() -> None:
    assert show.shown_name("a", 3, set()) == "a-figure3.png"
    assert show.shown_name("a", 3, {"a-figure3.png", "a-figure3-2.png"}) == "a-figure3-3.png"


def test_the_backend_is_agg_apart_from_show() -> None:
    from matplotlib.backends import backend_agg

    assert show.FigureCanvas is backend_agg.FigureCanvasAgg  # type: ignore[attr-defined]
    assert show.FigureManager is backend_agg.FigureManager  # type: ignore[attr-defined]


def describe_save(figure: object, **kwargs: object) -> dict[str, object] | None:
    """describe() asked from inside a function named like Figure.savefig, with its arguments."""

    def savefig(self: object, fname: str, **kwargs: object) -> dict[str, object] | None:
        return figures.describe(sys._getframe())

    return savefig(figure, "out.png", **kwargs)


def test_axes_titles_are_joined_when_there_is_no_suptitle() -> None:
    figure = Figure(figsize=(3, 2), dpi=80)
    left, right = figure.subplots(1, 2)
    left.set_title("A")
    left.set_title("B", loc="left")
    right.set_title("C", loc="right")
    right.set_ylabel("counts")
    stale = figure.stale
    info = describe_save(figure)
    assert info is not None
    assert info["title"] == "A | B | C"
    assert info["axis_labels"] == ["counts"]
    assert figure.stale == stale  # reading a figure does not change it


@pytest.mark.parametrize(
    ("kwargs", "rc_dpi", "dpi"),
    [
        ({"dpi": 150}, "figure", 150.0),
        ({"dpi": 72.123456}, "figure", 72.1235),
        ({"dpi": "figure"}, 300, 80.0),
        ({}, 300, 300.0),
        ({}, "figure", 80.0),
    ],
)
def test_dpi_is_resolved_as_savefig_resolves_it(
    kwargs: dict[str, object], rc_dpi: object, dpi: float
) -> None:
    figure = Figure(figsize=(3, 2), dpi=80)
    with matplotlib.rc_context({"savefig.dpi": rc_dpi}):
        info = describe_save(figure, **kwargs)
    assert info is not None
    assert info["dpi"] == dpi


class BrokenFigure:
    """Anything a savefig frame might hold whose every attribute fails."""

    def __getattribute__(self, name: str) -> object:
        raise RuntimeError(f"no {name} here")


def test_describe_answers_none_for_other_frames_and_never_raises() -> None:
    assert figures.describe(sys._getframe()) is None  # not a savefig frame
    assert describe_save(BrokenFigure()) is None
    assert describe_save(Figure(), dpi=object()) is None  # a dpi it cannot read

    def broken_tracer(frame: FrameType) -> dict[str, object] | None:
        raise RuntimeError("a tracer with a bug")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(figures, "TRACERS", (broken_tracer, *figures.TRACERS))
        info = describe_save(Figure(figsize=(2, 1)))
    assert info is not None
    assert info["width_in"] == 2.0


def test_the_tracers_import_no_plotting_library(tmp_path: Path) -> None:
    code = "import sys, _capsule_figures; print([m for m in sys.modules if 'matplotlib' in m])"
    done = subprocess.run(
        [str(PYTHON), "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(RUNTIME)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "[]"
