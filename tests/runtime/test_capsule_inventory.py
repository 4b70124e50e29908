"""runtime/_capsule_inventory.py: which distributions own the imported modules, run for real
with a request on stdin or in a file (tests/test_lock.py runs it in a made-up environment)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from capsule.runtime import _capsule_inventory as inventory

from .conftest import RUNTIME, run_runtime

SCRIPT = str(RUNTIME / "_capsule_inventory.py")


def request(root: Path) -> dict[str, Any]:
    """Modules as a traced run of this Python would report them."""
    return {
        "modules": {
            "pytest": pytest.__file__,
            "json": json.__file__,
            "sys": None,
            "_capsule_show": str(RUNTIME / "_capsule_show.py"),
            "sitecustomize": str(RUNTIME / "sitecustomize.py"),
            "helpers": str(root / "helpers.py"),
        },
        "analysis_root": str(root),
    }


def check_answer(answer: dict[str, Any]) -> None:
    """What the request above must give, whichever way it was sent."""
    by_name = {dist["name"]: dist for dist in answer["distributions"]}
    assert by_name["pytest"]["imported"] is True
    assert by_name["pytest"]["modules"] == ["pytest"]
    assert by_name["pytest"]["version"] == inventory.normalize_version(pytest.__version__)
    # pytest's own requirements are in the closure, not imported themselves
    assert by_name["pluggy"]["imported"] is False
    assert "pytest" in by_name["pluggy"]["required_by"]
    skipped = answer["skipped"]
    assert skipped["stdlib"] == ["json"]
    assert skipped["builtin"] == ["sys"]
    assert skipped["startup"] == ["_capsule_show", "sitecustomize"]
    assert skipped["local"] == ["helpers"]
    assert answer["python"]["executable"] == sys.executable


def test_inventory_reads_its_request_on_stdin(tmp_path: Path) -> None:
    done = run_runtime([SCRIPT], cwd=tmp_path, stdin=json.dumps(request(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("}\n")
    check_answer(json.loads(done.stdout))


def test_inventory_reads_its_request_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "request.json").write_text(json.dumps(request(tmp_path)), encoding="utf-8")
    done = run_runtime([SCRIPT, "request.json"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    check_answer(json.loads(done.stdout))


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        ('python_version >= "3.8"', True),
        ('python_version < "3"', False),
        ('sys_platform == "linux" and os_name == "nt"', False),
        ('sys_platform == "linux" or os_name == "nt"', True),
        ('(os_name == "nt" or os_name == "posix") and extra == "plot"', True),
        ('"linux" in sys_platform', True),
        ('platform_machine not in "x86_64 aarch64"', False),
    ],
)
def test_markers_are_evaluated_as_pip_would(marker: str, expected: bool) -> None:
    env = {
        "python_version": "3.11",
        "python_full_version": "3.11.7",
        "sys_platform": "linux",
        "os_name": "posix",
        "platform_machine": "x86_64",
        "extra": "plot",
    }
    assert inventory.evaluate_marker(marker, env) is expected


@pytest.mark.parametrize(
    ("name", "canonical"),
    [("Scikit_Learn", "scikit-learn"), ("zope.interface", "zope-interface"), ("a--b", "a-b")],
)
def test_canonical_name(name: str, canonical: str) -> None:
    assert inventory.canonical_name(name) == canonical


@pytest.mark.parametrize(
    ("text", "normal"),
    [("1.0", "1.0"), ("v2.1.0RC1", "2.1.0rc1"), ("1.0-1", "1.0.post1"), ("1.0.dev", "1.0.dev0")],
)
def test_normalize_version(text: str, normal: str) -> None:
    assert inventory.normalize_version(text) == normal
