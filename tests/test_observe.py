"""A plan by observation: `capsule init` runs the steps once and sees what they read and write.

Each shape goes from `capsule init` to `capsule build` with no edit to capsule.toml, and the
capsule verifies (with the local backend: the container path is tested elsewhere).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tomllib
from pathlib import Path
from typing import Any

import nbformat
import pytest

from capsule.cli import main
from capsule.errors import StepFailed
from capsule.hashing import snapshot
from capsule.observe import compact, propose

from conftest import MakeProject

PROJECTS = Path(__file__).resolve().parent / "projects"


def init_build_verify(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """init, then build and verify with no edit: (capsule.toml, capsule.json, what init said)."""
    assert main(["init", str(source)]) == 0
    said = capsys.readouterr().out
    plan = tomllib.loads((source / "capsule.toml").read_text())
    out = tmp_path / "seen.capsule"
    assert main(["build", str(source), "-o", str(out)]) == 0
    code = main(["verify", str(out), "--backend", "local", "--report-dir", str(tmp_path / "v")])
    assert code == 0, capsys.readouterr().err
    return plan, json.loads((out / "capsule.json").read_text()), said


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The local backend's environments in the test's own cache."""
    monkeypatch.setenv("CAPSULE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.slow
def test_a_make_lesson_with_its_outputs_on_disk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Outputs left on disk by the author's last run are seen written (make -B), not data."""
    source = Path(shutil.copytree(PROJECTS / "make-lesson", tmp_path / "make-lesson"))
    before = snapshot(source)
    plan, built, said = init_build_verify(source, tmp_path, capsys)
    assert plan["files"]["data"] == ["books/**"]
    assert plan["files"]["outputs"] == ["*.dat", "results.txt"]
    assert plan["steps"] == [{"name": "make", "command": ["make"]}]
    assert sorted(o["path"] for o in built["outputs"]) == ["results.txt", "river.dat", "stars.dat"]
    assert "data:    2 files read, never written: books/**" in said
    # init wrote capsule.toml and nothing else into the analysis folder
    after = snapshot(source)
    assert set(after) - set(before) == {"capsule.toml"}
    assert all(after[rel].sha256 == stat.sha256 for rel, stat in before.items())


@pytest.mark.slow
def test_a_single_analyse_script(
    make_project: MakeProject, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = make_project(
        {
            "analyse.py": """
                import csv, pathlib
                from helpers import mean
                rows = list(csv.reader(open("inputs/measurements.csv")))
                pathlib.Path("figs").mkdir(exist_ok=True)
                pathlib.Path("figs/means.svg").write_text(f"<svg>{mean(rows)}</svg>")
                pathlib.Path("report.csv").write_text(f"mean,{mean(rows)}\\n")
            """,
            "helpers.py": """
                def mean(rows):
                    return sum(float(r[0]) for r in rows) / len(rows)
            """,
            "inputs/measurements.csv": "1\n2\n4\n",
            "inputs/unused.csv": "9\n",
            "notes/old-figure.png": b"\x89PNG not made by any step",
        }
    )
    plan, built, said = init_build_verify(source, tmp_path, capsys)
    assert [s["script"] for s in plan["steps"]] == ["analyse.py"]
    assert plan["files"]["data"] == ["inputs/measurements.csv"]  # unused.csv was never read
    assert plan["files"]["outputs"] == ["figs/**", "report.csv"]
    assert "on disk, but no step made them: notes/old-figure.png" in said
    assert sorted(o["path"] for o in built["outputs"]) == ["figs/means.svg", "report.csv"]


def test_no_run_guesses_from_names(make_project: MakeProject) -> None:
    source = make_project({"01_a.py": "open('results/x.txt', 'w')\n", "results/x.txt": "old"})
    assert main(["init", str(source), "--no-run"]) == 0
    plan = tomllib.loads((source / "capsule.toml").read_text())
    assert plan["files"]["outputs"] == ["results/**"]


def test_failing_steps_are_all_said_and_the_plan_still_written(make_project: MakeProject) -> None:
    source = make_project(
        {
            "figure-1.py": "print('fine')\n",
            "figure-2.py": "print 'old'\n",
            "figure-3.py": "x = 1\nprint 'older'\n",
        }
    )
    with pytest.raises(StepFailed) as raised:
        propose(source)
    message = raised.value.message
    assert message.startswith(f"{source / 'capsule.toml'} was written, but 2 of 3 steps failed")
    assert "a print statement at line 1 of figure-2.py: this is Python 2 code" in message
    assert "a print statement at line 2 of figure-3.py: this is Python 2 code" in message
    assert "allow_failure = true" in raised.value.hint
    assert len(tomllib.loads((source / "capsule.toml").read_text())["steps"]) == 3


@pytest.mark.slow
def test_figure_scripts_with_one_python_2_script_need_the_one_line_the_error_names(
    make_project: MakeProject, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    figure = "import pathlib\npathlib.Path('figures').mkdir(exist_ok=True)\n"
    source = make_project(
        {
            "figure-1.py": figure + "pathlib.Path('figures/one.txt').write_text('1')\n",
            "figure-2.py": "import sys\nprint 'two', sys.argv\n",
            "figure-3.py": figure + "pathlib.Path('figures/three.txt').write_text('3')\n",
            "notes.md": "Figure 2 was drawn in 2014, on Python 2.\n",
        }
    )
    assert main(["init", str(source)]) == 2
    said = " ".join(capsys.readouterr().err.split())
    assert "step 'figure-2' failed with exit code 1" in said
    assert "a print statement at line 2 of figure-2.py: this is Python 2 code" in said
    assert "allow_failure = true" in said
    toml = source / "capsule.toml"
    plan = tomllib.loads(toml.read_text())
    assert [s["script"] for s in plan["steps"]] == ["figure-1.py", "figure-2.py", "figure-3.py"]
    assert plan["files"]["outputs"] == ["figures/**"]
    # exactly the one line the error names
    text = toml.read_text().replace(
        'script = "figure-2.py"\n', 'script = "figure-2.py"\nallow_failure = true\n'
    )
    toml.write_text(text)
    out = tmp_path / "figures.capsule"
    assert main(["build", str(source), "-o", str(out)]) == 0
    built = json.loads((out / "capsule.json").read_text())
    assert [s["exit_code"] for s in built["steps"]] == [0, 1, 0]
    assert sorted(o["path"] for o in built["outputs"]) == ["figures/one.txt", "figures/three.txt"]
    capsys.readouterr()
    code = main(["verify", str(out), "--backend", "local", "--report-dir", str(tmp_path / "v")])
    assert code == 0, capsys.readouterr().err  # the rerun's figure-2 failed the same way


def test_an_existing_plan_is_refused_before_anything_runs(make_project: MakeProject) -> None:
    source = make_project({"analyse.py": "open('ran', 'w')\n", "capsule.toml": "# mine\n"})
    with pytest.raises(Exception, match="already exists"):
        propose(source)
    assert (source / "capsule.toml").read_text() == "# mine\n"


def test_globs_are_compact_and_exact() -> None:
    universe = {
        "books/a.txt",
        "books/b.txt",
        "a.dat",
        "b.dat",
        "notes.dat",
        "results/fig.png",
        "results/sub/t.csv",
        "data/keep.csv",
        "data/other.csv",
    }
    # every file of results/: the folder; two of three .dat files: by name
    assert compact({"results/fig.png", "results/sub/t.csv", "a.dat", "b.dat"}, universe) == (
        "results/**",
        "a.dat",
        "b.dat",
    )
    assert compact({"a.dat", "b.dat", "notes.dat"}, universe) == ("*.dat",)
    assert compact({"books/a.txt", "books/b.txt", "data/keep.csv"}, universe) == (
        "books/**",
        "data/keep.csv",
    )


@pytest.mark.slow
def test_scripts_that_run_from_their_own_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """They fail from the top for want of a file beside them: init runs them from there."""
    source = Path(shutil.copytree(PROJECTS / "own-cwd", tmp_path / "own-cwd"))
    plan, built, said = init_build_verify(source, tmp_path, capsys)
    assert [(s["script"], s["cwd"]) for s in plan["steps"]] == [
        ("ch01/01_counts.py", "ch01"),
        ("ch02/02_means.py", "ch02"),
    ]
    assert "1. 01_counts (script: ch01/01_counts.py, run from ch01/)" in said
    assert plan["files"]["data"] == ["ch01/counts.csv", "ch02/measurements.csv"]
    assert sorted(o["path"] for o in built["outputs"]) == ["ch01/total.txt", "ch02/means.csv"]
    assert (tmp_path / "seen.capsule/expected/ch01/total.txt").read_text() == "16\n"


STEP_OPTIONS = {
    "capsule.toml": """
        [files]
        outputs = ["out/**"]

        [[steps]]
        name = "in its folder, with a setting"
        script = "part/make.py"
        cwd = "part"
        timeout = 120
        env = { LEVEL = "3", GREETING = "it's a test" }
    """,
    "part/make.py": """
        import os, pathlib
        pathlib.Path("../out").mkdir(exist_ok=True)
        text = f"{os.getcwd().rsplit('/', 1)[-1]} {os.environ['LEVEL']} {os.environ['GREETING']}"
        pathlib.Path("../out/where.txt").write_text(text + "\\n")
    """,
}


@pytest.mark.docker
@pytest.mark.slow
def test_cwd_env_and_timeout_hold_in_the_container(
    make_project: MakeProject, base_image: str, docker_engine: Any, tmp_path: Path
) -> None:
    """run.sh runs a step in its folder, with its settings and its time limit, as build did."""
    source = make_project(STEP_OPTIONS)
    out = tmp_path / "options.capsule"
    assert main(["build", str(source), "-o", str(out), "--base-image", base_image]) == 0
    assert (out / "expected/out/where.txt").read_text() == "part 3 it's a test\n"
    run_sh = (out / "run.sh").read_text()
    assert "part 120 0 env 'GREETING=it'\"'\"'s a test' LEVEL=3 python make.py" in run_sh
    report = tmp_path / "v"
    try:
        assert main(["verify", str(out), "--report-dir", str(report)]) == 0
    finally:
        verification = json.loads((report / "verification.json").read_text())
        with contextlib.suppress(Exception):
            docker_engine.images.remove(verification["image_id"], force=True)


def notebook(kernel: str, *sources: str) -> str:
    """A notebook whose kernelspec names `kernel`, with one code cell per source."""
    book = nbformat.v4.new_notebook()
    book.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    book.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    return str(nbformat.writes(book))


@pytest.mark.slow
def test_a_notebook_book_with_a_foreign_kernel_and_an_old_edition(
    make_project: MakeProject, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The author's own conda kernel is not needed: the notebook runs on the analysis' Python.
    The old edition's copy of the chapter is left out."""
    chapter = notebook(
        "conda-env-causal-glory-py",
        "import csv\nrows = list(csv.reader(open('../data/counts.csv')))",
        "open('summary.txt', 'w').write(f'{len(rows)} rows\\n')",
    )
    source = make_project(
        {
            "chapters/intro.ipynb": chapter,
            "old-edition/intro.ipynb": notebook("python2", "print 'old'"),
            "data/counts.csv": "a,1\nb,2\n",
        }
    )
    plan, built, said = init_build_verify(source, tmp_path, capsys)
    assert plan["steps"] == [{"name": "intro", "notebook": "chapters/intro.ipynb"}]
    assert "no steps looked for in: old-edition/ (an old copy)" in said
    assert plan["files"]["data"] == ["data/**"]
    assert plan["files"]["outputs"] == ["chapters/summary.txt"]
    assert [o["path"] for o in built["outputs"]] == ["chapters/summary.txt"]


RUN_NOTEBOOK = """
    # What `jupyter nbconvert --to notebook --execute` does: nbclient, the notebook's own
    # kernelspec (python3), the executed notebook written out.
    import nbclient, nbformat
    book = nbformat.read("plot.ipynb", as_version=4)
    nbclient.NotebookClient(book, kernel_name="python3", timeout=300, record_timing=False).execute()
    nbformat.write(book, "executed.ipynb")
"""


@pytest.mark.slow
def test_a_notebook_executed_by_a_command_step_keeps_its_inline_figures(
    make_project: MakeProject, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """capsule's plt.show() backend is for scripts: a kernel that the step's own client starts
    shows its figures inline, as it would without capsule."""
    source = make_project(
        {
            "run.py": RUN_NOTEBOOK,
            "plot.ipynb": notebook(
                "python3",
                "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()",
            ),
        }
    )
    plan, built, _said = init_build_verify(source, tmp_path, capsys)
    assert plan["steps"] == [{"name": "run", "script": "run.py"}]
    assert plan["files"]["outputs"] == ["executed.ipynb"]
    executed = nbformat.reads((tmp_path / "seen.capsule/expected/executed.ipynb").read_text(), 4)
    shown = [out for out in executed.cells[0].outputs if "image/png" in out.get("data", {})]
    assert len(shown) == 1
    assert not any(o["path"].startswith("shown/") for o in built["outputs"])
