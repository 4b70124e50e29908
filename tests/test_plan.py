"""capsule.toml and plan detection."""

from __future__ import annotations

from pathlib import Path

import pytest

from capsule.errors import PlanError
from capsule.plan import detect, load, propose, read_toml

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


def test_init_round_trips_through_capsule_toml(make_project: MakeProject) -> None:
    root = make_project({"01_a.py": "", "02_b.py": "", "data/x.csv": "1", "tables/t.csv": "2"})
    detected, text = propose(root)
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
    assert "capsule init" in error.value.hint


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
