"""`capsule audit` end to end: the checks, the probe, the exit code and the JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from capsule.audit import AuditOptions, audit
from capsule.cli import main
from capsule.hashing import snapshot

from conftest import EXAMPLE, REPO, MakeProject

MESSY_CODE = REPO / "tests" / "projects" / "messy-code"


def test_static_audit_of_a_messy_analysis_fails_and_says_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "messy"
    shutil.copytree(MESSY_CODE, root)
    before = snapshot(root)
    code = main(["audit", str(root), "--runs", "0", "--json"])
    assert snapshot(root) == before  # the analysis is never modified
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and data["failed"]
    checks = {f["check"] for f in data["findings"]}
    assert {"code-does-not-parse", "absolute-path", "unseeded-random"} <= checks
    broken = next(f for f in data["findings"] if f["check"] == "code-does-not-parse")
    assert broken["location"].startswith("scripts/05_broken.py:")
    assert main(["audit", str(root), "--runs", "0", "--fail-on", "never"]) == 0


def test_the_probe_names_the_varying_output(make_project: MakeProject) -> None:
    root = make_project({"01_set.py": "open('letters.txt', 'w').write(repr(set('abcdefghij')))\n"})
    result = audit(AuditOptions(source=root, runs=2, variations=("hash-seed",)))
    varying = [f for f in result.findings if f.check == "varies-with-hash-seed"]
    assert [f.location for f in varying] == ["letters.txt"]
    assert not any(f.check == "nondeterministic-output" for f in result.findings)


@pytest.mark.slow
def test_the_example_audits_with_no_errors(capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(EXAMPLE)
    code = main(["audit", str(EXAMPLE), "--runs", "2", "--vary", "hash-seed", "--json"])
    data = json.loads(capsys.readouterr().out)
    errors = [f for f in data["findings"] if f["severity"] == "error"]
    assert code == 0, errors
    assert errors == []
    assert snapshot(EXAMPLE) == before


def test_a_folder_without_steps_still_gets_its_static_checks(make_project: MakeProject) -> None:
    """No step found: the static checks run on the code there, the probe (which runs) does not."""
    root = make_project({"helpers.py": "import random\nprint(random.random())\n"})
    before = snapshot(root)
    result = audit(AuditOptions(source=root))  # the probe's runs are asked for by default
    assert "unseeded-random" in {finding.check for finding in result.findings}
    assert snapshot(root) == before
