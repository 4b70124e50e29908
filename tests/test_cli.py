"""The command line: in-process through main(), and once as a real console script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import pytest

from capsule import cli
from capsule.cli import INTERNAL_HINT, INTERNAL_HINT_DEBUG, internal_error_message, main
from capsule.errors import EXIT_INTERNAL
from capsule.json_output import AUDIT_FORMAT, BUILD_FORMAT, ERROR_FORMAT
from capsule.model import VERIFICATION_FORMAT
from capsule.plan import read_toml
from capsule.report.lineage import LINEAGE_FORMAT

from conftest import MakeProject, write_tree


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


# ── exit codes and errors ─────────────────────────────────────────────────────────────────


def _crash(*args: object, **kwargs: object) -> NoReturn:
    raise RuntimeError("the [analysis] went sideways")


def test_an_internal_error_exits_2_and_says_it_is_a_bug(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "verify", _crash)
    assert main(["verify", str(tmp_path)]) == EXIT_INTERNAL == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "error: internal error: RuntimeError: the [analysis] went sideways\n" in captured.err
    assert f"hint: {INTERNAL_HINT}\n" in captured.err
    assert "Traceback" not in captured.err


def test_an_internal_error_without_a_message_names_its_type() -> None:
    assert internal_error_message(KeyError()) == "internal error: KeyError"
    assert internal_error_message(ValueError("x")) == "internal error: ValueError: x"


@pytest.mark.parametrize(
    "argv",
    [["--debug", "verify", "CAPSULE"], ["verify", "CAPSULE", "--debug"]],
    ids=["before-the-verb", "after-the-verb"],
)
def test_debug_before_or_after_the_verb_shows_the_traceback(
    argv: list[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(cli, "verify", _crash)
    argv = [str(tmp_path) if arg == "CAPSULE" else arg for arg in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "RuntimeError: the [analysis] went sideways" in err
    assert f"hint: {INTERNAL_HINT_DEBUG}" in err


def test_debug_shows_the_traceback_of_a_capsule_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--debug", "show", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ManifestError" in err
    assert main(["show", str(tmp_path)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_message_keeps_its_square_brackets(
    make_project: MakeProject, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = '[analysis]\nsource_date_epoch = "x"\n[[steps]]\nscript = "a.py"\n'
    root = make_project({"a.py": "", "capsule.toml": toml})
    assert main(["build", str(root), "-o", str(tmp_path / "x.capsule")]) == 2
    err = capsys.readouterr().err
    assert "error: [analysis] source_date_epoch must be a whole number" in err


def test_help_documents_internal_errors(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["verify", "--help"], ["audit", "--help"]):
        assert main(argv) == 0
        assert "internal error (rerun with --debug)" in capsys.readouterr().out


# ── --json ────────────────────────────────────────────────────────────────────────────────


def test_build_json_has_its_format(
    make_project: MakeProject, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from test_build import TWO_STEPS

    root = make_project(TWO_STEPS)
    assert main(["build", str(root), "-o", str(tmp_path / "t.capsule"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["format"] == BUILD_FORMAT == 1
    assert data["outputs"] == 2


def test_audit_json_has_its_format(
    make_project: MakeProject, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project({"main.py": "import random\nprint(random.random())\n"})
    assert main(["audit", str(root), "--runs", "0", "--json", "--fail-on", "never"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["format"] == AUDIT_FORMAT == 1
    assert sorted(data) == ["fail_on", "failed", "findings", "format"]
    assert data["failed"] is False and data["findings"]


def test_show_json_has_its_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from report.test_lineage import sample

    from capsule import manifest

    manifest.write(sample(), tmp_path)
    assert main(["show", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["format"] == LINEAGE_FORMAT == 1


def test_verify_json_prints_verification_json_with_its_format(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from report.test_verification import verification

    from capsule.verify import VerifyResult, write_reports

    report_dir = tmp_path / "x.verification"
    report_dir.mkdir()
    write_reports(verification(), report_dir)
    result = VerifyResult(verification=verification(), report_dir=report_dir)
    monkeypatch.setattr(cli, "verify", lambda *args, **kwargs: result)
    assert main(["verify", str(tmp_path / "x.capsule"), "--json"]) == 0
    out = capsys.readouterr().out
    assert out == (report_dir / "verification.json").read_text(encoding="utf-8")
    assert json.loads(out)["format"] == VERIFICATION_FORMAT == 1


def test_verify_json_of_a_non_capsule_prints_an_error_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(tmp_path), "--json"]) == 2
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["format"] == ERROR_FORMAT == 1
    assert sorted(data) == ["error", "format"]
    assert data["error"]["exit_code"] == 2
    assert data["error"]["message"].startswith(f"{tmp_path} is not a capsule")
    assert data["error"]["hint"]
    assert f"error: {data['error']['message']}\nhint: {data['error']['hint']}\n" in captured.err


def test_an_internal_error_under_json_prints_an_error_object(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "audit", _crash)
    assert main(["audit", str(tmp_path), "--json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error == {
        "message": "internal error: RuntimeError: the [analysis] went sideways",
        "hint": INTERNAL_HINT,
        "exit_code": 2,
    }


# ── naming ────────────────────────────────────────────────────────────────────────────────


def test_build_names_the_default_folder_as_the_manifest_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from test_build import TWO_STEPS

    from capsule import manifest

    root = write_tree(tmp_path / "my analysis", TWO_STEPS)
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    assert main(["build", str(root)]) == 0
    assert f"capsule {(here / 'my-analysis.capsule').resolve()}\n" in capsys.readouterr().out
    assert [p.name for p in here.iterdir()] == ["my-analysis.capsule"]
    assert manifest.read(here / "my-analysis.capsule").name == "my-analysis"
