"""Tests of capsule/checks/packages.py: undeclared imports, unpinned and local installs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from capsule.audit import run_checks, static_context, with_run
from capsule.checks import CHECKS, RunFacts
from capsule.checks.packages import CHECKS as PACKAGE_CHECKS
from capsule.checks.packages import declared_requirements, distributions_for, parse_pip_line
from capsule.model import Finding, Provenance

from conftest import MakeProject

MESSY_ENV = Path(__file__).resolve().parent.parent / "projects" / "messy-env"
IDS = tuple(PACKAGE_CHECKS)
STEP = """
[[steps]]
script = "main.py"
"""


def findings(root: Path, run: RunFacts | None = None) -> list[tuple[str, str]]:
    """(check, location) of the package checks' findings on the analysis at root."""
    context = static_context(root)
    if run is not None:
        context = with_run(context, run)
    return sorted((f.check, f.location) for f in run_checks(context, only=IDS))


def messy(tmp_path: Path) -> Path:
    """A copy of the messy-env analysis."""
    return Path(shutil.copytree(MESSY_ENV, tmp_path / "messy-env"))


def test_registered() -> None:
    assert set(IDS) == {
        "undeclared-import",
        "no-requirements-file",
        "unpinned-requirement",
        "local-install",
    }
    assert all(CHECKS[check_id] is PACKAGE_CHECKS[check_id] for check_id in IDS)


def test_messy_env_static(tmp_path: Path) -> None:
    assert findings(messy(tmp_path)) == [
        ("undeclared-import", "scripts/01_prepare.py:9"),
        ("unpinned-requirement", "requirements.txt:2"),
    ]


def test_messy_env_messages(tmp_path: Path) -> None:
    found = {f.check: f for f in run_checks(static_context(messy(tmp_path)), only=IDS)}
    assert found["undeclared-import"] == Finding(
        check="undeclared-import",
        severity="warning",
        message="yaml is imported but pyyaml is not declared in requirements.txt",
        location="scripts/01_prepare.py:9",
        fix=found["undeclared-import"].fix,
    )
    assert "pyyaml" in found["undeclared-import"].fix
    assert found["unpinned-requirement"].severity == "info"
    assert "pandas" in found["unpinned-requirement"].message


def test_messy_env_local_install(tmp_path: Path) -> None:
    run = RunFacts(
        provenance=Provenance((), (), ()),
        outputs=(),
        imported_distributions=(
            ("numpy", "1.26.4", ""),
            ("mylab-utils", "0.1.0", "editable /home/me/mylab-utils"),
        ),
    )
    local = [pair for pair in findings(messy(tmp_path), run) if pair[0] == "local-install"]
    assert local == [("local-install", "scripts/02_model.py:6")]


def test_local_install_needs_a_run(make_project: MakeProject) -> None:
    root = make_project({"main.py": "import numpy\n", "requirements.txt": "numpy==2.0\n"})
    assert findings(root) == []


@pytest.mark.parametrize(
    "origin", ["git+https://example.org/lab/tool@main", "file:///srv/wheels/tool-1.0.whl"]
)
def test_local_install_origins(make_project: MakeProject, origin: str) -> None:
    root = make_project({"main.py": "x = 1\n", "requirements.txt": "tool==1.0\n"})
    run = RunFacts(Provenance((), (), ()), (), imported_distributions=(("tool", "1.0", origin),))
    found = run_checks(with_run(static_context(root), run), only=["local-install"])
    assert [(f.location, origin in f.message) for f in found] == [("", True)]


def test_no_requirements_file_once(make_project: MakeProject) -> None:
    root = make_project(
        {
            "capsule.toml": STEP,
            "main.py": "import os\nimport numpy\nimport pandas\nfrom PIL import Image\n",
            "lib.py": "import scipy\n",
        }
    )
    found = run_checks(static_context(root), only=IDS)
    assert [(f.check, f.severity, f.location) for f in found] == [
        ("no-requirements-file", "info", "lib.py:1")
    ]
    assert "scipy" in found[0].message and "pandas" in found[0].message


def test_only_stdlib_needs_no_requirements(make_project: MakeProject) -> None:
    root = make_project({"main.py": "import os, sys\nfrom pathlib import Path\n"})
    assert findings(root) == []


def test_import_name_mismatches(make_project: MakeProject) -> None:
    root = make_project(
        {
            "main.py": """
                import cv2
                import sklearn.metrics
                from PIL import Image
                from bs4 import BeautifulSoup
                from dateutil import parser
                from skimage import io
                import requests
                """,
            "requirements.txt": """
                opencv-python-headless==4.10.0.84
                Scikit_Learn==1.5.1
                Pillow==10.4.0
                beautifulsoup4==4.12.3
                python-dateutil==2.9.0
                scikit-image==0.24.0
                """,
        }
    )
    assert findings(root) == [("undeclared-import", "main.py:7")]


def test_local_modules_relative_and_optional(make_project: MakeProject) -> None:
    root = make_project(
        {
            "main.py": """
                from . import sibling
                from .pkg import thing
                import mytools.io
                import settings
                try:
                    import rich
                except ModuleNotFoundError:
                    rich = None
                """,
            "src/mytools/__init__.py": "",
            "src/mytools/io.py": "",
            "config/settings.py": "",
            "requirements.txt": "numpy==2.0\n",
        }
    )
    assert findings(root) == []


def test_notebook_import_location(make_project: MakeProject) -> None:
    notebook = (
        '{"cells": [{"cell_type": "markdown", "source": "# x"},'
        '{"cell_type": "code", "source": ["import os\\n"]},'
        '{"cell_type": "code", "source": ["%matplotlib inline\\n", "import IPython\\n",'
        ' "import seaborn as sns\\n"]}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
    )
    root = make_project({"01_a.ipynb": notebook, "requirements.txt": "numpy==2.0\n"})
    assert findings(root) == [("undeclared-import", "01_a.ipynb:cell 2:3")]


def test_pyproject_environment_setup_cfg(make_project: MakeProject) -> None:
    root = make_project(
        {
            "main.py": "import numpy, pandas, scipy, yaml, torch, xarray, requests\n",
            "pyproject.toml": """
                [project]
                name = "x"
                dependencies = [
                    "numpy==2.0.1",
                    "pandas>=2",
                ]
                [project.optional-dependencies]
                extra = ["xarray==2024.1.0"]
                """,
            "environment.yml": """
                name: x
                channels:
                  - conda-forge
                dependencies:
                  - python=3.11
                  - scipy=1.13.1
                  - pytorch
                  - pip
                  - pip:
                    - pyyaml==6.0.1
                    - requests>=2
                """,
            "setup.cfg": "[metadata]\nname = x\n",
        }
    )
    assert findings(root) == [
        ("unpinned-requirement", "environment.yml:11"),  # requests>=2, in the pip: section
        ("unpinned-requirement", "environment.yml:7"),  # pytorch
        ("unpinned-requirement", "pyproject.toml:5"),
    ]


def test_setup_cfg_and_requirements_folder(make_project: MakeProject) -> None:
    root = make_project(
        {
            "main.py": "import numpy\nimport attr\nimport click\n",
            "setup.cfg": "[options]\ninstall_requires =\n    numpy==2.0\n    attrs\n",
            "requirements/dev.txt": "-r base.txt\n-e .\nclick==8.1.7 \\\n  --hash=sha256:abc\n",
        }
    )
    assert findings(root) == [("unpinned-requirement", "setup.cfg:4")]


@pytest.mark.parametrize(
    ("line", "name", "exact"),
    [
        ("numpy==1.26.4", "numpy", True),
        ("numpy===1.26.4", "numpy", True),
        ("numpy==1.26.*", "numpy", False),
        ("numpy>=1.26,<2", "numpy", False),
        ("numpy~=1.26", "numpy", False),
        ("Scikit_Learn[alldeps]==1.5 ; python_version>'3.8'  # pinned", "scikit-learn", True),
        ("tool @ git+https://example.org/tool@abc123", "tool", True),
    ],
)
def test_parse_pip_line(line: str, name: str, exact: bool) -> None:
    requirement = parse_pip_line(line, "r.txt:1")
    assert requirement is not None
    assert (requirement.name, requirement.exact) == (name, exact)


@pytest.mark.parametrize(
    "line", ["", "# comment", "-r base.txt", "-e ../lib", "./local/pkg", "https://x.org/a.whl"]
)
def test_parse_pip_line_skips(line: str) -> None:
    assert parse_pip_line(line, "r.txt:1") is None


def test_distributions_for() -> None:
    assert distributions_for("sklearn")[0] == "scikit-learn"
    assert distributions_for("yaml")[0] == "pyyaml"
    assert distributions_for("some_module")[-1] == "some-module"


def test_declared_requirements_unreadable_pyproject(make_project: MakeProject) -> None:
    root = make_project({"main.py": "x = 1\n", "pyproject.toml": "[project\n"})
    assert declared_requirements(static_context(root)) == []


def test_example_declares_what_it_imports() -> None:
    example = Path(__file__).resolve().parent.parent.parent / "examples" / "paper_figures"
    found = run_checks(static_context(example), only=IDS)
    assert {f.check for f in found} == {"unpinned-requirement"}
