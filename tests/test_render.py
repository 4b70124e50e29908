"""Templates: shipped inside the wheel, rendered strictly."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import jinja2
import pytest

from capsule import render

from conftest import REPO


def test_missing_values_are_errors_not_blanks() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render.render("matplotlibrc.j2")


def test_shell_quoting_in_run_sh() -> None:
    text = render.render(
        "run.sh.j2",
        name="n",
        capsule_version="0",
        env=(("TZ", "UTC"), ("WEIRD", "a b'c")),
        steps=[
            {
                "name": "it's",
                "log": "01-it-s",
                "cwd": "my part",
                "timeout": 0,
                "expect": 0,
                "argv": ("python", "my script.py", "$HOME"),
            }
        ],
        runtime=None,
    )
    assert "export WEIRD='a b'\"'\"'c'" in text
    assert "run_step 'it'\"'\"'s' 01-it-s 'my part' 0 0 python 'my script.py' '$HOME'" in text


@pytest.mark.slow
def test_the_wheel_ships_the_templates_and_renders(tmp_path: Path) -> None:
    """Build the real wheel, install it (not the checkout) and render from it."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next((tmp_path / "dist").glob("capsule-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "capsule/templates/Dockerfile.j2" in names
    shipped = {name.removeprefix("capsule/templates/") for name in names}
    # Partials (_style.css.j2) and the provenance graph's SVG are included by other templates.
    assert {path.name for path in (REPO / "templates").glob("*.j2")} <= shipped
    assert "capsule/report/graph_layout.py" in names
    assert "capsule/runtime/sitecustomize.py" in names
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    probe = (
        "import capsule.render as r; print(r.templates_dir()); "
        "print(r.render('matplotlibrc.j2', capsule_version='9'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PYTHONPATH": str(target)},
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    )
    assert done.stdout.splitlines()[0] == str(target / "capsule" / "templates")
    assert "svg.hashsalt: capsule" in done.stdout
