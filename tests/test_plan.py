"""capsule.toml and plan detection."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from capsule.errors import PlanError
from capsule.hashing import walk
from capsule.plan import detect, left_out, load, propose, read_toml

from conftest import EXAMPLE, MakeProject

EMPTY_NOTEBOOK = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def test_detects_numbered_scripts_and_notebooks_in_order(make_project: MakeProject) -> None:
    root = make_project(
        {
            "README.md": "# Sleep and memory\n",
            "scripts/10_report.py": "",
            "scripts/02_plot.py": "",
            "scripts/helpers.py": "",
            "notebooks/03_extra.ipynb": EMPTY_NOTEBOOK,
            "01_clean.py": "",
            "tests/01_test_clean.py": "",
            "data/raw.csv": "a\n1\n",
            "figures/old.png": b"\x89PNG",
        }
    )
    plan = detect(root)
    assert [(s.name, s.kind, s.path) for s in plan.steps] == [
        ("01_clean", "script", "01_clean.py"),
        ("02_plot", "script", "scripts/02_plot.py"),
        ("03_extra", "notebook", "notebooks/03_extra.ipynb"),
        ("10_report", "script", "scripts/10_report.py"),
    ]
    assert plan.title == "Sleep and memory"
    assert plan.data == ("data/**",)
    assert plan.outputs == ("figures/**",)


def test_a_makefile_is_the_plan(make_project: MakeProject) -> None:
    root = make_project({"Makefile": "all:\n\techo hi\n", "01_a.py": ""})
    assert [(s.kind, s.args) for s in detect(root).steps] == [("command", ("make",))]


# ── the shapes real analyses have ─────────────────────────────────────────────────────────

NB = str(nbformat.writes(nbformat.v4.new_notebook()))


def steps_of(root: Path) -> list[tuple[str, str, str]]:
    """(name, kind, path or argv) of each detected step."""
    return [(s.name, s.kind, s.path or " ".join(s.args)) for s in detect(root).steps]


def test_scripts_named_for_the_figure_they_make_run_in_natural_order(
    make_project: MakeProject,
) -> None:
    files = {f"figure-{n}.py": "" for n in (1, 2, 10, 9)}
    root = make_project({**files, "helpers.py": "", "data/x.csv": "1"})
    assert [path for _name, _kind, path in steps_of(root)] == [
        "figure-1.py",
        "figure-2.py",
        "figure-9.py",
        "figure-10.py",
    ]


def test_other_spellings_of_figure_and_table_scripts(make_project: MakeProject) -> None:
    root = make_project({"fig_2b.py": "", "plot3.py": "", "table-1.py": "", "util.py": ""})
    assert [name for name, _kind, _path in steps_of(root)] == ["fig_2b", "plot3", "table-1"]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("analyse.py", ("analyse", "script", "analyse.py")),
        ("generate.py", ("generate", "script", "generate.py")),
        ("analyze.py", ("analyze", "script", "analyze.py")),
        ("run.sh", ("run", "command", "sh run.sh")),
    ],
)
def test_a_single_entry_point_is_the_step(
    make_project: MakeProject, entry: str, expected: tuple[str, str, str]
) -> None:
    root = make_project({entry: "", "lib/helpers.py": "", "data/x.csv": "1"})
    assert steps_of(root) == [expected]


def test_a_snakefile_is_run_by_snakemake(make_project: MakeProject) -> None:
    root = make_project({"Snakefile": "rule all:\n", "scripts/plot.py": ""})
    assert steps_of(root) == [("snakemake", "command", "snakemake --cores 1")]


def test_a_notebook_book_leaves_out_old_editions_and_the_website(make_project: MakeProject) -> None:
    book = {
        "chapters/intro.ipynb": NB,
        "chapters/part2/analysis.ipynb": NB,
        "appendix/analysis.ipynb": NB,
        "old-edition/intro.ipynb": NB,
        "1st_edition/intro.ipynb": NB,
        "website/demo.ipynb": NB,
        "tools/make_toc.py": "",
        "tests/test_x.py": "",
    }
    root = make_project(book)
    assert steps_of(root) == [
        # two notebooks share a name: their paths tell them apart
        ("appendix-analysis", "notebook", "appendix/analysis.ipynb"),
        ("intro", "notebook", "chapters/intro.ipynb"),
        ("chapters-part2-analysis", "notebook", "chapters/part2/analysis.ipynb"),
    ]
    assert left_out(list(walk(root))) == {
        "1st_edition": "an old copy",
        "old-edition": "an old copy",
        "tests": "tests",
        "tools": "tooling",
        "website": "a website",
    }
    proposal = propose(root)
    assert "old-edition/ (an old copy)" in proposal.text
    assert len({step.name for step in proposal.plan.steps}) == len(proposal.plan.steps)
    assert read_toml(root).steps == proposal.plan.steps  # build takes init's proposal as it is


def test_numbered_steps_still_come_first(make_project: MakeProject) -> None:
    root = make_project({"01_clean.py": "", "02_plot.ipynb": NB, "figure-1.py": "", "main.py": ""})
    assert [path for _n, _k, path in steps_of(root)] == ["01_clean.py", "02_plot.ipynb"]


def test_init_round_trips_through_capsule_toml(make_project: MakeProject) -> None:
    root = make_project({"01_a.py": "", "02_b.py": "", "data/x.csv": "1", "tables/t.csv": "2"})
    proposal = propose(root)
    detected, text = proposal.plan, proposal.text
    assert (root / "capsule.toml").read_text() == text
    read = read_toml(root)
    assert read.steps == detected.steps
    assert (read.data, read.outputs) == (detected.data, detected.outputs)
    assert read.origin == "capsule.toml"
    with pytest.raises(PlanError, match="already exists") as error:
        propose(root)
    assert "--force" in error.value.hint
    propose(root, force=True)


def test_example_plan() -> None:
    plan = load(EXAMPLE)
    assert [s.kind for s in plan.steps][-1] == "notebook"
    assert "figures/**" in plan.outputs and "tables/**" in plan.outputs
    assert "data/**" in plan.data


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[analysis]\ncolour = "blue"\n[[steps]]\nscript = "a.py"\n', "unknown key 'colour'"),
        ('[[steps]]\nscript = "missing.py"\n', "missing.py does not exist"),
        ('[[steps]]\nscript = "a.py"\nnotebook = "n.ipynb"\n', "exactly one of"),
        ("[analysis]\n", "no [[steps]]"),
        ('[[steps]]\nscript = "../a.py"\n', "not inside the analysis"),
        ('[[steps]]\nnotebook = "bad.ipynb"\n', "not valid JSON"),
        ('[[steps]]\nscript = "a.py"\n[[steps]]\nscript = "a.py"\n', "two steps are named"),
        ("[[steps]\n", "not valid TOML"),
    ],
)
def test_bad_capsule_toml(make_project: MakeProject, toml: str, message: str) -> None:
    root = make_project({"a.py": "", "bad.ipynb": "{not json", "capsule.toml": toml})
    with pytest.raises(PlanError, match=message.replace("[", r"\[")):
        load(root)


def test_bad_folders(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="does not exist"):
        load(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(PlanError, match="is not a folder"):
        load(tmp_path / "file.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PlanError, match="is empty"):
        load(tmp_path / "empty")
    (tmp_path / "nosteps").mkdir()
    (tmp_path / "nosteps" / "notes.txt").write_text("x")
    with pytest.raises(PlanError, match="found no steps") as error:
        load(tmp_path / "nosteps")
    # never the command that just failed: the hint says what to write
    assert "capsule init" not in error.value.hint
    assert "[[steps]]" in error.value.hint


def test_authors_come_from_citation_cff(make_project: MakeProject) -> None:
    root = make_project(
        {
            "01_a.py": "",
            "CITATION.cff": """
                cff-version: 1.2.0
                # how to cite
                authors:
                  - family-names: Lovelace
                    given-names: "Ada"
                    orcid: https://orcid.org/0000-0000-0000-0000
                  - name: The Analytical Engine Society
                title: Notes
            """,
        }
    )
    expected = ("Ada Lovelace", "The Analytical Engine Society")
    assert detect(root).authors == expected
    (root / "capsule.toml").write_text('[[steps]]\nscript = "01_a.py"\n')
    assert read_toml(root).authors == expected
    (root / "capsule.toml").write_text(
        '[analysis]\nauthors = ["A. L."]\n[[steps]]\nscript = "01_a.py"\n'
    )
    assert read_toml(root).authors == ("A. L.",)


# ── step options: cwd, timeout, env ───────────────────────────────────────────────────────


def plan_with(make_project: MakeProject, options: str) -> Path:
    """A project whose one step has `options` (TOML lines) in capsule.toml."""
    return make_project(
        {
            "capsule.toml": f'[[steps]]\nscript = "part/a.py"\n{options}\n',
            "part/a.py": "",
        }
    )


def test_step_options_are_read(make_project: MakeProject) -> None:
    root = plan_with(make_project, 'cwd = "part"\ntimeout = 90\nenv = { B = "2", A = "x y" }')
    (step,) = read_toml(root).steps
    assert (step.cwd, step.timeout_s, step.env) == ("part", 90, (("A", "x y"), ("B", "2")))


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ('cwd = "../elsewhere"', "is not a folder of the analysis"),
        ('cwd = "/tmp"', "is not a folder of the analysis"),
        ('cwd = "nothing-here"', "is not a folder of the analysis"),
        ("timeout = -1", "whole number of seconds"),
        ('timeout = "1h"', "whole number of seconds"),
        ("env = { A = 1 }", "table of strings"),
        ('env = { PATH = "/opt/bin" }', "cannot set 'PATH'"),
        ('env = { CAPSULE_TRACE_DIR = "/tmp" }', "cannot set 'CAPSULE_TRACE_DIR'"),
        ('env = { "A-B" = "1" }', "cannot set 'A-B'"),
        ('env = { API_TOKEN = "abc" }', "looks like a secret"),
        # a Slack token's shape, spelled in two parts so that no scanner takes this file for one
        ('env = { SLACK = "' + "xox" + 'b-1234567890-abcdefghij" }', "looks like a secret"),
    ],
)
def test_bad_step_options_are_refused(make_project: MakeProject, options: str, said: str) -> None:
    root = plan_with(make_project, options)
    with pytest.raises(PlanError, match=re.escape(said)) as error:
        read_toml(root)
    assert error.value.hint
