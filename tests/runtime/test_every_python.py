"""capsule's runtime under every Python it supports: each module compiles and imports there, and
the inventory answers (the tracer and the collector run there in their own test files)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from capsule import interpreters

from .conftest import RUNTIME, run_runtime

# Compile every runtime module (a syntax or __future__ feature the interpreter lacks fails here)
# and import each one whose libraries the interpreter has (a type alias or a name evaluated at
# import time that it lacks fails here). sitecustomize is already loaded: PYTHONPATH has it.
IMPORT_ALL = textwrap.dedent(
    """
    import importlib, os, sys
    runtime = sys.argv[1]
    needs = {"_capsule_show": "matplotlib"}
    for name in sorted(os.listdir(runtime)):
        if not name.endswith(".py"):
            continue
        path = os.path.join(runtime, name)
        with open(path, encoding="utf-8") as stream:
            compile(stream.read(), path, "exec")
        module = name[:-3]
        if module in needs and importlib.util.find_spec(needs[module]) is None:
            print("compiled", module)
            continue
        importlib.import_module(module)
        print("imported", module)
    """
)


def test_every_runtime_module_compiles_and_imports(tmp_path: Path, python: str) -> None:
    done = run_runtime(["-c", IMPORT_ALL, str(RUNTIME)], cwd=tmp_path, python=python)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    said = dict(line.split(" ", 1)[::-1] for line in done.stdout.splitlines())
    modules = sorted(path.stem for path in RUNTIME.glob("*.py"))
    assert sorted(said) == modules
    assert {name for name, how in said.items() if how == "compiled"} <= {"_capsule_show"}


def test_the_inventory_answers(tmp_path: Path, python: str) -> None:
    where = run_runtime(
        ["-c", "import json, pip; print(json.__file__)"], cwd=tmp_path, python=python
    )
    if where.returncode != 0:
        pytest.skip(f"{python} has no pip to be found as a distribution")
    (tmp_path / "helpers.py").write_text("X = 1\n", encoding="utf-8")
    request = {
        "modules": {
            "pip": None,  # file-less: found by the top-level names distributions declare
            "json": where.stdout.strip(),
            "sys": None,
            "_frozen_importlib": None,
            "sitecustomize": str(RUNTIME / "sitecustomize.py"),
            "helpers": str(tmp_path / "helpers.py"),
        },
        "analysis_root": str(tmp_path),
    }
    done = run_runtime(
        [str(RUNTIME / "_capsule_inventory.py")],
        cwd=tmp_path,
        stdin=json.dumps(request),
        python=python,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    (pip,) = [d for d in answer["distributions"] if d["name"] == "pip"]
    assert pip["imported"] is True and pip["modules"] == ["pip"]
    skipped = answer["skipped"]
    assert skipped["stdlib"] == ["json"]
    assert sorted(skipped["builtin"]) == ["_frozen_importlib", "sys"]
    assert skipped["startup"] == ["sitecustomize"]
    assert skipped["local"] == ["helpers"]
    assert answer["unmapped"] == [] and answer["ambiguous"] == []
    assert answer["python"]["version"] == interpreters.ask(python).version
