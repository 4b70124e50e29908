"""Tests of capsule/checks/repository.py: the git state of the analysis."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from capsule.audit import run_checks, static_context, with_run
from capsule.checks import CHECKS, RunFacts
from capsule.checks.repository import CHECKS as REPOSITORY_CHECKS
from capsule.model import Activity, Provenance, Usage

from conftest import MakeProject

MESSY_ENV = Path(__file__).resolve().parent.parent / "projects" / "messy-env"
IDS = tuple(REPOSITORY_CHECKS)

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def git(root: Path, *args: str) -> None:
    """Run git in root with a fixed identity."""
    subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.org", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


def committed_messy(tmp_path: Path) -> Path:
    """messy-env as a git repository: data/raw/extra.csv never added, then edits after commit."""
    root = Path(shutil.copytree(MESSY_ENV, tmp_path / "messy-env"))
    git(root, "init", "-q")
    git(root, "add", "--all", "--", ".", ":!data/raw/extra.csv")
    git(root, "commit", "-q", "-m", "analysis")
    with (root / "scripts" / "helpers.py").open("a", encoding="utf-8") as handle:
        handle.write("\nTHRESHOLD = 0.5\n")  # the planted defect: code changed since the commit
    (root / "results" / "summary.json").write_text('{"rows": 3}')  # an output: not a defect
    (root / "notes.md").write_text("ideas\n")  # untracked, but neither data nor read
    return root


def findings(root: Path, run: RunFacts | None = None) -> list[tuple[str, str]]:
    """(check, location) of the repository checks' findings on the analysis at root."""
    context = static_context(root)
    if run is not None:
        context = with_run(context, run)
    return sorted((f.check, f.location) for f in run_checks(context, only=IDS))


def test_registered() -> None:
    assert set(IDS) == {"uncommitted-changes", "untracked-input", "not-in-git"}
    assert all(CHECKS[check_id] is REPOSITORY_CHECKS[check_id] for check_id in IDS)


def test_messy_env_static(tmp_path: Path) -> None:
    root = committed_messy(tmp_path)
    assert findings(root) == [
        ("uncommitted-changes", "scripts/helpers.py"),
        ("untracked-input", "data/raw/extra.csv"),
    ]
    found = {f.check: f for f in run_checks(static_context(root), only=IDS)}
    assert found["uncommitted-changes"].severity == "warning"
    assert found["uncommitted-changes"].message == (
        "1 file changed since the last commit: scripts/helpers.py"
    )
    assert "commit" in found["uncommitted-changes"].fix
    assert "data/raw/extra.csv" in found["untracked-input"].message


def test_messy_env_with_run(tmp_path: Path) -> None:
    root = committed_messy(tmp_path)
    (root / "data" / "raw" / "unread.csv").write_text("id\n")  # untracked data nobody read
    run = RunFacts(
        provenance=Provenance(
            activities=(Activity(id="01_prepare/p1", step="01_prepare", argv=("python",)),),
            used=(
                Usage("01_prepare/p1", "data/raw/cohort.csv", 1),
                Usage("01_prepare/p1", "data/raw/extra.csv", 2),
                Usage("01_prepare/p1", "data/raw/extra.csv", 3),
                Usage("01_prepare/p1", "notes.md", 4, external=True),
            ),
            generated=(),
        ),
        outputs=("results/summary.json",),
    )
    assert findings(root, run) == [
        ("uncommitted-changes", "scripts/helpers.py"),
        ("untracked-input", "data/raw/extra.csv"),
    ]
    found = [f for f in run_checks(with_run(static_context(root), run), only=["untracked-input"])]
    assert found[0].message == "data/raw/extra.csv is not in git, and step '01_prepare' read it"


def test_not_in_git(tmp_path: Path) -> None:
    root = Path(shutil.copytree(MESSY_ENV, tmp_path / "messy-env"))
    found = run_checks(static_context(root), only=IDS)
    assert [(f.check, f.severity, f.location) for f in found] == [("not-in-git", "info", ".")]


def test_clean_repository(make_project: MakeProject) -> None:
    root = make_project({"main.py": "print(1)\n", "data/a.csv": "x\n"})
    git(root, "init", "-q")
    git(root, "add", "--all")
    git(root, "commit", "-q", "-m", "x")
    assert findings(root) == []


def test_many_changes_are_counted(make_project: MakeProject) -> None:
    root = make_project({f"{n:02d}_step.py": "x = 1\n" for n in range(1, 8)})
    git(root, "init", "-q")
    git(root, "add", "--all")
    git(root, "commit", "-q", "-m", "x")
    for path in sorted(root.glob("*.py")):
        path.write_text("x = 2\n")
    (found,) = run_checks(static_context(root), only=["uncommitted-changes"])
    assert found.location == "01_step.py"
    assert found.message.startswith("7 files changed since the last commit: 01_step.py, ")
    assert found.message.endswith("05_step.py and 2 more")


def test_analysis_in_a_subfolder(tmp_path: Path) -> None:
    top = tmp_path / "repo"
    top.mkdir()
    (top / "elsewhere.py").write_text("x = 1\n")
    root = Path(shutil.copytree(MESSY_ENV, top / "analysis"))
    git(top, "init", "-q")
    git(top, "add", "--all")
    git(top, "commit", "-q", "-m", "x")
    (top / "elsewhere.py").write_text("x = 2\n")  # outside the analysis: not its concern
    (root / "data" / "raw" / "new.csv").write_text("id\n")
    assert findings(root) == [("untracked-input", "data/raw/new.csv")]
