"""Provenance: which code, which data and which process made each output, as observed."""

from __future__ import annotations

from pathlib import Path

import pytest

from capsule import manifest, provenance
from capsule.build import BuildOptions, build
from capsule.errors import CapsuleError
from capsule.model import Generation, Manifest
from capsule.runtime._capsule_events import TraceSite

from conftest import MakeProject


def built(make_project: MakeProject, tmp_path: Path, files: dict[str, str]) -> Manifest:
    """Build a small analysis and read its manifest."""
    out = tmp_path / "p.capsule"
    build(BuildOptions(source=make_project(files), output=out))
    return manifest.read(out)


def generation(m: Manifest, path: str) -> Generation:
    """The generation of one output."""
    return next(g for g in m.provenance.generated if g.entity == path)


def reads(m: Manifest, activity: str) -> list[tuple[str, bool]]:
    """What an activity read, in order."""
    return [(u.entity, u.external) for u in m.provenance.used if u.activity == activity]


def test_numpy_writes_and_reads_are_traced_with_call_sites(
    make_project: MakeProject, tmp_path: Path
) -> None:
    m = built(
        make_project,
        tmp_path,
        {
            "data/x.txt": "1\n2\n3\n",
            "01_stats.py": """
                import numpy as np

                def save(values):
                    np.savetxt("out/mean.txt", [values.mean()])

                values = np.loadtxt("data/x.txt")
                import os; os.makedirs("out", exist_ok=True)
                save(values)
                np.save("out/values.npy", values)
            """,
        },
    )
    mean = generation(m, "out/mean.txt")
    assert mean.observed == "traced"
    assert mean.activity == "01_stats/p1"
    assert mean.call_site is not None
    assert (mean.call_site.file, mean.call_site.line, mean.call_site.function) == (
        "01_stats.py",
        4,
        "save",
    )
    entries = {e.path: e.sha256 for e in m.files}
    assert mean.call_site.source_sha256 == entries["01_stats.py"]
    npy = generation(m, "out/values.npy")
    assert npy.call_site is not None and (npy.call_site.line, npy.call_site.function) == (
        9,
        "<module>",
    )
    assert reads(m, "01_stats/p1") == [("data/x.txt", False)]
    activity = next(a for a in m.provenance.activities if a.id == "01_stats/p1")
    assert activity.argv == ("python", "01_stats.py")


def test_a_python_subprocess_that_writes_the_figure(
    make_project: MakeProject, tmp_path: Path
) -> None:
    m = built(
        make_project,
        tmp_path,
        {
            "01_driver.py": """
                import subprocess, sys
                subprocess.run([sys.executable, "tools/plot.py", "--dpi", "50"], check=True)
            """,
            "tools/plot.py": """
                import pathlib, sys
                pathlib.Path("fig.txt").write_text(" ".join(sys.argv[1:]))
            """,
        },
    )
    fig = generation(m, "fig.txt")
    assert fig.activity == "01_driver/p2"
    assert fig.call_site is not None and fig.call_site.file == "tools/plot.py"
    child = next(a for a in m.provenance.activities if a.id == "01_driver/p2")
    assert child.parent == "01_driver/p1"
    assert child.argv == ("python", "tools/plot.py", "--dpi", "50")


def test_a_shell_step_gets_step_level_lineage(make_project: MakeProject, tmp_path: Path) -> None:
    m = built(
        make_project,
        tmp_path,
        {
            "data/a.txt": "a\n",
            "capsule.toml": """
                [[steps]]
                name = "copy"
                command = ["sh", "-c", "mkdir -p out && cp data/a.txt out/copy.txt"]
            """,
        },
    )
    copy = generation(m, "out/copy.txt")
    assert (copy.observed, copy.activity, copy.call_site) == ("snapshot", "copy", None)
    step = next(a for a in m.provenance.activities if a.id == "copy")
    assert step.kind == "step" and step.argv == (
        "sh",
        "-c",
        "mkdir -p out && cp data/a.txt out/copy.txt",
    )


def test_reading_outside_the_analysis_is_flagged(make_project: MakeProject, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "raw.csv"
    outside.parent.mkdir()
    outside.write_text("1\n")
    m = built(
        make_project,
        tmp_path,
        {"01_read.py": f"open('out.txt', 'w').write(open({str(outside)!r}).read())\n"},
    )
    assert (str(outside), True) in reads(m, "01_read/p1")
    flagged = [f for f in m.findings if f.check == "reads-outside-analysis"]
    assert [f.location for f in flagged] == [str(outside)]


def test_the_tracers_own_failure_cannot_fail_a_step(
    make_project: MakeProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAPSULE_TRACE_FAIL", "1")
    m = built(make_project, tmp_path, {"01_w.py": "open('w.txt', 'w').write('still here')\n"})
    assert [o.path for o in m.outputs] == ["w.txt"]
    assert generation(m, "w.txt").observed == "snapshot"  # the tracer saw nothing
    assert any(f.check == "tracer-failed" for f in m.findings)


def test_savefig_records_the_figure(make_project: MakeProject, tmp_path: Path) -> None:
    m = built(
        make_project,
        tmp_path,
        {
            "01_plot.py": """
                import matplotlib.pyplot as plt

                fig, ax = plt.subplots(figsize=(6, 4))
                ax.plot([1, 2, 3])
                ax.set_xlabel("epoch")
                ax.set_ylabel("loss")
                fig.suptitle("Figure 2: Confusion matrix of the Random Forest")
                fig.savefig("fig2.png", dpi=150)
            """,
        },
    )
    fig = generation(m, "fig2.png")
    assert fig.call_site is not None and (fig.call_site.file, fig.call_site.line) == (
        "01_plot.py",
        8,
    )
    assert fig.figure is not None
    assert fig.figure.title == "Figure 2: Confusion matrix of the Random Forest"
    assert fig.figure.axis_labels == ("epoch", "loss")
    assert (fig.figure.width_in, fig.figure.height_in, fig.figure.dpi) == (6.0, 4.0, 150.0)


def test_a_script_that_only_shows_its_figures(make_project: MakeProject, tmp_path: Path) -> None:
    m = built(
        make_project,
        tmp_path,
        {
            "scripts/01_explore.py": """
                import matplotlib.pyplot as plt

                plt.figure()
                plt.plot([3, 1, 2])
                plt.title("Raw signal")
                plt.figure()
                plt.hist([1, 1, 2, 3])
                plt.show()
            """,
        },
    )
    outputs = {o.path: o for o in m.outputs}
    assert set(outputs) == {"shown/01_explore-figure1.png", "shown/01_explore-figure2.png"}
    assert outputs["shown/01_explore-figure1.png"].on_disk == "missing"
    assert "made by capsule" in outputs["shown/01_explore-figure1.png"].on_disk_note
    first = generation(m, "shown/01_explore-figure1.png")
    assert first.call_site is not None
    assert (first.call_site.file, first.call_site.line) == ("scripts/01_explore.py", 8)
    assert first.figure is not None and first.figure.title == "Raw signal"


def test_a_notebook_figure_names_its_cell(make_project: MakeProject, tmp_path: Path) -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Plots"),
        nbformat.v4.new_code_cell("import matplotlib.pyplot as plt"),
        nbformat.v4.new_code_cell(""),  # blank: never sent to the kernel
        nbformat.v4.new_code_cell(
            "fig, ax = plt.subplots()\nax.plot([1, 2])\nfig.savefig('../fig.png')\nplt.show()"
        ),
    ]
    m = built(make_project, tmp_path, {"nb/01_plots.ipynb": nbformat.writes(notebook)})
    fig = generation(m, "fig.png")
    assert fig.call_site is not None
    assert (fig.call_site.file, fig.call_site.cell, fig.call_site.line) == (
        "nb/01_plots.ipynb",
        3,
        3,
    )
    shown = generation(m, "nb/01_plots/cell3-1.png")
    assert shown.call_site is not None and shown.call_site.cell == 3


def test_a_notebook_whose_stored_outputs_are_stale(
    make_project: MakeProject, tmp_path: Path
) -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    cell = nbformat.v4.new_code_cell("print(6 * 7)", execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="41\n")]
    notebook.cells = [cell]
    m = built(make_project, tmp_path, {"01_answer.ipynb": nbformat.writes(notebook)})
    stale = [f for f in m.findings if f.check == "notebook-outputs-not-reproduced"]
    assert [f.location for f in stale] == ["01_answer.ipynb"]
    assert "41" in stale[0].message and "42" in stale[0].message


def test_events_are_read_by_name(tmp_path: Path) -> None:
    (tmp_path / "process-7.json").write_text(
        '{"pid": 7, "ppid": 1, "step": "s", "events": ['
        '[1, "write", "out/a.txt", false, ["a.py", 3, "main", 0], null]]}'
    )
    [record] = provenance.read_records(tmp_path)
    [event] = record.events
    assert (event.op, event.path, event.external) == ("write", "out/a.txt", False)
    assert event.site == TraceSite(file="a.py", line=3, function="main", cell=0)


@pytest.mark.parametrize(
    "events",
    [
        '[[1, "read"]]',  # too few fields
        '[[1, "write", "a", false, ["a.py", 3], null]]',  # a call site of two fields
        '[[1, "write", "a", false, "a.py:3", null]]',  # a call site that is no list
        '[["one", "read", "a", false, null, null]]',  # a sequence number that is no number
    ],
)
def test_a_damaged_trace_record_is_an_error_naming_it(tmp_path: Path, events: str) -> None:
    (tmp_path / "process-7.json").write_text(f'{{"pid": 7, "ppid": 1, "events": {events}}}')
    with pytest.raises(CapsuleError, match=r"process-7\.json of the run is damaged") as caught:
        provenance.read_records(tmp_path)
    assert caught.value.hint
