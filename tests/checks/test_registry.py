"""Every finding capsule makes comes from the one table of checks (capsule/checks/__init__.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from capsule import audit
from capsule.checks import CHECKS
from capsule.manifest import read

from conftest import REPO, BuiltExample

PROJECTS = REPO / "tests" / "projects"


@pytest.mark.parametrize("project", ["messy-code", "messy-env"])
def test_every_finding_of_a_static_audit_is_in_the_table(project: str) -> None:
    result = audit.audit(audit.AuditOptions(source=PROJECTS / project, runs=0))
    assert result.findings
    assert {f.check for f in result.findings} <= set(CHECKS)


@pytest.mark.slow
def test_every_finding_of_a_build_is_in_the_table(example_capsule: BuiltExample) -> None:
    findings = read(Path(example_capsule.path)).findings
    assert findings
    assert {f.check for f in findings} <= set(CHECKS)


def test_a_check_registered_under_several_ids_runs_once(tmp_path: Path) -> None:
    notebook = tmp_path / "01_nb.ipynb"
    notebook.write_text('{"cells": [{"cell_type": "code", "source": "1", "outputs": []}]}')
    context = audit.static_context(tmp_path)
    found = audit.run_checks(context)
    assert [f.check for f in found].count("notebook-never-run") == 1
    only = audit.run_checks(context, only=["notebook-execution-order"])
    assert only == []  # the same check ran, and its never-run finding was filtered out
