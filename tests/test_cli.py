"""The command line: in-process through main(), and once as a real console script."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from capsule.cli import main
from capsule.plan import read_toml

from conftest import MakeProject


def test_init_writes_reviews_and_refuses_to_overwrite(
    make_project: MakeProject, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project({"01_load.py": "", "02_plot.ipynb": '{"cells": []}', "data/a.csv": "1"})
    assert main(["init", str(root)]) == 0
    out = capsys.readouterr().out
    assert "1. 01_load (script: 01_load.py)" in out
    assert "2. 02_plot (notebook: 02_plot.ipynb)" in out
    assert [s.name for s in read_toml(root).steps] == ["01_load", "02_plot"]
    (root / "capsule.toml").write_text((root / "capsule.toml").read_text() + "# mine\n")
    assert main(["init", str(root)]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--force" in err
    assert (root / "capsule.toml").read_text().endswith("# mine\n")
    assert main(["init", str(root), "--force"]) == 0
    assert not (root / "capsule.toml").read_text().endswith("# mine\n")


def test_init_stdout_writes_nothing(
    make_project: MakeProject, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project({"main.py": ""})
    assert main(["init", str(root), "--stdout"]) == 0
    assert 'script = "main.py"' in capsys.readouterr().out
    assert not (root / "capsule.toml").exists()


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["build"]) == 2
    assert main(["frobnicate"]) == 2
    capsys.readouterr()


def test_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    help_text = capsys.readouterr().out
    assert "exit codes:" in help_text and "3  the machine lacks something" in help_text


def test_console_script_runs(tmp_path: Path) -> None:
    capsule = shutil.which("capsule", path=str(Path(sys.executable).parent))
    assert capsule is not None, "capsule is not installed in this environment"
    done = subprocess.run([capsule, "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("capsule ")
    bad = subprocess.run(
        [capsule, "build", str(tmp_path / "nowhere")], capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ") and "\nhint: " in bad.stderr


def test_show_prints_lineage_and_suggests_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from report.test_lineage import sample

    from capsule import manifest

    manifest.write(sample(), tmp_path)
    assert main(["show", str(tmp_path), "fig.png"]) == 0
    assert "sources   data/raw.csv" in capsys.readouterr().out
    assert main(["show", str(tmp_path), "--json"]) == 0
    assert '"outputs"' in capsys.readouterr().out
    assert main(["show", str(tmp_path), "fig.pgn"]) == 2
    assert "did you mean" in capsys.readouterr().err
    assert main(["show", str(tmp_path / "nope")]) == 2
