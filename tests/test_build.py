"""`capsule build` on small analyses made inline: what it records, and how it refuses bad input."""

from __future__ import annotations

import json
import platform
import socket
from pathlib import Path

import pytest

from capsule import dockerfile, manifest
from capsule.build import EMBED_NEEDS_ENGINE, BuildOptions, build
from capsule.cli import main
from capsule.errors import EnvironmentProblem, PlanError, StepFailed
from capsule.hashing import snapshot
from capsule.platforms import platform_of

from conftest import MakeProject

# Two steps, standard library only: the second reads the first's output.
TWO_STEPS = {
    "data/numbers.csv": "x\n1\n2\n3\n",
    "scripts/01_total.py": """
        import csv, pathlib
        rows = list(csv.DictReader(open("data/numbers.csv")))
        pathlib.Path("results").mkdir(exist_ok=True)
        pathlib.Path("results/total.txt").write_text(str(sum(int(r["x"]) for r in rows)) + "\\n")
    """,
    "scripts/02_double.py": """
        import pathlib, sys
        total = int(pathlib.Path("results/total.txt").read_text())
        pathlib.Path("results/double.txt").write_text(f"{2 * total} {sys.argv[1:]}\\n")
    """,
    "capsule.toml": """
        [analysis]
        title = "Totals"
        [files]
        data = ["data/**"]
        outputs = ["results/**"]
        [[steps]]
        script = "scripts/01_total.py"
        [[steps]]
        script = "scripts/02_double.py"
        args = ["--fast"]
    """,
    "results/total.txt": "6\n",  # the author's copy: up to date
    "results/double.txt": "999\n",  # the author's copy: stale
}


def test_build_records_steps_outputs_and_files(make_project: MakeProject, tmp_path: Path) -> None:
    root = make_project(TWO_STEPS)
    before = snapshot(root)
    out = tmp_path / "totals.capsule"
    summary = build(BuildOptions(source=root, output=out))
    assert snapshot(root) == before  # the analysis folder is untouched

    loaded = manifest.read(out)
    assert summary.capsule_id == manifest.capsule_id(loaded)
    outputs = {entry.path: entry for entry in loaded.outputs}
    assert set(outputs) == {"results/total.txt", "results/double.txt"}
    assert outputs["results/total.txt"].step == "01_total"
    assert outputs["results/total.txt"].on_disk == "identical"
    assert outputs["results/double.txt"].step == "02_double"
    assert outputs["results/double.txt"].on_disk == "stale"
    assert (out / "expected/results/double.txt").read_text() == "12 ['--fast']\n"
    assert [step.argv for step in loaded.steps] == [
        ("python", "scripts/01_total.py"),
        ("python", "scripts/02_double.py", "--fast"),
    ]
    assert loaded.steps[1].wrote == ("results/double.txt",)
    roles = {entry.path: entry.role for entry in loaded.files}
    assert roles == {
        "capsule.toml": "code",
        "data/numbers.csv": "data",
        "scripts/01_total.py": "code",
        "scripts/02_double.py": "code",
    }
    # work/ holds the analysis without its outputs; the stale output is reported
    assert not (out / "work/results").exists()
    assert any(f.check == "stale-output" for f in loaded.findings)
    assert loaded.lock.pins == ()
    for name in ("Dockerfile", "run.sh", "README.md", "requirements.lock", "matplotlibrc"):
        assert (out / name).is_file(), name
    assert {e.path for e in loaded.capsule_files} >= {
        "Dockerfile",
        "run.sh",
        "runtime/sitecustomize.py",
    }
    env = dict(loaded.determinism.env)
    assert env["PYTHONHASHSEED"] == "0" and env["TZ"] == "UTC"
    assert not list(tmp_path.glob(".totals.capsule.partial-*"))
    # the platform the wheels were made for is pinned, and the Dockerfile is the one verify
    # renders again from the manifest
    assert loaded.platform == platform_of(platform.machine()) != ""
    assert f"FROM --platform={loaded.platform} ${{BASE_IMAGE}}" in (out / "Dockerfile").read_text()
    assert (out / "Dockerfile").read_text() == dockerfile.from_manifest(loaded)
    assert loaded.base_image_archive is None and not (out / dockerfile.ARCHIVE_FILE).exists()


def test_embedding_the_base_image_needs_an_engine(
    make_project: MakeProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/capsule-test/docker.sock")
    root = make_project(TWO_STEPS)
    with pytest.raises(EnvironmentProblem) as error:
        build(BuildOptions(source=root, output=tmp_path / "x.capsule", embed_base_image=True))
    assert error.value.message == EMBED_NEEDS_ENGINE and error.value.exit_code == 3
    assert not (tmp_path / "x.capsule").exists()


def test_failing_step_names_step_code_and_stderr(make_project: MakeProject, tmp_path: Path) -> None:
    root = make_project(
        {
            "01_ok.py": "print('fine')\n",
            "02_broken.py": "import sys\nsys.stderr.write('the data is gone\\n')\nsys.exit(3)\n",
        }
    )
    out = tmp_path / "x.capsule"
    with pytest.raises(StepFailed) as error:
        build(BuildOptions(source=root, output=out))
    assert "02_broken" in error.value.message
    assert "exit code 3" in error.value.message
    assert "the data is gone" in error.value.message
    assert not out.exists()
    # no partial capsule left beside it; the steps' logs are kept, and the message says where
    failed = tmp_path / "x.capsule.failed"
    assert sorted(tmp_path.iterdir()) == sorted([root, failed])
    assert f"the steps' full logs: {failed / 'logs'}" in error.value.message
    assert "the data is gone" in (failed / "logs" / "02-02_broken.stderr").read_text()
    # the next build removes them
    (root / "02_broken.py").write_text("print('mended')\n")
    build(BuildOptions(source=root, output=out))
    assert not failed.exists()


def test_step_that_changes_its_input_is_reported(make_project: MakeProject, tmp_path: Path) -> None:
    root = make_project(
        {"data/a.txt": "raw\n", "01_clean.py": "open('data/a.txt', 'w').write('cleaned\\n')\n"}
    )
    out = tmp_path / "c.capsule"
    build(BuildOptions(source=root, output=out))
    loaded = manifest.read(out)
    assert loaded.steps[0].changed_inputs == ("data/a.txt",)
    # rerun-python-unchecked: the default base image (python:X.Y.Z-slim) is not on the engine
    checks = [f.check for f in loaded.findings]
    assert checks == ["step-modifies-input", "rerun-python-unchecked", "not-in-git"]
    # the capsule keeps the original bytes in work/ and the step's version in expected/
    assert (out / "work/data/a.txt").read_text() == "raw\n"
    assert (out / "expected/data/a.txt").read_text() == "cleaned\n"


def test_secrets_in_the_environment_never_enter_the_capsule(
    make_project: MakeProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "AKIA-not-a-real-key-5f3e2d1c"  # noqa: S105
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    root = make_project({"01_env.py": "import os\nprint(sorted(os.environ))\n"})
    out = tmp_path / "s.capsule"
    build(BuildOptions(source=root, output=out))
    for path in out.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    env_vars = dict(manifest.read(out).environment.env_vars)
    assert env_vars["AWS_SECRET_ACCESS_KEY"] == "<redacted>"  # noqa: S105
    # the step itself ran without the author's secrets
    assert "AWS_SECRET_ACCESS_KEY" not in (out / "logs/01-01_env.stdout").read_text()


def test_existing_output_needs_force(make_project: MakeProject, tmp_path: Path) -> None:
    root = make_project({"01_a.py": "print(1)\n"})
    out = tmp_path / "a.capsule"
    build(BuildOptions(source=root, output=out))
    first = manifest.read(out)
    with pytest.raises(PlanError, match="already exists"):
        build(BuildOptions(source=root, output=out))
    build(BuildOptions(source=root, output=out, force=True))
    assert manifest.read(out).files == first.files
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "thesis.tex").write_text("years of work")
    with pytest.raises(PlanError, match="is not a capsule"):
        build(BuildOptions(source=root, output=tmp_path / "precious", force=True))
    assert (tmp_path / "precious" / "thesis.tex").read_text() == "years of work"


def test_output_inside_the_analysis_is_refused(make_project: MakeProject) -> None:
    root = make_project({"01_a.py": "print(1)\n"})
    with pytest.raises(PlanError, match="inside the analysis folder"):
        build(BuildOptions(source=root, output=root / "x.capsule"))


def test_unreadable_data_file(
    make_project: MakeProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Unix socket is listed like a file but cannot be opened, by root either (chmod 0 can:
    # root reads files whatever their mode). Bound from its folder: socket paths are short.
    root = make_project({"01_a.py": "print(1)\n", "data/README": "the data\n"})
    monkeypatch.chdir(root / "data")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind("locked.csv")
        with pytest.raises(PlanError, match=r"cannot read data/locked\.csv"):
            build(BuildOptions(source=root, output=tmp_path / "u.capsule"))


def test_cli_errors_say_error_and_hint(
    make_project: MakeProject, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project({"capsule.toml": '[[steps]]\nscript = "nope.py"\n', "a.py": ""})
    code = main(["build", str(root), "-o", str(tmp_path / "n.capsule")])
    err = capsys.readouterr().err
    assert code == 2
    assert "error: step 1 of capsule.toml: script nope.py does not exist" in err
    assert "hint:" in err
    assert "Traceback" not in err
    assert not (tmp_path / "n.capsule").exists()


def test_cli_build_json_summary(
    make_project: MakeProject, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project(TWO_STEPS)
    code = main(["build", str(root), "-o", str(tmp_path / "t.capsule"), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["outputs"] == 2
    assert summary["on_disk"] == {"results/double.txt": "stale", "results/total.txt": "identical"}
    assert summary["capsule_id"] == manifest.capsule_id(manifest.read(tmp_path / "t.capsule"))


def test_dangling_data_link_is_unreadable(make_project: MakeProject, tmp_path: Path) -> None:
    """A data file that cannot be read (here a link to a file that is gone) stops the build."""
    root = make_project({"01_a.py": "print(1)\n"})
    (root / "data").mkdir()
    (root / "data/survey.csv").symlink_to("survey-2019.csv")  # the target was never copied
    out = tmp_path / "u.capsule"
    with pytest.raises(PlanError, match=r"cannot read data/survey\.csv") as error:
        build(BuildOptions(source=root, output=out))
    assert "exclude" in error.value.hint
    assert list(tmp_path.iterdir()) == [root]


def test_link_leading_outside_is_refused(make_project: MakeProject, tmp_path: Path) -> None:
    root = make_project({"01_a.py": "print(1)\n"})
    (tmp_path / "elsewhere.csv").write_text("1\n")
    (root / "data.csv").symlink_to(tmp_path / "elsewhere.csv")
    with pytest.raises(PlanError, match="outside the analysis folder"):
        build(BuildOptions(source=root, output=tmp_path / "l.capsule"))


def test_files_that_look_like_secrets_are_refused(
    make_project: MakeProject, tmp_path: Path
) -> None:
    root = make_project({"01_a.py": "print(1)\n", ".env": "DATABASE_URL=postgres://u:p@h/db\n"})
    with pytest.raises(PlanError, match=r"look like secrets") as error:
        build(BuildOptions(source=root, output=tmp_path / "s.capsule"))
    assert ".env" in error.value.message
    assert "allow_secrets" in error.value.hint and "exclude" in error.value.hint
    assert not (tmp_path / "s.capsule").exists()
    (root / "capsule.toml").write_text(
        '[files]\nallow_secrets = [".env"]\n[[steps]]\nscript = "01_a.py"\n'
    )
    build(BuildOptions(source=root, output=tmp_path / "s.capsule"))
    assert (tmp_path / "s.capsule/work/.env").is_file()
